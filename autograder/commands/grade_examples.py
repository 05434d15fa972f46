"""`autograder grade-examples`: grade examples/examples.json and compare with the documented scores."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

HELP = ("grade the bundled examples (examples/examples.json) and compare with the scores computed from "
        "what each loses")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", metavar="DIR", help="write the example submissions to DIR to look at them")


def run(args: argparse.Namespace) -> int:
    from .. import examples
    from ..cli import err
    from ..grade import grade
    from ..report import console
    from hwkit.text import points

    course = args.course
    specs = examples.load(course)
    expected = examples.expected_scores(specs, course)
    rows, wrong = [], []
    with tempfile.TemporaryDirectory(prefix="autograder-examples-") as tmp:
        if args.keep:
            tmp = args.keep
        for name, spec in specs.items():
            folder = examples.materialize(Path(tmp) / name, spec.get("modules"), name=name, course=course)
            result = grade(folder, gpu="off", course=course)
            result.submission = name
            rows.append((name, result, points(expected[name])))
            if abs(result.score - expected[name]) > 1e-6:
                wrong.append(f"{name}: scored {result.score:g}, expected {expected[name]:g} (from what it loses "
                             "in examples.json and grading.yml)")
    console.print_summary(rows)
    for w in wrong:
        err.print(f"[red]✗[/] {w}")
    return 1 if wrong else 0

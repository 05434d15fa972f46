"""`autograder check`: everything a TA can get wrong before grading, listed at once."""

from __future__ import annotations

import argparse

from rich.console import Console

HELP = ("validate grading.yml against the suites (points, requires: gates), assignment/ against solutions/, "
        "that every function students write has a test, every message's translation, and that the "
        "solutions score full marks")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from hwkit.grading import load_grading

    from .. import gates, stubgen, translations, untested
    from ..cli import err
    from ..grade import GraderError, grade

    course = args.course
    grading = load_grading(course.grading)
    modules = stubgen.module_files(grading)
    problems = [f"assignment/: {p}" for p in stubgen.check(course.solutions, course.assignment, modules)]
    problems += untested.untested(course.root, grading)
    problems += gates.ungated(course, grading, course.grading)
    catalog = translations.merged(course.root)
    problems += [f"translations: {p}" for p in translations.problems(catalog, course.root)]
    if translations.stale(catalog, course.root):
        problems.append(f"translations: {translations.MO_PATH} is stale: run `make locale`")
    # Task texts without a Russian translation block only a course taught in Russian (feedback.lang:
    # ru); otherwise `release --lang ru` refuses them itself, so here they are a warning.
    untranslated = [f"task texts: {p}" for p in translations.task_text_problems(course.root)]
    if grading.feedback.lang == "ru":
        problems += untranslated
    else:
        for p in untranslated:
            err.print(f"[yellow]![/] {p} (needed for `autograder release --lang ru`)")
    try:
        result = grade(course.solutions, gpu="auto", course=course)
    except GraderError as exc:
        problems.append(str(exc))
    else:
        for t in result.tests:
            if t.status not in ("passed", "pending_gpu"):
                problems.append(f"solutions/ fail {t.name}: {t.output.splitlines()[0] if t.output else ''}")
        pending = sum(t.max_score for t in result.pending_gpu)
        Console().print(f"solutions/: {result.score:g} / {result.max_score:g} "
                        f"({pending:g} pending GPU) in {result.execution_time:.1f} s")
    for p in problems:
        err.print(f"[red]✗[/] {p}")
    if not problems:
        Console().print("[green]✓[/] grading.yml matches the suites, assignment/ is in sync, "
                        "solutions/ earn every point this machine can give")
        Console().print("[green]✓[/] every test of a property waits for a test of values (requires:)")
    return 1 if problems else 0

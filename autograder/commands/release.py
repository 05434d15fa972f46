"""`autograder release [--out DIR]`: build the student template repository, leak-checked."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "build the student template repository (stubs, public tests, notebook, workflow)"
DEFAULT_OUT = Path("dist") / "release"  # in the course folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", type=Path, default=None,
                        help=f"where to write the student template (default: {DEFAULT_OUT} in the "
                             "course folder); an earlier release there is replaced")


def run(args: argparse.Namespace) -> int:
    """0: written and clean; 1: the leak check failed (OUT untouched); 2: an input is broken."""
    from .. import release, stubgen

    out = Path(args.out) if args.out else args.course.root / DEFAULT_OUT
    try:
        problems = release.build_release(out, args.course.root)
    except release.ReleaseError as exc:
        print(f"release: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"release: error: cannot write {stubgen._show(out)}: {exc}", file=sys.stderr)
        return 2
    shown = stubgen._show(out)
    if problems:
        print(f"release: leak check failed; {shown} was not replaced "
              f"(the rejected build is in {shown}.rejected):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"release: wrote {len(release.released_files(out))} files to {shown}; leak check clean")
    return 0

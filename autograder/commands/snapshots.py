"""`autograder snapshots`: store the reference's answers as the public tests' expected values."""

from __future__ import annotations

import argparse

HELP = "store the reference solution's answers as the public tests' expected values (tests/snapshots/)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pytest_args", nargs="*", metavar="PYTEST_ARG",
                        help="extra pytest arguments, e.g. -k index_tensor (then only those answers are replaced)")


def run(args: argparse.Namespace) -> int:
    import subprocess
    import sys

    from hwkit.grading import load_grading

    course = args.course
    suites = load_grading(course.grading).suites.public
    # A full run drops the answers no test asks for any more; nothing is written unless it passes.
    mode = "merge" if args.pytest_args else "replace"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--snapshot-update={mode}",
               "--submission", str(course.solutions), *suites, *args.pytest_args]
    return subprocess.run(command, cwd=course.root).returncode

"""`autograder stubs`: regenerate assignment/ from solutions/."""

from __future__ import annotations

import argparse

HELP = "regenerate assignment/ from solutions/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="only report whether assignment/ is stale")


def run(args: argparse.Namespace) -> int:
    from hwkit.grading import load_grading

    from .. import stubgen

    course = args.course
    modules = stubgen.module_files(load_grading(course.grading))
    return stubgen.run(course.solutions, course.assignment, modules, check_only=args.check)

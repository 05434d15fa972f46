"""`autograder stubs`: regenerate assignment/ from solutions/."""

from __future__ import annotations

import argparse

HELP = "regenerate assignment/ from solutions/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="only report whether assignment/ is stale")


def run(args: argparse.Namespace) -> int:
    from .. import stubgen

    argv = ["--solutions", str(args.course.solutions), "--out", str(args.course.assignment)]
    return stubgen.main(argv + (["--check"] if args.check else []))

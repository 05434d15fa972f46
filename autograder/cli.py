"""`autograder` command line: grade | check | stubs | grade-examples | batch | merge-gpu | export | release.

Exit codes: 0 when the command did its job (a low score is still a successful grading);
2 when the grader cannot run (bad configuration, unreadable path, no sandbox, no course
folder), with a message saying what to fix; 1 when `check` or `grade-examples` found problems.
Each command lives in its own module under :mod:`autograder.commands`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from unittest import mock

from rich.console import Console

from hwkit.grading import GradingConfigError

from . import course as courses
from .commands import NAMES, course_option
from .sandbox.isolation import TIER_ENV

err = Console(stderr=True, soft_wrap=True)  # a message stays one line, whatever the width


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="autograder", description=__doc__.splitlines()[0])
    top.add_argument("--course", metavar="DIR", default=None, help=course_option()._actions[0].help)
    sub = top.add_subparsers(dest="command", required=True)
    for name, module_name in NAMES.items():
        module = importlib.import_module(f".commands.{module_name}", __package__)
        parents = [] if getattr(module, "SUBCOMMANDS", False) else [course_option()]
        command = sub.add_parser(name, help=module.HELP, parents=parents)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return top


#: Packages of the `author` extra (pyproject.toml): grading never needs them.
AUTHORING = ("nbgrader", "nbformat", "babel")


def main(argv: list[str] | None = None, *, sandbox=None) -> int:
    """Run one command. `sandbox`: a warm sandbox for `grade` (a batch slot's), kept by the caller."""
    args = parser().parse_args(argv)
    try:
        args.course = courses.find(args.course)
    except courses.CourseNotFound as exc:
        err.print(f"[red]no course:[/] {exc}")
        return 2
    # Read by the library's defaults and inherited by a batch's slots; put back afterwards (a
    # test calls main() in its own process).
    settings = {courses.COURSE_ENV: str(args.course.root), TIER_ENV: getattr(args, "sandbox", None)}
    with mock.patch.dict(os.environ, {name: value for name, value in settings.items() if value}):
        return _run(args, sandbox)


def _run(args: argparse.Namespace, sandbox) -> int:
    try:
        return args.run(args, sandbox=sandbox) if args.command == "grade" else args.run(args)
    except Exception as exc:  # noqa: BLE001 - turn known grader failures into a message, not a traceback
        code = failure(exc, args.command)
        if code is None:
            raise
        return code


def failure(exc: Exception, command: str) -> int | None:
    """Say on stderr what a known failure of the grader means and return the exit code (2);
    None for anything else (a bug: let its traceback show)."""
    from .collect import CollectError
    from .examples import ExampleError
    from .grade import GraderError
    from .merge_gpu import MergeError
    from .sandbox.isolation import SandboxUnavailable
    from .submission import SubmissionError

    if isinstance(exc, GradingConfigError):
        err.print(f"[red]configuration error:[/] {exc}")
        return 2
    if isinstance(exc, ImportError):
        if exc.name and exc.name.split(".")[0] in AUTHORING:
            err.print(f"[red]`autograder {command}` needs the course's authoring tools[/] ({exc.name} is "
                      f"missing): pip install 'autograder\\[author]' (in the course repository: make setup)")
            return 2
        return None
    if isinstance(exc, (GraderError, SandboxUnavailable, SubmissionError, ExampleError, MergeError, CollectError)):
        err.print(f"[red]cannot grade:[/] {exc}")
        return 2
    return None


if __name__ == "__main__":
    sys.exit(main())

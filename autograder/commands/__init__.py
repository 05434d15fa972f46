"""One module per `autograder` command: ``HELP``, ``add_arguments(parser)`` and ``run(args)``.

``autograder.cli`` builds the parser from :data:`NAMES` and resolves ``--course`` into
``args.course`` (an :class:`autograder.course.Course`) before calling ``run``. A command
module imports its heavy machinery (torch, pytest, nbgrader) inside ``run`` so that the
command line starts fast.
"""

from __future__ import annotations

import argparse

#: Command name -> module in this package, in the order ``autograder --help`` lists them.
NAMES = {"grade": "grade", "check": "check", "stubs": "stubs", "snapshots": "snapshots", "grade-examples": "grade_examples",
         "batch": "batch", "merge-gpu": "merge_gpu", "export": "export", "release": "release"}


def course_option() -> argparse.ArgumentParser:
    """The ``--course DIR`` option every command takes (a parent parser)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--course", metavar="DIR", default=argparse.SUPPRESS,
                        help="the course folder (with grading.yml, tests/, autograder/hidden/, solutions/); "
                             "default: the current folder or the nearest one above it with a grading.yml")
    return parser

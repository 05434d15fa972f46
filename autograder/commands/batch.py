"""`autograder batch SUBMISSIONS_DIR --out OUT_DIR`: a class into a gradebook and a class report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..sandbox.isolation import TIERS

HELP = ("grade a folder of student submissions (folders, .zip files, git repositories) into a gradebook "
        "and a class report")


def add_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="one entry per student")
    b.add_argument("--out", metavar="OUT_DIR", required=True, help="results, gradebook.csv and report.md go here")
    b.add_argument("-j", "--jobs", type=_jobs, default="auto",
                   help="students graded at once: a number, or auto (the default): three per core, fewer "
                        "when the memory available would not hold them (about 450 MB each)")
    b.add_argument("--deadline", metavar="ISO-8601", help="grade each git repository's last commit at or "
                                                         "before this time, e.g. 2026-11-30T23:59:00+01:00")
    b.add_argument("--force", action="store_true", help="regrade students that are already done")
    b.add_argument("--gpu", choices=("auto", "off"), default="auto", help="as for `grade`")
    b.add_argument("--grading", metavar="FILE", help="grading.yml to use (default: the course's)")
    b.add_argument("--allow-weak-sandbox", "--allow-weak", action="store_true", help="as for `grade`")
    b.add_argument("--sandbox", choices=TIERS, default=None, help="as for `grade`")
    b.add_argument("--lang", choices=("en", "ru"), default=None, help="as for `grade`")
    b.add_argument("--strip-prefix", metavar="PREFIX",
                   help="strip PREFIX from entry names to get student ids (default: the common '<name>-' prefix)")
    b.add_argument("--student-timeout", type=float, default=None, metavar="SECONDS",
                   help="stop one student's grading after this long (default: 1800)")


def _jobs(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of parallel gradings, or auto") from None


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from .. import batch
    from ..cli import err

    try:
        opts = batch.Options(
            submissions=Path(args.submissions), out=Path(args.out),
            jobs=batch.auto_jobs() if args.jobs == "auto" else args.jobs,
            deadline=batch.parse_deadline(args.deadline), force=args.force, gpu=args.gpu,
            grading=Path(args.grading) if args.grading else args.course.grading,
            allow_weak=args.allow_weak_sandbox, strip_prefix=args.strip_prefix, lang=args.lang,
            student_timeout=batch.DEFAULT_STUDENT_TIMEOUT_S if args.student_timeout is None
            else args.student_timeout)
        return batch.run(opts, err=err)
    except batch.BatchError as exc:
        err.print(f"[red]cannot start the batch:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2

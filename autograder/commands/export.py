"""`autograder export nbgrader|gradescope`: a batch's scores, or the grader, for another tool."""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from . import course_option

HELP = "write a batch's scores for another tool"
SUBCOMMANDS = True  # `--course` goes on each target's parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_subparsers(dest="target", required=True)
    nb = targets.add_parser("nbgrader", help="into nbgrader's gradebook (then `nbgrader export`)",
                            parents=[course_option()])
    nb.add_argument("--db", metavar="FILE", required=True,
                    help="nbgrader's gradebook (sqlite file, e.g. COURSE/gradebook.db); created if missing")
    nb.add_argument("--results", metavar="OUT_DIR", required=True,
                    help="the --out folder of `autograder batch` (students/<id>/record.json)")
    nb.add_argument("--assignment", metavar="NAME",
                    help="the nbgrader assignment name (default: grading.yml's `assignment`)")
    nb.add_argument("--grading", metavar="FILE", help="grading.yml to use (default: the course's)")
    nb.add_argument("--course-id", metavar="ID",
                    help="nbgrader course id for a new assignment (default: nbgrader's default_course)")
    nb.add_argument("--course-dir", metavar="DIR",
                    help="nbgrader's course folder (CourseDirectory.root), where source/<assignment>/ and "
                         "autograded/<student>/<assignment>/ get the notebooks to grade by hand "
                         "(default: the --db file's folder)")
    nb.set_defaults(run_target=_nbgrader)
    gs = targets.add_parser("gradescope", help="the Gradescope autograder .zip (setup.sh, run_autograder, "
                                               "the grader)", parents=[course_option()])
    gs.add_argument("--out", metavar="FILE", default="dist/autograder.zip",
                    help="where to write the zip (default: dist/autograder.zip)")
    gs.set_defaults(run_target=_gradescope)


def run(args: argparse.Namespace) -> int:
    return args.run_target(args)


def _nbgrader(args: argparse.Namespace) -> int:
    """Run the export and print a summary; 0 when done, 2 when it cannot run."""
    from rich.console import Console
    from rich.markup import escape

    from hwkit.grading import GradingConfigError

    from ..export_nbgrader import ExportError, export

    out, err = Console(), Console(stderr=True)
    try:
        counts = export(Path(args.db), Path(args.results), args.assignment,
                        Path(args.grading) if args.grading else args.course.grading,
                        solutions=args.course.solutions, course_id=args.course_id,
                        course_dir=Path(args.course_dir) if args.course_dir else None)
    except ExportError as exc:
        err.print(f"[red]cannot export:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except GradingConfigError as exc:
        err.print(f"[red]configuration error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    for w in counts["warnings"]:
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    for s in counts["skipped"]:
        kept = " (its scores from an earlier export are still in the gradebook)" if s["kept_previous"] else ""
        err.print(f"[yellow]skipped[/] {escape(s['id'])}: {escape(s['reason'])}{kept}", highlight=False,
                  soft_wrap=True)
    out.print(f"{args.db}: assignment {counts['assignment']!r}: {len(counts['exported'])} students exported "
              f"({counts['created']} new, {counts['updated']} updated), {len(counts['skipped'])} skipped; "
              f"{counts['test_cells']} test cells, {counts['manual_cells']} manual cells to grade in the formgrader"
              + (f"; {counts['pending_gpu']} test grades pending a GPU" if counts["pending_gpu"] else "")
              + (f"; {counts['overridden']} test scores overridden by a TA's manual score"
                 if counts["overridden"] else ""), highlight=False, soft_wrap=True)
    nbs = counts["notebooks"]
    for m in nbs["missing"]:
        kept = " (the notebook of an earlier export is still there)" if m["kept_previous"] else ""
        err.print(f"[yellow]no notebook[/] for {escape(m['id'])}: {escape(m['reason'])}{kept}", highlight=False,
                  soft_wrap=True)
    out.print(f"{nbs['course_dir']}: notebooks to grade by hand in autograded/: {len(nbs['added'])} new, "
              f"{len(nbs['replaced'])} replaced (a new submission), {len(nbs['unchanged'])} unchanged"
              + (f", {len(nbs['kept'])} kept (not written by this command)" if nbs["kept"] else "")
              + f"; {len(nbs['missing'])} without a notebook"
              + (f"; {nbs['flagged']} TA grades flagged for review" if nbs["flagged"] else "")
              + (f"; wrote {', '.join(nbs['source'])}" if nbs["source"] else "")
              + ("; wrote nbgrader_config.py" if nbs["config"] else ""), highlight=False, soft_wrap=True)
    return 0


def _gradescope(args: argparse.Namespace) -> int:
    from ..export_gradescope import ExportError, build_bundle

    try:
        out = build_bundle(Path(args.out), args.course.root)
    except (ExportError, OSError) as exc:
        print(f"cannot build the Gradescope bundle: {exc}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(out) as z:
        members = z.infolist()
    size = out.stat().st_size
    print(f"wrote {out} ({len(members)} files, {size / 2**20:.1f} MB): upload it as the Gradescope "
          "autograder (Ubuntu base image); setup.sh installs Python 3.11, torch (CPU) and bubblewrap")
    return 0

"""`autograder release [--out DIR] [--lang {en,ru}]`: build the student template repository, leak-checked."""

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
    parser.add_argument("--lang", choices=("en", "ru"), default="en",
                        help="the release's language (default: en): ru takes the README from "
                             "docs/student-readme.ru.md, the docstrings and the notebook from "
                             "hwkit/locale/ru/tasks.po, and sets feedback.lang: ru in the released grading.yml")
    parser.add_argument("--allow-english", action="store_true",
                        help="with --lang ru: keep the task texts that have no up-to-date Russian translation "
                             "in English (listed as warnings) instead of refusing to build")


def run(args: argparse.Namespace) -> int:
    """0: written and clean; 1: the leak check failed (OUT untouched); 2: an input is broken."""
    from .. import release, stubgen

    out = Path(args.out) if args.out else args.course.root / DEFAULT_OUT
    lang, allow_english = getattr(args, "lang", "en"), getattr(args, "allow_english", False)
    try:
        if lang == "ru" and allow_english:
            for problem in release.task_texts.problems(args.course.root):
                print(f"release: warning: {problem} (left in English)", file=sys.stderr)
        problems = release.build_release(out, args.course.root, lang=lang, allow_english=allow_english)
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
    language = " (in Russian)" if lang == "ru" else ""
    print(f"release: wrote {len(release.released_files(out))} files to {shown}{language}; leak check clean")
    return 0

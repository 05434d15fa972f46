"""Where the course lives: the folder holding grading.yml (which names the suites), solutions/
and examples/.

The `autograder` command never assumes it runs from its own source tree (a TA may install it
into any venv). It grades the course named by ``--course DIR``, else the one in
``$AUTOGRADER_COURSE`` (how a batch's slots inherit ``--course``), else the first folder with
a grading.yml from the current folder upwards, the way git finds ``.git``.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

COURSE_ENV = "AUTOGRADER_COURSE"
GRADING = "grading.yml"


class CourseNotFound(Exception):
    """No course folder where one was looked for; the message says where and what to do."""


@dataclass(frozen=True)
class Course:
    root: Path

    @property
    def grading(self) -> Path:
        return self.root / GRADING

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def assignment(self) -> Path:
        return self.root / "assignment"

    @property
    def examples(self) -> Path:
        return self.root / "examples"

    def pytest_args(self, ini: Path) -> list[str]:
        """What makes pytest run this course's suites and nothing of its own config: an ini the
        grader wrote (``ini``, made here) with the course folder on pytest's own ``pythonpath``,
        so the suites import ``solutions`` and ``tests`` from the course, not from this install."""
        # (pytest splits the value like a shell: a folder named "ML 2026" must be quoted)
        ini.write_text(f"[pytest]\npythonpath = {shlex.quote(str(self.root))}\n", encoding="utf-8")
        return ["-c", str(ini), "--rootdir", str(self.root), "--noconftest", "-p", "no:cacheprovider"]


def find(explicit: str | Path | None = None, start: Path | None = None) -> Course:
    """The course: `explicit`, else $AUTOGRADER_COURSE, else grading.yml in `start` (default:
    the current folder) or the nearest folder above it."""
    named = explicit or os.environ.get(COURSE_ENV)
    if named:
        root = Path(named).expanduser().resolve()
        if not (root / GRADING).is_file():
            how = "--course" if explicit else f"${COURSE_ENV}"
            raise CourseNotFound(f"{root} (from {how}) is not a course folder: it has no {GRADING}")
        return Course(root)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / GRADING).is_file():
            return Course(folder)
    raise CourseNotFound(f"no {GRADING} in {here} or any folder above it: run the command inside the "
                         f"course folder, or name it with --course DIR")

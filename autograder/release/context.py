"""What every release step shares: the course folder and its grading.yml, read once."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from hwkit.grading import GradingConfig, load_grading

from .. import stubgen
from ..course import Course, find as find_course


class ReleaseError(Exception):
    """The release cannot be built (a missing or invalid input); the message says which."""


@dataclass(frozen=True)
class Context:
    """The course a release is built from, with its grading.yml loaded."""

    root: Path
    grading: GradingConfig

    @classmethod
    def of(cls, course: Context | Path | None = None) -> Context:
        """The context of the course folder ``course`` (else of the one
        :func:`autograder.course.find` finds); an invalid grading.yml raises GradingConfigError."""
        if isinstance(course, Context):
            return course
        root = course_root(course)
        return cls(root, load_grading(Course(root).grading))

    @property
    def grading_file(self) -> Path:
        return Course(self.root).grading

    @property
    def solutions(self) -> Path:
        return Course(self.root).solutions

    @property
    def modules(self) -> list[str]:
        """The files students write (grading.yml's ``modules:``)."""
        return stubgen.module_files(self.grading)

    @property
    def public_shown(self) -> str:
        """The public suites' folders as the released files name them to students: ``tests/``."""
        return ", ".join(f"{folder}/" for folder in self.grading.suites.public)


def course_root(repo: Path | None) -> Path:
    """The course folder: ``repo``, else the one :func:`autograder.course.find` finds."""
    return Path(repo) if repo else find_course().root


def rel(path: Path, base: Path | None = None) -> str:
    """A path for messages: relative to ``base`` (else to the working directory) when possible."""
    if base is not None:
        with contextlib.suppress(ValueError):
            return Path(path).resolve().relative_to(Path(base).resolve()).as_posix()
    return stubgen._show(Path(path))

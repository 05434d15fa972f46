"""What every release step shares: the course folder and its grading.yml, read once, and the
language of the release (``--lang``)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from hwkit.grading import GradingConfig, load_grading
from hwkit.i18n import LANGUAGES

from .. import stubgen
from ..course import Course, find as find_course


class ReleaseError(Exception):
    """The release cannot be built (a missing or invalid input); the message says which."""


@dataclass(frozen=True)
class Context:
    """The course a release is built from, with its grading.yml loaded, and the release's language:
    ``en`` (the course as written) or ``ru`` (README, task texts, notebook, messages in Russian)."""

    root: Path
    grading: GradingConfig
    lang: str = "en"
    # A Russian release with task texts not (or no longer) translated keeps them in English
    # instead of refusing to build (--allow-english).
    allow_english: bool = False

    @classmethod
    def of(cls, course: Context | Path | None = None, lang: str = "en", allow_english: bool = False) -> Context:
        """The context of the course folder ``course`` (else of the one
        :func:`autograder.course.find` finds); an invalid grading.yml raises GradingConfigError."""
        if isinstance(course, Context):
            return course
        if lang not in LANGUAGES:
            raise ReleaseError(f"--lang {lang}: choose one of {', '.join(LANGUAGES)}")
        root = course_root(course)
        return cls(root, load_grading(Course(root).grading), lang, allow_english)

    @property
    def russian(self) -> bool:
        return self.lang == "ru"

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

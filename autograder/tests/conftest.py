"""Fixtures for the grader's own tests: submissions built from the reference with one change."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from autograder import REPO
from autograder.sandbox import isolation

SOLUTIONS = REPO / "solutions"


def make_submission(dest: Path, replace: dict[str, str] | None = None, append: dict[str, str] | None = None,
                    extra_files: dict[str, str] | None = None) -> Path:
    """A copy of the reference solutions; `replace` maps module -> whole new source,
    `append` adds code at the end of a module, `extra_files` adds other files."""
    dest.mkdir(parents=True, exist_ok=True)
    for src in SOLUTIONS.glob("homework_*.py"):
        text = src.read_text()
        text = re.sub(r"^\s*### (BEGIN|END) SOLUTION.*\n", "", text, flags=re.M)
        stem = src.stem.removeprefix("homework_")
        if replace and stem in replace:
            text = replace[stem]
        if append and stem in append:
            text += "\n\n" + append[stem] + "\n"
        (dest / src.name).write_text(text)
    for name, text in (extra_files or {}).items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)
    return dest


@pytest.fixture
def submission(tmp_path):
    def build(**kwargs) -> Path:
        return make_submission(tmp_path / "submission", **kwargs)
    return build


needs_strong_sandbox = pytest.mark.skipif(
    not isolation.detect().filesystem_isolated,
    reason="this machine has neither bubblewrap nor Landlock; the grader refuses to run here")

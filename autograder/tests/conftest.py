"""Fixtures for the grader's own tests: submissions built from the reference with one change."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.examples import materialize
from autograder.sandbox import isolation


def make_submission(dest: Path, replace: dict[str, str] | None = None, append: dict[str, str] | None = None,
                    extra_files: dict[str, str] | None = None) -> Path:
    """The reference solutions; `replace` maps a module to a whole new source, `append` adds
    code at the end of a module, `extra_files` adds other files to the folder."""
    modules = {k: {"source": v} for k, v in (replace or {}).items()}
    for k, v in (append or {}).items():
        modules.setdefault(k, {})["append"] = v
    return materialize(dest, modules, extra_files)


@pytest.fixture
def submission(tmp_path):
    def build(**kwargs) -> Path:
        return make_submission(tmp_path / "submission", **kwargs)
    return build


needs_strong_sandbox = pytest.mark.skipif(
    not isolation.detect().filesystem_isolated,
    reason="this machine has neither bubblewrap nor Landlock; the grader refuses to run here")

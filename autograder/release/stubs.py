"""Step: the student modules (grading.yml's ``modules:``), stubbed by ``autograder.stubgen``.

stubgen also writes a package marker (``__init__.py``) and the notebook; neither ships from
here: the release root is pytest's rootdir and must not be a package, and the notebook is
nbgrader's (:mod:`.notebook`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

from .. import stubgen
from . import task_texts
from .context import Context, ReleaseError


def render_stubs(solutions: Path, modules: Iterable[str]) -> dict[str, str]:
    """File name -> stub of each module (stubgen refuses stubs that leak a solution line)."""
    modules = list(modules)
    with tempfile.TemporaryDirectory(prefix="release-stubs-") as tmp:
        try:
            written = stubgen.generate(solutions, Path(tmp), modules)
        except stubgen.StubGenError as exc:
            raise ReleaseError(str(exc)) from None
        return {p.name: p.read_text(encoding="utf-8") for p in written if p.name in modules}


def homework_stubs(ctx: Context) -> dict[str, bytes]:
    stubs = render_stubs(ctx.solutions, ctx.modules)
    if ctx.russian:  # the task texts (docstrings) from hwkit/locale/ru/tasks.po; the code as generated
        russian = task_texts.russian(ctx.root, ctx.solutions, ctx.modules, ctx.allow_english)
        stubs = {name: task_texts.translate_module(text, name, russian) for name, text in stubs.items()}
    return {name: text.encode("utf-8") for name, text in stubs.items()}

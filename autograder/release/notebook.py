"""Step: the student notebook, from nbgrader's own ``generate_assignment`` (for a Russian release,
on the notebook with its cells from hwkit/locale/ru/tasks.po and nbgrader's stubs in Russian)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from .. import stubgen
from ..nbgrader_env import alembic_on_path
from . import task_texts
from .context import Context, ReleaseError, rel


def render_notebook(notebook: Path, assignment: str, lang: str = "en") -> str:
    """The student version of ``notebook``, made by nbgrader in a scratch course.

    Only the notebook is put in ``source/<assignment>/`` (a .py file there would be copied
    with its solutions). The code stub is stubgen's, so the plot cell reads as in
    assignment/analysis.ipynb.
    """
    from nbgrader.apps import NbGraderAPI  # seconds to import: only when a release is built
    from traitlets.config import Config

    if not notebook.is_file():
        raise ReleaseError(f"{rel(notebook)}: file not found")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", assignment):
        raise ReleaseError(f"grading.yml: assignment {assignment!r} cannot name an nbgrader assignment")
    with tempfile.TemporaryDirectory(prefix="release-nbgrader-") as tmp:
        course = Path(tmp)
        source = course / "source" / assignment
        source.mkdir(parents=True)
        shutil.copyfile(notebook, source / notebook.name)
        config = Config()
        config.CourseDirectory.root = str(course)
        config.CourseDirectory.db_url = "sqlite:///" + (course / "gradebook.db").as_posix()
        config.Exchange.root = str(course / "exchange")
        if lang == "ru":  # (nbgrader's "YOUR ANSWER HERE" and the code stub, in Russian)
            config.ClearSolutions.code_stub = {"python": task_texts.CODE_STUB_RU}
            config.ClearSolutions.text_stub = task_texts.TEXT_STUB_RU
        else:
            config.ClearSolutions.code_stub = {"python": stubgen.NOTEBOOK_CODE_STUB}
        try:
            with alembic_on_path():
                result = NbGraderAPI(config=config).generate_assignment(assignment, force=True, create=True)
        except FileNotFoundError as exc:
            raise ReleaseError(str(exc)) from None
        if not result.get("success"):
            detail = (result.get("log") or result.get("error") or "").strip()
            raise ReleaseError(f"nbgrader generate_assignment failed on {rel(notebook)}:\n{detail}")
        released = course / "release" / assignment
        produced = sorted(p.relative_to(released).as_posix() for p in released.rglob("*") if p.is_file())
        if produced != [notebook.name]:
            raise ReleaseError(f"nbgrader generate_assignment produced {produced}, expected [{notebook.name!r}]")
        return (released / notebook.name).read_text(encoding="utf-8")


def student_notebook(ctx: Context) -> dict[str, bytes]:
    source = ctx.solutions / stubgen.NOTEBOOK
    if not ctx.russian:
        text = render_notebook(source, ctx.grading.assignment)
        return {stubgen.NOTEBOOK: text.encode("utf-8")}
    if not source.is_file():
        raise ReleaseError(f"{rel(source)}: file not found")
    russian = task_texts.russian(ctx.root, ctx.solutions, ctx.modules, ctx.allow_english)
    with tempfile.TemporaryDirectory(prefix="release-notebook-ru-") as tmp:
        translated = Path(tmp) / stubgen.NOTEBOOK
        nbformat.write(task_texts.translate_notebook(source, russian), str(translated))
        text = render_notebook(translated, ctx.grading.assignment, lang="ru")
    return {stubgen.NOTEBOOK: text.encode("utf-8")}

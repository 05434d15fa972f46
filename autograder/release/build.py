"""Building: the steps run in order into a temporary folder, leak-checked, then swapped in for OUT."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from hwkit.grading import GradingConfigError

from . import catalogue, grading_file, notebook, public_tests, requirements, stubs
from .context import Context, ReleaseError, course_root
from .leak_check import FORBIDDEN_DIRS, KEEP, check_release

Step = Callable[[Context], dict[str, bytes]]

#: The release, one step per artefact, in the order they are made (the first broken input is
#: the one reported). Each step returns {path in the release: content}.
STEPS: tuple[Step, ...] = (
    stubs.homework_stubs,            # homework_*.py        stubgen on solutions/ (grading.yml's modules:)
    public_tests.public_suites,      # tests/, hwkit/*.py   the public suites and the kit, as they are
    public_tests.readme,             # README.md            docs/student-readme.md
    requirements.requirements_txt,   # requirements.txt     tested ranges (requirements.py)
    public_tests.pytest_ini,         # pytest.ini           plain `pytest` runs the public suites
    public_tests.gitignore,          # .gitignore
    grading_file.grading_yml,        # grading.yml          public tests only; hidden ones as hidden_points
    catalogue.public_catalogue,      # hwkit/locale/...mo   Russian messages of the public files only
    notebook.student_notebook,       # analysis.ipynb       nbgrader generate_assignment
    public_tests.workflow,           # .github/workflows/autograde.yml, if autograder/templates has one
)


def render_release(repo: Context | Path | None = None, lang: str = "en") -> dict[str, bytes]:
    """Every file of the release: path relative to the release root -> content."""
    ctx = Context.of(repo, lang)
    files: dict[str, bytes] = {}
    for step in STEPS:
        made = step(ctx)
        clash = sorted(made.keys() & files.keys())
        if clash:  # a later step would silently replace an earlier one's file
            raise ReleaseError(f"{step.__module__}.{step.__name__} makes {', '.join(clash)} again")
        files.update(made)
    return files


def _looks_like_release(folder: Path) -> bool:
    return ((folder / "grading.yml").is_file() and (folder / "hwkit" / "plugin.py").is_file()
            and not any((folder / d).exists() for d in FORBIDDEN_DIRS))


def _check_out(out: Path, root: Path) -> None:
    """Refuse an OUT whose replacement would destroy something that is not an earlier release."""
    resolved, root_resolved = out.resolve(), root.resolve()
    if resolved == root_resolved or resolved in root_resolved.parents:
        raise ReleaseError(f"--out {out}: is the course repository or holds it; choose an empty folder")
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(p.name != KEEP for p in out.iterdir()) and not _looks_like_release(out):
        raise ReleaseError(f"--out {out}: not empty and not an earlier release; refusing to replace it")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def build_release(out: Path, repo: Path | None = None, lang: str = "en", allow_english: bool = False) -> list[str]:
    """Build the student template into ``out``; return the leak check's problems (empty = clean).

    ``lang="ru"`` builds the Russian release: README from docs/student-readme.ru.md, the stubs'
    docstrings and the notebook from hwkit/locale/ru/tasks.po (a text without an up-to-date
    translation is a ReleaseError, or stays English with ``allow_english``), and the released
    grading.yml says ``feedback: {lang: ru}`` so that plain `pytest` speaks Russian.

    The tree is written to a temporary folder next to ``out`` and checked there. When it is
    clean it replaces ``out`` (keeping ``out/.git`` if there is one); when it leaks, ``out`` is
    left as it was and the tree is kept in ``<out>.rejected`` for inspection. Problems with the
    inputs (a missing solutions file, an invalid grading.yml, ...) raise ReleaseError.
    """
    root, out = course_root(repo), Path(out).absolute()
    rejected = out.with_name(out.name + ".rejected")
    _check_out(out, root)
    _check_out(rejected, root)
    try:
        ctx = Context.of(root, lang, allow_english)
        files = render_release(ctx)
    except GradingConfigError as exc:
        raise ReleaseError(f"invalid grading.yml: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would become OUT's mode
    try:
        for path, content in files.items():
            target = tmp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        problems = check_release(tmp, ctx)
        if problems:
            _remove(rejected)
            os.replace(tmp, rejected)
            return problems
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            _remove(old)
            os.replace(out, old)
        try:
            if old is not None and (old / KEEP).exists():
                os.replace(old / KEEP, tmp / KEEP)
            os.replace(tmp, out)
        except BaseException:  # put the earlier release back as it was, .git included
            if old is not None:
                if (tmp / KEEP).exists():
                    os.replace(tmp / KEEP, old / KEEP)
                os.replace(old, out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return []
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

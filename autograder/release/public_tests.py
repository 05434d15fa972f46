"""Steps: what lets a student run the public tests with plain `pytest` — the public suites
(grading.yml's ``suites.public``) and the kit they run on, pytest.ini, .gitignore, README.md
and the GitHub workflow."""

from __future__ import annotations

from pathlib import Path

from hwkit import snapshots

from ..translations import KIT
from .context import Context, ReleaseError, rel

STUDENT_README = Path("docs") / "student-readme.md"  # becomes the release's README.md
STUDENT_README_RU = Path("docs") / "student-readme.ru.md"  # ... that of a Russian release (--lang ru)
WORKFLOW_TEMPLATE = Path("autograder") / "templates" / "autograde.yml"
WORKFLOW = ".github/workflows/autograde.yml"

PYTEST_INI = """\
# Plain `pytest` runs the public tests in {shown} against the homework_*.py files in this
# folder (the folder holding this file), then says what to fix and prints your points per task
# from grading.yml. It keeps the output short; to see one test in full (its code and where it
# failed in yours): pytest --tb=short -k NAME
[pytest]
testpaths = {testpaths}
addopts = -q --tb=no -rN --no-header
# a function that never returns fails its test instead of hanging (pytest-timeout)
timeout = 60
"""

PYTEST_INI_RU = """\
# Простой `pytest` запускает открытые тесты из {shown} на файлах homework_*.py этой папки (той,
# где лежит этот файл), затем говорит, что исправить, и печатает ваши баллы по заданиям из
# grading.yml. Вывод короткий; чтобы увидеть один тест целиком (его код и место ошибки в вашем):
# pytest --tb=short -k ИМЯ
[pytest]
testpaths = {testpaths}
addopts = -q --tb=no -rN --no-header
# функция, которая не возвращает управление, проваливает тест, а не вешает его (pytest-timeout)
timeout = 60
"""

GITIGNORE = """\
.venv/
__pycache__/
*.pyc
.pytest_cache/
.ipynb_checkpoints/
"""


def public_test_files(repo: Context | Path | None = None) -> list[str]:
    """The public suites and the kit, as paths relative to the course folder: each suite's
    __init__.py, conftest.py, test_*.py and snapshots/*.json, then hwkit/*.py."""
    ctx = Context.of(repo)
    suites, kit = [ctx.root / folder for folder in ctx.grading.suites.public], ctx.root / KIT
    required = [p for suite in suites for p in (suite / "__init__.py", suite / "conftest.py")] + [kit / "__init__.py"]
    missing = [rel(p, ctx.root) for p in required if not p.is_file()]
    if missing:
        raise ReleaseError(f"the public tests are incomplete: missing {', '.join(missing)}")
    files: list[Path] = []
    for suite in suites:
        tests = sorted(suite.glob("test_*.py"))
        if not tests:
            raise ReleaseError(f"no public tests: {rel(suite, ctx.root)}/test_*.py matches nothing")
        # the tests' expected answers, stored from the reference (hwkit.snapshots)
        answers = sorted((suite / snapshots.FOLDER).glob("*.json"))
        files += [suite / "__init__.py", suite / "conftest.py", *tests, *answers]
    files += sorted(kit.glob("*.py"))
    return [rel(p, ctx.root) for p in files]


def public_suites(ctx: Context) -> dict[str, bytes]:
    return {path: (ctx.root / path).read_bytes() for path in public_test_files(ctx)}


def readme(ctx: Context) -> dict[str, bytes]:
    path = ctx.root / (STUDENT_README_RU if ctx.russian else STUDENT_README)
    if not path.is_file():
        raise ReleaseError(f"{rel(path, ctx.root)}: file not found (it becomes the release's README.md)")
    return {"README.md": path.read_bytes()}


def pytest_ini(ctx: Context) -> dict[str, bytes]:
    template = PYTEST_INI_RU if ctx.russian else PYTEST_INI
    text = template.format(shown=ctx.public_shown, testpaths=" ".join(ctx.grading.suites.public))
    return {"pytest.ini": text.encode()}


def gitignore(ctx: Context) -> dict[str, bytes]:
    return {".gitignore": GITIGNORE.encode()}


def workflow(ctx: Context) -> dict[str, bytes]:
    """The CI workflow, when the course has a template for one."""
    template = ctx.root / WORKFLOW_TEMPLATE
    return {WORKFLOW: template.read_bytes()} if template.is_file() else {}

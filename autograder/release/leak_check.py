"""The leak check: what no released file may hold.

A release leaks when a file holds a line of a solution region or a solution cell (as in
``stubgen``: stripped, longer than 8 characters, not a comment), mentions a hidden suite
(grading.yml's ``suites.hidden``) or a hidden test by name, holds a hidden test's message,
imports ``solutions``, lies under a grader-only folder, or when the released grading.yml lists
a test that is not shipped. The public tests get no exemption: their expected values come from
stored answers (hwkit.snapshots), never from the reference's expressions. Only the kit's own
lines (``hwkit/``: shared plumbing such as ``raise ValueError(``) are not counted.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hwkit.grading import GradingConfigError, load_grading

from .. import stubgen, translations
from .context import Context, ReleaseError, rel

#: Top-level folders of the course repository that must never be released.
FORBIDDEN_DIRS = ("autograder", "solutions", "examples")
#: Not scanned by the leak check and kept when OUT is replaced (OUT may be a clone of the template).
KEEP = ".git"

_HIDDEN_FILE = re.compile(r"\btest_\w*_hidden\b")
_IMPORTS_SOLUTIONS = re.compile(
    r"(?:\bfrom\s+solutions\b|\bimport\s+solutions\b|import_module\(\s*['\"]solutions\b)")


def _hidden_path(ctx: Context) -> re.Pattern | None:
    """A mention of a hidden suite's folder, as a path or a module (autograder/hidden, autograder.hidden)."""
    folders = [r"[/\\.]".join(map(re.escape, folder.split("/"))) for folder in ctx.grading.suites.hidden]
    return re.compile("|".join(folders)) if folders else None


def _test_names(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"{rel(path)}: cannot read its test names: {exc}") from None
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")}


def hidden_test_names(repo: Context | Path | None = None) -> set[str]:
    """Names of the hidden suites' test functions, less any public test's name."""
    ctx = Context.of(repo)
    hidden: set[str] = set()
    for folder in ctx.grading.suites.hidden:
        for path in sorted((ctx.root / folder).glob("*.py")):
            hidden |= _test_names(path)
    public: set[str] = set()
    for folder in ctx.grading.suites.public:
        for path in sorted((ctx.root / folder).glob("test_*.py")):
            public |= _test_names(path)
    return hidden - public


def secret_lines(repo: Context | Path | None = None) -> set[str]:
    """The solution lines no released file may contain: ``stubgen.solution_lines`` less the
    lines the kit (``hwkit/*.py``, the grader's plumbing that students run) holds."""
    ctx = Context.of(repo)
    try:
        secret = stubgen.solution_lines(ctx.solutions, ctx.modules)
    except stubgen.StubGenError as exc:
        raise ReleaseError(str(exc)) from None
    kit = {line.strip() for path in sorted((ctx.root / translations.KIT).glob("*.py"))
           for line in path.read_text(encoding="utf-8", errors="replace").split("\n")}
    return secret - kit


def released_files(out: Path) -> list[str]:
    """Every file of the release folder ``out`` (``.git`` aside), relative to it."""
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if (p.is_file() or p.is_symlink()) and KEEP not in p.relative_to(out).parts)


def check_release(out: Path, repo: Context | Path | None = None) -> list[str]:
    """Leaks in the release folder ``out`` (an empty list means it is clean)."""
    ctx, out = Context.of(repo), Path(out)
    if not out.is_dir():
        return [f"{out}: not a folder"]
    secret = secret_lines(ctx)
    hidden = hidden_test_names(ctx)
    hidden_name = re.compile(r"\b(" + "|".join(sorted(map(re.escape, hidden))) + r")\b") if hidden else None
    hidden_path = _hidden_path(ctx)
    files = released_files(out)
    problems: list[str] = []
    for path in files:
        parts = path.split("/")
        if (parts[0] in FORBIDDEN_DIRS or "hidden" in parts[:-1]
                or any(path.startswith(folder + "/") for folder in ctx.grading.suites.hidden)):
            problems.append(f"{path}: a grader-only folder ({'/'.join(parts[:-1])}/) must not be released")
        if (out / path).is_symlink():
            problems.append(f"{path}: a symbolic link (the release holds plain files only)")
            continue
        if re.fullmatch(r"grading.*\.ya?ml", parts[-1]) and path != "grading.yml":
            problems.append(f"{path}: a grading file other than the public grading.yml")
        for pattern, what in ((hidden_path, "the hidden suites"), (_HIDDEN_FILE, "a hidden test"),
                              (hidden_name, "a hidden test")):
            match = pattern.search(path) if pattern else None
            if match:
                problems.append(f"{path}: its name mentions {what} ({match.group(0)})")
        text = (out / path).read_text(encoding="utf-8", errors="replace")
        # (a student's module is generated from the solution's own text: a solution line inside one
        # of its lines, e.g. quoted in a docstring, counts too)
        generated = path in ctx.modules
        found = ((where, stubgen.leaked(line, secret) if generated else line if line in secret else None)
                 for where, line in stubgen._generated_lines(path, text))
        problems.extend(f"{where}: holds a solution line: {line!r}" for where, line in found if line)
        for number, line in enumerate(text.split("\n"), start=1):
            for pattern, what in ((hidden_path, "mentions the hidden suites"),
                                  (_HIDDEN_FILE, "mentions a hidden test"),
                                  (hidden_name, "names a hidden test"),
                                  (_IMPORTS_SOLUTIONS, "imports the reference solutions")):
                match = pattern.search(line) if pattern else None
                if match:
                    problems.append(f"{path}:{number}: {what} ({match.group(0)})")
    problems.extend(_check_hidden_messages(out, files, ctx))
    problems.extend(_check_grading(out, files, ctx))
    return problems


def _check_hidden_messages(out: Path, files: list[str], ctx: Context) -> list[str]:
    """No message that only the hidden tests show (it says what they check), e.g. in a catalogue."""
    public = translations.code_messages(translations.public_sources(ctx.root), ctx.root)
    # (a hidden message that is part of a public one tells nothing new)
    hidden = [m for m in translations.code_messages(translations.hidden_sources(ctx.root), ctx.root)
              if len(m) >= 20 and not any(m in p for p in public)]
    problems = []
    for path in files:
        data = (out / path).read_bytes()
        problems += [f"{path}: holds a hidden test's message: {m[:60]!r}" for m in hidden if m.encode() in data]
    return problems


def _check_grading(out: Path, files: list[str], ctx: Context) -> list[str]:
    """The released grading.yml lists only tests the release ships."""
    path = out / "grading.yml"
    if not path.is_file():
        return []
    try:
        config = load_grading(path)
    except GradingConfigError as exc:
        return [f"grading.yml: invalid: {exc}"]
    public = set(ctx.grading.suites.public)
    shipped = {f for f in files if f.rpartition("/")[0] in public and re.fullmatch(r"test_.*\.py", Path(f).name)}
    problems = []
    for name, task in config.tasks.items():
        listed = [*task.tests, *task.requires, *task.requires.values()]
        for test_id in dict.fromkeys(listed):
            if test_id.split("::", 1)[0] not in shipped:
                problems.append(f"grading.yml: {name} lists {test_id}, which is not a released public test")
    return problems

"""Generate the student stubs (``assignment/``) from the reference solutions (``solutions/``).

``solutions/`` is the single source of the homework. In its Python modules every
body a student must write is wrapped in a solution region::

    def index_tensor(t):
        \"\"\"Task 1.3 — Indexing and slicing a 3-D tensor. ...\"\"\"
        ### BEGIN SOLUTION
        ...reference code...
        ### END SOLUTION

The generator replaces each region by a one-line stub naming the task::

        raise NotImplementedError("Task 1.3: index_tensor is not implemented yet")

The task number comes from the first line of the docstring of the function (or
method) that encloses the region, which must start with ``Task X.Y — ``; the name is
the function's qualified name (``CustomReLU.forward`` for a method). The replacement
itself is done by nbgrader's own ``ClearSolutions`` preprocessor, configured with that
stub as its ``code_stub`` and run on the region, so the stubs are exactly what
``nbgrader generate_assignment`` would produce. ``analysis.ipynb`` goes through
``ClearSolutions`` (model answers become "YOUR ANSWER HERE", the plotting cell becomes
a code stub) and nbgrader's ``ClearOutput`` (the embedded plot disappears).

Usage, from the repository root::

    autograder stubs                       # (re)write assignment/ from solutions/
    autograder stubs --check               # exit 1 if assignment/ is stale or leaks a solution

The modules are the files ``grading.yml`` declares under ``modules:`` (``--grading``, default:
the course's); callers of the functions below pass them as ``modules``.

Output is deterministic: regenerating an up-to-date ``assignment/`` changes nothing.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.preprocessors import ClearOutput, ClearSolutions

from hwkit.grading import GradingConfig, GradingConfigError, load_grading

from .course import CourseNotFound, find as find_course

__all__ = [
    "StubGenError",
    "Region",
    "find_regions",
    "stub_module",
    "stub_notebook",
    "solution_lines",
    "module_files",
    "generate",
    "check",
    "run",
    "main",
]

NOTEBOOK = "analysis.ipynb"
INIT = "__init__.py"
INIT_TEXT = (
    '"""Your homework: fill in every function that raises NotImplementedError '
    '(generated from the reference solutions by autograder.stubgen)."""\n'
)

#: What replaces a solution region in a module.
STUB_TEMPLATE = 'raise NotImplementedError("Task {task}: {name} is not implemented yet")'
#: What replaces a solution code cell in the notebook (markdown answers get nbgrader's text stub).
NOTEBOOK_CODE_STUB = (
    "# YOUR CODE HERE\n"
    'raise NotImplementedError("Task 3.5: this cell is not implemented yet")'
)
#: The first docstring line of a function with a solution region: "Task 1.3 — ...".
TASK_LINE = re.compile(r"^Task (\d+(?:\.\d+)*) — \S")
#: A stripped line of a solution region longer than this (and not a comment) must not
#: appear in any generated file.
MIN_LEAK_LENGTH = 8

_BEGIN = ClearSolutions.begin_solution_delimeter.default_value  # "BEGIN SOLUTION"
_END = ClearSolutions.end_solution_delimeter.default_value  # "END SOLUTION"
BEGIN_MARKER = f"### {_BEGIN}"
END_MARKER = f"### {_END}"

_KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


class StubGenError(Exception):
    """A problem in the solutions (missing file, unbalanced region, ...); the message names it."""


@dataclass(frozen=True)
class Region:
    """One ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region of a solution module."""

    path: Path
    begin: int  # 1-based line number of the BEGIN marker
    end: int  # 1-based line number of the END marker
    task: str  # e.g. "1.3"
    name: str  # qualified name of the enclosing function, e.g. "CustomReLU.forward"
    lines: tuple[str, ...]  # the reference code strictly between the markers

    @property
    def stub(self) -> str:
        return STUB_TEMPLATE.format(task=self.task, name=self.name)


# --------------------------------------------------------------------------------------
# Regions
# --------------------------------------------------------------------------------------

def _spans(lines: Sequence[str], where: str, sep: str = ":") -> list[tuple[int, int]]:
    """(begin, end) 1-based line numbers of the solution regions, checked for balance.

    A line counts as a delimiter exactly when ClearSolutions would treat it as one (it
    *contains* "BEGIN SOLUTION" / "END SOLUTION"); such a line must then be nothing but
    the marker, so that a stray mention (e.g. in a docstring) is reported, not obeyed.
    """
    spans: list[tuple[int, int]] = []
    open_at: int | None = None
    for number, line in enumerate(lines, start=1):
        if _BEGIN in line:
            if line.strip() != BEGIN_MARKER:
                raise StubGenError(
                    f"{where}{sep}{number}: a line mentioning {_BEGIN!r} must be exactly "
                    f"{BEGIN_MARKER!r} (plus indentation), got {line.strip()!r}")
            if open_at is not None:
                raise StubGenError(
                    f"{where}{sep}{number}: nested {BEGIN_MARKER!r}: the region opened at line "
                    f"{open_at} has no {END_MARKER!r} before it")
            open_at = number
        elif _END in line:
            if line.strip() != END_MARKER:
                raise StubGenError(
                    f"{where}{sep}{number}: a line mentioning {_END!r} must be exactly "
                    f"{END_MARKER!r} (plus indentation), got {line.strip()!r}")
            if open_at is None:
                raise StubGenError(
                    f"{where}{sep}{number}: {END_MARKER!r} without a matching {BEGIN_MARKER!r}")
            spans.append((open_at, number))
            open_at = None
    if open_at is not None:
        raise StubGenError(
            f"{where}{sep}{open_at}: {BEGIN_MARKER!r} has no matching {END_MARKER!r} "
            f"(unbalanced solution region)")
    return spans


def _functions(tree: ast.AST) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function in the module with its qualified name (Class.method, outer.inner)."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualname = prefix + child.name
                found.append((qualname, child))
                visit(child, qualname + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def find_regions(path: Path, text: str | None = None) -> list[Region]:
    """The solution regions of one solution module, with their task and function name.

    Raises StubGenError (naming the file and line) for an unbalanced or nested region,
    a region outside a function, or an enclosing function whose docstring does not
    start with "Task X.Y — ".
    """
    path = Path(path)
    if text is None:
        text = _read_text(path)
    where = _show(path)
    lines = text.split("\n")
    spans = _spans(lines, where)
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as error:
        raise StubGenError(f"{where}:{error.lineno}: not valid Python: {error.msg}") from None
    functions = _functions(tree)

    regions = []
    for begin, end in spans:
        begin_indent = lines[begin - 1][:len(lines[begin - 1]) - len(lines[begin - 1].lstrip())]
        end_indent = lines[end - 1][:len(lines[end - 1]) - len(lines[end - 1].lstrip())]
        if begin_indent != end_indent:
            raise StubGenError(
                f"{where}:{end}: {END_MARKER!r} must be indented like the {BEGIN_MARKER!r} "
                f"of line {begin}")
        enclosing = [
            (qualname, node) for qualname, node in functions
            if node.body[0].lineno <= begin <= (node.end_lineno or 0)
        ]
        if not enclosing:
            raise StubGenError(
                f"{where}:{begin}: solution region is not inside the body of a function")
        qualname, node = max(enclosing, key=lambda item: item[1].lineno)  # innermost
        docstring = ast.get_docstring(node) or ""
        match = TASK_LINE.match(docstring.split("\n", 1)[0])
        if match is None:
            raise StubGenError(
                f"{where}:{begin}: the solution region is in {qualname}(), whose docstring "
                f"must start with 'Task X.Y — ' (it names the task in the stub)")
        regions.append(Region(
            path=path, begin=begin, end=end, task=match.group(1), name=qualname,
            lines=tuple(lines[begin:end - 1]),
        ))
    return regions


def _clear_region(source: str, stub: str) -> str:
    """Run nbgrader's ClearSolutions with ``stub`` as its code stub on one region."""
    cell = nbformat.v4.new_code_cell(source=source)
    cell.metadata["nbgrader"] = {
        "grade": False, "solution": True, "locked": False,
        "grade_id": "region", "schema_version": 3,
    }
    notebook = nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": dict(_KERNELSPEC)})
    notebook, _ = ClearSolutions(code_stub={"python": stub}).preprocess(notebook, {})
    return notebook.cells[0].source


def stub_module(path: Path) -> str:
    """The student version of one solution module (regions replaced by their stubs)."""
    path = Path(path)
    text = _read_text(path)
    lines = text.split("\n")
    out: list[str] = []
    position = 0  # 0-based index of the next line not yet copied
    for region in find_regions(path, text):
        out.extend(lines[position:region.begin - 1])
        source = "\n".join(lines[region.begin - 1:region.end])
        out.extend(_clear_region(source, region.stub).split("\n"))
        position = region.end
    out.extend(lines[position:])
    stub = "\n".join(out)
    try:
        compile(stub, str(path), "exec")
    except SyntaxError as error:  # pragma: no cover - a bug in the generator, not the input
        raise StubGenError(f"{_show(path)}: the generated stub is not valid Python: {error}") from None
    return stub


# --------------------------------------------------------------------------------------
# The notebook
# --------------------------------------------------------------------------------------

def _read_notebook(path: Path) -> NotebookNode:
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise StubGenError(f"{_show(path)}: file not found") from None
    except Exception as error:  # nbformat raises several unrelated types for bad JSON
        raise StubGenError(f"{_show(path)}: not a readable notebook: {error}") from None
    try:
        MetadataValidator().validate_nb(notebook)
    except ValidationError as error:
        raise StubGenError(f"{_show(path)}: invalid nbgrader metadata: {error}") from None
    for index, cell in enumerate(notebook.cells):
        _spans(cell.source.split("\n"), f"{_show(path)} cell {index}", sep=" line ")
    return notebook


def stub_notebook(path: Path) -> str:
    """The student version of the analysis notebook, as the text of an .ipynb file."""
    notebook = copy.deepcopy(_read_notebook(Path(path)))
    notebook.metadata.setdefault("kernelspec", dict(_KERNELSPEC))
    try:
        notebook, _ = ClearSolutions(code_stub={"python": NOTEBOOK_CODE_STUB}).preprocess(notebook, {})
    except RuntimeError as error:
        raise StubGenError(f"{_show(path)}: {error}") from None
    notebook, _ = ClearOutput().preprocess(notebook, {})
    return nbformat.writes(notebook) + "\n"


def _notebook_solution_lines(notebook: NotebookNode) -> Iterable[str]:
    for cell in notebook.cells:
        if not cell.get("metadata", {}).get("nbgrader", {}).get("solution", False):
            continue
        lines = cell.source.split("\n")
        spans = _spans(lines, "notebook cell")
        if spans:
            for begin, end in spans:
                yield from lines[begin:end - 1]
        else:
            yield from lines  # ClearSolutions replaces the whole cell


# --------------------------------------------------------------------------------------
# Generate and check
# --------------------------------------------------------------------------------------

def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StubGenError(f"{_show(path)}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StubGenError(f"{_show(path)}: cannot read: {error}") from None


def _show(path: Path) -> str:
    """A path for messages: relative to the working directory when possible."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def module_files(grading: GradingConfig) -> list[str]:
    """The files students write, as grading.yml declares them under ``modules:``."""
    return [module.file for module in grading.modules.values()]


def _module_paths(solutions_dir: Path, modules: Iterable[str]) -> list[Path]:
    """The declared modules in ``solutions_dir``, by name (so the output does not depend on
    the order grading.yml lists them in); each one and the notebook must exist."""
    solutions_dir, modules = Path(solutions_dir), sorted(modules)
    if not solutions_dir.is_dir():
        raise StubGenError(f"solutions directory not found: {_show(solutions_dir)}")
    missing = [
        name for name in (*modules, NOTEBOOK)
        if not (solutions_dir / name).is_file()
    ]
    if missing:
        raise StubGenError(
            f"missing in {_show(solutions_dir)}: " + ", ".join(missing))
    return [solutions_dir / name for name in modules]


def _render(solutions_dir: Path, modules: Iterable[str]) -> dict[str, str]:
    """File name -> content of every generated file, in writing order."""
    solutions_dir = Path(solutions_dir)
    files = {INIT: INIT_TEXT}
    for path in _module_paths(solutions_dir, modules):
        files[path.name] = stub_module(path)
    files[NOTEBOOK] = stub_notebook(solutions_dir / NOTEBOOK)
    return files


def solution_lines(solutions_dir: Path, modules: Iterable[str]) -> set[str]:
    """Every stripped solution line (longer than 8 characters, not a comment).

    These are the lines of the regions of ``modules`` and of the notebook's solution
    cells; none of them may appear in a generated file.
    """
    solutions_dir = Path(solutions_dir)
    raw: list[str] = []
    for path in _module_paths(solutions_dir, modules):
        for region in find_regions(path):
            raw.extend(region.lines)
    raw.extend(_notebook_solution_lines(_read_notebook(solutions_dir / NOTEBOOK)))
    return {
        line.strip() for line in raw
        if len(line.strip()) > MIN_LEAK_LENGTH and not line.strip().startswith("#")
    }


def _generated_lines(name: str, content: str) -> Iterable[tuple[str, str]]:
    """(location, stripped line) of a generated file; notebooks by cell source and output."""
    if name.endswith(".ipynb"):
        try:
            notebook = nbformat.reads(content, as_version=4)
        except Exception:  # an unreadable notebook: scan it as text
            notebook = None
        if notebook is not None:
            for index, cell in enumerate(notebook.cells):
                texts = [cell.source]
                for output in cell.get("outputs", []):
                    texts.append(str(output.get("text", "")))
                    texts.extend(str(value) for value in output.get("data", {}).values())
                for text in texts:
                    for line in text.split("\n"):
                        yield f"{name} cell {index}", line.strip()
            return
    for number, line in enumerate(content.split("\n"), start=1):
        yield f"{name}:{number}", line.strip()


def leaked(line: str, secret: set[str]) -> str | None:
    """The solution line that a generated line holds, whole or inside other text (a docstring
    quoting ``func(*args, **kwargs)`` hands over that line as much as the line itself)."""
    if line in secret:
        return line
    return next((s for s in secret if s in line), None) if len(line) > MIN_LEAK_LENGTH else None


def _leaks(files: dict[str, str], secret: set[str], prefix: str) -> list[str]:
    found = ((location, leaked(line, secret)) for name, content in files.items()
             for location, line in _generated_lines(name, content))
    return [f"solution line leaked into {prefix}{location}: {line!r}" for location, line in found if line]


def generate(solutions_dir: Path, out_dir: Path, modules: Iterable[str]) -> list[Path]:
    """Write the student stubs for ``solutions_dir`` into ``out_dir``; return the paths written.

    Writes ``__init__.py``, one stub per file in ``modules`` and ``analysis.ipynb``.
    Nothing is written if any solution file has a problem (StubGenError).
    """
    solutions_dir, out_dir, modules = Path(solutions_dir), Path(out_dir), list(modules)
    files = _render(solutions_dir, modules)
    leaks = _leaks(files, solution_lines(solutions_dir, modules), f"{_show(out_dir)}/")
    if leaks:
        raise StubGenError(
            "the generated stubs would contain solution lines (move them into a region or "
            "reword the text outside it):\n  " + "\n  ".join(leaks))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        target = out_dir / name
        with open(target, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
        written.append(target)
    return written


def check(solutions_dir: Path, out_dir: Path, modules: Iterable[str]) -> list[str]:
    """Problems with ``out_dir``: files missing, stale or unexpected, and leaked solution lines.

    An empty list means ``out_dir`` is byte-identical to a fresh generation and contains
    no solution line. Problems in the solutions themselves raise StubGenError.
    """
    solutions_dir, out_dir, modules = Path(solutions_dir), Path(out_dir), list(modules)
    with tempfile.TemporaryDirectory(prefix="stubgen-") as tmp:
        fresh_paths = generate(solutions_dir, Path(tmp) / "assignment", modules)
        fresh = {path.name: path.read_bytes() for path in fresh_paths}
    shown = _show(out_dir)
    if not out_dir.is_dir():
        return [f"missing directory {shown} (run: autograder stubs)"]

    problems = []
    for name, content in fresh.items():
        target = out_dir / name
        if not target.is_file():
            problems.append(f"missing: {shown}/{name}")
        elif target.read_bytes() != content:
            problems.append(f"stale: {shown}/{name} differs from a fresh generation")
    present = sorted(p for p in out_dir.iterdir() if p.is_file() and p.suffix in (".py", ".ipynb"))
    for path in present:
        if path.name not in fresh:
            problems.append(f"unexpected: {shown}/{path.name} is not generated from {_show(solutions_dir)}")

    actual = {path.name: path.read_text(encoding="utf-8", errors="replace") for path in present}
    problems.extend(_leaks(actual, solution_lines(solutions_dir, modules), f"{shown}/"))
    return problems


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

def run(solutions_dir: Path, out_dir: Path, modules: Iterable[str], check_only: bool = False) -> int:
    """Write the stubs (or with ``check_only`` check them), saying what happened; the exit code:
    0 done or up to date, 1 stale or leaking, 2 a problem in the solutions."""
    solutions_dir, out_dir = Path(solutions_dir), Path(out_dir)
    try:
        if check_only:
            problems = check(solutions_dir, out_dir, modules)
            if problems:
                print(f"{_show(out_dir)} is not in sync with {_show(solutions_dir)}:")
                for problem in problems:
                    print(f"  {problem}")
                print("Regenerate with: autograder stubs (make stubs)")
                return 1
            print(f"{_show(out_dir)} is up to date with {_show(solutions_dir)}")
            return 0
        for path in generate(solutions_dir, out_dir, modules):
            print(f"wrote {_show(path)}")
        return 0
    except StubGenError as error:
        print(f"stubgen: error: {error}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.stubgen",
        description="Generate the student stubs from the reference solutions "
                    "(or, with --check, verify that they are up to date).",
    )
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the output is stale or leaks a solution")
    parser.add_argument("--solutions", type=Path, default=Path("solutions"),
                        help="the reference solutions directory (default: solutions)")
    parser.add_argument("--out", type=Path, default=Path("assignment"),
                        help="the student stubs directory (default: assignment)")
    parser.add_argument("--grading", type=Path, default=None,
                        help="the grading.yml whose modules: are the homework (default: the course's)")
    args = parser.parse_args(argv)
    try:
        modules = module_files(load_grading(args.grading or find_course().grading))
    except (CourseNotFound, GradingConfigError) as error:
        print(f"stubgen: error: {error}", file=sys.stderr)
        return 2
    return run(args.solutions, args.out, modules, check_only=args.check)


if __name__ == "__main__":
    sys.exit(main())

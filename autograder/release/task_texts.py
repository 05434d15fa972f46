"""The task texts in Russian, for ``autograder release --lang ru``: the stubs' docstrings and the
notebook's cells.

The English in ``solutions/`` stays the one source of the homework. Its Russian translation is a
gettext catalogue, ``hwkit/locale/ru/tasks.po`` (not compiled into the kit's homework.mo), one
entry per text::

    msgctxt "homework_tensors.py::index_tensor"        # module::function (Class.method), or
    msgid "Task 1.3 — Indexing ..."                      # homework_tensors.py (its module docstring),
    msgstr "Задание 1.3 — Индексация ..."                # analysis.ipynb::task35_intro (a cell's grade_id)

``msgid`` is the English as it was translated (a docstring as ``ast.get_docstring`` cleans it, a
cell's source). When the English in solutions/ changes, the entry is *stale*: `make locale`
(:func:`update`) puts the new English in ``msgid``, keeps the translation and, in ``#.`` comments,
the old English, and marks the entry ``#, fuzzy`` until a translator checks it and removes the
mark (gettext's msgmerge workflow). A text with no entry, or an
empty one, is *missing*. Both are listed by `make locale` and `autograder check`, and a Russian
release refuses to build (:class:`ReleaseError`) unless the TA allows English in their place.
"""

from __future__ import annotations

import ast
import copy
import io
from pathlib import Path

import nbformat
from babel.messages.pofile import read_po, write_po

from .. import stubgen
from ..translations import PARTS, TASKS_PART, _catalog
from .context import ReleaseError


class TaskTextError(ReleaseError):
    """The task texts or their catalogue cannot be read (a broken solutions file or tasks.po)."""


HEADER = """\
Russian task texts for `autograder release --lang ru`: the stubs' docstrings, the notebook's cells.
msgctxt names the text: file::function, file::Class.method, file (the module's docstring) or
analysis.ipynb::grade_id; msgid is the English in solutions/ that msgstr translates.
`make locale` adds a new text with an empty msgstr and marks a changed one fuzzy (its old English
in #. comments): update the translation, then delete the fuzzy mark and those comments.
Code, names and ``literals`` stay as they are; only the prose is translated."""


#: Above a stale entry, the English that its translation was made from.
PREVIOUS = "The English this translates was, before it changed:"


def catalogue_path(root: Path) -> Path:
    return Path(root) / PARTS / TASKS_PART


# -- the English -----------------------------------------------------------------------------------

def _docstring_owners(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """(qualified name, node) of the module ("") and of every class and function in it."""
    found: list[tuple[str, ast.AST]] = [("", tree)]

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.append((prefix + child.name, child))
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def docstrings(text: str, file_name: str) -> dict[str, str]:
    """Context -> English docstring (as ``ast.get_docstring`` cleans it) of one module's text."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise TaskTextError(f"{file_name}:{exc.lineno}: not valid Python: {exc.msg}") from None
    out = {}
    for qualname, node in _docstring_owners(tree):
        doc = ast.get_docstring(node)
        if doc and doc.strip():
            out[f"{file_name}::{qualname}" if qualname else file_name] = doc
    return out


def _translated_cells(notebook) -> list[tuple[str, object]]:
    """(context, cell) of the cells a student sees as written: all but the solution cells that
    nbgrader replaces whole (those without BEGIN/END SOLUTION inside)."""
    out = []
    for index, cell in enumerate(notebook.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and stubgen.BEGIN_MARKER not in cell.source:
            continue
        if not cell.source.strip():
            continue
        out.append((f"{stubgen.NOTEBOOK}::{meta.get('grade_id') or f'cell-{index}'}", cell))
    return out


def english(solutions: Path, modules: list[str]) -> dict[str, str]:
    """Every text a Russian release translates: context -> its English in ``solutions``."""
    solutions = Path(solutions)
    out: dict[str, str] = {}
    for name in sorted(modules):
        path = solutions / name
        if not path.is_file():
            raise TaskTextError(f"{stubgen._show(path)}: file not found")
        out.update(docstrings(path.read_text(encoding="utf-8"), name))
    notebook = solutions / stubgen.NOTEBOOK
    if notebook.is_file():
        nb = nbformat.read(str(notebook), as_version=4)
        out.update({context: cell.source for context, cell in _translated_cells(nb)})
    return out


# -- the catalogue ---------------------------------------------------------------------------------

def _read(root: Path):
    path = catalogue_path(root)
    if not path.is_file():
        return _new_catalogue()
    try:
        with open(path, "rb") as f:
            return read_po(f, locale="ru", abort_invalid=True)
    except Exception as exc:  # babel raises several types for a broken file
        raise TaskTextError(f"{PARTS.as_posix()}/{TASKS_PART}: cannot read it: {exc}") from None


def _new_catalogue():
    catalog = _catalog()
    catalog.header_comment = "\n".join(f"# {line}" for line in HEADER.splitlines())
    return catalog


def _entries(catalog) -> dict[str, object]:
    return {m.context: m for m in catalog if m.id and m.context}


def status(root: Path, solutions: Path | None = None, modules: list[str] | None = None
           ) -> tuple[dict[str, str], list[str], list[str], list[str]]:
    """(context -> Russian for the texts translated from their current English, missing contexts,
    stale contexts, obsolete contexts)."""
    from .context import Context

    if solutions is None or modules is None:
        ctx = Context.of(Path(root))
        solutions, modules = ctx.solutions, ctx.modules
    source = english(solutions, modules)
    have = _entries(_read(root))
    done, missing, stale = {}, [], []
    for context, text in source.items():
        entry = have.get(context)
        if entry is None or not entry.string:
            missing.append(context)
        elif entry.id != text or entry.fuzzy:
            stale.append(context)
        else:
            done[context] = entry.string
    obsolete = [c for c in have if c not in source]
    return done, missing, stale, obsolete


def problems(root: Path) -> list[str]:
    """One line per task text that a Russian release lacks: missing, stale or obsolete."""
    _, missing, stale, obsolete = status(root)
    where = f"{PARTS.as_posix()}/{TASKS_PART}"
    return ([f"{where}: no Russian translation of {c}" for c in missing]
            + [f"{where}: the English of {c} changed since it was translated (update it, then drop #, fuzzy)"
               for c in stale]
            + [f"{where}: {c} is no longer in solutions/ (delete the entry)" for c in obsolete])


def update(root: Path) -> bool:
    """Bring tasks.po up to date with the English (gettext's msgmerge): a new text gets an empty
    entry, a changed one its new English in msgid, the old in ``#.`` comments, and ``#, fuzzy``.
    Returns whether the file changed."""
    from .context import Context

    ctx = Context.of(Path(root))
    source = english(ctx.solutions, ctx.modules)
    old = _entries(_read(root))
    catalog = _new_catalogue()
    for context, text in source.items():
        entry = old.get(context)
        if entry is None:
            catalog.add(text, "", context=context)
        elif entry.id == text:
            catalog.add(text, entry.string, context=context, flags=entry.flags,
                        auto_comments=entry.auto_comments if entry.fuzzy else ())
        elif entry.string:  # (the English it translated, as #. comments: Babel garbles a long #| msgid)
            before = entry.auto_comments if entry.fuzzy and entry.auto_comments else \
                [PREVIOUS, *entry.id.split("\n")]
            catalog.add(text, entry.string, context=context, flags={*entry.flags, "fuzzy"}, auto_comments=before)
        else:
            catalog.add(text, "", context=context)
    for context, entry in old.items():  # kept, for a translator to reuse or delete
        if context not in source and entry.string:
            catalog.add(entry.id, entry.string, context=context, flags={*entry.flags, "fuzzy"},
                        auto_comments=["no longer in solutions/"])
    return _write(root, catalog)


def _write(root: Path, catalog) -> bool:
    out = io.BytesIO()
    write_po(out, catalog, width=100, include_previous=True, omit_header=False)
    path = catalogue_path(root)
    data = out.getvalue()
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def translate(root: Path, texts: dict[str, str]) -> None:
    """Set the Russian of the texts named in ``texts`` (context -> Russian), marking them checked
    against the English they have now (a script's way to fill tasks.po; by hand, edit the file)."""
    update(root)
    catalog = _read(root)
    entries = _entries(catalog)
    unknown = sorted(set(texts) - set(entries))
    if unknown:
        raise TaskTextError(f"no such task text: {', '.join(unknown)}")
    for context, text in texts.items():
        entry = entries[context]
        entry.string, entry.previous_id, entry.auto_comments = text, (), []
        entry.flags.discard("fuzzy")
    _write(root, catalog)


def russian(root: Path, solutions: Path, modules: list[str], allow_english: bool = False) -> dict[str, str]:
    """Context -> Russian of every task text; a text not (or no longer) translated raises
    ReleaseError naming it all, unless ``allow_english`` (then it stays English)."""
    done, missing, stale, _ = status(root, solutions, modules)
    if (missing or stale) and not allow_english:
        lines = [f"  {c}: no translation" for c in missing] + [f"  {c}: stale (the English changed)" for c in stale]
        raise ReleaseError(
            f"{len(missing) + len(stale)} task texts have no up-to-date Russian translation in "
            f"{PARTS.as_posix()}/{TASKS_PART} (run `make locale`, translate, remove the fuzzy marks; or "
            f"release with --allow-english to leave them in English):\n" + "\n".join(lines))
    return done


# -- putting the Russian in -----------------------------------------------------------------------

def _literal(text: str, indent: str) -> str:
    """A docstring literal for ``text`` (indented like the English one)."""
    body = text.replace("\\", "\\\\") if ("\\" in text and ('"""' in text or text.endswith("\\"))) else text
    prefix = "r" if "\\" in text and body is text else ""
    body = body.replace('"""', '\\"\\"\\"')
    lines = body.split("\n")
    if len(lines) == 1:
        return f'{indent}{prefix}"""{body}"""'
    shown = [f'{indent}{prefix}"""{lines[0]}'] + [f"{indent}{line}" if line.strip() else "" for line in lines[1:]]
    return "\n".join(shown) + f'\n{indent}"""'


def translate_module(text: str, file_name: str, russian_texts: dict[str, str]) -> str:
    """``text`` (a stub of ``file_name``) with every docstring that has a Russian translation
    replaced by it; the code is untouched."""
    tree = ast.parse(text)
    lines = text.split("\n")
    edits = []
    for qualname, node in _docstring_owners(tree):
        context = f"{file_name}::{qualname}" if qualname else file_name
        if context not in russian_texts or not ast.get_docstring(node):
            continue
        literal = node.body[0].value
        first, last = literal.lineno - 1, literal.end_lineno - 1
        before, after = lines[first][:literal.col_offset], lines[last][literal.end_col_offset:]
        if before.strip() or after.strip():
            raise TaskTextError(f"{file_name}:{literal.lineno}: the docstring of {context} must stand on lines "
                                f"of its own to be translated")
        edits.append((first, last, _literal(russian_texts[context], before)))
    for first, last, replacement in sorted(edits, reverse=True):
        lines[first:last + 1] = replacement.split("\n")
    out = "\n".join(lines)
    try:
        compiled = ast.parse(out)
    except SyntaxError as exc:  # pragma: no cover - _literal's bug, not the translator's
        raise TaskTextError(f"{file_name}: the translated stub is not valid Python: {exc}") from None
    for qualname, node in _docstring_owners(compiled):
        context = f"{file_name}::{qualname}" if qualname else file_name
        if context in russian_texts and ast.get_docstring(node) != russian_texts[context]:
            raise TaskTextError(f"{file_name}: the docstring of {context} did not come out as translated")
    return out


def translate_notebook(path: Path, russian_texts: dict[str, str]):
    """The notebook at ``path`` with every cell that has a Russian translation replaced by it."""
    notebook = copy.deepcopy(nbformat.read(str(path), as_version=4))
    for context, cell in _translated_cells(notebook):
        if context in russian_texts:
            cell.source = russian_texts[context]
    return notebook


#: What a solution cell of the Russian notebook becomes (nbgrader's text and code stubs).
TEXT_STUB_RU = "ВАШ ОТВЕТ ЗДЕСЬ"
CODE_STUB_RU = '# ВАШ КОД ЗДЕСЬ\nraise NotImplementedError("Задание 3.5: эта ячейка ещё не написана")'

"""`make locale`: compile the Russian catalogue and check it against the code.

The translations live in ``hwkit/locale/ru/*.po`` (one file per part of the code, so
several people can translate at once). This merges them and writes
``hwkit/locale/ru/LC_MESSAGES/homework.mo``, which ``hwkit.i18n`` loads with the
standard library's gettext. Babel (already a dependency of nbgrader) reads, extracts and writes.
"""

from __future__ import annotations

import io
import sys
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from hwkit.files import atomic_write
from hwkit.grading import Suites, load_grading

from .course import Course, find as find_course

PARTS = Path("hwkit") / "locale" / "ru"  # in the course folder (the kit's source lives there)
MO_PATH = "hwkit/locale/ru/LC_MESSAGES/homework.mo"
# Where tr("...") messages are written besides the suites (whose folders grading.yml names): the
# kit students get, and the grader's reports and sandbox client, which they never see.
KIT = "hwkit"
ENGINE_SOURCES = ("autograder/report", "autograder/sandbox/client.py", "autograder/sandbox/transport.py")


class LocaleError(Exception):
    """The catalogue does not match the code; the message lists what to fix."""


def _root(root: Path | None) -> Path:
    return Path(root) if root else find_course().root


def _suites(root: Path | None) -> Suites:
    return load_grading(Course(_root(root)).grading).suites


def public_sources(root: Path | None = None) -> tuple[str, ...]:
    """What students get: the kit and the public suites of the course's grading.yml."""
    return (KIT, *_suites(root).public)


def hidden_sources(root: Path | None = None) -> tuple[str, ...]:
    """The hidden suites of the course's grading.yml."""
    return tuple(_suites(root).hidden)


def all_sources(root: Path | None = None) -> tuple[str, ...]:
    """Everywhere a message is written; a message is reported where it is first found in this order."""
    return (*public_sources(root), *hidden_sources(root), *ENGINE_SOURCES)


def code_messages(sources: tuple[str, ...] | None = None, root: Path | None = None) -> dict[str, str]:
    """Every tr("...") message in ``sources`` (default: :func:`all_sources`) -> where it is (file:line)."""
    found: dict[str, str] = {}
    root = _root(root)
    if sources is None:
        sources = all_sources(root)
    for source in sources:
        path = root / source
        if path.is_file():
            with open(path, "rb") as f:
                items = [(path.name, *item) for item in extract("python", f, keywords={"tr": None})]
        else:
            items = [(name, lineno, message, comments, context) for name, lineno, message, comments, context
                     in extract_from_dir(path, method_map=[("**.py", "python")], keywords={"tr": None})]
        for name, lineno, message, _comments, _context in items:
            if isinstance(message, str) and message:
                found.setdefault(message, f"{source}/{name}:{lineno}" if path.is_dir() else f"{source}:{lineno}")
    return found


def _catalog() -> Catalog:
    # Fixed dates: the compiled file must only change when a translation does.
    fixed = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return Catalog(locale="ru", domain="homework", creation_date=fixed, revision_date=fixed, fuzzy=False)


def merged(root: Path | None = None) -> Catalog:
    """All parts in one catalogue; the same message translated differently in two parts is an error."""
    catalog = _catalog()
    seen: dict[str, tuple[str, str]] = {}
    for part in sorted((_root(root) / PARTS).glob("*.po")):
        with open(part, "rb") as f:
            for message in read_po(f, locale="ru"):
                if not message.id:
                    continue
                if message.id in seen and seen[message.id][0] != message.string:
                    raise LocaleError(f"{part.name} and {seen[message.id][1]} translate {message.id!r} differently")
                seen[message.id] = (message.string, part.name)
                catalog.add(message.id, message.string)
    return catalog


def compiled(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def compiled_public(root: Path | None = None) -> bytes:
    """The catalogue for the student release: only messages of the public tests and harness, so
    that the hidden tests' messages (what they check) do not ship."""
    public = code_messages(public_sources(root), root)
    catalog = _catalog()
    for message in merged(root):
        if message.id and message.id in public:
            catalog.add(message.id, message.string)
    return compiled(catalog)


def problems(catalog: Catalog, root: Path | None = None) -> list[str]:
    """Messages in the code without a Russian translation, and translations of nothing."""
    code = code_messages(root=root)
    have = {m.id: m.string for m in catalog if m.id}
    out = [f"{where}: no Russian translation for {msg!r}" for msg, where in code.items() if not have.get(msg)]
    out += [f"{PARTS.name}/*.po: {msg!r} is no longer in the code" for msg in have if msg not in code]
    return out


def stale(catalog: Catalog, root: Path) -> bool:
    """Whether the compiled catalogue differs from the parts (someone forgot `make locale`)."""
    mo = root / MO_PATH
    return not mo.is_file() or mo.read_bytes() != compiled(catalog)


def main(argv: list[str] | None = None) -> int:
    check_only = "--check" in (argv if argv is not None else sys.argv[1:])
    root = find_course().root
    catalog = merged(root)
    issues = problems(catalog, root)
    for issue in issues:
        print(issue, file=sys.stderr)
    if check_only:
        if stale(catalog, root):
            print(f"{MO_PATH} is stale: run `make locale`", file=sys.stderr)
            return 1
        return 1 if issues else 0
    atomic_write(root / MO_PATH, compiled(catalog))
    print(f"wrote {MO_PATH} ({len(catalog)} messages)")
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())

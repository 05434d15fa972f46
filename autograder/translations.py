"""`make locale`: compile the Russian catalogue and check it against the code.

The translations live in ``hwkit/locale/ru/*.po`` (one file per part of the code, so
several people can translate at once). This merges them and writes
``hwkit/locale/ru/LC_MESSAGES/homework.mo``, which ``hwkit.i18n`` loads with the
standard library's gettext. Babel (already a dependency of nbgrader) reads, extracts and writes.

Messages are found where the code writes ``tr("...")``, ``trn("singular", "plural", n)`` or
``trp(...)`` (points); a plural message needs ``msgid_plural`` and three Russian forms
(``msgstr[0..2]``: 1 балл, 2 балла, 5 баллов), chosen by the catalogue's :data:`PLURAL_FORMS`.

The task texts for ``autograder release --lang ru`` (the stubs' docstrings, the notebook's
cells) are a catalogue of their own, ``hwkit/locale/ru/tasks.po`` (:mod:`autograder.release.task_texts`):
it is not compiled into homework.mo. `make locale` brings it up to date with the English (a new
text gets an empty entry, a changed one is marked fuzzy with its old English kept) and lists
what is missing or stale.
"""

from __future__ import annotations

import contextlib
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
#: How the code marks a message: tr(message), trn(singular, plural, n), trp(singular, plural, points).
KEYWORDS = {"tr": None, "trn": (1, 2), "trp": (1, 2)}
#: Russian has three plural forms: 1, 21 балл; 2, 3, 4, 22 балла; 5, 11, 12, 25 баллов.
PLURAL_FORMS = ("nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && "
                "(n%100<10 || n%100>=20) ? 1 : 2);")
#: The task texts' catalogue, in PARTS but not a part of homework.mo (see autograder.release.task_texts).
TASKS_PART = "tasks.po"


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


def _extracted(sources: tuple[str, ...] | None, root: Path | None) -> dict[str | tuple[str, str], str]:
    """Every message in ``sources`` -> where it is (file:line); a trn() message as (singular, plural)."""
    found: dict[str | tuple[str, str], str] = {}
    root = _root(root)
    if sources is None:
        sources = all_sources(root)
    for source in sources:
        path = root / source
        if path.is_file():
            with open(path, "rb") as f:
                items = [(path.name, *item) for item in extract("python", f, keywords=KEYWORDS)]
        else:
            items = [(name, lineno, message, comments, context) for name, lineno, message, comments, context
                     in extract_from_dir(path, method_map=[("**.py", "python")], keywords=KEYWORDS)]
        for name, lineno, message, _comments, _context in items:
            if isinstance(message, tuple):
                message = tuple(message[:2]) if all(isinstance(m, str) and m for m in message[:2]) else None
            if message and isinstance(message, (str, tuple)):
                found.setdefault(message, f"{source}/{name}:{lineno}" if path.is_dir() else f"{source}:{lineno}")
    return found


def _key(message_id: str | tuple | list) -> str:
    """A message by its msgid (a plural message by its singular)."""
    return message_id if isinstance(message_id, str) else message_id[0]


def code_messages(sources: tuple[str, ...] | None = None, root: Path | None = None) -> dict[str, str]:
    """Every tr("...") and trn("...", ...) message in ``sources`` (default: :func:`all_sources`)
    -> where it is (file:line); a trn() message by its singular."""
    found: dict[str, str] = {}
    for message, where in _extracted(sources, root).items():
        found.setdefault(_key(message), where)
    return found


def plural_messages(sources: tuple[str, ...] | None = None, root: Path | None = None) -> dict[str, str]:
    """The trn() messages of ``sources``: singular -> plural."""
    return {m[0]: m[1] for m in _extracted(sources, root) if isinstance(m, tuple)}


def _catalog() -> Catalog:
    # Fixed dates: the compiled file must only change when a translation does.
    fixed = datetime(2026, 1, 1, tzinfo=timezone.utc)
    catalog = Catalog(locale="ru", domain="homework", creation_date=fixed, revision_date=fixed, fuzzy=False)
    # (Babel derives Plural-Forms from the locale; the Russian rule is stated here, not left to
    # whichever Babel is installed)
    catalog._num_plurals, catalog._plural_expr = 3, PLURAL_FORMS.split("plural=", 1)[1].rstrip(";")
    return catalog


def merged(root: Path | None = None) -> Catalog:
    """All parts in one catalogue; the same message translated differently in two parts is an error."""
    catalog = _catalog()
    seen: dict[str, tuple[str, str]] = {}
    for part in sorted((_root(root) / PARTS).glob("*.po")):
        if part.name == TASKS_PART:
            continue
        with open(part, "rb") as f:
            for message in read_po(f, locale="ru"):
                if not message.id:
                    continue
                key = _key(message.id)
                if key in seen and seen[key][0] != (message.id, message.string):
                    raise LocaleError(f"{part.name} and {seen[key][1]} translate {key!r} differently")
                seen[key] = ((message.id, message.string), part.name)
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
        if message.id and _key(message.id) in public:
            catalog.add(message.id, message.string)
    return compiled(catalog)


def problems(catalog: Catalog, root: Path | None = None) -> list[str]:
    """Messages in the code without a Russian translation, and translations of nothing."""
    code = code_messages(root=root)
    plurals = plural_messages(root=root)
    have = {_key(m.id): m for m in catalog if m.id}
    out = []
    for msg, where in code.items():
        entry = have.get(msg)
        forms = () if entry is None else (entry.string if isinstance(entry.string, (tuple, list)) else (entry.string,))
        if entry is None or not all(forms):
            out.append(f"{where}: no Russian translation for {msg!r}")
        elif msg in plurals and not entry.pluralizable:
            out.append(f"{where}: {msg!r} is a plural message (trn): give it msgid_plural {plurals[msg]!r} "
                       f"and msgstr[0], msgstr[1], msgstr[2] (1 балл, 2 балла, 5 баллов)")
        elif msg in plurals and (len(forms) != 3 or entry.id[1] != plurals[msg]):
            out.append(f"{where}: {msg!r} needs msgid_plural {plurals[msg]!r} and three Russian forms")
        elif msg not in plurals and entry.pluralizable:
            out.append(f"{where}: {msg!r} has plural forms in the catalogue but the code uses tr(), not trn()")
    out += [f"{PARTS.name}/*.po: {msg!r} is no longer in the code" for msg in have if msg not in code]
    return out


def stale(catalog: Catalog, root: Path) -> bool:
    """Whether the compiled catalogue differs from the parts (someone forgot `make locale`)."""
    mo = root / MO_PATH
    return not mo.is_file() or mo.read_bytes() != compiled(catalog)


def task_text_problems(root: Path) -> list[str]:
    """What the Russian release still lacks: task texts (docstrings, notebook cells) without a
    translation, or whose English changed since (autograder.release.task_texts)."""
    from .release import task_texts  # (the release imports this module)

    try:
        return task_texts.problems(root)
    except task_texts.TaskTextError as exc:
        return [str(exc)]


def main(argv: list[str] | None = None) -> int:
    check_only = "--check" in (argv if argv is not None else sys.argv[1:])
    root = find_course().root
    catalog = merged(root)
    issues = problems(catalog, root)
    for issue in issues:
        print(issue, file=sys.stderr)
    if not check_only:
        from .release import task_texts

        with contextlib.suppress(task_texts.TaskTextError):
            if task_texts.update(root):
                print(f"updated {PARTS.as_posix()}/{TASKS_PART} (new or changed task texts)")
    # The task texts only warn: the messages are what every student run needs, the task texts
    # only `autograder release --lang ru` (which refuses to build without them).
    untranslated = task_text_problems(root)
    for issue in untranslated:
        print(f"warning: {issue}", file=sys.stderr)
    if untranslated:
        print(f"warning: {len(untranslated)} task texts are not (or no longer) translated; `autograder release "
              f"--lang ru` needs them: translate them in {PARTS.as_posix()}/{TASKS_PART}", file=sys.stderr)
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

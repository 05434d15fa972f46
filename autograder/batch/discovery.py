"""Finding the students: the entries of the submissions folder (sub-folders, .zip files, git
repositories) and their student ids, with the common or given prefix stripped and every id made
safe to show in every output and unique."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import BatchError


@dataclass(frozen=True)
class Entry:
    id: str
    path: Path
    kind: str  # dir | zip | git


def common_prefix(names: list[str]) -> str:
    """The longest prefix ending in '-' that every name has, with something left after it.

    Only for 2 or more names (GitHub Classroom names repositories `<assignment>-<user>`).
    """
    if len(names) < 2:
        return ""
    shared = os.path.commonprefix(names)
    for end in range(len(shared), 0, -1):
        prefix = shared[:end]
        if prefix.endswith("-") and all(len(n) > len(prefix) for n in names):
            return prefix
    return ""


def student_ids(names: list[str], strip_prefix: str | None = None) -> dict[str, str]:
    """Map each entry name (without .zip) to its student id; BatchError on a collision."""
    ids = _ids(names, strip_prefix)
    _check_unique(ids, names)
    return dict(zip(names, ids))


def _ids(names: list[str], strip_prefix: str | None) -> list[str]:
    prefix = common_prefix(names) if strip_prefix is None else strip_prefix
    return [safe_id(n[len(prefix):] if prefix and n.startswith(prefix) and n != prefix else n) for n in names]


MAX_ID = 64
# Path separators, and what would break a Markdown table or become HTML in report.md.
_REPLACED = str.maketrans({c: "_" for c in "/\\|`<>"})
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def safe_id(name: str) -> str:
    """A student id every output can show as it is: no control or direction characters, no
    slashes, pipes, backquotes or angle brackets (Markdown, HTML), no leading ``= + - @`` (a
    formula in a spreadsheet) or dot, at most 64 characters
    (and a short hash of the original name when anything changed). Made once, here."""
    clean = _UNSAFE.sub("", name).translate(_REPLACED).lstrip("=+-@. \t")[:MAX_ID].strip()
    if clean == name:
        return name
    digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    return f"{clean or 'entry'}-{digest}"[:MAX_ID + 7]


def _check_unique(ids: list[str], labels: list[str]) -> None:
    seen: dict[str, list[str]] = {}
    for sid, label in zip(ids, labels):
        if sid.startswith(".") or "/" in sid:
            raise BatchError(f"{label}: the student id {sid!r} cannot be a folder name; rename the entry")
        seen.setdefault(sid, []).append(label)
    clashes = [f"{sid!r} ({', '.join(group)})" for sid, group in seen.items() if len(group) > 1]
    if clashes:
        raise BatchError("several submissions have the same student id: " + "; ".join(clashes)
                         + ". Rename them (or use --strip-prefix) so that every student is graded once")


def discover(folder: Path, strip_prefix: str | None = None,
             warn: Callable[[str], None] = lambda _: None) -> list[Entry]:
    """The students in `folder`: sub-folders, git repositories and .zip files, sorted by id."""
    if not folder.is_dir():
        raise BatchError(f"{folder}: not a folder (expected one sub-folder, .zip or git repository per student)")
    found: list[tuple[str, Path, str]] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            warn(f"ignored {path.name}: hidden entry")
        elif path.is_dir():
            found.append((path.name, path, "git" if (path / ".git").exists() else "dir"))
        elif path.name.lower().endswith(".zip"):
            found.append((path.name[:-4], path, "zip"))
        else:
            warn(f"ignored {path.name}: not a folder, .zip or git repository")
    if not found:
        raise BatchError(f"{folder}: no submissions found (expected one sub-folder, .zip or git repository "
                         "per student)")
    ids = _ids([name for name, _, _ in found], strip_prefix)
    _check_unique(ids, [path.name for _, path, _ in found])
    return sorted((Entry(sid, path, kind) for sid, (_, path, kind) in zip(ids, found)), key=lambda e: e.id)

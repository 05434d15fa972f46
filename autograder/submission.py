"""Finding the three homework modules in a submission folder or .zip, safely.

Only ``homework_*.py`` files are ever used; everything else in a submission is ignored. A
module that is a symbolic link, too large, or not UTF-8 text is treated as missing, with a
message saying why (a link could otherwise point the grader at the reference solutions).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator


MAX_MODULE_BYTES = 2 * 2**20
MAX_ZIP_BYTES = 64 * 2**20
MAX_ZIP_MEMBERS = 5000


class SubmissionError(Exception):
    """The submission path cannot be read at all (the grader cannot run)."""


@dataclass
class Submission:
    root: Path  # the folder the modules were found in
    files: dict[str, Path] = field(default_factory=dict)  # module key -> module file
    problems: dict[str, str] = field(default_factory=dict)  # module key -> why it is missing


@contextlib.contextmanager
def open_submission(path: str | Path, modules: dict[str, str]) -> Iterator[Submission]:
    """Yield the `modules` (key -> module name, grading.yml's) of a folder or .zip."""
    with unpacked(path) as folder:
        yield locate(folder, modules)


@contextlib.contextmanager
def unpacked(path: str | Path) -> Iterator[Path]:
    """The submission as a folder: itself, or a .zip unpacked into a temporary one."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder")
    if path.is_dir():
        yield path
        return
    if path.suffix.lower() != ".zip":
        raise SubmissionError(f"{path}: expected a folder or a .zip file")
    tmp = Path(tempfile.mkdtemp(prefix="autograder-zip-"))
    try:
        _unzip(path, tmp)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _unzip(path: Path, dest: Path) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{path}: not a readable .zip file ({exc})") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise SubmissionError(f"{path}: the archive is too large to be a homework submission")
        for m in members:
            name = PurePosixPath(m.filename)
            # Only homework modules are extracted; never absolute paths, '..', or links.
            if m.is_dir() or not name.name.startswith("homework_") or name.suffix != ".py":
                continue
            if name.is_absolute() or ".." in name.parts or (m.external_attr >> 16) & 0o170000 == 0o120000:
                continue
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(m) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def locate(folder: Path, modules: dict[str, str]) -> Submission:
    """The shallowest folder (up to 3 levels down) holding the most homework modules."""
    candidates = [folder] + [p for p in sorted(folder.rglob("*"))
                             if p.is_dir() and not p.is_symlink() and len(p.relative_to(folder).parts) <= 3
                             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    best = max(candidates, key=lambda d: (sum((d / f"{n}.py").exists() for n in modules.values()),
                                          -len(d.relative_to(folder).parts)))
    sub = Submission(root=best)
    for key, name in modules.items():
        f = best / f"{name}.py"
        if f.is_symlink():
            sub.problems[key] = f"{name}.py is a symbolic link; submit the file itself"
        elif not f.is_file():
            sub.problems[key] = f"{name}.py was not found in the submission"
        elif f.stat().st_size > MAX_MODULE_BYTES:
            sub.problems[key] = f"{name}.py is larger than {MAX_MODULE_BYTES // 2**20} MB"
        else:
            try:
                f.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                sub.problems[key] = f"{name}.py is not UTF-8 text"
            else:
                sub.files[key] = f
    return sub

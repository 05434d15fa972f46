"""The checks a .zip submission passes before it is graded: no absolute, '..', link or
encrypted members, and readable by the grader itself."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..submission import SubmissionError, unpacked


def check_zip(path: Path) -> None:
    """Refuse an archive with absolute, '..' or link members, then apply the grader's own checks."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{path.name}: not a readable .zip file ({exc})") from None
    for m in members:
        if m.flag_bits & 0x1:
            raise SubmissionError(f"{path.name}: the archive is encrypted (password-protected); make the .zip "
                                  "again without a password")
        posix, windows = PurePosixPath(m.filename), PureWindowsPath(m.filename)
        if posix.is_absolute() or windows.drive or windows.root or ".." in posix.parts or ".." in windows.parts:
            raise SubmissionError(f"{path.name}: the archive member {m.filename!r} points outside the archive; "
                                  "make the .zip again from the homework folder")
        if (m.external_attr >> 16) & 0o170000 == 0o120000:
            raise SubmissionError(f"{path.name}: the archive member {m.filename!r} is a symbolic link; "
                                  "put the files themselves in the .zip")
    try:
        with unpacked(path):
            pass
    except (RuntimeError, NotImplementedError, zipfile.BadZipFile, EOFError) as exc:  # e.g. an unknown compression
        raise SubmissionError(f"{path.name}: the archive cannot be read ({exc}); make the .zip again") from None

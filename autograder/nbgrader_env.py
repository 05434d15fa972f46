"""The one environment fix nbgrader needs when run from a virtual environment's Python."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def alembic_on_path() -> Iterator[None]:
    """nbgrader's Gradebook runs the `alembic` command to create a database. When this Python's
    virtual environment is not on PATH (``.venv/bin/python -m ...``), put its bin folder there
    for the duration; FileNotFoundError if alembic is in neither place."""
    if shutil.which("alembic"):
        yield
        return
    bindir = Path(sys.executable).parent
    if not shutil.which("alembic", path=str(bindir)):
        raise FileNotFoundError(f"nbgrader needs the `alembic` command (installed with nbgrader); it is "
                                f"neither on PATH nor in {bindir}")
    old = os.environ.get("PATH")
    os.environ["PATH"] = str(bindir) + (os.pathsep + old if old else "")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = old

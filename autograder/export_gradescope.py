"""The autograder .zip to upload to Gradescope (`autograder export gradescope`).

Gradescope unpacks the zip in /autograder/source, runs ``setup.sh`` there once (as root, when
it builds the image), and copies ``run_autograder`` to /autograder/run_autograder, which it
runs for every submission (``autograder/templates/`` holds both). The zip carries the grader
with its hidden tests, the reference solutions, the public tests, ``grading.yml`` and the
pinned ``constraints.txt``; never a virtual environment, git data, build output or the
bundled example submissions.

The archive is reproducible: members sorted, fixed timestamps, modes 0644/0755.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from hwkit.grading import load_grading

from .course import find as find_course

TEMPLATES = Path(__file__).resolve().parent / "templates"
ROOT_SCRIPTS = ("setup.sh", "run_autograder")  # at the zip's root, executable
# The engine and the course; the suites' folders come from grading.yml.
INCLUDE = ("autograder", "hwkit", "solutions", "grading.yml", "pyproject.toml", "constraints.txt", "README.md")
REQUIRED = ("grading.yml", "pyproject.toml", "constraints.txt", "autograder/cli.py", "solutions", "hwkit/plugin.py")
EXCLUDED_DIRS = {".venv", "venv", ".git", "dist", "build", "__pycache__", ".pytest_cache", ".mypy_cache",
                 ".ruff_cache", ".ipynb_checkpoints", "examples", "node_modules"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".tmp", "~", ".swp", ".orig", ".rej")
EXCLUDED_NAMES = {".DS_Store", "Thumbs.db"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class ExportError(Exception):
    """The bundle cannot be built (a required file is missing)."""


def _excluded(rel: Path) -> bool:
    parts = rel.parts
    if any(p in EXCLUDED_DIRS or p.endswith(".egg-info") for p in parts):
        return True
    name = rel.name
    return name in EXCLUDED_NAMES or name.endswith(EXCLUDED_SUFFIXES)


def bundle_files(repo: Path | None = None) -> dict[str, Path]:
    """Archive name -> file on disk, for everything the bundle carries (default: the course's)."""
    repo = Path(repo) if repo else find_course().root
    suites = tuple(load_grading(repo / "grading.yml").suite_folders()) if (repo / "grading.yml").is_file() else ()
    for rel in (*REQUIRED, *suites):
        if not (repo / rel).exists():
            raise ExportError(f"{repo / rel} is missing")
    files: dict[str, Path] = {}
    for script in ROOT_SCRIPTS:
        path = TEMPLATES / script
        if not path.is_file():
            raise ExportError(f"{path} is missing")
        files[script] = path
    for top in (*INCLUDE, *suites):
        path = repo / top
        if path.is_file():
            files[top] = path
            continue
        if not path.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            base = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not _excluded((base / d).relative_to(repo)))
            for name in filenames:
                f = base / name
                rel = f.relative_to(repo)
                if _excluded(rel) or f.is_symlink() or not f.is_file():
                    continue
                files[rel.as_posix()] = f
    return files


def build_bundle(out: Path, repo: Path | None = None) -> Path:
    """Write the Gradescope autograder zip of the course `repo` to `out` and return its path."""
    out = Path(out)
    files = bundle_files(repo)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name in sorted(files):
            path = files[name]
            executable = name in ROOT_SCRIPTS or os.access(path, os.X_OK)
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.create_system = 3  # Unix, so that unzip applies the modes
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            if name in ROOT_SCRIPTS:
                data = data.replace(b"\r\n", b"\n")  # a CRLF shebang line does not run
            z.writestr(info, data)
    tmp.replace(out)
    return out

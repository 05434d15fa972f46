"""Fresh virtual environments, made the way a student or a TA makes them.

The interpreter is Debian's system Python when there is one (another build than the
development venv's, as on students' machines and the platforms), else this one;
AUTOGRADER_TEST_PYTHON overrides it. Installs use the course's constraints.txt so that pip
takes the CPU torch wheel on disk (PIP_FIND_LINKS) instead of downloading the CUDA build.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.tests import REPO


def interpreter() -> str:
    chosen = os.environ.get("AUTOGRADER_TEST_PYTHON")
    if chosen:
        return chosen
    return "/usr/bin/python3.11" if Path("/usr/bin/python3.11").is_file() else sys.executable


def clean_env(columns: int = 200) -> dict[str, str]:
    """The environment of a new terminal: nothing of this venv, the course or pytest's settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "AUTOGRADER_", "PYTEST_"))}
    env["COLUMNS"] = str(columns)
    return env


def run(cmd: list[str], cwd: Path, timeout: float = 600, columns: int = 200) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=clean_env(columns), capture_output=True, text=True, timeout=timeout)


@functools.cache
def _student_venv(requirements: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="student-venv-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "requirements.txt").write_text(requirements, encoding="utf-8")
    venv = root / "venv"
    made = run([interpreter(), "-m", "venv", str(venv)], root)
    if made.returncode != 0:
        raise RuntimeError(f"python -m venv failed:\n{made.stderr[-3000:]}")
    done = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                "-r", "requirements.txt", "-c", str(REPO / "constraints.txt")], root)
    if done.returncode != 0:
        raise RuntimeError(f"pip install -r requirements.txt failed:\n{done.stderr[-3000:]}")
    return venv


def student_python(release: Path) -> Path:
    """The python of a fresh venv holding exactly what the release's requirements.txt asks for
    (made once per test run for each distinct requirements.txt)."""
    text = (Path(release) / "requirements.txt").read_text(encoding="utf-8")
    # (keyed by the requirements alone: a release in another language shares the venv)
    wanted = "\n".join(line for line in text.splitlines() if line.split("#", 1)[0].strip())
    return _student_venv(wanted + "\n") / "bin" / "python"

"""Gradescope's image, as far as one machine can be it: the bundle unpacked as /autograder is,
its setup.sh run as root with another Python than the development one, run_autograder run as
root, and the peak memory of the whole grading measured (test_platforms.py).

Shimmed, and only these: ``apt-get`` (root on the image changes the package database, and it
needs the network): ``update`` succeeds, ``install`` succeeds only when every package named is
already installed (``dpkg-query``), as it would be on the image after installing it. pip runs for
real against the package index; ``TORCH_INDEX`` is empty, because download.pytorch.org may be
unreachable here (pip finds torch's CPU build through ``PIP_FIND_LINKS`` or the index instead).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.sandbox import isolation

#: The Python setup.sh builds the venv with (Gradescope's image: its own python3.11), and the
#: grading user the test creates through setup.sh and removes afterwards.
SETUP_PYTHON = os.environ.get("AUTOGRADER_TEST_SETUP_PYTHON", "/usr/bin/python3.11")
TEST_USER = os.environ.get("AUTOGRADER_TEST_USER", "autograder-gs-test")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

APT_GET = r"""#!/bin/sh
# apt-get as Gradescope's image would answer setup.sh, without root's package database or the
# network: `update` succeeds; `install` succeeds only if every package is installed already.
echo "apt-get $*" >> "$APT_SHIM_LOG"
case "$1" in
    update) exit 0 ;;
    install)
        shift
        for pkg in "$@"; do
            case "$pkg" in -*) continue ;; esac
            if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
                echo "apt-get (test shim): $pkg is not installed on this machine" >&2
                exit 100
            fi
        done
        exit 0 ;;
esac
echo "apt-get (test shim): only update and install are shimmed" >&2
exit 100
"""


def shims(folder: Path) -> Path:
    """A folder for PATH with the apt-get shim; its calls are logged to ``folder/apt.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    apt = folder / "apt-get"
    apt.write_text(APT_GET, encoding="utf-8")
    apt.chmod(0o755)
    (folder / "apt.log").touch()
    return folder


def environment(root: Path, shim_folder: Path, **extra: str) -> dict[str, str]:
    """The environment of setup.sh and run_autograder: this machine's pip settings, nothing of
    the development venv or of pytest, PATH as on the image with the shims first."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "AUTOGRADER_", "VIRTUAL_ENV", "PYTHON", "CONDA"))}
    env.update(PATH=f"{shim_folder}:{SYSTEM_PATH}", APT_SHIM_LOG=str(shim_folder / "apt.log"),
               AUTOGRADER_ROOT=str(root), AUTOGRADER_USER=TEST_USER, **extra)
    return env


def remove_user(name: str = TEST_USER) -> None:
    """Remove the test's grading user (and its group) if it exists."""
    with contextlib.suppress(KeyError):
        pwd.getpwnam(name)
        subprocess.run(["userdel", name], capture_output=True, timeout=60)
        subprocess.run(["groupdel", name], capture_output=True, timeout=60)


def user_exists(name: str = TEST_USER) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# -- memory -----------------------------------------------------------------------------------
def pss_kb(pid: int) -> int:
    """The proportional set size of `pid` (kB): shared pages divided among their sharers."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return "?"
    words = [a.rsplit("/", 1)[-1] for a in argv[:4] if not a.startswith("{")]
    return " ".join(words)[:60] or "?"


@dataclass
class MemoryPeak:
    """The peak of the summed PSS of a process tree, sampled every `interval` seconds."""

    interval: float = 0.025
    peak_kb: int = 0
    at_peak: dict[str, int] = field(default_factory=dict)  # "pid name" -> kB, at the peak
    samples: int = 0
    most_processes: int = 0

    def sample(self, top: int) -> None:
        pids = [top, *isolation.descendants(top)]
        each = {pid: pss_kb(pid) for pid in pids}
        total = sum(each.values())
        self.samples += 1
        self.most_processes = max(self.most_processes, len(pids))
        if total > self.peak_kb:
            self.peak_kb = total
            self.at_peak = {f"{pid} {_name(pid)}": kb for pid, kb in each.items() if kb}

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def run_measured(cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float,
                 interval: float = 0.025) -> tuple[subprocess.CompletedProcess, MemoryPeak, float]:
    """Run `cmd`, sampling its process tree's PSS meanwhile; (its result, the peak, seconds)."""
    peak = MemoryPeak(interval)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sampler() -> None:
        while not done.is_set():
            peak.sample(proc.pid)
            done.wait(interval)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        isolation.kill_tree(proc.pid)
        out, err = proc.communicate()
    finally:
        done.set()
        thread.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), peak, time.perf_counter() - started


def tree_snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """relative path -> (size, mtime_ns, mode) of everything below `folder`."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            with contextlib.suppress(OSError):
                st = path.lstat()
                found[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return found


def fresh_folder(prefix: str) -> Path:
    """A folder in /tmp every user can enter (pytest's own tmp_path is private to its user, so
    the grading user could not reach the bundle there)."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    return base


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)

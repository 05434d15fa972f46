"""Which OS protections this machine offers, and how the worker process is started under them.

Layers, strongest first, each used when available and reported in the results:

* **bubblewrap** — new mount, PID, network, IPC and UTS namespaces: the worker sees only the
  Python installation, its runtime and its own working folder (the hidden tests and
  ``solutions/`` do not exist in its world), has no network, runs as uid 65534, and every
  process it starts dies with it.
* **Landlock** — the worker restricts itself to the same read-only paths plus its folder,
  blocks TCP and signals to processes outside its domain (works without bubblewrap too).
* **cgroup** (when the grader is root) — caps the number of processes and the memory of the
  worker's whole process tree, and kills the whole tree at the end.
* **rlimits** — address space, CPU seconds, file size, open files, no core dumps.
* **own session** — nothing the worker does can signal the grader's process group.

If neither bubblewrap nor Landlock can keep the worker away from the grader's files,
grading refuses to start unless the TA explicitly allows a weak sandbox.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.grading import Limits

from . import landlock

SANDBOX_UID = 65534  # "nobody"


class SandboxUnavailable(Exception):
    """The requested isolation cannot be set up here; the message says what is missing."""


@dataclass
class Protections:
    bubblewrap: bool = False
    landlock_abi: int = 0
    cgroup: str | None = None  # "v1" or "v2"
    root: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def filesystem_isolated(self) -> bool:
        return self.bubblewrap or self.landlock_abi >= 1

    def summary(self) -> dict:
        """What the results say about the sandbox (never claims more than is enforced)."""
        return {
            "filesystem": "bubblewrap mount namespace" if self.bubblewrap
            else "landlock" if self.landlock_abi else "NONE",
            "landlock_abi": self.landlock_abi,
            "network": "none (network namespace)" if self.bubblewrap
            else "TCP blocked (landlock)" if self.landlock_abi >= 4 else "NOT BLOCKED",
            "processes": "PID namespace" + (" + cgroup pids limit" if self.cgroup else "")
            if self.bubblewrap else ("cgroup" if self.cgroup else "session + RLIMIT_NPROC"),
            "user": f"uid {SANDBOX_UID} in a user namespace" if self.bubblewrap
            else "grader's uid" if not self.root else "root (no bubblewrap!)",
            "memory": "RLIMIT_AS" + (" + cgroup memory limit" if self.cgroup else ""),
            "signals": "own session" + (" + PID namespace" if self.bubblewrap else "")
            + (" + landlock signal scope" if self.landlock_abi >= 6 else ""),
            "notes": self.notes,
        }


@functools.lru_cache(maxsize=1)
def detect() -> Protections:
    p = Protections(root=os.geteuid() == 0, landlock_abi=landlock.abi_version())
    bwrap = shutil.which("bwrap")
    if bwrap:
        probe = subprocess.run([bwrap, *_bwrap_namespace_args(), "--ro-bind", "/", "/", "true"],
                               capture_output=True, text=True)
        p.bubblewrap = probe.returncode == 0
        if not p.bubblewrap:
            p.notes.append(f"bubblewrap is installed but cannot create namespaces: {probe.stderr.strip()}")
    else:
        p.notes.append("bubblewrap (bwrap) is not installed; `apt-get install bubblewrap` adds namespaces")
    if p.root:
        p.cgroup = _cgroup_version()
    return p


def _bwrap_namespace_args() -> list[str]:
    return ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"]


def _cgroup_version() -> str | None:
    if os.access("/sys/fs/cgroup/pids", os.W_OK) and os.access("/sys/fs/cgroup/memory", os.W_OK):
        return "v1"
    controllers = Path("/sys/fs/cgroup/cgroup.controllers")
    if controllers.exists() and {"pids", "memory"} <= set(controllers.read_text().split()) \
            and os.access("/sys/fs/cgroup", os.W_OK):
        return "v2"
    return None


def python_paths() -> list[str]:
    """Folders the worker's interpreter needs to read: the installation and the venv."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_paths()[key])
    return sorted(p for p in paths if p and os.path.exists(p))


SYSTEM_READ = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache", "/etc/ld.so.conf",
               "/etc/localtime", "/proc", "/sys/devices/system/cpu", "/dev/urandom", "/dev/random"]


class Cgroup:
    """A throw-away cgroup holding one worker's process tree (root only)."""

    def __init__(self, version: str, name: str, limits: Limits) -> None:
        self.version = version
        if version == "v1":
            self.dirs = [Path("/sys/fs/cgroup/pids/autograder") / name, Path("/sys/fs/cgroup/memory/autograder") / name]
        else:
            self.dirs = [Path("/sys/fs/cgroup/autograder") / name]
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)
        memory = str(limits.memory_mb * 2**20 + 256 * 2**20)  # headroom above RLIMIT_AS
        if version == "v1":
            (self.dirs[0] / "pids.max").write_text(str(limits.processes))
            (self.dirs[1] / "memory.limit_in_bytes").write_text(memory)
        else:
            parent = self.dirs[0].parent
            (parent / "cgroup.subtree_control").write_text("+pids +memory")
            (self.dirs[0] / "pids.max").write_text(str(limits.processes))
            (self.dirs[0] / "memory.max").write_text(memory)

    def enter(self) -> None:
        """Called in the child before exec: move this process into the cgroup."""
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(os.getpid()))

    def pids(self) -> set[int]:
        out = set()
        for d in self.dirs:
            try:
                out |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return out

    def destroy(self) -> None:
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        for d in self.dirs:
            try:
                d.rmdir()
            except OSError:
                pass


def die_with_parent(parent: int) -> None:
    """Called in a child before exec: SIGKILL it when `parent` dies (PR_SET_PDEATHSIG).

    The signal follows the *thread* that started the child, so start it from a thread that
    waits for it. If the parent is already gone, exit at once.
    """
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def set_rlimits(limits: Limits, nproc: int | None) -> None:
    """Called in the child before exec; the limits are inherited by bwrap and the worker."""
    mb = 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_time_s, limits.cpu_time_s + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    # No POSIX message queues: they would outlive the student in a reused sandbox.
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def user_process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def bwrap_command(inner: list[str], *, runtime: Path, workdir: Path, gpu: bool) -> list[str]:
    """bubblewrap around `inner`: only the Python installation, the runtime and workdir exist."""
    cmd = ["bwrap", *_bwrap_namespace_args(), "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
           # /tmp first: the venv, runtime and workdir may live below it and are bound on top.
           "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    for path in SYSTEM_READ:
        # /proc and /dev come from bwrap's own --proc/--dev (a bind of a device node is nodev).
        if os.path.exists(path) and not path.startswith(("/proc", "/dev")):
            cmd += ["--ro-bind", path, path]
    for path in python_paths():
        cmd += ["--ro-bind", path, path]
    cmd += ["--ro-bind", str(runtime), str(runtime), "--bind", str(workdir), str(workdir),
            "--setenv", "HOME", str(workdir), "--setenv", "TMPDIR", str(workdir / "tmp"),
            "--chdir", str(workdir)]
    if gpu:
        for dev in sorted(Path("/dev").glob("nvidia*")):
            cmd += ["--dev-bind", str(dev), str(dev)]
        if os.path.exists("/proc/driver/nvidia"):
            cmd += ["--ro-bind", "/proc/driver/nvidia", "/proc/driver/nvidia"]
    return cmd + ["--", *inner]

"""Which OS protections this machine offers, and how the sandbox is started under them.

Two tiers, chosen with ``--sandbox`` (environment ``AUTOGRADER_SANDBOX``; ``auto`` takes the
first that works), each measured from inside a worker and reported in the results:

* **bubblewrap** — bubblewrap's mount, PID, network, IPC and UTS namespaces in a user
  namespace: the worker sees only the Python installation, its runtime, the read-only inbox and
  its own size-limited tmpfs work folder (the hidden tests and ``solutions/`` do not exist in
  its world), and has no network.
* **landlock** — no bubblewrap: the sandbox gets the same namespaces from ``launcher.py``
  (as root directly, otherwise in a user namespace) where the kernel allows, with a root of its
  own; where it does not (some containers), only the filter below and Landlock stand.

In both tiers, always:

* **no privileges** — a root grader starts the sandbox as a dedicated uid of its own (one per
  sandbox, never a real account's) with no groups and empty capability sets;
  ``no_new_privs`` is set.
* **Landlock** — the zygote restricts itself to the paths above (no device nodes, sockets or
  pipes created, no device ioctls), blocks TCP (ABI ≥ 4) and signals to processes outside its
  domain (ABI ≥ 6); each worker nests a domain of its own, so it cannot signal or trace its
  zygote either.
* **seccomp** (``syscall_filter.py``) — no sockets but ``AF_UNIX`` pairs, no System V IPC, no
  reach into other processes (ptrace, prlimit, renice), nothing of the machine's.
* **cgroup** (root) — caps the number of processes and the memory of the whole tree, and
  kills it at the end; **rlimits** — address space, CPU seconds, file size, open files,
  processes, no core dumps; **own session** and death with the grader.

If a promise cannot be kept (no privileges, no reach into other processes, no network and no
shared IPC, the filter, the file system) grading stops with a one-line reason unless the TA
passes ``--allow-weak-sandbox``; then every result says what is missing.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import functools
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (the limits arrive as an argument; the sandbox imports nothing of the kit)
    from hwkit.grading import Limits

from . import landlock

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "launcher.py"
SANDBOX_UID = 65534  # "nobody", the uid inside bubblewrap's user namespace
# A root grader runs each sandbox as a uid from this range that no process and no account uses.
UID_BASE, UID_SPAN = 1_700_000_000, 1_000_000
TIERS = ("auto", "bubblewrap", "landlock")
DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
TIER_ENV = "AUTOGRADER_SANDBOX"
HIDDEN_PROC = ("keys", "key-users")  # covered inside the sandbox's own /proc


class SandboxUnavailable(Exception):
    """The requested isolation cannot be set up here; the message says what is missing."""


@dataclass
class Protections:
    bubblewrap: bool = False
    landlock_abi: int = 0
    cgroup: str | None = None  # "v1" or "v2"
    root: bool = False
    namespaces: bool = False  # the launcher's own namespaces (landlock tier)
    tier: str = "landlock"
    seccomp_library: str | None = None
    bwrap_size: bool = False  # this bubblewrap can size a tmpfs
    notes: list[str] = field(default_factory=list)

    @property
    def filesystem_isolated(self) -> bool:
        return self.bubblewrap or self.namespaces or self.landlock_abi >= 1

    @property
    def pid_namespace(self) -> bool:
        return self.bubblewrap or self.namespaces

    @property
    def disk_budget(self) -> bool:
        return self.namespaces or (self.bubblewrap and self.bwrap_size)

    def summary(self, *, gpu: bool = False) -> dict:
        """What the results say about the sandbox (never claims more than is enforced); `gpu`: it
        had the machine's GPU device files."""
        isolated = "bubblewrap namespaces" if self.bubblewrap else "own namespaces (launcher)" \
            if self.namespaces else "none"
        if not gpu:
            memory = "RLIMIT_AS" + (" + cgroup memory limit" if self.cgroup else "")
        elif self.cgroup:
            memory = ("cgroup memory limit on host RAM and swap (no RLIMIT_AS: CUDA reserves address space; "
                      "GPU memory and the driver's pinned host memory are not capped)")
        else:
            memory = "NOT capped (no RLIMIT_AS: CUDA reserves address space; no cgroup)"
        return {
            "tier": self.tier,
            "namespaces": isolated,
            "filesystem": "bubblewrap mount namespace" if self.bubblewrap
            else "own mount namespace + landlock" if self.namespaces
            else "landlock" if self.landlock_abi else "NONE",
            "landlock_abi": self.landlock_abi,
            "network": "none (network namespace) + seccomp" if self.pid_namespace
            else "seccomp: AF_UNIX pairs only",
            "processes": ("PID namespace" if self.pid_namespace else "session + RLIMIT_NPROC")
            + (" + cgroup" if self.cgroup else ""),
            "user": "a sandbox uid of its own (grader is root)" if self.root else "grader's uid"
            + (" mapped in a user namespace" if self.pid_namespace else ""),
            "memory": memory,
            "signals": "own session" + (" + PID namespace" if self.pid_namespace else "")
            + (" + landlock signal scope" if self.landlock_abi >= 6 else ""),
            "disk": "size-limited tmpfs" if self.disk_budget else "per-file limit only",
            "notes": self.notes,
        }


def requested_tier() -> str:
    tier = os.environ.get(TIER_ENV, "auto") or "auto"
    if tier not in TIERS:
        raise SandboxUnavailable(f"unknown sandbox tier {tier!r} (choose one of {', '.join(TIERS)})")
    return tier


def detect(tier: str | None = None) -> Protections:
    """The protections of `tier` (default: ``--sandbox``, i.e. $AUTOGRADER_SANDBOX) here."""
    return _detect(tier or requested_tier())


@functools.lru_cache(maxsize=4)
def _detect(tier: str) -> Protections:
    p = Protections(root=os.geteuid() == 0, landlock_abi=landlock.abi_version())
    p.seccomp_library = ctypes.util.find_library("seccomp")
    if p.seccomp_library is None:
        p.notes.append("libseccomp is not installed (apt-get install libseccomp2): no seccomp filter")
    if p.root:
        p.cgroup = _cgroup_version()
    if tier in ("auto", "bubblewrap"):
        bwrap = shutil.which("bwrap")
        if bwrap:
            probe = _run_probe(_bwrap_probe(bwrap, p.root))
            p.bubblewrap = probe.returncode == 0
            if not p.bubblewrap:
                p.notes.append(f"bubblewrap is installed but cannot create namespaces: {_last_line(probe.stderr)}")
            else:
                p.bwrap_size = "--size" in subprocess.run([bwrap, "--help"], capture_output=True, text=True).stdout
        else:
            p.notes.append("bubblewrap (bwrap) is not installed; `apt-get install bubblewrap` adds namespaces")
        if tier == "bubblewrap" and not p.bubblewrap:
            raise SandboxUnavailable("--sandbox bubblewrap was asked for, but " + p.notes[-1])
    if not p.bubblewrap:
        base = tempfile.mkdtemp(prefix="autograder-probe-")
        try:
            probe = _run_probe(_namespace_probe(p.root, base))
        finally:
            shutil.rmtree(base, ignore_errors=True)
        p.namespaces = probe.returncode == 0
        if not p.namespaces:
            p.notes.append(f"no namespaces of its own here ({_last_line(probe.stderr)}): seccomp and "
                           "Landlock stand alone")
    p.tier = "bubblewrap" if p.bubblewrap else "landlock"
    return p


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def _run_probe(cmd: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(cmd, 1, "", str(exc))


def _bwrap_namespace_args() -> list[str]:
    return ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"]


def _bwrap_probe(bwrap: str, root: bool) -> list[str]:
    inner = [bwrap, *_bwrap_namespace_args(), "--ro-bind", "/", "/", "true"]
    if not root:
        return inner
    return launcher_command({"mode": "bubblewrap", "read_only": [], "uid": _probe_uid(), "gid": _probe_uid(),
                             "exec": inner})


def _namespace_probe(root: bool, base: str) -> list[str]:
    os.chmod(base, 0o755)
    os.mkdir(os.path.join(base, "root"))
    os.mkdir(os.path.join(base, "work"))
    config = {"mode": "namespaces", "newroot": os.path.join(base, "root"), "read_only": SYSTEM_READ,
              "devices": ["/dev/null"], "work": {"path": os.path.join(base, "work"), "size": 1 << 20,
                                                 "inodes": 64, "uid": _probe_uid() if root else None,
                                                 "gid": _probe_uid() if root else None},
              "uid": _probe_uid() if root else None, "gid": _probe_uid() if root else None,
              "exec": ["/bin/true"]}
    return launcher_command(config)


@functools.lru_cache(maxsize=1)
def _probe_uid() -> int:
    return allocate_uid()


def launcher_command(config: dict) -> list[str]:
    """``launcher.py`` run as the grader's child (see its docstring for the modes)."""
    return [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(dict(config, parent=os.getpid()))]


def allocate_uid() -> int:
    """A uid no running process and no account uses (for one sandbox, when the grader is root)."""
    used = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():  # (the real uids: a non-dumpable process's /proc entry shows root)
            used |= _uids(int(entry.name))
    try:
        with open("/etc/passwd") as f:
            used |= {int(line.split(":")[2]) for line in f if line.count(":") >= 3 and line.split(":")[2].isdigit()}
    except OSError:
        pass
    rng = random.SystemRandom()
    while True:
        uid = UID_BASE + rng.randrange(UID_SPAN)
        if uid not in used:
            return uid


def _cgroup_version() -> str | None:
    if os.access("/sys/fs/cgroup/pids", os.W_OK) and os.access("/sys/fs/cgroup/memory", os.W_OK):
        return "v1"
    controllers = Path("/sys/fs/cgroup/cgroup.controllers")
    if controllers.exists() and {"pids", "memory"} <= set(controllers.read_text().split()) \
            and os.access("/sys/fs/cgroup", os.W_OK):
        return "v2"
    return None


def unreachable_python() -> str | None:
    """A Python folder behind a folder other users cannot enter ("X behind Y"), or None."""
    from .launcher import blocked_ancestor

    for path in python_paths():
        blocked = blocked_ancestor(os.path.realpath(path))
        if blocked:
            return f"{path} behind {blocked}"
    return None


def python_paths() -> list[str]:
    """Folders the worker's interpreter needs to read: the installation and the venv."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_paths()[key])
    return sorted(p for p in paths if p and os.path.exists(p))


SYSTEM_READ = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache", "/etc/ld.so.conf",
               "/etc/localtime", "/proc", "/sys/devices/system/cpu", "/dev/urandom", "/dev/random"]
# Read as well where the sandbox has the machine's GPU: the CUDA driver and NVML look the card up
# by its PCI address and NUMA node there (hardware descriptions, nothing of the grader's).
GPU_READ = ["/sys/bus/pci", "/sys/devices", "/sys/module/nvidia"]


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
            swap = (self.dirs[1] / "memory.memsw.limit_in_bytes", memory)  # memory + swap together
        else:
            parent = self.dirs[0].parent
            (parent / "cgroup.subtree_control").write_text("+pids +memory")
            (self.dirs[0] / "pids.max").write_text(str(limits.processes))
            (self.dirs[0] / "memory.max").write_text(memory)
            swap = (self.dirs[0] / "memory.swap.max", "0")
        # No swap beyond the limit: where RLIMIT_AS is off (a GPU sandbox) the cgroup is the only
        # cap. (The file exists only where the kernel accounts swap.)
        if swap[0].exists():
            with contextlib.suppress(OSError):
                swap[0].write_text(swap[1])

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
        for d in self.dirs:
            Cgroup.remove(d)

    @staticmethod
    def remove(directory: Path) -> None:
        """Kill every process in the cgroup `directory`, then remove it."""
        procs = directory / "cgroup.procs"
        for _ in range(50):
            try:
                pids = {int(x) for x in procs.read_text().split()}
            except OSError:
                break
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        with contextlib.suppress(OSError):
            directory.rmdir()


def die_with_parent(parent: int) -> None:
    """Called in a child before exec: SIGKILL it when `parent` dies (PR_SET_PDEATHSIG).

    The signal follows the *thread* that started the child, so start it from a thread that
    waits for it. If the parent is already gone, exit at once.
    """
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def set_rlimits(limits: Limits, nproc: int | None, *, address_space: bool = True) -> None:
    """Called in the child before exec; the limits are inherited by bwrap and the worker.
    `address_space=False` for a sandbox with the machine's GPU: the CUDA driver reserves virtual
    address space far beyond any memory limit when it starts (cuInit fails under RLIMIT_AS), so
    there only the cgroup caps memory."""
    mb = 2**20
    if address_space:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_time_s, limits.cpu_time_s + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    # No POSIX message queues: they would outlive the student in a reused sandbox.
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    # Under memory pressure (Gradescope's container has 768 MB and no cgroup of our own), the
    # kernel kills the student's process first, not the grader that must write the results.
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


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


def bwrap_command(inner: list[str], *, runtime: Path, inbox: Path, workdir: Path, limits: Limits,
                  devices: list[str], size: bool) -> list[str]:
    """bubblewrap around `inner`: only the Python installation, the runtime, the read-only inbox
    and a tmpfs work folder (of at most ``limits.disk_mb``) exist."""
    cmd = ["bwrap", *_bwrap_namespace_args(), "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
           # /tmp first: the venv and the runtime may live below it and are bound on top.
           "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev", "--hostname", "sandbox"]
    for name in HIDDEN_PROC:  # (keys are per uid, not per namespace: a normal user's would show)
        cmd += ["--ro-bind", "/dev/null", f"/proc/{name}"]
    for path in SYSTEM_READ:
        # /proc and /dev come from bwrap's own --proc/--dev (a bind of a device node is nodev).
        if os.path.exists(path) and not path.startswith(("/proc", "/dev")):
            cmd += ["--ro-bind", path, path]
    for path in python_paths():
        cmd += ["--ro-bind", path, path]
    cmd += ["--ro-bind", str(runtime), str(runtime), "--ro-bind", str(inbox), str(inbox)]
    if size:
        cmd += ["--size", str(limits.disk_mb * 2**20)]
    cmd += ["--perms", "0700", "--tmpfs", str(workdir),
            "--setenv", "HOME", str(workdir), "--setenv", "TMPDIR", str(workdir / "tmp"),
            "--chdir", str(workdir)]
    for dev in devices:
        cmd += ["--dev-bind", dev, dev]
    for path in GPU_READ if devices else ():
        cmd += ["--ro-bind-try", path, path]
    if devices and os.path.exists("/proc/driver/nvidia"):
        cmd += ["--ro-bind", "/proc/driver/nvidia", "/proc/driver/nvidia"]
    return cmd + ["--", *inner]


# -- what is left after a kill ----------------------------------------------------------------
def _stat(pid: int, field: int) -> int | None:
    """A numeric field of /proc/PID/stat, counted after the command name (1: ppid, 19: start time)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[field])
    except (OSError, ValueError, IndexError):
        return None


def _uids(pid: int) -> set[int]:
    """The real, effective, saved and file-system uids of `pid` as the grader sees them."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return {int(x) for line in f if line.startswith("Uid:") for x in line.split()[1:]}
    except (OSError, ValueError):
        return set()


def _start_time(pid: int) -> int | None:
    return _stat(pid, 19)


def owner_tag(pid: int | None = None) -> str:
    """``<pid>-<start time>``: names a process for good (a pid alone may be reused)."""
    pid = pid or os.getpid()
    return f"{pid}-{_start_time(pid)}"


_OWNED = re.compile(r"^(?:autograder-sandbox-|w)(\d+)-(\d+)-")


def _owner_gone(name: str) -> bool:
    m = _OWNED.match(name)
    return bool(m) and str(_start_time(int(m.group(1)))) != m.group(2)


def sweep_orphans(tmp: str | None = None) -> list[str]:
    """Remove what sandboxes of dead graders left (their folders and cgroups), e.g. after a
    batch killed a slot with SIGKILL. What a live grader owns is left alone."""
    removed = []
    tmp = tmp or tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for entry in os.scandir(tmp):
            if entry.name.startswith("autograder-sandbox-") and _owner_gone(entry.name):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
    for parent in (Path("/sys/fs/cgroup/pids/autograder"), Path("/sys/fs/cgroup/memory/autograder"),
                   Path("/sys/fs/cgroup/autograder")):
        with contextlib.suppress(OSError):
            for entry in os.scandir(parent):
                if entry.is_dir() and _owner_gone(entry.name):
                    Cgroup.remove(Path(entry.path))
                    removed.append(entry.path)
    return removed


# -- promises ---------------------------------------------------------------------------------
def broken_promises(measured: dict, zygote: dict, protections: Protections) -> list[str]:
    """What the sandbox promises and a worker's own measurement does not show; [] if all hold."""
    broken = []
    caps = measured.get("capabilities", {})
    # (A normal user's bounding set is full and only it could empty it; with no_new_privs and
    # no capability it grants nothing. A root grader's sandbox must have emptied it.)
    held = ("prm", "eff", "amb", "inh") + (("bnd",) if protections.root else ())
    if any(caps.get(k) != 0 for k in held):
        broken.append("the worker holds capabilities ({})".format(
            ", ".join(f"{k}={v:x}" for k, v in sorted(caps.items()) if v)))
    outside = measured.get("uids_outside")
    if not outside or 0 in outside:
        broken.append("the sandbox runs as root")
    if measured.get("no_new_privs") != 1:
        broken.append("no_new_privs is not set")
    before = zygote.get("seccomp_filters_before")
    if zygote.get("seccomp_error") or measured.get("seccomp") != 2 or type(before) is not int \
            or not measured.get("seccomp_filters", 0) > before:
        # (a filter inherited from a container also shows Seccomp: 2: the worker must have ours on top)
        broken.append("no seccomp filter of the grader's" + (f" ({zygote['seccomp_error']})" if zygote.get("seccomp_error") else ""))
    if "pid" not in own_namespaces(measured) and protections.landlock_abi < 6:
        broken.append("the worker could signal the grader's processes (no PID namespace, Landlock ABI < 6)")
    if not protections.filesystem_isolated:
        broken.append("nothing keeps the worker away from the grader's files (no bubblewrap, no Landlock)")
    return broken


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the zygote is a child subreaper: orphans stay below it)."""
    children: dict[int | None, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            children.setdefault(_stat(int(entry.name), 1), []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def tree_uids(pid: int, *, include_top: bool) -> list[int]:
    """The real uids (as the grader sees them) of `pid`'s descendants, and of `pid` itself if
    `include_top`: a uid seen from inside a user namespace says nothing about this."""
    found: set[int] = set()
    for current in descendants(pid) + ([pid] if include_top else []):
        found |= _uids(current)
    return sorted(found)


def kill_tree(pid: int) -> None:
    """SIGKILL everything below `pid` until nothing is left (a fork bomb keeps adding), then `pid`."""
    for _ in range(100):
        below = descendants(pid)
        if not below:
            break
        for child in below:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
        time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def own_namespaces(measured: dict) -> list[str]:
    """The namespaces the measured worker does not share with the grader."""
    own = []
    for name, seen in (measured.get("namespaces") or {}).items():
        try:
            ours = os.readlink(f"/proc/self/ns/{name}")
        except OSError:
            ours = None
        if seen != ours:
            own.append(name)
    return sorted(own)


def measured_summary(measured: dict) -> dict:
    """The measurement as the results show it."""
    return {
        "uid": measured.get("uid"), "uids_outside": measured.get("uids_outside"),
        "groups": measured.get("groups"),
        "capabilities": {k: f"{v:016x}" for k, v in (measured.get("capabilities") or {}).items()},
        "no_new_privs": measured.get("no_new_privs"), "seccomp": measured.get("seccomp"),
        "seccomp_filters": measured.get("seccomp_filters"),
        "own_namespaces": own_namespaces(measured),
        "work_folder": f"{measured.get('work_fs')} of {measured.get('work_bytes', 0) // 2**20} MB",
        "processes_visible": measured.get("processes_visible"),
    }

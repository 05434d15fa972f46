"""Starts a sandbox's zygote with no privileges, in namespaces of its own where the kernel allows.

Run by the trusted side as ``python -I -S launcher.py CONFIG_JSON`` (standard library only).
``CONFIG["mode"]`` says how:

* ``namespaces`` (the Landlock tier, no bubblewrap): new mount, PID, network, IPC and UTS
  namespaces (as root directly, otherwise inside a new user namespace). The process forks; the
  child is PID 1 of the new PID namespace, builds a root of its own on a tmpfs (read-only
  binds of the given paths, a size-limited tmpfs as the work folder, a few device nodes, a
  fresh ``/proc``), pivots into it, drops every privilege and executes the zygote. The parent
  waits and exits with the child's status; when either dies, the other does too.
* ``bubblewrap`` (the grader is root): a private mount namespace in which folders that the
  sandbox uid could not traverse (an interpreter under ``/root``, mode 0700) are made
  reachable, then every privilege is dropped and bubblewrap is executed as that uid.
* ``plain``: only drops privileges (when no namespace can be had), then executes the zygote.

A step that fails ends the launcher with exit code 121 and one line on stderr saying which.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import select
import signal
import stat
import sys

FAILED = 121

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

_libc = ctypes.CDLL(None, use_errno=True)


class Failed(Exception):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise Failed(f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source or fstype} on {target}")


def _locked_flags(path: str) -> int:
    """The flags a read-only remount must keep (a user namespace may not clear them)."""
    f = os.statvfs(path).f_flag
    pairs = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
             (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))
    return sum(ms for st, ms in pairs if f & st)


def _bind(source: str, target: str, *, read_only: bool, devices: bool = False) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    extra = MS_RDONLY if read_only else 0
    extra |= 0 if devices else MS_NODEV
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_NOSUID | extra | _locked_flags(target))


def _mount_point(path: str, like: str) -> None:
    """A directory or an empty file at `path`, as `like` is one."""
    if os.path.isdir(like):
        os.makedirs(path, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def _outermost(paths: list[str]) -> list[str]:
    """`paths` without those that lie inside another one of them, parents first."""
    kept: list[str] = []
    for p in sorted({os.path.normpath(p) for p in paths}):
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(p)
    return kept


# -- privileges -------------------------------------------------------------------------------
def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 63


def drop_privileges(uid: int | None, gid: int | None, last_cap: int) -> None:
    """Empty the bounding and ambient sets, then (as root) become `uid`:`gid` with no groups.
    Either way the process ends with no capabilities and no_new_privs set."""
    for cap in range(last_cap + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # (EINVAL for caps this kernel lacks)
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # from root to a non-zero uid: every capability is cleared
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def die_with(parent_alive_fd: int | None = None, parent: int | None = None) -> None:
    """SIGKILL this process when its parent dies (set after any change of credentials, which
    clears it), and exit now if the parent is already gone: its end of the pipe is closed, or
    it is no longer this process's parent."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_alive_fd is not None and select.select([parent_alive_fd], [], [], 0)[0]:
        os._exit(FAILED)
    if parent is not None and os.getppid() != parent:
        os._exit(FAILED)


# -- a root of its own ------------------------------------------------------------------------
def build_root(config: dict) -> None:
    """In the new mount namespace: a tmpfs root with only what the sandbox may see, then
    pivot into it. Runs as PID 1 of the new PID namespace (for /proc)."""
    os.umask(0o022)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    new = config["newroot"]
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for path in _outermost(config["read_only"]):
        if not os.path.lexists(path):
            continue
        target = new + path
        if os.path.islink(path):  # e.g. /lib -> usr/lib: the same link, its target bound separately
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            if not os.path.lexists(target):
                os.symlink(os.readlink(path), target)
            continue
        _mount_point(target, path)
        _bind(path, target, read_only=True)
    for path in config["devices"]:
        if os.path.exists(path):
            _mount_point(new + path, path)
            _bind(path, new + path, read_only=False, devices=True)
    work = config["work"]
    os.makedirs(new + work["path"], mode=0o755, exist_ok=True)
    owner = f",uid={work['uid']},gid={work['gid']}" if work.get("uid") is not None else ""
    _mount("tmpfs", new + work["path"], "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={work['size']},nr_inodes={work['inodes']},mode=0700{owner}")
    os.makedirs(new + "/proc", mode=0o555, exist_ok=True)
    _mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in config.get("hidden_proc", ()):  # keys are per uid, not per namespace
        if os.path.exists(f"{new}/proc/{name}"):
            _bind("/dev/null", f"{new}/proc/{name}", read_only=True)
    os.makedirs(new + "/tmp", mode=0o755, exist_ok=True)
    os.chdir(new)
    number = PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise Failed(f"pivot_root: unknown architecture {platform.machine()}")
    _check(_libc.syscall(number, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _check(_libc.sethostname(b"sandbox", 7), "sethostname")


def _map_user(uid: int, gid: int) -> None:
    """Unprivileged: the grader's own uid and gid, mapped to themselves in the new namespace."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")


def namespaces(config: dict) -> None:
    root = os.geteuid() == 0
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(flags | (0 if root else CLONE_NEWUSER)), "unshare")
    if not root:
        _map_user(uid, gid)
    die_with(parent=config["parent"])
    alive_r, alive_w = os.pipe()
    last_cap = _last_cap()
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        try:
            build_root(config)
            drop_privileges(config.get("uid"), config.get("gid"), last_cap)
            die_with(parent_alive_fd=alive_r)
            os.chdir(config["work"]["path"])
            os.execv(_executable(config["exec"][0]), config["exec"])
        except (Failed, OSError) as exc:
            print(f"launcher: {exc}", file=sys.stderr, flush=True)
            os._exit(FAILED)
    os.close(alive_r)
    # Nothing of the sandbox runs in this process: it only waits, and dies with the grader.
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


# -- bubblewrap as an unprivileged uid --------------------------------------------------------
def blocked_ancestor(path: str) -> str | None:
    """The outermost folder above `path` that a uid other than its owner cannot traverse."""
    parts = os.path.normpath(path).split("/")[1:]
    current = ""
    for part in parts[:-1]:
        current += "/" + part
        st = os.stat(current)
        if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IXOTH:
            return current
    return None


def make_reachable(paths: list[str]) -> None:
    """In a private mount namespace: cover each untraversable folder with an empty tmpfs and
    bind back only the paths the sandbox needs below it (opened before they were covered)."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(mount namespace)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    needs: dict[str, list[str]] = {}
    for path in _outermost(paths):
        if os.path.exists(path):
            top = blocked_ancestor(os.path.realpath(path))
            if top is not None:
                needs.setdefault(top, []).append(os.path.realpath(path))
    for top, below in sorted(needs.items()):
        fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in below}
        _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        for p, fd in fds.items():
            _mount_point(p, f"/proc/self/fd/{fd}")
            _bind(f"/proc/self/fd/{fd}", p, read_only=True)
            os.close(fd)


def _executable(name: str) -> str:
    """`name` found on PATH now: after privileges are dropped the stdlib may be out of reach."""
    if "/" in name:
        return name
    for folder in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        if os.access(os.path.join(folder, name), os.X_OK):
            return os.path.join(folder, name)
    raise Failed(f"{name} not found")


def main() -> None:
    config = json.loads(sys.argv[1])
    mode = config["mode"]
    try:
        program = _executable(config["exec"][0])
        if mode == "namespaces":
            namespaces(config)
        if mode == "bubblewrap":
            make_reachable(config["read_only"])
        drop_privileges(config.get("uid"), config.get("gid"), _last_cap())
        die_with(parent=config["parent"])
        os.execv(program, config["exec"])
    except (Failed, OSError) as exc:
        print(f"launcher: {exc}", file=sys.stderr, flush=True)
        os._exit(FAILED)


if __name__ == "__main__":
    main()

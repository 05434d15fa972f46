"""What each sandbox tier promises, measured from the student's side and from outside.

Every test runs in each tier this machine has (bubblewrap; Landlock with its own namespaces;
Landlock alone, as in a container without namespaces) and skips, with the reason, what a tier
does not promise. No escape is tried for real: each attempt is a call that must fail
harmlessly (a /dev/null-numbered device node, a datagram socket, prlimit on the parent, shmget).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.tests import MODULES, REPO
from autograder.cli import main as cli_main
from autograder.sandbox import isolation
from autograder.sandbox.client import RemoteHomework
from autograder.sandbox.zygote import Sandbox
from autograder.submission import locate
from hwkit.grading import Limits

from .conftest import ATTEMPT, make_submission, needs_strong_sandbox, plain_protections, tier  # noqa: F401

pytestmark = needs_strong_sandbox
FAST = Limits(call_timeout_s=10, import_timeout_s=30, disk_mb=32)

ATTEMPTS = ATTEMPT + r'''
import ctypes, errno, os, platform, resource, signal, socket

KEYCTL = {"x86_64": 250, "aarch64": 219}[platform.machine()]


def attempts(unix_socket):
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getppid()
    out = {
        "mknod_char": _attempt(lambda: os.mknod("null-twin", 0o20600, os.makedev(1, 3))),
        "mkfifo": _attempt(lambda: os.mkfifo("fifo")),
        "udp": _attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
        "tcp6": _attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM)),
        "netlink": _attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),
        "unix_dgram": _attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)),
        "unix_connect": _attempt(lambda: socket.socket(socket.AF_UNIX).connect(unix_socket)),
        "socketpair": _attempt(lambda: socket.socketpair()[0].close()),
        "socketpair_dgram": _attempt(lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)),
        "unix_raw": _attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_RAW)),
        "chmod": _attempt(lambda: os.chmod("homework_tensors.py", 0o777)),
        "utime": _attempt(lambda: os.utime("homework_tensors.py", (0, 0))),
        "setxattr": _attempt(lambda: os.setxattr(".", "user.note", b"for the next student")),
        "memfd": _attempt(lambda: os.memfd_create("hidden")),
        "prlimit_parent": _attempt(lambda: resource.prlimit(parent, resource.RLIMIT_FSIZE)),
        "prlimit_self": _attempt(lambda: resource.prlimit(0, resource.RLIMIT_FSIZE)),
        "renice_parent": _attempt(lambda: os.setpriority(os.PRIO_PROCESS, parent, 19)),
        "renice_user": _attempt(lambda: os.setpriority(os.PRIO_USER, 0, 19)),
        "affinity_parent": _attempt(lambda: os.sched_setaffinity(parent, {0})),
        "fifo_scheduling": _attempt(lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))),
        "signal_parent": _attempt(lambda: os.kill(parent, 0)),
        "sethostname": _attempt(lambda: socket.sethostname("pwned")),
        "shmget": "done" if libc.shmget(0, 64 << 20, 0o1600) >= 0 else errno.errorcode[ctypes.get_errno()],
        "keyctl": "done" if libc.syscall(KEYCTL, 0, -3, 0, 0, 0) >= 0 else errno.errorcode[ctypes.get_errno()],
        "ptrace_parent": "done" if libc.ptrace(16, parent, 0, 0) == 0 else errno.errorcode[ctypes.get_errno()],
        "unshare_net": "done" if libc.unshare(0x40000000) == 0 else errno.errorcode[ctypes.get_errno()],
        "write_outside": _attempt(lambda: open("/tmp/escaped-from-sandbox", "w").close()),
    }
    with open("/proc/self/status") as f:
        out["status"] = {k: v.strip() for k, v in (line.split(":", 1) for line in f) if k in
                         ("Uid", "CapEff", "CapBnd", "NoNewPrivs", "Seccomp")}
    out["hostname"] = socket.gethostname()
    out["oom_score_adj"] = open("/proc/self/oom_score_adj").read().strip()
    out["lower_oom_score_adj"] = _attempt(lambda: open("/proc/self/oom_score_adj", "w").write("0"))
    out["keys"] = _attempt(lambda: open("/proc/keys").read())
    out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return out


def fill(megabytes):
    """Write 1 MB files until the folder is full or `megabytes` are written."""
    written = 0
    try:
        while written < megabytes:
            with open(f"fill-{written}", "wb") as f:
                f.write(b"x" * 2**20)
            written += 1
    except OSError as exc:
        return written, errno.errorcode.get(exc.errno)
    return written, None
'''


@pytest.fixture
def attacked(tmp_path, tier):
    folder = Path(f"/tmp/autograder-test-socket-{os.getpid()}")  # every uid can reach it
    folder.mkdir(mode=0o777, exist_ok=True)
    os.chmod(folder, 0o777)
    path = folder / "host.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    os.chmod(path, 0o777)
    server.listen(1)
    server.settimeout(0.1)
    sub = locate(make_submission(tmp_path / "s", append={"tensors": ATTEMPTS}), MODULES)
    hw = RemoteHomework(sub.files, FAST, problems=sub.problems, gpu="off", modules=MODULES)
    try:
        yield hw, str(path), server
    finally:
        hw.close()
        server.close()
        path.unlink(missing_ok=True)
        folder.rmdir()


def test_the_worker_holds_no_privilege(attacked, tier):
    hw, unix_socket, _ = attacked
    seen = hw.tensors.attempts(unix_socket)
    sandbox = hw.sandbox
    assert seen["status"]["CapEff"] == "0000000000000000"
    if os.geteuid() == 0 or tier != "landlock-plain":
        # (only root, or a new user namespace, can empty the bounding set; a normal user's stays
        # full, and grants nothing under no_new_privs)
        assert seen["status"]["CapBnd"] == "0000000000000000"
    assert seen["status"]["NoNewPrivs"] == "1" and seen["status"]["Seccomp"] == "2"
    # Under memory pressure the kernel kills the student's process first, and it cannot change that.
    assert seen["oom_score_adj"] == "1000" and seen["lower_oom_score_adj"] != "done"
    outside = isolation.tree_uids(sandbox.proc.pid, include_top=tier != "landlock")
    assert outside and 0 not in outside
    if os.geteuid() == 0:
        assert outside == [sandbox.uid], "a root grader runs the sandbox as a uid of its own"
    assert seen["mknod_char"] == "EPERM" and seen["mkfifo"] in ("EACCES", "EPERM")
    assert seen["sethostname"] == "EPERM" and seen["unshare_net"] == "EPERM"
    assert seen["keyctl"] == "EPERM" and seen["fifo_scheduling"] == "EPERM"
    # What Landlock does not govern, on files the worker may own (the grader's, without a uid of its own):
    for call in ("chmod", "utime", "setxattr", "memfd"):
        assert seen[call] == "EPERM", call
    assert seen["write_outside"] in ("EACCES", "EROFS", "ENOENT")
    # ... and the results say so, from the same measurement.
    assert sandbox.weaknesses == [] and sandbox.measured["seccomp"] == 2


def test_no_network_no_host_socket_no_shared_ipc(attacked):
    hw, unix_socket, server = attacked
    seen = hw.tensors.attempts(unix_socket)
    for family in ("udp", "tcp6", "netlink", "unix_dgram", "socketpair_dgram", "unix_raw"):
        assert seen[family] == "EPERM", family
    assert seen["unix_connect"] in ("EPERM", "ENOENT", "EACCES")
    with pytest.raises(OSError):
        server.accept()  # nothing reached the host's socket
    assert seen["socketpair"] == "done"  # what the standard library needs still works
    assert seen["shmget"] == "EPERM"


def test_the_worker_cannot_reach_its_zygote_or_the_grader(attacked, tier):
    hw, unix_socket, _ = attacked
    seen = hw.tensors.attempts(unix_socket)
    for call in ("prlimit_parent", "renice_parent", "renice_user", "affinity_parent", "ptrace_parent"):
        assert seen[call] == "EPERM", call
    assert seen["prlimit_self"] == "done"
    if isolation.detect().landlock_abi >= 6:
        assert seen["signal_parent"] == "EPERM"
    if tier == "landlock-plain":
        pytest.skip("without a PID namespace the worker sees the machine's processes (it can reach none)")
    assert os.getpid() not in seen["pids"] and len(seen["pids"]) <= 4, seen["pids"]
    assert seen["hostname"] == "sandbox"
    assert seen["keys"] in ("EACCES", "EPERM")  # keyrings are per uid: a normal user's would show


def test_the_work_folder_has_a_disk_budget(attacked, tier):
    hw, _, _ = attacked
    if tier == "landlock-plain" or not isolation.detect().disk_budget:
        pytest.skip("this tier has no tmpfs of its own: only file_size_mb limits one file")
    written, error = hw.tensors.fill(200)
    assert error == "ENOSPC" and written < FAST.disk_mb + 1
    assert hw.sandbox.measured["work_fs"] == "tmpfs"
    assert hw.sandbox.measured["work_bytes"] == FAST.disk_mb * 2**20


def test_a_broken_promise_stops_grading_unless_allowed(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(isolation, "broken_promises", lambda *a: ["the worker runs as root (test)"])
    assert cli_main(["grade", str(REPO / "solutions"), "--gpu", "off"]) == 2
    message = capsys.readouterr().err.strip()
    assert "cannot keep its promises" in message and "the worker runs as root (test)" in message
    assert "--allow-weak-sandbox" in message
    out = tmp_path / "results.json"
    assert cli_main(["grade", str(REPO / "solutions"), "--gpu", "off", "--allow-weak", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["output"].startswith("Graded in a weak sandbox")
    assert results["extra_data"]["sandbox"]["weak"] == ["the worker runs as root (test)"]
    assert "WEAK SANDBOX" in capsys.readouterr().out


def test_as_root_without_namespaces_an_unreachable_python_is_refused(monkeypatch):
    if os.geteuid() != 0 or not isolation.unreachable_python():
        pytest.skip("only a root grader whose Python lies behind a closed folder (e.g. /root) meets this")
    full = isolation.detect("landlock")
    monkeypatch.setattr(isolation, "detect", lambda tier=None: isolation.Protections(
        landlock_abi=full.landlock_abi, root=True, seccomp_library=full.seccomp_library))
    with pytest.raises(isolation.SandboxUnavailable, match="cannot reach the Python installation"):
        Sandbox(FAST, modules=MODULES)


def test_a_sandbox_killed_with_its_grader_leaves_nothing_behind(tmp_path, tier):
    if tier == "landlock-plain":
        pytest.skip("the forced plain tier lives only in this process")
    sub = make_submission(tmp_path / "s", append={"tensors": "import time\ntime.sleep(600)\n"})
    before = {p.name for p in Path("/tmp").glob("autograder-sandbox-*")}
    grader = subprocess.Popen([sys.executable, "-m", "autograder.cli", "grade", str(sub), "--gpu", "off",
                               "--sandbox", "bubblewrap" if tier == "bubblewrap" else "landlock"], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        mine: list[Path] = []
        while time.monotonic() < deadline and not mine:
            mine = [p for p in Path("/tmp").glob(f"autograder-sandbox-{grader.pid}-*") if p.name not in before]
            time.sleep(0.1)
        assert mine, "the grader made no sandbox folder"
        time.sleep(3)  # well into the student's import
    finally:
        grader.send_signal(signal.SIGKILL)
        grader.wait()
    time.sleep(0.5)
    cgroups = [p for p in Path("/sys/fs/cgroup").glob(f"*/autograder/w{grader.pid}-*")]
    isolation.sweep_orphans()
    # (any grader's start sweeps orphans: one running beside this test may have been first)
    assert not any(p.exists() for p in mine)
    assert not any(p.exists() for p in cgroups)


def test_a_filter_inherited_from_a_container_is_not_the_graders():
    """Seccomp: 2 alone proves nothing (Docker's own filter shows it): the worker must carry one
    filter more than the zygote had before it built ours."""
    measured = {"capabilities": dict.fromkeys(("prm", "eff", "amb", "bnd", "inh"), 0), "uids_outside": [1000],
                "no_new_privs": 1, "seccomp": 2, "seccomp_filters": 1, "namespaces": {}}
    strong = isolation.Protections(landlock_abi=6, bubblewrap=True)
    assert isolation.broken_promises(measured, {"seccomp_filters_before": 0}, strong) == []
    inherited = isolation.broken_promises(measured, {"seccomp_filters_before": 1}, strong)
    assert inherited and "no seccomp filter" in inherited[0]
    failed = isolation.broken_promises(measured, {"seccomp_filters_before": 0, "seccomp_error": "OSError: x"}, strong)
    assert failed and "OSError: x" in failed[0]

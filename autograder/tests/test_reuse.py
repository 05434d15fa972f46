"""A warm sandbox graded one student and is reused for the next: nothing of the first reaches the second.

A batch slot keeps one sandbox (a zygote with torch imported) for many students. These tests
plant everything a student's code could leave behind or tamper with, reset the sandbox, and
look at it from the next student's code and from outside.
"""

from __future__ import annotations

import pytest
import torch

from autograder import grade as grade_module
from autograder.sandbox import isolation
from autograder.sandbox.client import RemoteHomework
from autograder.sandbox.zygote import Sandbox
from autograder.submission import locate
from tests.harness import checks
from tests.harness.grading import Limits

from .conftest import make_submission, plain_protections

FAST = Limits(call_timeout_s=5, import_timeout_s=30)

needs_reuse = pytest.mark.skipif(
    not (isolation.detect().pid_namespace and isolation.detect().landlock_abi >= 1),
    reason="a sandbox is reused only in a PID namespace with Landlock; elsewhere every student gets a new one")

# Student A: at import, leaves a daemon, System V IPC objects, files, and goes after the zygote.
PLANT = r'''
import ctypes, errno, os, signal, time


def _attempt(action):
    try:
        action()
        return "done"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))


def _plant():
    report = {}
    child = os.fork()
    if child == 0:  # a daemon in its own session, meant to outlive the worker
        os.setsid()
        if os.fork() == 0:
            time.sleep(600)
        os._exit(0)
    os.waitpid(child, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    IPC_CREAT = 0o1000
    report["shm"] = libc.shmget(0x5EED, 1 << 20, IPC_CREAT | 0o666)
    report["sem"] = libc.semget(0x5EED, 1, IPC_CREAT | 0o666)
    report["msg"] = libc.msgget(0x5EED, IPC_CREAT | 0o666)
    report["mqueue"] = libc.syscall(240, b"planted", os.O_CREAT | os.O_RDWR, 0o600, None)  # mq_open
    with open("planted.txt", "w") as f:
        f.write("from the student before you")
    os.symlink("/etc/passwd", "homework_planted.py")
    with open("tmp/planted", "w") as f:
        f.write("x")
    report["write_tmp"] = _attempt(lambda: open("/tmp/planted", "w").close())
    zygote = os.getppid()
    report["zygote"] = zygote
    report["signal_zygote"] = _attempt(lambda: os.kill(zygote, signal.SIGSTOP))
    report["zygote_mem"] = _attempt(lambda: open(f"/proc/{zygote}/mem", "rb").close())
    report["zygote_environ"] = _attempt(lambda: open(f"/proc/{zygote}/environ", "rb").read())
    return report


PLANTED = _plant()


def planted():
    return PLANTED
'''

# Student B: looks for anything student A left.
INSPECT = r'''
import os


def inspect():
    own = {1, os.getpid(), os.getppid()}
    ipc = {}
    for kind in ("shm", "sem", "msg"):
        with open(f"/proc/sysvipc/{kind}") as table:
            ipc[kind] = len(table.read().splitlines()[1:])
    return {"others": sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in own),
            "ipc": ipc, "files": sorted(os.listdir(".")), "tmp": sorted(os.listdir("tmp"))}
'''


def _homework(path, sandbox: Sandbox) -> RemoteHomework:
    sub = locate(path)
    return RemoteHomework(sub.files, FAST, problems=sub.problems, gpu="off", sandbox=sandbox)


@needs_reuse
def test_the_next_student_finds_nothing_of_the_last(tmp_path):
    attacker = make_submission(tmp_path / "a", append={"tensors": PLANT})
    honest = make_submission(tmp_path / "b", append={"tensors": INSPECT})
    sandbox = Sandbox(FAST)
    try:
        sandbox.launch()
        sandbox.ready()
        hw = _homework(attacker, sandbox)
        report = hw.tensors.planted()
        hw.close()
        # What the attack could and could not do while it ran:
        # No System V IPC and no POSIX message queues at all (seccomp): nothing to outlive it.
        assert report["shm"] == report["sem"] == report["msg"] == report["mqueue"] == -1
        assert report["write_tmp"] in ("EACCES", "EROFS")  # Landlock: only its own folder is writable
        assert report["zygote_mem"] == "EACCES" and report["zygote_environ"] == "EACCES"  # nested domain
        if isolation.detect().landlock_abi >= 6:
            assert report["signal_zygote"] == "EPERM"  # signals scoped to its own domain

        assert sandbox.recycle() is True  # reset, verified clean, reused
        assert (sandbox.launches, sandbox.resets) == (1, 1)
        if sandbox.cgroup:
            assert sandbox.cgroup.pids() <= sandbox._baseline  # seen from outside: only the sandbox itself

        hw = _homework(honest, sandbox)
        seen = hw.tensors.inspect()
        assert seen["others"] == [], "a process of the previous student is still running"
        assert seen["ipc"] == {"shm": 0, "sem": 0, "msg": 0}
        own = ["homework_autograd.py", "homework_performance.py", "homework_tensors.py", "tmp"]
        assert [f for f in seen["files"] if f != "__pycache__"] == own  # (the cache of its own import)
        assert seen["tmp"] == []
        # ... and the reused zygote grades as well as a new one.
        out = hw.autograd.chain_rule_analytic(torch.tensor([2.0]))
        checks.close(out, torch.cos(torch.tensor([5.0])) * 4, "chain_rule_analytic")
        hw.close()
    finally:
        sandbox.close()


@needs_reuse
def test_a_reset_that_leaves_anything_means_a_new_sandbox(tmp_path, monkeypatch):
    sandbox = Sandbox(FAST)
    try:
        sandbox.launch()
        sandbox.ready()
        real = sandbox._command

        def zygote_reports_a_leftover(message, **kw):
            reply = real(message, **kw)
            return dict(reply, left=1) if message and message.get("op") == "reset" else reply

        monkeypatch.setattr(sandbox, "_command", zygote_reports_a_leftover)
        assert sandbox.recycle() is False
        assert (sandbox.launches, sandbox.resets) == (2, 0)
        assert sandbox.alive() and sandbox.measured.get("seccomp") == 2 and not sandbox.weaknesses
    finally:
        sandbox.close()


def test_without_a_pid_namespace_a_sandbox_is_never_reused(monkeypatch):
    plain = plain_protections()
    monkeypatch.setattr(isolation, "detect", lambda tier=None: plain)
    sandbox = Sandbox(FAST)
    try:
        assert not sandbox.reusable
        sandbox.launch()
        sandbox.ready()
        assert sandbox.recycle() is False
        assert sandbox.launches == 2
    finally:
        sandbox.close()


def test_a_grader_failure_is_never_scored_as_the_students(monkeypatch, submission):
    """If the sandbox cannot take the files, the grading stops with an error (not a 0)."""
    def refuse(self, files):
        raise OSError("disk full")

    monkeypatch.setattr(Sandbox, "use", refuse)
    with pytest.raises(grade_module.GraderError, match="disk full"):
        grade_module.grade(submission(), gpu="off")

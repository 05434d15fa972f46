"""The worker is isolated: timeouts, crashes, file access, stray processes, hostile return values."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from autograder.tests import MODULES, REPO
from autograder.sandbox import isolation
from autograder.sandbox.client import CallTimeout, RemoteHomework, RemoteObject, StudentError, WorkerDied
from autograder.submission import locate
from hwkit import checks, probes
from hwkit.grading import Limits

from .conftest import needs_strong_sandbox, tier  # noqa: F401 (a fixture)

pytestmark = needs_strong_sandbox
FAST = Limits(call_timeout_s=3, import_timeout_s=30)


def open_homework(path: Path, limits: Limits = FAST) -> RemoteHomework:
    sub = locate(path, MODULES)
    return RemoteHomework(sub.files, limits, problems=sub.problems, gpu="off", modules=MODULES)


SNOOP = '''
def snoop(path):
    with open(path) as f:
        return f.read()
'''


def test_worker_cannot_read_hidden_tests_or_solutions(submission, tier):
    hw = open_homework(submission(append={"tensors": SNOOP}))
    try:
        for secret in (REPO / "autograder/hidden/test_tensors_hidden.py", REPO / "solutions/homework_tensors.py",
                       REPO / "autograder/grade.py"):
            assert secret.exists()
            with pytest.raises((FileNotFoundError, PermissionError)):
                hw.tensors.snoop(str(secret))
        # ... while its own module is readable: the test above fails for the right reason.
        assert "def snoop" in hw.tensors.snoop("homework_tensors.py")
    finally:
        hw.close()


def test_infinite_loop_fails_only_that_call_and_the_worker_restarts(submission, tier):
    hw = open_homework(submission(append={"autograd": "def mse(y_pred, y_true):\n    while True:\n        pass"}))
    try:
        mse = hw.autograd.mse  # the worker is up and the module imported before the clock starts
        started = time.monotonic()
        with pytest.raises(CallTimeout):
            mse(torch.ones(2), torch.zeros(2))
        assert time.monotonic() - started < FAST.call_timeout_s + 2
        # The next call runs in a fresh worker, and the other functions still work.
        out = hw.autograd.chain_rule_analytic(torch.tensor([2.0]))
        checks.close(out, torch.cos(torch.tensor([5.0])) * 4, "chain_rule_analytic")
        assert hw.worker("autograd").starts == 2
    finally:
        hw.close()


@pytest.mark.parametrize("exit_code", ["os._exit(0)", "sys.exit(0)", "os.kill(os.getpid(), 9)"])
def test_exit_inside_a_function_fails_only_that_call(submission, exit_code):
    code = f"import os, sys\ndef create_tensors():\n    {exit_code}\n"
    hw = open_homework(submission(append={"tensors": code}))
    try:
        expected = StudentError if exit_code.startswith("sys.exit") else WorkerDied
        with pytest.raises(expected) as info:
            hw.tensors.create_tensors()
        assert "exit" in str(info.value) or "SIGKILL" in str(info.value)
        t = torch.arange(24.0)
        result = hw.tensors.reshape_tensor(t)
        checks.view_of(result[(4, 6)], t, "reshape_tensor()[(4, 6)]")
    finally:
        hw.close()


FORK = '''
import os, time
def fork_daemon(token):
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", token])
        os._exit(0)
    os.waitpid(pid, 0)
    return True
'''


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if token in Path(entry.path, "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_forked_daemon_of_the_worker_does_not_survive_grading(submission, tier):
    token = f"{987000 + os.getpid() % 1000}.{int(time.time()) % 1000}"
    hw = open_homework(submission(append={"tensors": FORK}))
    try:
        assert hw.tensors.fork_daemon(token) is True
        deadline = time.monotonic() + 5
        while not _processes_with(token) and time.monotonic() < deadline:
            time.sleep(0.05)  # the grandchild execs asynchronously
        assert _processes_with(token), "the daemon should be running while the worker lives"
    finally:
        hw.close()
    deadline = time.monotonic() + 5
    while _processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(token) == []


NETWORK = '''
import socket
def connect():
    s = socket.socket()
    s.settimeout(2)
    s.connect(("127.0.0.1", PORT))
    return "connected"
'''


def test_no_network_from_the_worker(submission, tier):
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    hw = open_homework(submission(append={"tensors": NETWORK.replace("PORT", str(port))}))
    try:
        with pytest.raises(OSError):
            hw.tensors.connect()
    finally:
        hw.close()
        server.close()


HOSTILE_VALUES = '''
import torch
class Liar(torch.Tensor):
    def __eq__(self, other):
        return True
class AlwaysEqual:
    def __eq__(self, other):
        return True
def create_tensors():
    liar = torch.zeros(3, 4).as_subclass(Liar)
    return {"random_3x4": liar, "zeros_2x3x4": AlwaysEqual(), "ones_5x5": torch.ones(5, 5),
            "range_4x4": torch.arange(16).reshape(4, 4)}
'''


def test_tensor_subclass_and_rigged_eq_arrive_as_opaque_objects(submission):
    hw = open_homework(submission(append={"tensors": HOSTILE_VALUES}))
    try:
        out = hw.tensors.create_tensors()
        assert type(out) is dict
        assert isinstance(out["random_3x4"], RemoteObject) and isinstance(out["zeros_2x3x4"], RemoteObject)
        assert out["zeros_2x3x4"] != torch.zeros(2, 3, 4)
        with pytest.raises(pytest.fail.Exception, match="should be a torch.Tensor"):
            checks.tensor(out["random_3x4"], "random_3x4")
        assert type(out["ones_5x5"]) is torch.Tensor
    finally:
        hw.close()


def test_flood_of_output_is_capped_and_grading_goes_on(submission):
    code = "import sys\ndef create_tensors():\n    for _ in range(20000):\n" \
           "        print('x' * 1000); print('y' * 1000, file=sys.stderr)\n    return 7\n"
    hw = open_homework(submission(append={"tensors": code}))
    try:
        assert hw.tensors.create_tensors() == 7
        hw.sandbox.stop()
        assert len(hw.sandbox.last_output) <= 4000
        assert hw.sandbox._stdout.dropped > 10_000_000
    finally:
        hw.close()


def test_memory_bomb_fails_the_call_not_the_grader(submission):
    code = "import torch\ndef create_tensors():\n    return torch.empty(20 * 2**30, dtype=torch.uint8).fill_(1)\n"
    hw = open_homework(submission(append={"tensors": code}), Limits(call_timeout_s=10, memory_mb=1024))
    try:
        with pytest.raises((RuntimeError, MemoryError, WorkerDied)):
            hw.tensors.create_tensors()
        assert hw.tensors.index_tensor(torch.zeros(2, 2, 2))["first_row"].shape == (2,)
    finally:
        hw.close()


def test_worker_runs_unprivileged_in_its_own_session(submission):
    hw = open_homework(submission())
    try:
        hw.tensors.create_tensors()
        assert hw.sandbox.measured["uid"] == (isolation.SANDBOX_UID if isolation.detect().bubblewrap
                                              else hw.sandbox.uid if hw.sandbox.uid is not None else os.getuid())
        assert os.getsid(hw.sandbox.proc.pid) != os.getsid(0)
        assert hw.sandbox.info["protections"].get("landlock") == (isolation.detect().landlock_abi >= 1)
    finally:
        hw.close()


def test_probe_state_and_views_cross_the_boundary():
    hw = open_homework(REPO / "solutions")
    try:
        p = probes.Sleep(ms=1, first_ms=5)
        hw.performance.measure_time(p, repeat=3, warmup=2)
        assert p.calls == 5
        t = torch.arange(60.0).reshape(3, 4, 5)
        for name, view in hw.tensors.index_tensor(t).items():
            checks.view_of(view, t, name)
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        hw.autograd.chain_rule_autograd_grad(x)
        assert x.grad is None
    finally:
        hw.close()


def test_a_batch_slots_sandbox_has_imported_what_torch_would_import_for_each_student(submission):
    """zygote.BATCH_PRELOAD: imported once in the zygote, so no worker imports it again; a plain
    sandbox (one grading) leaves it to the worker that needs it."""
    from autograder.sandbox.zygote import BATCH_PRELOAD, Sandbox

    code = "import sys\ndef create_tensors():\n    return [m in sys.modules for m in %r]\n" % (BATCH_PRELOAD,)
    sub = locate(submission(append={"tensors": code}), MODULES)
    for preload, expected in ((BATCH_PRELOAD, True), ((), False)):
        sandbox = Sandbox(FAST, modules=MODULES, preload=preload)
        hw = RemoteHomework(sub.files, FAST, problems=sub.problems, gpu="off", modules=MODULES, sandbox=sandbox)
        try:
            assert hw.tensors.create_tensors() == [expected] * len(BATCH_PRELOAD)
        finally:
            hw.close()
            sandbox.close()

"""The trusted handle on one sandbox: a zygote that has imported torch and forks workers.

Kept free of torch so that a grading can start its sandbox before the grader imports torch
itself: the two imports then run side by side.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

from tests.harness.grading import Limits
from tests.harness.modules import MODULES

from . import isolation

HERE = Path(__file__).resolve().parent
HARNESS = HERE.parent.parent / "tests" / "harness"


WEAK_SANDBOX = ("neither bubblewrap nor Landlock is available, so student code could read the hidden "
                "tests and solutions. Install bubblewrap (apt-get install bubblewrap) or use a Linux "
                "kernel with Landlock, or pass --allow-weak-sandbox to grade anyway.")


class SandboxFault(Exception):
    """The student's code made the worker time out, crash or misbehave during a call."""


class CallTimeout(SandboxFault):
    pass


class WorkerDied(SandboxFault):
    pass


class _Output(threading.Thread):
    """Drains one of the worker's output pipes, keeping at most `limit` bytes."""

    def __init__(self, stream, limit: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.limit = stream, limit
        self.data = bytearray()
        self.dropped = 0

    def run(self) -> None:
        while chunk := self.stream.read1(1 << 16):
            room = self.limit - len(self.data)
            self.data += chunk[:max(room, 0)]
            self.dropped += max(len(chunk) - max(room, 0), 0)

    def text(self) -> str:
        more = f"\n[... {self.dropped} more bytes of output dropped]" if self.dropped else ""
        return self.data.decode("utf-8", "replace") + more


class Sandbox:
    """One sandbox: a zygote that has imported torch, locked in, and forks a fresh worker per
    homework module on request (and again after a crash or a timeout).

    The zygote runs under bubblewrap (or Landlock alone), in its own cgroup and session, with
    rlimits. It talks to the grader over a Unix socket: ``spawn`` (with the new worker's two
    pipe ends attached), ``kill`` and ``reset``. Forking from it costs milliseconds instead of
    a torch import per module.

    A batch keeps one sandbox warm per parallel slot and grades its students one after the
    other in it (:meth:`use`, then :meth:`recycle`). The zygote itself never runs student code;
    every worker locks itself into a Landlock domain nested in the zygote's, so it cannot
    trace, signal or write to the zygote. Between two students :meth:`recycle` kills every
    process but the zygote, removes System V IPC objects, empties the working folder, and
    checks from outside (the cgroup) that nothing is left; if anything is, or the sandbox
    cannot offer that guarantee (no PID namespace, no Landlock, GPU device files writable),
    the next student gets a new sandbox instead.
    """

    def __init__(self, files: dict[str, Path], limits: Limits, *, gpu: bool = False,
                 allow_weak: bool = False) -> None:
        self.files, self.limits, self.gpu = dict(files), limits, gpu
        self.protections = isolation.detect()
        if not self.protections.filesystem_isolated and not allow_weak:
            raise isolation.SandboxUnavailable(WEAK_SANDBOX)
        self.proc: subprocess.Popen | None = None
        self.cgroup: isolation.Cgroup | None = None
        self.info: dict = {}
        self.launches = 0
        self.resets = 0  # verified resets of the current zygote: > 0 means it served earlier students
        self.last_output = ""
        self._ready = False
        self._used = False  # a worker has been started since the last launch or reset
        self._pidfd = -1
        self._baseline: set[int] = set()
        self._runtime = Path(tempfile.mkdtemp(prefix="autograder-runtime-"))
        for name in ("worker.py", "wire.py", "landlock.py"):
            shutil.copy(HERE / name, self._runtime / name)
        (self._runtime / "harness").mkdir()
        for name in ("probes.py", "simcuda.py"):
            shutil.copy(HARNESS / name, self._runtime / "harness" / name)
        (self._runtime / "harness" / "__init__.py").write_text("")
        os.chmod(self._runtime, 0o755)
        self._gpu_devices = sorted(str(d) for d in Path("/dev").glob("nvidia*")) if gpu else []

    @property
    def reusable(self) -> bool:
        """Whether another student may be graded in this zygote after a verified reset."""
        p = self.protections
        # Without a PID namespace the sweep cannot see every leftover process, without Landlock
        # a worker could tamper with the zygote, and writable /dev would outlive the student.
        return p.bubblewrap and p.landlock_abi >= 1 and not self._gpu_devices

    # -- lifecycle --------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the zygote without waiting for it to import torch."""
        self.workdir = Path(tempfile.mkdtemp(prefix="autograder-work-"))
        self._prepare_workdir()
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        p = self.protections
        config = {
            "runtime": str(self._runtime), "workdir": str(self.workdir), "modules": MODULES,
            "control_fd": theirs.fileno(), "pid_namespace": p.bubblewrap,
            "landlock": p.landlock_abi >= 1,
            "read_paths": isolation.python_paths() + isolation.SYSTEM_READ + [str(self._runtime), "/dev/null"],
            "write_paths": [str(self.workdir), "/dev/null"] + (["/dev"] if self._gpu_devices else []),
        }
        inner = [sys.executable, "-I", "-X", "faulthandler", str(self._runtime / "worker.py"), json.dumps(config)]
        cmd = isolation.bwrap_command(inner, runtime=self._runtime, workdir=self.workdir, gpu=self.gpu) \
            if p.bubblewrap else inner
        self.cgroup = isolation.Cgroup(p.cgroup, f"w{os.getpid()}-{uuid.uuid4().hex[:8]}", self.limits) \
            if p.cgroup else None
        nproc = None if p.root else isolation.user_process_count() + self.limits.processes

        grader = os.getpid()

        def in_child() -> None:
            isolation.die_with_parent(grader)
            isolation.set_rlimits(self.limits, nproc)
            if self.cgroup:
                self.cgroup.enter()

        # The NVML check answers torch.cuda.is_available() without initialising CUDA, which
        # must not happen before the zygote forks.
        threads = os.environ.get("OMP_NUM_THREADS") or str(len(os.sched_getaffinity(0)))
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": threads,
               "HOME": str(self.workdir), "TMPDIR": str(self.workdir / "tmp"),
               "PYTORCH_NVML_BASED_CUDA_CHECK": "1"}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, pass_fds=(theirs.fileno(),), env=env,
                                     cwd=self.workdir, start_new_session=True, preexec_fn=in_child)
        theirs.close()
        # A pidfd says whether the zygote lives from any process, also from a grading process
        # forked from the one that started it (waitpid only works in the parent).
        self._pidfd = os.pidfd_open(self.proc.pid)
        self.launches += 1
        self.resets = 0
        cap = self.limits.output_kb * 1024
        self._stdout, self._stderr = _Output(self.proc.stdout, cap), _Output(self.proc.stderr, cap)
        self._stdout.start()
        self._stderr.start()
        self._ready = False
        self._used = False

    def ready(self) -> None:
        """Start the zygote if needed and wait until it has imported torch and locked itself in."""
        if not self.alive():
            self.stop()
            self.launch()
        if self._ready:
            return
        try:
            info = self._command(None, timeout=self.limits.import_timeout_s).get("info")
        except SandboxFault as exc:
            self.stop()
            # No student code has run yet: the sandbox itself cannot start here.
            raise isolation.SandboxUnavailable(f"the worker failed to start ({exc}):\n{self.last_output}") from None
        self.info = info if type(info) is dict else {}
        self._ready = True
        self._baseline = self.cgroup.pids() if self.cgroup else set()

    def use(self, files: dict[str, Path]) -> None:
        """Grade these files next: put them in the sandbox's folder if no worker has run since it
        was started or reset, else start a new sandbox for them."""
        self.files = dict(files)
        if self.proc is None:
            return  # launch() copies them
        if self._used or not self.alive():
            self.stop()
            return
        try:
            self._copy_files()
        except OSError:
            self.stop()  # the folder is not as clean as it must be: a new sandbox instead

    def recycle(self) -> bool:
        """Make the sandbox ready for the next student. True if the zygote was reset and reused,
        False if a new sandbox was started because reuse could not be proven safe."""
        self.files = {}
        if self._reset():
            return True
        self.stop()
        self.launch()
        self.ready()
        return False

    def _reset(self) -> bool:
        # (Always a full reset: the grading may have run in a forked process, whose use of the
        # sandbox this object cannot see.)
        if not (self.reusable and self._ready and self.alive()):
            return False
        try:
            reply = self._command({"op": "reset"}, timeout=self.limits.call_timeout_s + 10)
        except SandboxFault:
            return False
        cpu = reply.get("cpu_s")
        if reply.get("left") != 0 or reply.get("ipc_left") != 0 or type(cpu) not in (int, float):
            return False
        if cpu > self.limits.cpu_time_s / 2:
            return False  # its RLIMIT_CPU must not run out while a student is graded
        if self.cgroup and not self.cgroup.pids() <= self._baseline:
            return False  # seen from outside: a process the zygote did not account for
        self._prepare_workdir()
        self._used = False
        self.resets += 1
        return True

    def _prepare_workdir(self) -> None:
        """An empty working folder (what a student left is removed) with the files to grade."""
        for entry in list(os.scandir(self.workdir)):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        (self.workdir / "tmp").mkdir()
        os.chmod(self.workdir, 0o777)
        os.chmod(self.workdir / "tmp", 0o777)
        self._copy_files()

    def _copy_files(self) -> None:
        for key, path in self.files.items():
            # O_EXCL | O_NOFOLLOW: never write through anything a student's process left here.
            fd = os.open(self.workdir / f"{MODULES[key]}.py", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         0o644)
            with open(fd, "wb") as out, open(path, "rb") as source:
                shutil.copyfileobj(source, out)

    def spawn(self) -> tuple[int, int, int]:
        """A fresh worker forked from the zygote: (its pid, request pipe, reply pipe)."""
        self.ready()
        self._used = True
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        try:
            reply = self._command({"op": "spawn"}, fds=[req_r, rep_w], timeout=self.limits.call_timeout_s)
        except SandboxFault:
            for fd in (req_w, rep_r):
                os.close(fd)
            self.stop()
            raise
        finally:
            os.close(req_r)
            os.close(rep_w)
        if type(reply.get("pid")) is not int:
            for fd in (req_w, rep_r):
                os.close(fd)
            raise WorkerDied(f"no worker could be started: {str(reply.get('error', reply))[:300]}")
        return reply["pid"], req_w, rep_r

    def kill(self, pid: int) -> int | None:
        """Kill one worker and whatever it started; its exit code if it had already ended."""
        if not self.alive():
            return None
        try:
            code = self._command({"op": "kill", "pid": pid}, timeout=10).get("exit")
        except SandboxFault:
            self.stop()
            return None
        return code if type(code) is int else None

    def _command(self, message: dict | None, *, fds: list[int] = (), timeout: float) -> dict:
        """Send one control message (None: only read) and read the zygote's answer."""
        try:
            self._control.settimeout(timeout)
            if message is not None:
                socket.send_fds(self._control, [json.dumps(message).encode()], list(fds))
            data = self._control.recv(1 << 16)
        except (OSError, TimeoutError) as exc:
            raise SandboxFault(f"the sandbox stopped answering ({type(exc).__name__})") from None
        if not data:
            raise SandboxFault("the sandbox ended")
        try:
            reply = json.loads(data)
        except ValueError:
            reply = None
        if type(reply) is not dict:
            raise SandboxFault("the sandbox sent an invalid answer")
        return reply

    def alive(self) -> bool:
        if self.proc is None or self._pidfd < 0:
            return False
        readable, _, _ = select.select([self._pidfd], [], [], 0)
        return not readable

    def stop(self) -> None:
        """Kill the zygote and everything in the sandbox; remove its working folder."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            self.proc.wait()  # (in a process forked from the starter there is nothing to reap)
        if self.cgroup:
            self.cgroup.destroy()
        self._control.close()
        os.close(self._pidfd)
        self._pidfd = -1
        for t in (self._stdout, self._stderr):
            t.join(timeout=2)
        self.last_output = (self._stdout.text() + self._stderr.text())[-4000:]
        self.proc = None
        self._ready = False
        shutil.rmtree(self.workdir, ignore_errors=True)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._runtime, ignore_errors=True)

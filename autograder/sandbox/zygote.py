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
import time
import uuid
from pathlib import Path

from typing import TYPE_CHECKING

import hwkit

if TYPE_CHECKING:
    from hwkit.grading import Limits

from . import isolation

HERE = Path(__file__).resolve().parent
KIT = Path(hwkit.__file__).parent  # the shared kit: its probes and simulated GPU go in


WEAK_SANDBOX = ("neither bubblewrap nor Landlock is available, so student code could read the hidden "
                "tests and solutions. Install bubblewrap (apt-get install bubblewrap) or use a Linux "
                "kernel with Landlock, or pass --allow-weak-sandbox to grade anyway.")


class SandboxFault(Exception):
    """The student's code made the worker time out, crash or misbehave during a call."""


# The zygote imports torch before any student code runs: slow on a loaded machine, never a hang
# of the student's making, so not bound by limits.import_timeout_s.
START_TIMEOUT_S = 90


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


def _read_before(fd: int, deadline: float) -> bytes:
    """Up to 64 kB from `fd`, b"" at its end; SandboxFault once `deadline` has passed."""
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([fd], [], [], left)[0]:
        raise SandboxFault("the confined worker did not report its state in time")
    return os.read(fd, 1 << 16)


def _json_object(data: bytes, why: str) -> dict:
    """`data` as a JSON object, else SandboxFault(why)."""
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if type(value) is not dict:
        raise SandboxFault(why)
    return value


# What torch imports on first use in a worker, for every student again: torch.autograd.grad
# with grad_outputs imports torch.fx.experimental.symbolic_shapes, and with it sympy and mpmath
# (about 490 modules, 0.3 CPU-s per grading; docs/performance.md). A batch slot's zygote, which
# serves student after student, imports it once instead; a single grading would only move the
# cost to the sandbox's start.
BATCH_PRELOAD = ("torch.fx.experimental.symbolic_shapes",)

WORKER_THREADS = 8  # a worker's OpenMP threads, at most (see Sandbox.launch)


def gpu_options(mode: str) -> dict[str, bool]:
    """The Sandbox's GPU arguments for a grading's ``--gpu`` mode: the machine's GPU device files
    for auto and require, the simulated GPU (and no device file) for simulate, neither for off."""
    return {"gpu": mode in ("auto", "require"), "simulated_gpu": mode == "simulate"}


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

    def __init__(self, limits: Limits, *, modules: dict[str, str], gpu: bool = False,
                 allow_weak: bool = False, simulated_gpu: bool = False, preload: tuple[str, ...] = ()) -> None:
        """`modules`: module key -> file name without .py, e.g. {"tensors": "homework_tensors"}.
        `gpu`: the machine's GPU device files go in; `simulated_gpu`: instead, every worker sees
        hwkit.simgpu's simulated GPU (`grade --gpu simulate`; see :func:`gpu_options`).
        `preload`: modules the zygote imports after torch, so that its workers find them imported
        (a batch slot's sandbox serves many students: see BATCH_PRELOAD)."""
        if gpu and simulated_gpu:
            raise ValueError("a sandbox gets the machine's GPU or the simulated one, not both")
        self.limits, self.modules, self.gpu, self.allow_weak = limits, dict(modules), gpu, allow_weak
        self.simulated_gpu = simulated_gpu
        self.preload = tuple(preload)
        self.files: dict[str, Path] = {}  # the homework modules to grade next (see use())
        self.protections = isolation.detect()
        if not self.protections.filesystem_isolated and not allow_weak:
            raise isolation.SandboxUnavailable(WEAK_SANDBOX)
        self.uid = isolation.allocate_uid() if self.protections.root else None
        if self.uid is not None and not self.protections.pid_namespace:
            # No mount namespace to make a folder like /root (mode 0700) passable for that uid.
            unreachable = isolation.unreachable_python()
            if unreachable and not allow_weak:
                raise isolation.SandboxUnavailable(
                    f"the sandbox's unprivileged uid cannot reach the Python installation ({unreachable}) and "
                    "this machine allows no mount namespace to make it reachable: install Python and the venv "
                    "in folders every user can enter (e.g. /opt or /usr/local), or pass --allow-weak-sandbox "
                    "to grade as root")
            if unreachable:
                self.uid = None  # the measurement will say that the sandbox runs as root
        isolation.sweep_orphans()
        self.proc: subprocess.Popen | None = None
        self.cgroup: isolation.Cgroup | None = None
        self.info: dict = {}
        self.measured: dict = {}  # what a confined worker measured of itself (worker.measure)
        self.weaknesses: list[str] = []  # promises that do not hold (only with allow_weak)
        self.launches = 0
        self.resets = 0  # verified resets of the current zygote: > 0 means it served earlier students
        self.last_output = ""
        self._ready = False
        self._used = False  # a worker has been started since the last launch or reset
        self._pending = False  # self.files are not in the sandbox's work folder yet
        self._deliveries = 0
        self._pidfd = -1
        self._baseline: set[int] = set()
        # Everything this sandbox keeps on the host, under one folder named after its owner, so
        # that a later grader can remove it if this process is killed (isolation.sweep_orphans).
        self._base = Path(tempfile.mkdtemp(prefix=f"autograder-sandbox-{isolation.owner_tag()}-"))
        os.chmod(self._base, 0o755)
        self._runtime = self._base / "runtime"
        self.inbox = self._base / "inbox"  # read-only inside: the trusted side puts modules here
        self.workdir = self._base / "work"  # a size-limited tmpfs inside the sandbox
        self._runtime.mkdir(mode=0o755)
        self.inbox.mkdir(mode=0o755)
        for name in ("worker.py", "wire.py", "landlock.py", "syscall_filter.py"):
            shutil.copy(HERE / name, self._runtime / name)
        (self._runtime / "hwkit").mkdir(mode=0o755)
        # (The simulated GPU's module only where the grader chose it: nothing else can import it there.)
        for name in ("probes.py", "simcuda.py") + (("simgpu.py",) if simulated_gpu else ()):
            shutil.copy(KIT / name, self._runtime / "hwkit" / name)
        (self._runtime / "hwkit" / "__init__.py").write_text("")
        # The GPU device files the grader saw on this machine (none unless grading may use a GPU).
        self.gpu_devices = sorted(str(d) for d in Path("/dev").glob("nvidia*")) if gpu else []
        self.gpu_read = [p for p in isolation.GPU_READ if os.path.exists(p)] if self.gpu_devices else []

    @classmethod
    def started(cls, limits: Limits, *, modules: dict[str, str], gpu: bool, allow_weak: bool,
                simulated_gpu: bool = False) -> "Sandbox":
        """A sandbox whose zygote is already importing torch while the caller goes on."""
        sandbox = cls(limits, modules=modules, gpu=gpu, allow_weak=allow_weak, simulated_gpu=simulated_gpu)
        sandbox.launch()
        return sandbox

    @property
    def reusable(self) -> bool:
        """Whether another student may be graded in this zygote after a verified reset."""
        p = self.protections
        # Without a PID namespace the sweep cannot see every leftover process, without Landlock
        # ABI 6 (signal scope) and the filter a worker could tamper with the zygote that outlives
        # it, and GPU devices keep state.
        return p.pid_namespace and p.landlock_abi >= 6 and not self.weaknesses and not self.gpu_devices

    # -- lifecycle --------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the zygote without waiting for it to import torch."""
        p = self.protections
        if not p.pid_namespace:  # no tmpfs of its own: a host folder that only its uid can enter
            self.workdir.mkdir(mode=0o700)
            if self.uid is not None:
                os.chown(self.workdir, self.uid, self.uid)
        elif not self.workdir.exists():
            self.workdir.mkdir(mode=0o755)  # the mount point of its tmpfs
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        read_paths = isolation.python_paths() + isolation.SYSTEM_READ + isolation.DEVICES \
            + [str(self._runtime), str(self.inbox)] + self.gpu_read
        config = {
            "runtime": str(self._runtime), "workdir": str(self.workdir), "inbox": str(self.inbox),
            "modules": self.modules, "control_fd": theirs.fileno(), "pid_namespace": p.pid_namespace,
            "landlock": p.landlock_abi >= 1, "read_paths": read_paths,
            "write_paths": [str(self.workdir), "/dev/null"], "device_paths": self.gpu_devices,
            "simulated_gpu": self.simulated_gpu, "preload": list(self.preload),
        }
        inner = [sys.executable, "-I", "-X", "faulthandler", str(self._runtime / "worker.py"), json.dumps(config)]
        cmd = self._command_line(inner)
        self.cgroup = isolation.Cgroup(p.cgroup, f"w{isolation.owner_tag()}-{uuid.uuid4().hex[:8]}", self.limits) \
            if p.cgroup else None
        # A uid of its own counts only this sandbox's processes; the grader's uid counts its own too.
        nproc = self.limits.processes if self.uid is not None else None if p.root \
            else isolation.user_process_count() + self.limits.processes

        grader = os.getpid()

        def in_child() -> None:
            isolation.die_with_parent(grader)
            isolation.set_rlimits(self.limits, nproc, address_space=not self.gpu_devices)
            if self.cgroup:
                self.cgroup.enter()

        # The NVML check answers torch.cuda.is_available() without initialising CUDA, which
        # must not happen before the zygote forks.
        # At most WORKER_THREADS OpenMP threads: every thread counts against `limits.processes`
        # (RLIMIT_NPROC), and on a many-core machine one worker's pool alone would exhaust it.
        wanted = os.environ.get("OMP_NUM_THREADS", "")
        threads = str(min(int(wanted) if wanted.isdigit() and int(wanted) > 0 else len(os.sched_getaffinity(0)),
                          WORKER_THREADS))
        # Passive: a pool thread sleeps when its work is done instead of spinning on a core
        # that another grading could use (measured: -0.02 to -0.05 CPU-s per grading).
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": threads, "OMP_WAIT_POLICY": "PASSIVE",
               "HOME": str(self.workdir), "TMPDIR": str(self.workdir / "tmp"),
               "PYTORCH_NVML_BASED_CUDA_CHECK": "1", "AUTOGRADER_LIBSECCOMP": p.seccomp_library or ""}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, pass_fds=(theirs.fileno(),), env=env,
                                     cwd=self._base, start_new_session=True, preexec_fn=in_child)
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
        self._pending = bool(self.files)

    def _command_line(self, inner: list[str]) -> list[str]:
        """How the zygote is started in this tier (see isolation and launcher.py)."""
        p, uid = self.protections, self.uid
        if p.bubblewrap:
            bwrap = isolation.bwrap_command(inner, runtime=self._runtime, inbox=self.inbox, workdir=self.workdir,
                                            limits=self.limits, devices=self.gpu_devices, size=p.bwrap_size)
            if uid is None:
                return bwrap
            return isolation.launcher_command({
                "mode": "bubblewrap", "uid": uid, "gid": uid, "exec": bwrap,
                "read_only": isolation.python_paths() + [str(self._runtime), str(self.inbox)]})
        if p.namespaces:
            (self._base / "root").mkdir(mode=0o755, exist_ok=True)
            return isolation.launcher_command({
                "mode": "namespaces", "newroot": str(self._base / "root"), "uid": uid, "gid": uid,
                "read_only": [x for x in isolation.python_paths() + isolation.SYSTEM_READ
                              + [str(self._runtime), str(self.inbox)] if not x.startswith(("/proc", "/dev"))]
                + self.gpu_read,
                "devices": isolation.DEVICES + self.gpu_devices, "hidden_proc": isolation.HIDDEN_PROC,
                "work": {"path": str(self.workdir), "size": self.limits.disk_mb * 2**20, "inodes": 20000,
                         "uid": uid, "gid": uid},
                "exec": inner})
        if uid is None:
            return inner
        return isolation.launcher_command({"mode": "plain", "uid": uid, "gid": uid, "exec": inner})

    def ready(self) -> None:
        """Start the zygote if needed and wait until it has imported torch and locked itself in;
        then measure a confined worker, and refuse a sandbox that breaks a promise."""
        if not self.alive():
            self.stop()
            self.launch()
        if self._ready:
            return
        try:
            info = self._command(None, timeout=max(START_TIMEOUT_S, self.limits.import_timeout_s)).get("info")
            self.info = info if type(info) is dict else {}
            self.measured = self._probe()
            # (In namespaces mode the launcher, outside the sandbox, waits as root: not counted.)
            self.measured["uids_outside"] = isolation.tree_uids(self.proc.pid,
                                                                include_top=not self.protections.namespaces)
        except SandboxFault as exc:
            self.stop()
            # No student code has run yet: the sandbox itself cannot start here.
            raise isolation.SandboxUnavailable(f"the worker failed to start ({exc}):\n{self.last_output}") from None
        protections = self.info.get("protections")
        self.weaknesses = isolation.broken_promises(self.measured, protections if type(protections) is dict else {},
                                                    self.protections)
        if self.gpu_devices and not self.cgroup:
            self.weaknesses.append("the worker's memory is not capped (with the GPU, no RLIMIT_AS; no cgroup here)")
        if self.weaknesses and not self.allow_weak:
            self.stop()
            raise isolation.SandboxUnavailable(
                "the sandbox cannot keep its promises on this machine: " + "; ".join(self.weaknesses)
                + " (pass --allow-weak-sandbox to grade anyway)")
        self._ready = True
        self._baseline = self.cgroup.pids() if self.cgroup else set()

    def _probe(self) -> dict:
        read_end, write_end = os.pipe()
        try:
            self._command({"op": "probe"}, fds=[write_end], timeout=self.limits.call_timeout_s)
            os.close(write_end)
            write_end = -1
            data = b""
            deadline = time.monotonic() + self.limits.call_timeout_s
            while chunk := _read_before(read_end, deadline):
                data += chunk
        finally:
            for fd in (read_end, write_end):
                if fd >= 0:
                    os.close(fd)
        return _json_object(data, "the confined worker did not report its state")

    def use(self, files: dict[str, Path]) -> None:
        """Grade these files next: they go into the sandbox's folder before its first worker
        starts, if no worker has run since it was started or reset; else a new sandbox is used."""
        self.files = dict(files)
        self._pending = True
        if self.proc is not None and (self._used or not self.alive()):
            self.stop()

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
        if reply.get("left") != 0 or reply.get("ipc_left") != 0 or reply.get("files_left") != 0 \
                or type(cpu) not in (int, float):
            return False
        if cpu > self.limits.cpu_time_s / 2:
            return False  # its RLIMIT_CPU must not run out while a student is graded
        if self.cgroup and not self.cgroup.pids() <= self._baseline:
            return False  # seen from outside: a process the zygote did not account for
        self._clear_inbox()
        self._used = False
        self._pending = False
        self.resets += 1
        return True

    def _clear_inbox(self) -> None:
        for entry in list(os.scandir(self.inbox)):
            shutil.rmtree(entry.path, ignore_errors=True)

    def _deliver(self) -> None:
        """Put self.files into the inbox (read-only inside) and have the zygote copy them into
        its work folder."""
        self._deliveries += 1
        folder = self.inbox / str(self._deliveries)
        folder.mkdir(mode=0o755)
        for key, path in self.files.items():
            target = folder / f"{self.modules[key]}.py"
            shutil.copyfile(path, target)
            os.chmod(target, 0o644)
        try:
            reply = self._command({"op": "use", "inbox": folder.name}, timeout=self.limits.call_timeout_s)
        except SandboxFault:
            self.stop()
            raise
        if reply.get("copied") != len(self.files):
            self.stop()
            raise SandboxFault(f"the sandbox could not take the submission's files: {str(reply)[:300]}")
        self._pending = False

    def spawn(self) -> tuple[int, int, int]:
        """A fresh worker forked from the zygote: (its pid, request pipe, reply pipe)."""
        self.ready()
        if self._pending:
            self._deliver()
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
        return _json_object(data, "the sandbox sent an invalid answer")

    def alive(self) -> bool:
        if self.proc is None or self._pidfd < 0:
            return False
        readable, _, _ = select.select([self._pidfd], [], [], 0)
        return not readable

    def stop(self) -> None:
        """Kill the zygote and everything in the sandbox; remove its working folder."""
        if self.proc is None:
            return
        if not self.protections.pid_namespace:
            # Daemons a worker started (setsid: outside every process group we know) stay below
            # the zygote, a child subreaper; with no PID namespace to end them, end them here.
            isolation.kill_tree(self.proc.pid)
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
        # (Inside namespaces the work folder was a tmpfs: it ended with the sandbox.)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self._clear_inbox()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._base, ignore_errors=True)

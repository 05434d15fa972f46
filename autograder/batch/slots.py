"""The warm grading slots (see :mod:`autograder.slot`): a `WarmParent` is the one process that
has imported and warmed up everything and forks the slots; a `Slot` is one of them and the line
protocol spoken with it (a job on its stdin, an exit code on its stdout, a timeout); a
`SlotPool` keeps one live slot per grading thread and kills or ends them all."""

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
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..sandbox import isolation

if TYPE_CHECKING:
    from .run import Options

# The parent's warm-up: imports and one grading of the reference (seconds; minutes at worst on
# a loaded machine). Only a hang of the grader itself can reach this.
WARM_UP_TIMEOUT_S = 15 * 60


class SlotUnavailable(Exception):
    """No slot could be made (the warm parent failed); the message says why."""


class SlotPool:
    """One slot per grading thread, forked from the pool's warm parent when that thread has
    none alive."""

    def __init__(self, opts: Options, work: Path, lock: threading.Lock, parent: WarmParent | None = None) -> None:
        """`parent`: one started already (by the batch's main thread, for its check)."""
        self.opts, self.work, self.lock = opts, work, lock
        self.slots: dict[int, Slot] = {}  # per grading thread
        self.parent = parent
        self.stopping = False
        self._forking = threading.Lock()  # (not self.lock: the first fork waits for the warm-up)

    def start(self) -> None:
        """Start the warm parent now. Call it from a thread that outlives the batch's gradings:
        the parent dies with the thread that started it (PR_SET_PDEATHSIG)."""
        with self._forking:
            self._parent()

    def _parent(self) -> WarmParent:
        # (A parent that died is replaced from the grading thread asking: those live as long
        # as the batch's gradings.)
        if self.parent is None or not self.parent.alive():
            if self.parent is not None:
                self.parent.kill()
            self.parent = WarmParent(self.opts)
        return self.parent

    def get(self) -> Slot:
        """This thread's live slot; RuntimeError once the batch is stopping, SlotUnavailable if
        none can be made."""
        with self.lock:
            if self.stopping:
                raise RuntimeError("the batch is stopping")
            slot = self.slots.get(threading.get_ident())
            if slot is not None and slot.alive():
                return slot
        if slot is not None:
            slot.kill()  # (dead already: what it left on the host is removed, its pipes closed)
        with self._forking:
            if self.stopping:  # (no new parent while the batch stops)
                raise RuntimeError("the batch is stopping")
            slot = self._parent().slot(self.work)
        with self.lock:
            if self.stopping:
                slot.kill()
                raise RuntimeError("the batch is stopping")
            self.slots[threading.get_ident()] = slot
        return slot

    def stop(self) -> None:
        """Kill every slot and its grading, and the warm parent; their students stay not done."""
        with self.lock:
            self.stopping = True
            for slot in self.slots.values():
                slot.kill()
            if self.parent is not None:
                self.parent.kill()

    def close(self) -> None:
        """End the slots after the last student, then the warm parent."""
        with self.lock:
            for slot in self.slots.values():
                slot.close()
            self.slots.clear()
            if self.parent is not None:
                self.parent.close()


class WarmParent:
    """The ``python -m autograder.slot`` process that warms up once and forks the slots.

    Its working folder and log are a temporary folder of its own (named after the batch, so
    that a later grader removes it if the batch is killed: isolation.sweep_orphans)."""

    def __init__(self, opts: Options) -> None:
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cmd = [sys.executable, "-m", "autograder.slot", "--control", str(theirs.fileno()),
               "--course", str(opts.course.root), "--grading", str(opts.grading), "--gpu", opts.gpu]
        if opts.allow_weak:
            cmd.append("--allow-weak-sandbox")
        if opts.lang:  # (the slots' pytest sessions are configured for the batch's language)
            cmd += ["--lang", opts.lang]
        # (cwd: `python -m` puts it first on sys.path, so a folder only this batch writes to)
        self.folder = Path(tempfile.mkdtemp(prefix=f"autograder-sandbox-{isolation.owner_tag()}-warm-"))
        self.log = self.folder / "warm.log"
        env = {**os.environ, "COLUMNS": "200"}  # rich wraps messages at 80 columns otherwise
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.folder, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log, pass_fds=(theirs.fileno(),),
                                         start_new_session=True,
                                         preexec_fn=partial(isolation.die_with_parent, os.getpid()))
        theirs.close()
        self.checked = False  # its first message (its sandbox's start) has been read
        self.why: str | None = None  # why its sandbox could not start, if it could not
        self.warmed = False  # it has forked a slot: its warm-up is behind it

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        """Wait until its warm-up sandbox has started: isolation.SandboxUnavailable if no sandbox
        can keep its promises here, SlotUnavailable if the parent itself failed."""
        self._checked()
        if self.why is not None:
            raise isolation.SandboxUnavailable(self.why)

    def _checked(self) -> None:
        if self.checked:
            return
        try:
            data, fds = self._answer(WARM_UP_TIMEOUT_S)
        except (OSError, ValueError) as exc:
            raise SlotUnavailable(f"the warm parent failed ({exc}): {_tail(self.log)}") from None
        for fd in fds:
            os.close(fd)
        try:
            hello = json.loads(data)
        except ValueError:
            hello = None
        if type(hello) is not dict or "sandbox" not in hello:
            raise SlotUnavailable(f"the warm parent said {data[:300]!r}")
        self.checked = True
        self.why = None if hello["sandbox"] is None else str(hello["sandbox"])

    def slot(self, work: Path) -> Slot:
        """A new slot forked from this parent (waits for the warm-up the first time); its log
        goes into `work`."""
        self._checked()
        job_r, job_w = os.pipe()
        answer_r, answer_w = os.pipe()
        log = Path(tempfile.mkstemp(prefix="slot-", suffix=".log", dir=work)[1])
        log_fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        try:
            socket.send_fds(self.control, [json.dumps({"op": "slot"}).encode()], [job_r, answer_w, log_fd])
            data, fds = self._answer(60 if self.warmed else WARM_UP_TIMEOUT_S)
        except (OSError, ValueError) as exc:  # (ValueError: the batch closed the socket, stopping)
            for fd in (job_w, answer_r):
                os.close(fd)
            tail = _tail(self.log)
            self.kill()
            raise SlotUnavailable(f"the warm parent stopped answering ({exc}): {tail}") from None
        finally:
            for fd in (job_r, answer_w, log_fd):
                os.close(fd)
        try:
            pid = json.loads(data)["pid"]
        except (ValueError, KeyError, TypeError):
            pid = None
        if type(pid) is not int or len(fds) != 1:
            for fd in (job_w, answer_r, *fds):
                os.close(fd)
            raise SlotUnavailable(f"the warm parent could not fork a slot: {data[:500]!r}")
        self.warmed = True
        return Slot(pid, fds[0], job_w, answer_r, log)

    def _answer(self, timeout: float) -> tuple[bytes, list[int]]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OSError("no answer in time")
            if select.select([self.control], [], [], min(left, 1.0))[0]:
                data, fds, _, _ = socket.recv_fds(self.control, 1 << 12, 1)
                if not data:
                    raise OSError("it ended")
                return data, fds
            if not self.alive():
                raise OSError(f"it exited with code {self.proc.returncode}")

    def kill(self) -> None:
        """SIGKILL it (its slots die with it) and remove its folder."""
        if self.proc.poll() is None:  # (never signal a pid that may have been reused)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait()
        self.control.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        isolation.sweep_orphans()

    def close(self) -> None:
        """End it (its slots, if any are left, die with it)."""
        with contextlib.suppress(OSError):
            self.control.shutdown(socket.SHUT_RDWR)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self.control.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Slot:
    """A warm grading slot (see :mod:`autograder.slot`), used by one thread at a time: a child of
    the warm parent in a session of its own, its stdin and stdout pipes held here."""

    def __init__(self, pid: int, pidfd: int, job_w: int, answer_r: int, log: Path) -> None:
        self.pid, self.log = pid, log
        self._pidfd, self._job_w, self._answer_r = pidfd, job_w, answer_r
        self._start = isolation._start_time(pid)
        self.timed_out = False
        self._pending = b""

    def alive(self) -> bool:
        return self._pidfd >= 0 and not select.select([self._pidfd], [], [], 0)[0]

    def grade(self, argv: list[str], stdout: Path, stderr: Path, timeout: float) -> int | None:
        """The grading's exit code, or None if it timed out (then the slot is killed) or the
        slot died."""
        answer = self.ask({"argv": argv, "stdout": str(stdout), "stderr": str(stderr)}, timeout)
        code = answer.get("code") if answer is not None else None
        if answer is not None and type(code) is not int:
            self.kill()
        return code if type(code) is int else None

    def info(self, timeout: float = 300) -> dict | None:
        """What the slot says about itself (see :data:`autograder.slot.INFO`)."""
        return self.ask({"info": True}, timeout)

    def ask(self, job: dict, timeout: float) -> dict | None:
        """Send one job line, read one answer line; None if it timed out or the slot died (then
        the slot is killed)."""
        try:
            os.write(self._job_w, (json.dumps(job) + "\n").encode())
        except OSError:  # (BrokenPipeError: the slot has died)
            self.kill()
            return None
        line = self._read_line(time.monotonic() + timeout)
        try:
            answer = json.loads(line) if line is not None else None
        except ValueError:
            answer = None
        if type(answer) is not dict:
            self.kill()
            return None
        return answer

    def _read_line(self, deadline: float) -> bytes | None:
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                return None
            ready, _, _ = select.select([self._answer_r], [], [], left)
            if ready:
                chunk = os.read(self._answer_r, 1 << 16)
                if not chunk:
                    return None  # the slot died
                self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def log_tail(self) -> str:
        return _tail(self.log)

    def kill(self) -> None:
        """SIGKILL the slot and its group (its grading), wait until its parent has reaped it,
        then remove what its sandboxes left on the host (their folders and cgroups; the
        sandboxes themselves die with it, PR_SET_PDEATHSIG)."""
        if self._pidfd < 0:
            return
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        self._wait(10)
        self._release()
        isolation.sweep_orphans()

    def close(self) -> None:
        """Close its stdin: it stops its sandbox and exits; killed if it takes longer than 20 s."""
        if self._pidfd < 0:
            return
        with contextlib.suppress(OSError):
            os.close(self._job_w)
        self._job_w = -1
        if not self._wait(20):
            self.kill()
            return
        self._release()

    def _wait(self, timeout: float) -> bool:
        """Until it has exited and been reaped (its pid no longer names it: what it owned on the
        host may then be swept); whether that happened in time."""
        deadline = time.monotonic() + timeout
        select.select([self._pidfd], [], [], timeout)
        while isolation._start_time(self.pid) == self._start and self._start is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _release(self) -> None:
        for fd in (self._pidfd, self._job_w, self._answer_r):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._pidfd = self._job_w = self._answer_r = -1


def _tail(log: Path) -> str:
    try:
        text = log.read_text("utf-8", "replace").strip()
    except OSError:
        return "no message"
    return " ".join(text.splitlines()[-1:])[:1000] or "no message"

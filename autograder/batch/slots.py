"""The warm grading slots: a `Slot` is one ``python -m autograder.slot`` process and the line
protocol spoken with it (a job on stdin, an exit code on stdout, a timeout), and a `SlotPool`
keeps one live slot per grading thread and kills or ends them all."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
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


class SlotPool:
    """One slot per grading thread, started by that thread when it has none alive."""

    def __init__(self, opts: Options, work: Path, lock: threading.Lock) -> None:
        self.opts, self.work, self.lock = opts, work, lock
        self.slots: dict[int, Slot] = {}  # per grading thread
        self.stopping = False

    def get(self) -> Slot:
        """This thread's live slot; RuntimeError once the batch is stopping."""
        with self.lock:
            if self.stopping:
                raise RuntimeError("the batch is stopping")
            slot = self.slots.get(threading.get_ident())
            if slot is None or not slot.alive():
                slot = self.slots[threading.get_ident()] = Slot(self.opts, self.work)
        return slot

    def stop(self) -> None:
        """Kill every slot and its grading; their students stay not done."""
        with self.lock:
            self.stopping = True
            for slot in self.slots.values():
                slot.kill()

    def close(self) -> None:
        """End the slots after the last student."""
        with self.lock:
            for slot in self.slots.values():
                slot.close()
            self.slots.clear()


class Slot:
    """A warm grading slot process (see :mod:`autograder.slot`), used by one thread at a time.

    Started from the thread that uses it, so it dies with that thread's batch (PDEATHSIG).
    """

    def __init__(self, opts: Options, work: Path) -> None:
        cmd = [sys.executable, "-m", "autograder.slot", "--course", str(opts.course.root), "--grading",
               str(opts.grading), "--gpu", opts.gpu]
        if opts.allow_weak:
            cmd.append("--allow-weak-sandbox")
        self.log = Path(tempfile.mkstemp(prefix="slot-", suffix=".log", dir=work)[1])
        env = {**os.environ, "COLUMNS": "200"}  # rich wraps messages at 80 columns otherwise
        with open(self.log, "wb") as log:
            # (cwd: `python -m` puts it first on sys.path, so not a folder holding another `autograder`)
            self.proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log, start_new_session=True,
                                         preexec_fn=partial(isolation.die_with_parent, os.getpid()))
        self.timed_out = False
        self._pending = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def grade(self, argv: list[str], stdout: Path, stderr: Path, timeout: float) -> int | None:
        """The grading's exit code, or None if it timed out (then the slot is killed) or the
        slot died."""
        job = {"argv": argv, "stdout": str(stdout), "stderr": str(stderr)}
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            return None
        line = self._read_line(time.monotonic() + timeout)
        if line is None:
            self.kill()
            return None
        try:
            code = json.loads(line)["code"]
        except (ValueError, KeyError, TypeError):
            self.kill()
            return None
        return code if type(code) is int else None

    def _read_line(self, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return None  # the slot died
                self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def log_tail(self) -> str:
        try:
            text = self.log.read_text("utf-8", "replace").strip()
        except OSError:
            return "no message"
        return " ".join(text.splitlines()[-1:])[:1000] or "no message"

    def kill(self) -> None:
        _kill_group(self.proc)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # the slot stops its sandbox and exits
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a grader (or slot) and its group, then remove what its sandboxes left on the host
    (their folders and cgroups; the sandboxes themselves die with it, PR_SET_PDEATHSIG)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()
    isolation.sweep_orphans()

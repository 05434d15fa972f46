"""The pipe to one sandboxed worker: framed requests, the worker's probe calls, deadlines.

:class:`WorkerProcess` owns one worker forked from the submission's zygote and restarts it when
it is gone. A request is one frame out and one frame back; while the worker works it may ask
the grader to run a probe (a ``callback`` frame), answered by the caller's function. Anything
out of protocol, late or dead becomes a :class:`~autograder.sandbox.zygote.SandboxFault`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import struct
import time
from typing import Callable

from hwkit import simcuda
from hwkit.grading import Limits
from hwkit.i18n import tr

from . import wire
from .zygote import CallTimeout, Sandbox, SandboxFault, WorkerDied

MAX_CALLBACKS = 10_000  # probe calls one request may make (a timing test makes a few dozen)
MAX_CALLBACK_BYTES = 2**20  # one probe call's arguments (a test's probes take small values)


class WorkerProcess:
    """One homework module's worker: a process forked from the submission's zygote."""

    def __init__(self, sandbox: Sandbox, limits: Limits) -> None:
        self.sandbox, self.limits = sandbox, limits
        self.pid: int | None = None
        self.starts = 0
        self._launch = 0
        self._sequence = 0
        self._req_w = self._rep_r = -1

    def start(self) -> None:
        try:
            self.pid, self._req_w, self._rep_r = self.sandbox.spawn()
        except WorkerDied:
            # The sandbox is full of what an earlier worker left (e.g. a fork bomb's processes):
            # start the whole sandbox again, which kills everything in it, and try once more.
            self.sandbox.stop()
            self.pid, self._req_w, self._rep_r = self.sandbox.spawn()
        self._launch = self.sandbox.launches
        self.starts += 1

    def alive(self) -> bool:
        return self.pid is not None and self.sandbox.alive() and self._launch == self.sandbox.launches

    def stop(self) -> int | None:
        """Kill this worker (not the sandbox); its exit code if it had ended by itself."""
        code = None
        if self.pid is not None and self.sandbox.alive() and self._launch == self.sandbox.launches:
            code = self.sandbox.kill(self.pid)
        for fd in (self._req_w, self._rep_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._req_w = self._rep_r = -1
        self.pid = None
        return code

    def close(self) -> None:
        self.stop()

    # -- one request ------------------------------------------------------------------------
    def request(self, header: dict, blobs: list[bytes], timeout: float,
                answer: Callable[[dict, list], tuple[dict, list]] | None = None) -> tuple[dict, list]:
        """Send one request and return the worker's reply. While it works, the worker may ask
        the grader to run a probe (a frame with ``callback``): `answer` gives the reply to send
        back. Everything, probes included, must end within `timeout` seconds."""
        if not self.alive():
            self.stop()
            self.start()
        return self._exchange(header, blobs, timeout, answer)

    def _exchange(self, header: dict, blobs: list[bytes], timeout: float,
                  answer: Callable[[dict, list], tuple[dict, list]] | None) -> tuple[dict, list]:
        deadline = time.monotonic() + timeout
        callbacks = 0
        self._sequence += 1
        header = dict(header, id=self._sequence)
        try:
            self._write(wire.pack(header, blobs), deadline)
            while True:
                (length,) = struct.unpack("<Q", self._read(8, deadline))
                if length > self.limits.message_mb * 2**20:
                    raise wire.ProtocolError(f"reply of {length} bytes exceeds the {self.limits.message_mb} MB limit")
                reply, reply_blobs = wire.unpack(self._read(length, deadline))
                if reply.get("id") != self._sequence:
                    # A stray or forged frame (e.g. from a process the student forked): the
                    # conversation is out of step, so nothing more from this worker can be trusted.
                    raise wire.ProtocolError("a reply to a different request")
                if "callback" not in reply:
                    return reply, reply_blobs
                callbacks += 1
                if answer is None or callbacks > MAX_CALLBACKS or length > MAX_CALLBACK_BYTES:
                    raise wire.ProtocolError("a request for a probe where the test gave none, too many of them "
                                             "or too large")
                if time.monotonic() >= deadline:
                    raise TimeoutError
                # (the grader's own sleeps for the probe end at this call's deadline too)
                with simcuda.deadline(time.perf_counter() + deadline - time.monotonic()):
                    try:
                        back, back_blobs = answer(reply, reply_blobs)
                    except simcuda.OutOfTime:
                        raise TimeoutError from None
                    except wire.ProtocolError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - a request the decoder let through but cannot serve
                        raise wire.ProtocolError(f"a probe request that cannot be served ({type(exc).__name__})") \
                            from None
                self._write(wire.pack(dict(back, id=self._sequence), back_blobs), deadline)
        except TimeoutError:
            self.stop()
            raise CallTimeout(tr("timed out after {seconds} s (an infinite loop, or far too slow?)",
                                 seconds=f"{timeout:g}")) from None
        except (EOFError, BrokenPipeError):
            time.sleep(0.05)  # let the zygote see the death before asking it for the exit code
            sandbox_alive = self.sandbox.alive()
            code = self.stop()
            raise WorkerDied(_death_message(code) if sandbox_alive or code is not None
                             else "the student's code ended the whole sandbox (killed every process?)") from None
        except wire.ProtocolError as exc:
            self.stop()
            raise SandboxFault(tr("your code's process sent an invalid reply ({why})", why=exc)) from None

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            _, ready, _ = select.select([], [self._req_w], [], left)
            if ready:
                view = view[os.write(self._req_w, view[:1 << 16]):]

    def _read(self, n: int, deadline: float) -> bytes:
        chunks, left_bytes = [], n
        while left_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._rep_r], [], [], left)
            if ready:
                chunk = os.read(self._rep_r, min(left_bytes, 1 << 20))
                if not chunk:
                    raise EOFError
                chunks.append(chunk)
                left_bytes -= len(chunk)
        return b"".join(chunks)


def _death_message(code: int | None) -> str:
    if code is None:
        return tr("your code's process stopped answering")
    if code < 0:
        name = signal.Signals(-code).name
        why = {"SIGKILL": tr(" (killed: out of memory or a limit?)"), "SIGSEGV": tr(" (a crash in native code)"),
               "SIGXCPU": tr(" (CPU time limit exceeded)"), "SIGXFSZ": tr(" (file size limit exceeded)")}
        return tr("your code's process was killed by {signal}", signal=name) + why.get(name, "")
    return tr("your code's process exited with code {code} during the call (os._exit / sys.exit?)", code=code)

"""A simulated asynchronous CUDA device, so a CUDA timing harness can be tested without a GPU.

Inside ``with SimulatedCuda().installed():`` the functions a timing harness uses —
``torch.cuda.is_available``, ``Event``, ``synchronize``, ``current_stream`` — are replaced by
stand-ins driven by a simulated timeline. A "kernel" (``device.launch(ms)``) returns to the
host at once and finishes ``ms`` later, after the kernels queued before it, exactly like an
asynchronous CUDA launch. So:

* ``time.perf_counter()`` around a launch measures almost nothing (the classic mistake);
* ``Event.record()`` stamps the moment all work queued so far is done;
* ``Event.elapsed_time()`` raises, like CUDA does, if an event has not completed yet — a
  harness that forgot to synchronize fails loudly instead of reading garbage;
* ``torch.cuda.synchronize()`` blocks (really sleeps) until the queue is empty.

The device (:class:`SimulatedCuda`: the timeline and the events' time stamps) and the
stand-ins the harness touches (:func:`frontend`) are separate, so that in the grader the
device lives in the trusted process and the stand-ins in the student's sandboxed process
reach it through a narrow set of calls (:data:`CALLS`): the student's code never holds a time
stamp, only the answers a real GPU would give it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Iterator

import torch

# The names a harness may touch; all are restored when the context exits.
PATCHED = ("is_available", "Event", "synchronize", "current_stream", "default_stream", "device_count")
# What the stand-ins may ask of the device (all arguments are event numbers). Launching a
# kernel is not among them: only a probe the test handed over launches kernels.
CALLS = ("record", "query", "wait", "elapsed", "idle", "synchronize")
NOT_READY = ("CUDA error: device not ready (the end event has not completed: call torch.cuda.synchronize() "
             "or end_event.synchronize() before elapsed_time)")
_active: "SimulatedCuda | None" = None
_deadline: float | None = None  # perf_counter time no wait may pass (see `deadline`)
_instant = False  # waits return at once (see `instant_waits`)


class OutOfTime(Exception):
    """A wait would run past the deadline of the call it serves."""


def active() -> "SimulatedCuda | None":
    """The simulated device currently active in this process, if any."""
    return _active


class HostClock:
    """The device's time is the host's: perf_counter seconds. (hwkit.simgpu's clock leaves out
    what the simulation itself costs the host.)"""

    @staticmethod
    def now() -> float:
        return time.perf_counter()

    @staticmethod
    def sleep_until(at: float) -> None:
        sleep_until(at)


class SimulatedCuda:
    """The device: a queue of kernels on one timeline, and the events recorded on it."""

    def __init__(self, launch_overhead_ms: float = 0.005, clock: Any = None) -> None:
        """`clock`: the timeline's time, with ``now()`` and ``sleep_until(at)`` (default :class:`HostClock`)."""
        self.launch_overhead_ms = launch_overhead_ms
        self.clock = clock or HostClock()
        self._busy_until = 0.0  # clock time at which all queued work is done
        self._lock = threading.Lock()
        self._stamps: dict[int, float] = {}
        self.launches = 0
        self.synchronizations = 0

    def launch(self, ms: float) -> None:
        """Queue a kernel that runs for `ms` milliseconds after all earlier kernels."""
        with self._lock:
            start = max(self.clock.now(), self._busy_until)
            self._busy_until = start + ms / 1000.0
            self.launches += 1
        if self.launch_overhead_ms:
            self.clock.sleep_until(self.clock.now() + self.launch_overhead_ms / 1000.0)

    def record(self) -> int:
        """A new event, stamped when all work queued so far is done; its number."""
        with self._lock:
            number = len(self._stamps) + 1
            self._stamps[number] = max(self.clock.now(), self._busy_until)
        return number

    def query(self, event: int) -> bool:
        return self.clock.now() >= self._stamp(event)

    def wait(self, event: int) -> None:
        self.clock.sleep_until(self._stamp(event))

    def elapsed(self, start: int, end: int) -> float:
        """Milliseconds between two events; raises like CUDA while either is still pending."""
        if not (self.query(start) and self.query(end)):
            raise RuntimeError(NOT_READY)
        return (self._stamp(end) - self._stamp(start)) * 1000.0

    def idle(self) -> bool:
        return self.clock.now() >= self._busy_until

    def synchronize(self) -> None:
        self.synchronizations += 1
        self.clock.sleep_until(self._busy_until)

    def _stamp(self, event: Any) -> float:
        if type(event) is not int or event not in self._stamps:
            raise RuntimeError("an event that was never recorded on this device")
        return self._stamps[event]

    @contextlib.contextmanager
    def activated(self) -> Iterator["SimulatedCuda"]:
        """Make this the device probes launch on (see :func:`active`), without touching torch.cuda."""
        global _active
        previous, _active = _active, self
        try:
            yield self
        finally:
            _active = previous

    @contextlib.contextmanager
    def installed(self) -> Iterator["SimulatedCuda"]:
        """Active, and what torch.cuda shows in this process (a student's own pytest run)."""
        with self.activated(), install(self):
            yield self


def frontend(device: Any) -> dict[str, Any]:
    """The stand-ins for torch.cuda's timing API, driven by `device` — a SimulatedCuda, or
    anything that answers the same :data:`CALLS` (the sandbox's link to the grader's)."""

    class Event:
        def __init__(self, enable_timing: bool = False, blocking: bool = False,
                     interprocess: bool = False) -> None:
            self.enable_timing = enable_timing
            self._number: int | None = None

        def record(self, stream=None) -> None:
            self._number = device.record()

        def query(self) -> bool:
            return self._number is not None and device.query(self._number)

        def synchronize(self) -> None:
            if self._number is not None:
                device.wait(self._number)

        def wait(self, stream=None) -> None:
            pass

        def elapsed_time(self, end_event: "Event") -> float:
            if not (self.enable_timing and getattr(end_event, "enable_timing", False)):
                raise RuntimeError("Both events must be created with argument 'enable_timing=True'.")
            if self._number is None or end_event._number is None:
                raise RuntimeError("Both events must be recorded before calculating elapsed time.")
            return device.elapsed(self._number, end_event._number)

    class Stream:
        def synchronize(self) -> None:
            device.synchronize()

        def query(self) -> bool:
            return device.idle()

        def record_event(self, event: Event | None = None) -> Event:
            event = event or Event()
            event.record()
            return event

        def wait_event(self, event) -> None:
            pass

        def wait_stream(self, stream) -> None:
            pass

    stream = Stream()
    return {
        "is_available": lambda: True,
        "Event": Event,
        "synchronize": lambda device=None: stream.synchronize(),
        "current_stream": lambda device=None: stream,
        "default_stream": lambda device=None: stream,
        "device_count": lambda: 1,
    }


@contextlib.contextmanager
def install(device: Any) -> Iterator[None]:
    """Replace torch.cuda's timing API by :func:`frontend` stand-ins for `device`."""
    saved = {name: getattr(torch.cuda, name) for name in PATCHED}
    for name, value in frontend(device).items():
        setattr(torch.cuda, name, value)
    try:
        yield None
    finally:
        for name, value in saved.items():
            setattr(torch.cuda, name, value)


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """No wait (a kernel, a probe's sleep) may end after `at`: in the grader, a student's code
    must not make the trusted process sleep beyond the call's time limit."""
    global _deadline
    previous, _deadline = _deadline, at
    try:
        yield None
    finally:
        _deadline = previous


@contextlib.contextmanager
def instant_waits() -> Iterator[None]:
    """Every wait returns at once: the probes' sleeps, and the simulated GPU's kernels finish on
    its timeline without the host waiting for them. For a batch's warm-up, which grades the
    reference only to pay pytest's and torch's lazy set-up and whose timings nobody reads (they
    come out too short and fail); never while a student is graded."""
    global _instant
    previous, _instant = _instant, True
    try:
        yield None
    finally:
        _instant = previous


def sleep_until(until: float) -> None:
    """Wait until perf_counter() reaches `until` (or raise OutOfTime at the deadline)."""
    if _instant:
        return
    if _deadline is not None and not until <= _deadline:  # (NaN included)
        sleep_until(_deadline)
        raise OutOfTime
    while True:
        left = until - time.perf_counter()
        if not left > 0:
            return
        # Sleep most of the way, then spin briefly: time.sleep alone overshoots by ~0.1 ms.
        time.sleep(left - 0.0002 if left > 0.001 else 0)



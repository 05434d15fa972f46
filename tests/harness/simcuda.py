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
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

import torch

# The names a harness may touch; all are restored when the context exits.
PATCHED = ("is_available", "Event", "synchronize", "current_stream", "default_stream", "device_count")
_active: "SimulatedCuda | None" = None


def active() -> "SimulatedCuda | None":
    """The simulated device currently installed, if any."""
    return _active


class SimulatedCuda:
    def __init__(self, launch_overhead_ms: float = 0.005) -> None:
        self.launch_overhead_ms = launch_overhead_ms
        self._busy_until = 0.0  # perf_counter time at which all queued work is done
        self._lock = threading.Lock()
        self.launches = 0
        self.synchronizations = 0
        sim = self

        class Event:
            def __init__(self, enable_timing: bool = False, blocking: bool = False,
                         interprocess: bool = False) -> None:
                self.enable_timing = enable_timing
                self._stamp: float | None = None

            def record(self, stream=None) -> None:
                self._stamp = sim._completion_time()

            def query(self) -> bool:
                return self._stamp is not None and time.perf_counter() >= self._stamp

            def synchronize(self) -> None:
                if self._stamp is not None:
                    _sleep_until(self._stamp)

            def wait(self, stream=None) -> None:
                pass

            def elapsed_time(self, end_event: "Event") -> float:
                if not (self.enable_timing and end_event.enable_timing):
                    raise RuntimeError("Both events must be created with argument 'enable_timing=True'.")
                if self._stamp is None or end_event._stamp is None:
                    raise RuntimeError("Both events must be recorded before calculating elapsed time.")
                if not (self.query() and end_event.query()):
                    # The message real CUDA gives when the end event has not completed yet.
                    raise RuntimeError(
                        "CUDA error: device not ready (the end event has not completed: "
                        "call torch.cuda.synchronize() or end_event.synchronize() before "
                        "elapsed_time)")
                return (end_event._stamp - self._stamp) * 1000.0

        class Stream:
            def synchronize(self) -> None:
                sim.synchronize()

            def query(self) -> bool:
                return time.perf_counter() >= sim._busy_until

            def record_event(self, event: Event | None = None) -> Event:
                event = event or Event()
                event.record()
                return event

            def wait_event(self, event) -> None:
                pass

            def wait_stream(self, stream) -> None:
                pass

        self.Event = Event
        self.Stream = Stream
        self._stream = Stream()

    # -- the device ------------------------------------------------------------------------
    def launch(self, ms: float) -> None:
        """Queue a kernel that runs for `ms` milliseconds after all earlier kernels."""
        with self._lock:
            now = time.perf_counter()
            start = max(now, self._busy_until)
            self._busy_until = start + ms / 1000.0
            self.launches += 1
        if self.launch_overhead_ms:
            _sleep_until(time.perf_counter() + self.launch_overhead_ms / 1000.0)

    def _completion_time(self) -> float:
        with self._lock:
            return max(time.perf_counter(), self._busy_until)

    def synchronize(self, device=None) -> None:
        self.synchronizations += 1
        _sleep_until(self._completion_time())

    # -- installing it in place of torch.cuda ---------------------------------------------
    @contextlib.contextmanager
    def installed(self) -> Iterator["SimulatedCuda"]:
        global _active
        saved = {name: getattr(torch.cuda, name) for name in PATCHED}
        replacements = {
            "is_available": lambda: True,
            "Event": self.Event,
            "synchronize": self.synchronize,
            "current_stream": lambda device=None: self._stream,
            "default_stream": lambda device=None: self._stream,
            "device_count": lambda: 1,
        }
        previous, _active = _active, self
        for name, value in replacements.items():
            setattr(torch.cuda, name, value)
        try:
            yield self
        finally:
            for name, value in saved.items():
                setattr(torch.cuda, name, value)
            _active = previous


def _sleep_until(deadline: float) -> None:
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        # Sleep most of the way, then spin briefly: time.sleep alone overshoots by ~0.1 ms.
        time.sleep(left - 0.0002 if left > 0.001 else 0)

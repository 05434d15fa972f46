"""Callables that tests hand to student code: functions of known duration and known math.

A probe is a small dataclass. In a student's own pytest run it is called directly. In the
grader, student code runs in a sandboxed process and the probe stays on the trusted side:

* ``RUNS_IN = "grader"`` (timing probes): the student's process gets a stand-in that holds no
  field at all (not even the duration) and asks the grader to run the probe on each call. So
  ``calls``, what each call was given, and the time it took are counted and spent by the
  grader, where the student's code cannot write.
* ``RUNS_IN = "worker"`` (functions the student's code must differentiate or run on its GPU):
  rebuilt there from the class name and fields (never code); each call is still counted by the
  grader before it runs.

Nothing a probe records is ever copied back from the student's process.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from . import simcuda

REGISTRY: dict[str, type] = {}


def probe(cls: type) -> type:
    REGISTRY[cls.__name__] = cls
    return cls


def state_of(p: Any) -> dict[str, Any]:
    return {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}


@probe
@dataclass
class Sleep:
    """Sleeps ``ms`` per call; the first ``slow_calls`` calls sleep ``first_ms`` instead.

    The slow first call stands for one-off set-up cost (CUDA context, caches, lazy init),
    which a correct harness leaves out through its warm-up calls.
    """

    RUNS_IN: ClassVar[str] = "grader"

    ms: float
    first_ms: float | None = None
    slow_calls: int = 1
    calls: int = 0
    kwargs_seen: list = field(default_factory=list)

    def __call__(self, *args: Any, **kwargs: Any) -> int:
        slow = self.first_ms is not None and self.calls < self.slow_calls
        self.calls += 1
        self.kwargs_seen.append(_names(kwargs))
        _busy_wait_ms(self.first_ms if slow else self.ms)
        return self.calls


@probe
@dataclass
class KwargSleep:
    """Sleeps for ``ms`` milliseconds given as a keyword argument; records each call's args."""

    RUNS_IN: ClassVar[str] = "grader"

    calls: int = 0
    seen: list = field(default_factory=list)

    def __call__(self, *args: Any, ms: float = 0.0, **kwargs: Any) -> None:
        if type(ms) not in (int, float) or not 0 <= ms <= 60_000:
            raise TypeError(f"ms must be a number of milliseconds, got {type(ms).__name__}")
        self.calls += 1
        self.seen.append([len(args), ms, _names(kwargs)])
        _busy_wait_ms(ms)


@probe
@dataclass
class SimKernel:
    """Launches a kernel of ``ms`` milliseconds on the simulated asynchronous device.

    Returns to the host at once, like a real CUDA launch; the first ``slow_calls`` launches
    take ``first_ms`` instead (lazy kernel loading).
    """

    RUNS_IN: ClassVar[str] = "grader"

    ms: float
    first_ms: float | None = None
    slow_calls: int = 1
    calls: int = 0

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        device = simcuda.active()
        if device is None:
            raise RuntimeError("SimKernel probe called without the simulated CUDA device installed")
        slow = self.first_ms is not None and self.calls < self.slow_calls
        self.calls += 1
        device.launch(self.first_ms if slow else self.ms)


@probe
@dataclass
class CudaSleep:
    """Launches a real GPU kernel that spins for about ``ms`` milliseconds (torch.cuda._sleep).

    Asynchronous: returns to the host at once. Needs a real GPU.
    """

    RUNS_IN: ClassVar[str] = "worker"

    ms: float
    cycles_per_ms: float = 0.0
    calls: int = 0

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if not self.cycles_per_ms:
            self.cycles_per_ms = calibrate_cuda_sleep()
        self.calls += 1
        torch.cuda._sleep(int(self.ms * self.cycles_per_ms))


def calibrate_cuda_sleep() -> float:
    """GPU clock cycles per millisecond of torch.cuda._sleep, measured with CUDA events."""
    torch.cuda.synchronize()
    cycles = 10_000_000
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda._sleep(cycles)  # warm-up
    start.record()
    torch.cuda._sleep(cycles)
    end.record()
    end.synchronize()
    return cycles / start.elapsed_time(end)


# Elementwise functions with known derivatives, for `second_derivative(f, x)`.
ELEMENTWISE = {
    "cube": lambda t: t**3,
    "sin": torch.sin,
    "exp": torch.exp,
    "sin_of_square": lambda t: torch.sin(t**2 + 1),
    "tanh": torch.tanh,
    "log1p_square": lambda t: torch.log1p(t**2),
}


@probe
@dataclass
class Elementwise:
    """A named elementwise function, e.g. ``Elementwise("cube")`` is t -> t**3."""

    RUNS_IN: ClassVar[str] = "worker"

    name: str
    calls: int = 0

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return ELEMENTWISE[self.name](t)


def _names(kwargs: dict) -> list[str]:
    """The keyword names a call got, as a bounded record (in the grader, student code chooses them)."""
    return sorted(str(k)[:100] for k in kwargs)[:50]


def _busy_wait_ms(ms: float) -> None:
    # time.sleep for the bulk, then a short spin: accurate to ~0.05 ms on an idle core while
    # costing little CPU, so timing tests stay both sharp and cheap.
    simcuda.sleep_until(time.perf_counter() + ms / 1000.0)


# Torch functions that may be passed to student code by name across the process boundary.
TORCH_FUNCTIONS = {
    f"torch.{name}": getattr(torch, name)
    for name in ("matmul", "add", "mul", "sum", "transpose", "relu", "sin", "exp", "mm", "bmm")
}

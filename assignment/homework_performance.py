"""Task 3 — Comparing CPU and CUDA (GPU) performance.

Fill in the body of every function below (each one currently raises
``NotImplementedError``). The functions build on each other:
``make_tensors`` (3.1) creates the data, ``measure_time`` (3.2) times one
function call, ``benchmark`` / ``speedup_table`` / ``format_table`` (3.3)
time every operation in ``OPERATIONS`` on every device and print a table,
and ``transfer_overhead`` (3.4) measures what moving data between the CPU
and the GPU costs. The written analysis (Task 3.5) is in ``analysis.ipynb``.

Everything except ``transfer_overhead`` also works on a machine without a
GPU: the CUDA columns of the table are then simply empty.

Run the benchmark from the repository root with::

    python -m <package>.homework_performance --shapes 16x128x128 32x64x64 --repeat 5

(``<package>`` is the folder this file is in).
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Sequence

import torch

# Task 3.1: the three large tensor shapes of the original assignment (each holds
# 2**26 float32 numbers = 256 MiB).
DEFAULT_SHAPES: list[tuple[int, int, int]] = [(64, 1024, 1024), (128, 512, 512), (256, 256, 256)]

# Small shapes used by the command-line demo at the bottom of this file, so that
# it finishes in seconds on a laptop CPU.
SMALL_SHAPES: list[tuple[int, int, int]] = [(16, 128, 128), (32, 64, 64), (8, 256, 256)]


# ----------------------------------------------------------------------------
# 3.1 Preparing the data
# ----------------------------------------------------------------------------

def make_tensors(
    shapes: Sequence[tuple[int, ...]] = DEFAULT_SHAPES,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> list[torch.Tensor]:
    """Task 3.1 — Create one random float32 tensor per shape, reproducibly.

    Args:
        shapes: the tensor shapes, e.g. ``[(64, 1024, 1024), ...]``.
        device: where the tensors must end up, e.g. ``"cpu"`` or ``"cuda"``.
        seed: the seed of the random numbers.

    Returns:
        A list with one tensor per shape, in the same order. Create a
        private generator with ``g = torch.Generator().manual_seed(seed)``,
        then for each shape draw ``torch.rand(shape, generator=g)`` (float32,
        uniform in [0, 1), created on the CPU) and move it with
        ``.to(device)``. The same seed therefore always gives the same
        numbers on every device, and the GLOBAL random state
        (``torch.manual_seed``) is not changed.

    Example:
        >>> [tuple(t.shape) for t in make_tensors([(2, 3, 3), (1, 4, 4)])]
        [(2, 3, 3), (1, 4, 4)]
    """
    raise NotImplementedError("Task 3.1: make_tensors is not implemented yet")


# ----------------------------------------------------------------------------
# 3.2 Measuring time
# ----------------------------------------------------------------------------

def measure_time(
    func: Callable[..., Any],
    *args: Any,
    device: str | torch.device = "cpu",
    repeat: int = 10,
    warmup: int = 1,
    **kwargs: Any,
) -> float:
    """Task 3.2 — Mean running time of ``func`` (called with ``*args`` and ``**kwargs``) in milliseconds.

    Args:
        func: the function to time.
        *args, **kwargs: the arguments to call it with.
        device: the device the work runs on: a string such as ``"cpu"``,
            ``"cuda"`` or ``"cuda:0"``, or a ``torch.device``. Only its type
            (``"cpu"`` or ``"cuda"``) matters.
        repeat: how many timed calls to average over (at least 1).
        warmup: how many untimed calls to make first (at least 0). The first
            calls are often slow for reasons unrelated to the operation
            (memory allocation, CUDA start-up, caches), so they are not timed.

    Returns:
        The mean time of one call in milliseconds, as a Python float.

        * On the CPU, time each call with ``time.perf_counter()`` (not
          ``time.time()``, which is too coarse on some systems).
        * On CUDA, kernels run ASYNCHRONOUSLY: ``func`` returns to Python as
          soon as the work is queued, long before the GPU has finished it, so
          ``perf_counter`` would only measure how long queueing took. Use
          CUDA events instead: for each call create a ``start`` and an
          ``end`` event with ``torch.cuda.Event(enable_timing=True)``, call ``start.record()``, then ``func``, then
          ``end.record()``. Call ``torch.cuda.synchronize()`` after the
          warm-up calls and again before reading any
          ``start.elapsed_time(end)`` (which is already in milliseconds) —
          an event's time can only be read once the GPU has reached it.
          Use only ``torch.cuda.is_available``, ``torch.cuda.Event``,
          ``record``, ``elapsed_time`` and ``torch.cuda.synchronize``.

    Raises:
        ValueError: if the device type is neither "cpu" nor "cuda", if
            ``repeat < 1`` or if ``warmup < 0``.
        RuntimeError: if CUDA is requested but ``torch.cuda.is_available()``
            is False. Check this BEFORE calling ``func`` even once.

    Example:
        >>> ms = measure_time(time.sleep, 0.01, repeat=3)   # about 10.0
    """
    raise NotImplementedError("Task 3.2: measure_time is not implemented yet")


# ----------------------------------------------------------------------------
# 3.3 Comparing operations
# ----------------------------------------------------------------------------

def op_matmul(t: torch.Tensor) -> torch.Tensor:
    """Task 3.3 — Matrix product of ``t`` with itself: ``torch.matmul(t, t)``.

    ``t`` is a batch of square matrices, shape (B, n, n); the result has the
    same shape (every matrix is multiplied by itself).
    """
    raise NotImplementedError("Task 3.3: op_matmul is not implemented yet")


def op_add(t: torch.Tensor) -> torch.Tensor:
    """Task 3.3 — Element-wise sum ``t + t`` (a new tensor, same shape)."""
    raise NotImplementedError("Task 3.3: op_add is not implemented yet")


def op_mul(t: torch.Tensor) -> torch.Tensor:
    """Task 3.3 — Element-wise product ``t * t`` (a new tensor, same shape)."""
    raise NotImplementedError("Task 3.3: op_mul is not implemented yet")


def op_transpose(t: torch.Tensor) -> torch.Tensor:
    """Task 3.3 — Swap the last two axes and make a real COPY.

    ``t.transpose(-2, -1)`` alone is a view and costs nothing (it only
    changes the strides), so there would be nothing to time: the result
    must be a new contiguous tensor, e.g. via ``.contiguous()``. Shape
    (B, n, m) becomes (B, m, n).
    """
    raise NotImplementedError("Task 3.3: op_transpose is not implemented yet")


def op_sum(t: torch.Tensor) -> torch.Tensor:
    """Task 3.3 — Sum of all elements of ``t`` as a 0-dim tensor (a reduction)."""
    raise NotImplementedError("Task 3.3: op_sum is not implemented yet")


# The operations that ``benchmark`` times, in this order.
OPERATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "matmul": op_matmul,
    "add": op_add,
    "mul": op_mul,
    "transpose": op_transpose,
    "sum": op_sum,
}


def benchmark(
    shapes: Sequence[tuple[int, ...]] = DEFAULT_SHAPES,
    devices: Sequence[str] | None = None,
    repeat: int = 10,
) -> list[dict[str, Any]]:
    """Task 3.3 — Time every operation in ``OPERATIONS`` on every shape and device.

    Args:
        shapes: the tensor shapes to test.
        devices: the devices to test, e.g. ``["cpu", "cuda"]``. ``None``
            means ``["cpu"]`` plus ``"cuda"`` when ``torch.cuda.is_available()``.
        repeat: passed on to ``measure_time``.

    Returns:
        A list of rows, one per measurement, each a dict
        ``{"operation": str, "shape": tuple[int, ...], "device": str, "ms": float}``
        where ``"device"`` is the device type ("cpu" or "cuda") and ``"ms"``
        comes from ``measure_time(op, tensor, device=device, repeat=repeat)``.
        The tensors come from ``make_tensors(shapes, device)``. Row order:
        for each device, for each shape, for each operation in the order of
        ``OPERATIONS``.

    Raises:
        ValueError: for a device type other than "cpu" or "cuda".
        RuntimeError: if "cuda" is requested but not available.

    Example:
        >>> rows = benchmark([(2, 8, 8)], devices=["cpu"], repeat=1)
        >>> [row["operation"] for row in rows]
        ['matmul', 'add', 'mul', 'transpose', 'sum']
    """
    raise NotImplementedError("Task 3.3: benchmark is not implemented yet")


def speedup_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Task 3.3 — Combine the CPU and CUDA rows of ``benchmark`` into speed-ups.

    Args:
        rows: rows as returned by ``benchmark``.

    Returns:
        One dict per (operation, shape) pair, in the order in which the pairs
        first appear in ``rows``::

            {"operation": str, "shape": tuple, "cpu_ms": float | None,
             "cuda_ms": float | None, "speedup": float | None}

        where ``speedup = cpu_ms / cuda_ms`` (how many times faster the GPU
        is; below 1 means the GPU was slower). ``cuda_ms`` and ``speedup``
        are ``None`` when there is no CUDA row for that pair (and likewise
        ``cpu_ms`` without a CPU row).

    Raises:
        ValueError: if a row's device is neither "cpu" nor "cuda", or if the
            same (operation, shape, device) appears twice.

    Example:
        >>> speedup_table([
        ...     {"operation": "add", "shape": (2, 2), "device": "cpu", "ms": 3.0},
        ...     {"operation": "add", "shape": (2, 2), "device": "cuda", "ms": 1.5},
        ... ])
        [{'operation': 'add', 'shape': (2, 2), 'cpu_ms': 3.0, 'cuda_ms': 1.5, 'speedup': 2.0}]
    """
    raise NotImplementedError("Task 3.3: speedup_table is not implemented yet")


def format_table(table: Sequence[dict[str, Any]]) -> str:
    """Task 3.3 — Render the output of ``speedup_table`` as aligned plain text.

    Args:
        table: entries as returned by ``speedup_table``.

    Returns:
        A multi-line string (no trailing newline): a header line with the
        columns ``Operation``, ``Shape``, ``CPU (ms)``, ``CUDA (ms)`` and
        ``Speed-up``, a line of dashes, then one line per entry. Shapes are
        written like ``64x1024x1024``, times with 3 decimals (``12.346``),
        speed-ups with 2 decimals and an ``x`` (``12.34x``), and a missing
        value (``None``) as ``-``. Columns are aligned: pad every cell to the
        width of the widest cell of its column (text columns left-aligned,
        number columns right-aligned) and separate columns by two spaces.

    Example:
        >>> print(format_table([{"operation": "add", "shape": (2, 2), "cpu_ms": 3.0,
        ...                      "cuda_ms": None, "speedup": None}]))
        Operation  Shape  CPU (ms)  CUDA (ms)  Speed-up
        ---------  -----  --------  ---------  --------
        add        2x2       3.000          -         -
    """
    raise NotImplementedError("Task 3.3: format_table is not implemented yet")


# ----------------------------------------------------------------------------
# 3.4 The cost of moving data
# ----------------------------------------------------------------------------

def transfer_overhead(
    shape: tuple[int, ...] = (1024, 1024), repeat: int = 10
) -> dict[str, float]:
    """Task 3.4 — Compare data transfers with computation on the GPU.

    Create a random float32 CPU tensor of ``shape`` and a copy of it on the
    GPU, then measure, each with ``measure_time(..., device="cuda", repeat=repeat)``:

    * ``"host_to_device_ms"``: copying the CPU tensor to the GPU (``.to("cuda")``);
    * ``"device_to_host_ms"``: copying the GPU tensor back (``.cpu()``);
    * ``"compute_ms"``: ``torch.matmul`` of the GPU tensor with itself
      (``shape`` must describe square matrices, e.g. (n, n) or (B, n, n));
    * ``"item_sync_ms"``: ``t.sum().item()`` on the GPU tensor — a tiny
      computation whose ``.item()`` makes the CPU wait for the GPU.

    Returns:
        A dict with those four keys and float values in milliseconds.

    Raises:
        RuntimeError: if ``torch.cuda.is_available()`` is False — check this
            first, before creating any tensor.
    """
    raise NotImplementedError("Task 3.4: transfer_overhead is not implemented yet")


# ----------------------------------------------------------------------------
# Command-line demo (given — nothing to do here)
# ----------------------------------------------------------------------------

def _parse_shape(text: str) -> tuple[int, ...]:
    """Turn "16x128x128" into (16, 128, 128) for argparse."""
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        shape = ()
    if not shape or any(size < 1 for size in shape):
        raise argparse.ArgumentTypeError(
            f"invalid shape {text!r}: use positive integers joined by 'x', e.g. 16x128x128"
        )
    return shape


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``benchmark`` on small shapes and print the speed-up table."""
    parser = argparse.ArgumentParser(
        description="Time matmul/add/mul/transpose/sum on the CPU and, if available, on CUDA."
    )
    parser.add_argument(
        "--shapes", nargs="+", type=_parse_shape, default=SMALL_SHAPES, metavar="BxNxM",
        help="tensor shapes to test (default: 16x128x128 32x64x64 8x256x256)",
    )
    parser.add_argument(
        "--repeat", type=int, default=10, help="timed calls per measurement (default: 10)"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    cuda_available = torch.cuda.is_available()
    if not cuda_available:
        print("CUDA is not available: measuring the CPU only (the CUDA columns show '-').")
    rows = benchmark(args.shapes, repeat=args.repeat)
    print(format_table(speedup_table(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

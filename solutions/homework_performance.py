"""Task 3 — Comparing CPU and CUDA (GPU) performance.

This task practises measuring how long tensor operations take, and seeing
why the answer differs between the CPU and the GPU: the GPU works
*asynchronously* (a CUDA call returns to Python before the GPU has done the
work), the first calls of an operation pay one-off start-up costs, and moving
data between CPU memory and GPU memory costs time of its own. Lecture
material: the MMP VMK MSU lecture "Занятие 04. Введение в PyTorch",
«Первое ключевое отличие – возможность перемещения на GPU» (tensors on a
device, the CPU/GPU speed comparison and its "более честный замер" that
counts the copying) and «.item()»; "PyTorch Basics: Тензоры и Autograd", 1.1
«Создание тензоров» (random tensors, tensors on the GPU); and the notes
"CPU ↔ GPU 数据传输开销详解" (CPU↔GPU data-transfer overhead: the PCIe bus,
what ``loss.item()`` and ``.cpu()`` cost, why small workloads can be faster
on the CPU).

Fill in the body of every function below (each one currently raises
``NotImplementedError``). Each docstring is the contract: what the function
receives and returns, on which device, and which errors it raises. How to
do it is up to you; when a result is wrong, the failing public test
(``pytest -m task3``) says what is wrong. The functions build on each other:
``make_tensors`` (3.1) creates the data, ``measure_time`` (3.2) times one
function call, ``benchmark`` / ``speedup_table`` / ``format_table`` (3.3)
time every operation in ``OPERATIONS`` on every device and print a table,
and ``transfer_overhead`` (3.4) measures what moving data between the CPU
and the GPU costs. The written analysis (Task 3.5) is in ``analysis.ipynb``.

Everything except ``transfer_overhead`` also works on a machine without a
GPU: the CUDA columns of the table are then simply empty.

Run the benchmark from the folder that holds this file::

    python homework_performance.py --shapes 16x128x128 32x64x64 --repeat 5
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
    """Task 3.1 — One tensor of random numbers per shape, reproducible from a seed.

    Concepts: random number generators and seeds (MMP lecture, «Общий обзор»:
    Generators, Random sampling) and tensors on a device (MMP lecture,
    «Первое ключевое отличие – возможность перемещения на GPU»).

    Args:
        shapes: the tensor shapes, e.g. ``[(64, 1024, 1024), ...]``.
        device: the device the returned tensors are on, e.g. ``"cpu"`` or
            ``"cuda"``.
        seed: the seed the random numbers are derived from.

    Returns:
        A list with one tensor per shape, in the same order: a float32
        tensor of that shape on ``device``, holding random numbers drawn
        uniformly from [0, 1).

        * The same seed gives the same numbers every time, and on every
          device: ``make_tensors(shapes, "cuda", s)`` holds exactly the
          numbers of ``make_tensors(shapes, "cpu", s)``.
        * A different seed gives different numbers.
        * Each tensor of the list has numbers of its own: no two tensors
          start with the same numbers (two tensors of the same shape differ).
        * The program's global random state (the one ``torch.manual_seed``
          sets) is left alone: what ``torch.rand`` draws afterwards does not
          depend on whether ``make_tensors`` ran.

    Example:
        >>> [tuple(t.shape) for t in make_tensors([(2, 3, 3), (1, 4, 4)])]
        [(2, 3, 3), (1, 4, 4)]
    """
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.rand(tuple(shape), generator=generator, dtype=torch.float32).to(device)
        for shape in shapes
    ]
    ### END SOLUTION


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
    """Task 3.2 — The mean running time of one call of ``func`` on ``args`` and ``kwargs``, in ms.

    Concepts: benchmarking (warm-up, averaging over repeated runs, a clock
    fine enough for sub-millisecond calls) and the asynchronous execution of
    CUDA work with CUDA events and synchronization (MMP lecture, «Первое
    ключевое отличие – возможность перемещения на GPU»: the CPU/GPU timing
    comparison; notes "CPU ↔ GPU 数据传输开销详解": ``loss.item()`` waits
    until the GPU has finished all queued work).

    Args:
        func: the function to time.
        *args, **kwargs: the arguments ``func`` is called with
            (``device``, ``repeat`` and ``warmup`` are measure_time's own and
            are not passed on).
        device: the device the work runs on: a string such as ``"cpu"``,
            ``"cuda"`` or ``"cuda:0"``, or a ``torch.device``. Only its type
            (``"cpu"`` or ``"cuda"``) matters.
        repeat: the number of timed calls to average over (at least 1).
        warmup: the number of calls made first and not timed (at least 0).
            The first calls are often slow for reasons unrelated to the
            operation (memory allocation, CUDA start-up, caches).

    Returns:
        The mean duration of one timed call in milliseconds, as a Python
        float: the time the operation itself takes, warm-up calls excluded.
        ``func`` is called ``warmup + repeat`` times in all. Timings are
        checked to a fraction of a millisecond.

        On CUDA the work is asynchronous: ``func`` returns to Python as soon
        as its work is queued, long before the GPU has done it. The time
        reported is the time the GPU spends on the work of each timed call:
        that work is finished before the clock of the call stops, and the
        warm-up work is finished before the first timed call starts.

        The tests run the CUDA path on a simulated GPU, on machines without
        one. It provides ``torch.cuda.is_available()``,
        ``torch.cuda.Event(enable_timing=True)`` with ``record()``,
        ``query()``, ``synchronize()`` and ``elapsed_time(end)``,
        ``torch.cuda.synchronize(device=None)`` and
        ``torch.cuda.current_stream()`` with ``synchronize()``; other
        ``torch.cuda`` functions are not simulated.

    Raises:
        ValueError: if the device type is neither "cpu" nor "cuda", if
            ``repeat < 1`` or if ``warmup < 0``.
        RuntimeError: if CUDA is requested but ``torch.cuda.is_available()``
            is False; ``func`` is then not called at all.

    Example:
        >>> ms = measure_time(time.sleep, 0.01, repeat=3)   # about 10.0
    """
    ### BEGIN SOLUTION
    try:
        device_type = torch.device(device).type
    except (RuntimeError, TypeError, ValueError) as error:
        raise ValueError(f"unknown device {device!r}: use 'cpu' or 'cuda'") from error
    if device_type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device type {device_type!r}: use 'cpu' or 'cuda'")
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    if warmup < 0:
        raise ValueError(f"warmup must be at least 0, got {warmup}")
    if device_type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "CUDA was requested but torch.cuda.is_available() is False: "
            "this machine has no usable NVIDIA GPU (or PyTorch was built without CUDA)"
        )

    for _ in range(warmup):
        func(*args, **kwargs)

    if device_type == "cpu":
        total_seconds = 0.0
        for _ in range(repeat):
            started = time.perf_counter()
            func(*args, **kwargs)
            total_seconds += time.perf_counter() - started
        return total_seconds * 1000.0 / repeat

    torch.cuda.synchronize()  # do not let queued warm-up work leak into the first timing
    events = []
    for _ in range(repeat):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        func(*args, **kwargs)
        end.record()
        events.append((start, end))
    torch.cuda.synchronize()  # every event must be reached before reading it
    return float(sum(start.elapsed_time(end) for start, end in events) / repeat)
    ### END SOLUTION


# ----------------------------------------------------------------------------
# 3.3 Comparing operations
# ----------------------------------------------------------------------------

def op_matmul(t: torch.Tensor) -> torch.Tensor:
    """Task 3.3 — The matrix product of ``t`` with itself.

    ``t`` is a batch of square matrices, shape (B, n, n) (or one matrix,
    (n, n)); the result has the same shape: every matrix multiplied by
    itself.
    """
    ### BEGIN SOLUTION
    return torch.matmul(t, t)
    ### END SOLUTION


def op_add(t: torch.Tensor) -> torch.Tensor:
    """Task 3.3 — ``t`` added to itself element by element (a new tensor, same shape)."""
    ### BEGIN SOLUTION
    return t + t
    ### END SOLUTION


def op_mul(t: torch.Tensor) -> torch.Tensor:
    """Task 3.3 — ``t`` multiplied by itself element by element (a new tensor, same shape)."""
    ### BEGIN SOLUTION
    return t * t
    ### END SOLUTION


def op_transpose(t: torch.Tensor) -> torch.Tensor:
    """Task 3.3 — A new tensor holding the transpose of the last two axes of ``t`` (not a view).

    Shape (B, n, m) becomes (B, m, n). The result has memory of its own: a
    view that only reorders how the same memory is read moves no data, and
    there would be nothing to time (MMP lecture, «Копирование тензоров»;
    "Tensor Views" in «Общий обзор»).
    """
    ### BEGIN SOLUTION
    # clone, not .contiguous(): the input may itself be a transposed view, and then
    # .contiguous() would hand back a view without copying anything.
    return t.transpose(-2, -1).clone(memory_format=torch.contiguous_format)
    ### END SOLUTION


def op_sum(t: torch.Tensor) -> torch.Tensor:
    """Task 3.3 — Sum of all elements of ``t`` as a 0-dim tensor (a reduction)."""
    ### BEGIN SOLUTION
    return t.sum()
    ### END SOLUTION


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

    Concept: comparing the same operations on the CPU and the GPU (MMP
    lecture, «Первое ключевое отличие – возможность перемещения на GPU»).

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
    ### BEGIN SOLUTION
    if devices is None:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows: list[dict[str, Any]] = []
    for device in devices:
        try:
            device_type = torch.device(device).type
        except (RuntimeError, TypeError):
            raise ValueError(f"unknown device {device!r}: use 'cpu' or 'cuda'") from None
        if device_type not in ("cpu", "cuda"):
            raise ValueError(f"unknown device type {device_type!r}: use 'cpu' or 'cuda'")
        if device_type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                "CUDA was requested but torch.cuda.is_available() is False: "
                "benchmark only the 'cpu' device on this machine"
            )
        tensors = make_tensors(shapes, device)
        for shape, tensor in zip(shapes, tensors):
            for name, operation in OPERATIONS.items():
                ms = measure_time(operation, tensor, device=device, repeat=repeat)
                rows.append({
                    "operation": name,
                    "shape": tuple(int(size) for size in shape),
                    "device": device_type,
                    "ms": float(ms),
                })
    return rows
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    table: dict[tuple[str, tuple[int, ...]], dict[str, Any]] = {}
    for row in rows:
        key = (row["operation"], tuple(row["shape"]))
        empty = dict.fromkeys(("cpu_ms", "cuda_ms", "speedup"))
        entry = table.setdefault(key, {"operation": key[0], "shape": key[1], **empty})
        device_type = str(row["device"]).split(":")[0]
        if device_type not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {row['device']!r} in row {row!r}")
        column = f"{device_type}_ms"
        if entry[column] is not None:
            raise ValueError(f"duplicate measurement for {key[0]} {key[1]} on {device_type}")
        entry[column] = float(row["ms"])
    for entry in table.values():
        if entry["cpu_ms"] is not None and entry["cuda_ms"] is not None:
            if entry["cuda_ms"] > 0:
                entry["speedup"] = entry["cpu_ms"] / entry["cuda_ms"]
            else:
                entry["speedup"] = float("inf")
    return list(table.values())
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    def number(value: float | None, template: str) -> str:
        return "-" if value is None else template.format(value)

    header = ["Operation", "Shape", "CPU (ms)", "CUDA (ms)", "Speed-up"]
    body = [
        [
            str(entry["operation"]),
            "x".join(str(size) for size in entry["shape"]),
            number(entry["cpu_ms"], "{:.3f}"),
            number(entry["cuda_ms"], "{:.3f}"),
            number(entry["speedup"], "{:.2f}x"),
        ]
        for entry in table
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        padded = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths))
        ]
        return "  ".join(padded).rstrip()

    lines = [render(header), render(["-" * width for width in widths])]
    lines.extend(render(cells) for cells in body)
    return "\n".join(lines)
    ### END SOLUTION


# ----------------------------------------------------------------------------
# 3.4 The cost of moving data
# ----------------------------------------------------------------------------

def transfer_overhead(
    shape: tuple[int, ...] = (1024, 1024), repeat: int = 10
) -> dict[str, float]:
    """Task 3.4 — What moving data between the CPU and the GPU costs, next to computing on it.

    Concept: the cost of CPU↔GPU transfers and of waiting for the GPU (notes
    "CPU ↔ GPU 数据传输开销详解": the PCIe bus, what ``.cpu()`` and
    ``loss.item()`` do; MMP lecture, «Первое ключевое отличие – возможность
    перемещения на GPU»: "более честный замер" with the copying, and «.item()»).

    For a random float32 tensor of ``shape`` held in CPU memory, and a copy
    of it held in GPU memory, four durations, each measured with
    ``measure_time(..., device="cuda", repeat=repeat)``:

    * ``"host_to_device_ms"``: copying the CPU tensor into GPU memory;
    * ``"device_to_host_ms"``: copying the GPU tensor back into CPU memory;
    * ``"compute_ms"``: the matrix product of the GPU tensor with itself
      (``shape`` describes square matrices, e.g. (n, n) or (B, n, n));
    * ``"item_sync_ms"``: the sum of the GPU tensor's elements, read back
      as a Python number — a tiny computation whose result makes the CPU
      wait for the GPU.

    Returns:
        A dict with those four keys and float values in milliseconds.

    Raises:
        RuntimeError: if ``torch.cuda.is_available()`` is False.
    """
    ### BEGIN SOLUTION
    if not torch.cuda.is_available():
        raise RuntimeError(
            "CUDA was requested but torch.cuda.is_available() is False: "
            "transfer_overhead needs an NVIDIA GPU"
        )
    host = torch.rand(tuple(shape), dtype=torch.float32)
    on_device = host.to("cuda")
    return {
        "host_to_device_ms": measure_time(host.to, "cuda", device="cuda", repeat=repeat),
        "device_to_host_ms": measure_time(on_device.cpu, device="cuda", repeat=repeat),
        "compute_ms": measure_time(torch.matmul, on_device, on_device, device="cuda", repeat=repeat),
        "item_sync_ms": measure_time(lambda: on_device.sum().item(), device="cuda", repeat=repeat),
    }
    ### END SOLUTION


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

"""The homework's `measure_time` vs torch.utils.benchmark.Timer on the CPU, same thread count."""

from __future__ import annotations

import statistics

import torch
from torch.utils.benchmark import Timer

from solutions.homework_performance import OPERATIONS, measure_time


def compare(sizes=(256, 1024), ops=("matmul", "add", "sum"), threads: int | None = None,
            rounds: int = 5, repeat: int = 20, warmup: int = 3, min_run_time: float = 0.5) -> dict:
    """Per (op, size): median over `rounds` of measure_time (a mean of `repeat` calls) and Timer."""
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    for n in sizes:
        a = torch.rand(n, n, dtype=torch.float32)
        for name in ops:
            fn = OPERATIONS[name]
            ours = [measure_time(fn, a, repeat=repeat, warmup=warmup) for _ in range(rounds)]
            m = Timer("fn(a)", globals={"fn": fn, "a": a}, num_threads=threads).blocked_autorange(
                min_run_time=min_run_time)
            ours_ms = statistics.median(ours)
            rows.append({"op": name, "size": f"{n}x{n}", "ours_ms": ours_ms,
                         "ours_spread": (max(ours) - min(ours)) / ours_ms,
                         "timer_median_ms": m.median * 1e3, "timer_mean_ms": m.mean * 1e3,
                         "timer_runs": len(m.times) * m.number_per_run,
                         "vs_median": ours_ms / (m.median * 1e3), "vs_mean": ours_ms / (m.mean * 1e3)})
    return {"threads": threads, "rounds": rounds, "repeat": repeat, "warmup": warmup,
            "min_run_time": min_run_time, "rows": rows}

"""Shared helpers: wall-clock a command, medians, machine description."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def env() -> dict[str, str]:
    """The environment with the venv's bin first on PATH (nbgrader needs `alembic`)."""
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    return e


def wall(cmd: list[str], cwd: Path = REPO, check: bool = True) -> float:
    """Seconds one run of `cmd` takes (a subprocess, output discarded)."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-3000:]}")
    return seconds


def runs(cmd: list[str], n: int, cwd: Path = REPO) -> list[float]:
    return [wall(cmd, cwd) for _ in range(n)]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, str]:
    import torch

    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"CPU": model, "cores": str(os.cpu_count()), "torch": torch.__version__,
            "torch threads": str(torch.get_num_threads()), "Python": platform.python_version(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg())}

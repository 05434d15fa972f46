"""Shared helpers: wall-clock a command, sample its process tree, medians, machine description."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
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


PAGE, TICK = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")


def _procs() -> dict[int, tuple[int, int, float]]:
    """pid -> (ppid, rss bytes, own user + system seconds) for every process in /proc (bubblewrap's too)."""
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 of proc(5)
            procs[int(name)] = (int(fields[1]), int(fields[21]) * PAGE, (int(fields[11]) + int(fields[12])) / TICK)
        except (OSError, ValueError, IndexError):
            continue
    return procs


def sample(cmd: list[str], interval: float = 0.05) -> dict:
    """Run `cmd` (it must succeed) and read its process tree from /proc every `interval` s.

    Returns the wall time, the largest per-sample RSS sums and the CPU time of the tree: the sum,
    over every process ever seen in it, of its last sampled user + system time (so a process loses
    at most `interval`); and each process's parent, name and CPU (``processes``). Not getrusage(RUSAGE_CHILDREN): the sandbox is torn down with SIGKILL,
    and a dying PID namespace reaps its processes without passing their CPU time up.
    """
    tree, cpu, family = set(), {}, {}
    peak = dict.fromkeys(("rss_total", "rss_top", "rss_others", "max_processes"), 0)
    samples = 0
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=log, stderr=subprocess.STDOUT)
        tree.add(proc.pid)
        while True:
            procs = _procs()
            grown = True
            while grown:  # a process stays in the tree once seen, even when re-parented
                new = {pid for pid, (ppid, _, _) in procs.items() if ppid in tree and pid not in tree}
                family.update((pid, (procs[pid][0], _comm(pid))) for pid in new)
                tree |= new
                grown = bool(new)
            live = [pid for pid in tree if pid in procs]
            cpu.update((pid, procs[pid][2]) for pid in live)
            total, top = sum(procs[pid][1] for pid in live), procs.get(proc.pid, (0, 0, 0))[1]
            for key, value in (("rss_total", total), ("rss_top", top), ("rss_others", total - top),
                               ("max_processes", len(live))):
                peak[key] = max(peak[key], value)
            samples += 1
            try:
                proc.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                continue
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            log.seek(0)
            tail = log.read()[-3000:].decode(errors="replace")
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    family[proc.pid] = (0, "(root)")
    processes = {pid: {"ppid": family[pid][0], "comm": family[pid][1], "cpu": cpu[pid]} for pid in cpu}
    return {"wall": seconds, "cpu": sum(cpu.values()), "samples": samples, "processes": processes, **peak}


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return "?"


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

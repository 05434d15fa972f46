"""Peak RSS of `autograder grade` and everything it starts (sandboxed workers included)."""

from __future__ import annotations

import os
import subprocess
import time

from .common import REPO, env
from .grading import GRADE

PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, rss bytes) for every process visible in /proc (bubblewrap's too)."""
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            procs[int(name)] = (int(fields[1]), int(fields[21]) * PAGE)
        except (OSError, ValueError, IndexError):
            continue
    return procs


def peak_rss(interval: float = 0.05) -> dict:
    """Sample the process tree every `interval` s; report the largest per-sample sums (MiB)."""
    proc = subprocess.Popen(GRADE, cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_total = peak_grader = peak_others = 0
    max_procs = samples = 0
    while proc.poll() is None:
        procs = _tree()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = [], [proc.pid]
        while todo:
            pid = todo.pop()
            if pid in procs:
                tree.append(pid)
                todo += children.get(pid, [])
        grader = procs.get(proc.pid, (0, 0))[1]
        total = sum(procs[p][1] for p in tree)
        peak_total, peak_grader = max(peak_total, total), max(peak_grader, grader)
        peak_others = max(peak_others, total - grader)
        max_procs, samples = max(max_procs, len(tree)), samples + 1
        time.sleep(interval)
    mib = 1024 * 1024
    return {"total_mib": peak_total / mib, "grader_mib": peak_grader / mib, "others_mib": peak_others / mib,
            "max_processes": max_procs, "samples": samples, "rc": proc.returncode}

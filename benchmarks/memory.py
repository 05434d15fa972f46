"""Peak RSS of `autograder grade` and everything it starts (sandboxed workers included)."""

from __future__ import annotations

from .common import sample
from .grading import GRADE


def peak_rss() -> dict:
    """Largest per-sample RSS sums (MiB) of one grading's process tree, sampled every 50 ms."""
    s = sample(GRADE, interval=0.05)
    mib = 1024 * 1024
    return {"total_mib": s["rss_total"] / mib, "grader_mib": s["rss_top"] / mib,
            "others_mib": s["rss_others"] / mib, "max_processes": s["max_processes"], "samples": s["samples"]}

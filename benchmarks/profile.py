"""Where one warm-slot grading's CPU goes (issue 17): the trusted side under cProfile with a CPU
clock, the sandbox's processes from /proc.

    .venv/bin/python -m benchmarks.profile [--runs N] [--top N]

Set up as a batch slot is (one torch thread, the warm modules imported, a started sandbox,
the reference graded once and the sandbox reset), then grades the reference N more times in
the slot's own way (a forked child per grading, so nothing of one stays for the next) and
reports the medians. The child profiles itself with ``cProfile.Profile(time.process_time)``:
per function, CPU seconds, not wall time, so waiting on a worker or a sleeping probe costs
nothing there. The sandbox's CPU (zygote, workers, bubblewrap) is read from /proc every 20 ms
(each process's last reading), as `make bench` does.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import os
import pstats
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from .common import REPO, _procs

# (label, path fragments of the code it covers); the first match wins, in this order.
CATEGORIES = (
    ("the wire (pickling, framing, sockets) and the sandbox client", ("autograder/sandbox/", "pickle", "socket",
                                                                      "selectors", "struct")),
    ("comparisons (hwkit.checks, torch.testing)", ("hwkit/checks", "torch/testing")),
    ("reference computations (solutions/)", ("solutions/",)),
    ("the test functions (tests/, autograder/hidden/)", ("/tests/test_", "autograder/hidden/")),
    ("probes and the simulated device (hwkit.probes, hwkit.simcuda)", ("hwkit/probes", "hwkit/simcuda")),
    ("torch itself (tensor maths, RNG)", ("torch/", "<built-in method torch", "<method '", "numpy")),
    ("collection and imports (pytest collection, importlib, ast)", ("_pytest/python.py", "_pytest/main.py",
                                                                    "importlib", "<frozen", "ast.py",
                                                                    "_pytest/assertion")),
    ("pytest's per-test machinery (runner, fixtures, hooks, reports)", ("_pytest/", "pluggy/")),
    ("the kit's plugin, scoring and record (hwkit/)", ("hwkit/",)),
    ("the grader and its reports (autograder/)", ("autograder/",)),
)
OTHER = "everything else (stdlib, pydantic, rich, …)"


def _category(key: tuple[str, int, str]) -> str:
    where = f"{key[0]}:{key[2]}"
    for label, parts in CATEGORIES:
        if any(p in where for p in parts):
            return label
    return OTHER


def _sandbox_cpu(stop: threading.Event, seen: dict[int, tuple[int, float]]) -> None:
    """Every 20 ms: each process's parent and CPU seconds (kept after it exits)."""
    while not stop.is_set():
        for pid, (ppid, _, cpu) in _procs().items():
            seen[pid] = (ppid, cpu)
        time.sleep(0.02)


def _grade_profiled(argv: list[str], sandbox, out: Path, plain: bool = False) -> None:
    """The slot's fork, with the child profiling itself into `out`."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from autograder import cli

            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 1)
                profile = cProfile.Profile(time.process_time)
                started = resource.getrusage(resource.RUSAGE_SELF)
                if not plain:
                    profile.enable()
                code = cli.main(argv, sandbox=sandbox)
                profile.disable()
                ended = resource.getrusage(resource.RUSAGE_SELF)
            profile.create_stats()
            profile.dump_stats(str(out))
            cpu = (ended.ru_utime - started.ru_utime) + (ended.ru_stime - started.ru_stime)
            out.with_suffix(".json").write_text(json.dumps({"cpu": cpu, "code": code}))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=12, help="the most expensive functions listed")
    parser.add_argument("--submission", default=None, help="the folder graded (default: the reference, solutions/)")
    parser.add_argument("--json", metavar="FILE", help="also write the medians as JSON (for `make bench`)")
    parser.add_argument("--plain", action="store_true",
                        help="no profiler: only the CPU seconds per grading (cProfile roughly doubles them)")
    args = parser.parse_args(argv)

    import torch

    from autograder import course as courses
    from autograder import slot
    from hwkit.grading import load_grading

    course = courses.find(str(REPO))
    os.environ[courses.COURSE_ENV] = str(course.root)
    grading = load_grading(course.grading)
    torch.set_num_threads(1)
    for name in slot.WARM_MODULES:
        importlib.import_module(name)
    from autograder.sandbox.zygote import Sandbox

    sandbox = Sandbox.started(grading.limits, modules=grading.module_names(), gpu=False, allow_weak=False)
    sandbox = slot._warm_up(course, str(course.grading), sandbox)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}.prof"
            before = {pid: cpu for pid, (_, _, cpu) in _procs().items()}
            seen: dict[int, tuple[int, float]] = {}
            stop = threading.Event()
            sampler = threading.Thread(target=_sandbox_cpu, args=(stop, seen), daemon=True)
            sampler.start()
            started = time.perf_counter()
            _grade_profiled(["grade", args.submission or str(course.solutions), "--gpu", "off", "--json", str(Path(tmp) / "r.json")],
                            sandbox, out, args.plain)
            wall = time.perf_counter() - started
            stop.set()
            sampler.join()
            trusted = json.loads(out.with_suffix(".json").read_text())
            score = json.loads((Path(tmp) / "r.json").read_text())["score"]
            # The sandbox's processes: every process that is not this one and not the profiled child.
            sandbox_pids = _tree(sandbox.proc.pid, seen)
            sandbox_cpu = sum(seen[p][1] - before.get(p, 0.0) for p in sandbox_pids if p in seen)
            stats = None if args.plain else pstats.Stats(str(out))
            by_category: dict[str, float] = {}
            for key, (_, _, tottime, _, _) in (stats.stats.items() if stats else ()):
                by_category[_category(key)] = by_category.get(_category(key), 0.0) + tottime
            rows.append({"wall": wall, "trusted": trusted["cpu"], "sandbox": sandbox_cpu, "score": score,
                         "categories": by_category, "stats": stats})
            sandbox = slot._recycled(sandbox)
    if sandbox is not None:
        sandbox.close()
    if args.json:
        labels = [label for label, _ in CATEGORIES] + [OTHER]
        Path(args.json).write_text(json.dumps({
            "runs": len(rows), "score": rows[0]["score"], "profiled": not args.plain,
            "wall": statistics.median([r["wall"] for r in rows]),
            "trusted": statistics.median([r["trusted"] for r in rows]),
            "sandbox": statistics.median([r["sandbox"] for r in rows]),
            "categories": {lb: statistics.median([r["categories"].get(lb, 0.0) for r in rows]) for lb in labels},
        }, indent=2))
    if args.plain:
        cpu = [r["trusted"] for r in rows]
        print(f"runs: {len(rows)}; score {rows[0]['score']}; trusted side per grading: median "
              f"{statistics.median(cpu):.3f} CPU-s ({', '.join(f'{c:.3f}' for c in cpu)}); sandbox median "
              f"{statistics.median([r['sandbox'] for r in rows]):.3f} CPU-s; wall median "
              f"{statistics.median([r['wall'] for r in rows]):.2f} s")
        return 0
    _report(rows, args.top)
    return 0


def _tree(root: int, seen: dict[int, tuple[int, float]]) -> set[int]:
    """`root` and its descendants among the processes sampled (their parents as sampled, so
    workers that have exited count too)."""
    found = {root}
    for pid in seen:
        chain, p = [], pid
        while p and p not in found and p in seen and len(chain) < 64:
            chain.append(p)
            p = seen[p][0]
        if p in found:
            found.update(chain)
    return found


def _report(rows: list[dict], top: int) -> None:
    med = lambda xs: statistics.median(xs)  # noqa: E731
    trusted = med([r["trusted"] for r in rows])
    print(f"runs: {len(rows)}; score {rows[0]['score']}; wall {med([r['wall'] for r in rows]):.2f} s; "
          f"trusted side {trusted:.3f} CPU-s (rusage); sandbox {med([r['sandbox'] for r in rows]):.3f} CPU-s\n")
    print("| Where (trusted side, cProfile self time, CPU clock) | CPU s (median) | share |")
    print("|---|--:|--:|")
    labels = [label for label, _ in CATEGORIES] + [OTHER]
    total = med([sum(r["categories"].values()) for r in rows])
    for label in sorted(labels, key=lambda lb: -med([r["categories"].get(lb, 0.0) for r in rows])):
        value = med([r["categories"].get(label, 0.0) for r in rows])
        print(f"| {label} | {value:.3f} | {value / total:.0%} |")
    print(f"| **profiled total** | **{total:.3f}** | |")
    by_file: dict[str, float] = {}
    for key, (_, _, tottime, _, _) in rows[-1]["stats"].stats.items():
        if _category(key) == OTHER:
            name = "/".join(Path(key[0]).parts[-2:]) if key[0] != "~" else key[2]
            by_file[name] = by_file.get(name, 0.0) + tottime
    print("\nIn \"everything else\", by file (last run):\n")
    for name, seconds in sorted(by_file.items(), key=lambda kv: -kv[1])[:top]:
        print(f"- {seconds:.3f} s: {name}")
    print("\nMost expensive functions (self CPU time, last run):\n")
    stats = rows[-1]["stats"]
    items = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    for (file, line, name), (cc, nc, tottime, cumtime, _) in items:
        print(f"- {tottime:.3f} s self, {cumtime:.3f} s cumulative, {nc} calls: {Path(file).name}:{line} {name}")


if __name__ == "__main__":
    sys.exit(main())

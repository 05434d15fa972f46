"""Where one warm-slot grading's CPU goes (issue 17): the trusted side under cProfile with a CPU
clock, the sandbox's processes from /proc, and inside its workers a sampler.

    .venv/bin/python -m benchmarks.profile [--runs N] [--top N] [--plain]

Set up as a batch slot is (one torch thread, the warm modules imported and the reference graded
once as the warm parent does, then a sandbox of the slot's own started), then grades the
reference N more times in the slot's own way (a forked child per grading, so nothing of one
stays for the next), resetting the sandbox after each, and reports the medians.

Trusted side: the child profiles itself with ``cProfile.Profile(time.process_time)``: per
function, CPU seconds, not wall time, so waiting on a worker or a sleeping probe costs nothing
there. Sandbox: every process's CPU is read from /proc every 20 ms (each process's last
reading), split into the processes standing before the grading (bubblewrap, the zygote: forks,
file copies), the workers started for it, and the reset afterwards. Inside the workers (not
with ``--plain``): the sandbox's runtime ``worker.py`` is swapped for :data:`WORKER_SAMPLER`, the
real worker with a ``SIGPROF`` timer (every 2 ms of the worker's CPU) that charges the CPU
since its last sample to the code running (importing the student's module, the wire's worker
end, the student's functions, the probes); the samples come back on the zygote's stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
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

# The worker side: what a sample of a worker's CPU was running (see WORKER_SAMPLER).
WORKER_KINDS = {
    "import": "importing the student's module (its top-level code)",
    "lazy": "modules torch imports on first use in each worker (e.g. sympy, for torch.autograd.grad)",
    "wire": "the wire's worker end (decoding calls, encoding replies, probe round trips)",
    "student": "the student's functions, torch's work under them included",
    "probes": "the probes and the simulated device, in the worker",
    "other": "elsewhere in a worker (the loop between requests, the interpreter)",
    "threads": "torch's other threads in the workers (its OpenMP pool, spinning after each operation)",
}
SAMPLE_S = 0.002

# Replaces the runtime's worker.py (the real one becomes worker_impl.py): each worker samples
# itself from its first request on and writes one line per sample to stderr.
WORKER_SAMPLER = r'''
import json, os, signal, sys, time

sys.path[:0] = [json.loads(sys.argv[1])["runtime"]]
import worker_impl

_serve = worker_impl.Worker.serve


def _kind(frame, workdir):
    kind = None
    while frame is not None:
        code = frame.f_code
        name = code.co_filename
        if code.co_name == "module" and name.endswith("worker_impl.py"):
            return "import"
        if kind is None and name.startswith("<frozen importlib"):
            kind = "lazy"
        if kind is None:
            if name.startswith(workdir):
                kind = "student"
            elif name.endswith(("wire.py", "worker_impl.py")):
                kind = "wire"
            elif name.endswith(("probes.py", "simcuda.py", "simgpu.py")):
                kind = "probes"
        frame = frame.f_back
    return kind or "other"


def serve(self):
    pid, workdir = os.getpid(), self.config["workdir"]
    last = [time.process_time(), time.thread_time()]
    os.write(2, f"@wp {pid} start {last[0]:.6f}\n".encode())

    def sample(signum, frame):
        # The CPU since the last sample (a long torch call delays the handler and merges its
        # ticks: the time, not the count, is what is kept): this thread's goes to the code it
        # runs, the other threads' (torch's OpenMP pool) to "threads".
        if os.getpid() == pid:
            now = [time.process_time(), time.thread_time()]
            mine, everyone = now[1] - last[1], now[0] - last[0]
            os.write(2, f"@wp {pid} {_kind(frame, workdir)} {mine:.6f}\n@wp {pid} threads "
                        f"{max(everyone - mine, 0.0):.6f}\n".encode())
            last[:] = now

    signal.signal(signal.SIGPROF, sample)
    signal.setitimer(signal.ITIMER_PROF, %(period)r, %(period)r)
    return _serve(self)


worker_impl.Worker.serve = serve
worker_impl.main()
''' % {"period": SAMPLE_S}


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
                        help="no profiler and no sampler: only CPU seconds (cProfile roughly doubles the "
                             "trusted side's)")
    args = parser.parse_args(argv)

    from autograder import course as courses
    from autograder import slot

    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # (as the warm parent: see autograder.slot.main)
    course = courses.find(str(REPO))
    os.environ[courses.COURSE_ENV] = str(course.root)
    # As the batch's warm parent and then one of its slots: warm up with a sandbox closed
    # afterwards, then a sandbox of the slot's own.
    options = argparse.Namespace(grading=str(course.grading), gpu="off", allow_weak_sandbox=False)
    with _quiet():
        slot.warm_up(course, options)
    sandbox = slot._ready(_slot_sandbox(options, sample_workers=not args.plain))
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}.prof"
            before = {pid: cpu for pid, (_, _, cpu) in _procs().items()}
            seen: dict[int, tuple[int, float]] = {}
            stop = threading.Event()
            sampler = threading.Thread(target=_sandbox_cpu, args=(stop, seen), daemon=True)
            sampler.start()
            root = sandbox.proc.pid
            started = time.perf_counter()
            _grade_profiled(["grade", args.submission or str(course.solutions), "--gpu", "off", "--json",
                             str(Path(tmp) / "r.json")], sandbox, out, args.plain)
            wall = time.perf_counter() - started
            time.sleep(0.05)  # (a last reading of the workers, and their last lines on stderr)
            graded = dict(seen)
            samples = _worker_samples(sandbox)
            reset_started = time.thread_time()
            sandbox = slot._recycled(sandbox)
            reset_trusted = time.thread_time() - reset_started
            time.sleep(0.05)
            stop.set()
            sampler.join()
            trusted = json.loads(out.with_suffix(".json").read_text())
            score = json.loads((Path(tmp) / "r.json").read_text())["score"]
            tree = _tree(root, graded)
            standing = sum(graded[p][1] - before[p] for p in tree if p in before)
            workers = sum(graded[p][1] for p in tree if p not in before)
            roots = {root} | ({sandbox.proc.pid} if sandbox is not None else set())
            reset = sum(seen[p][1] - graded.get(p, (0, before.get(p, 0.0)))[1]
                        for r in roots for p in _tree(r, seen) if p in seen)
            stats = None if args.plain else pstats.Stats(str(out))
            by_category: dict[str, float] = {}
            for key, (_, _, tottime, _, _) in (stats.stats.items() if stats else ()):
                by_category[_category(key)] = by_category.get(_category(key), 0.0) + tottime
            rows.append({"wall": wall, "trusted": trusted["cpu"], "sandbox": standing + workers, "score": score,
                         "standing": standing, "workers": workers, "reset": reset, "reset_trusted": reset_trusted,
                         "categories": by_category, "stats": stats, **samples})
    if sandbox is not None:
        sandbox.close()
    med = lambda key: statistics.median([r[key] for r in rows])  # noqa: E731
    if args.json:
        labels = [label for label, _ in CATEGORIES] + [OTHER]
        Path(args.json).write_text(json.dumps({
            "runs": len(rows), "score": rows[0]["score"], "profiled": not args.plain,
            **{key: med(key) for key in ("wall", "trusted", "sandbox", "standing", "workers", "reset",
                                         "reset_trusted", "worker_start", "worker_count")},
            "categories": {lb: statistics.median([r["categories"].get(lb, 0.0) for r in rows]) for lb in labels},
            "worker_kinds": {k: statistics.median([r["worker_kinds"].get(k, 0.0) for r in rows])
                             for k in WORKER_KINDS},
        }, indent=2))
    if args.plain:
        cpu = [r["trusted"] for r in rows]
        print(f"runs: {len(rows)}; score {rows[0]['score']}; trusted side per grading: median "
              f"{statistics.median(cpu):.3f} CPU-s ({', '.join(f'{c:.3f}' for c in cpu)}); sandbox median "
              f"{med('sandbox'):.3f} CPU-s (standing {med('standing'):.3f}, workers {med('workers'):.3f}); "
              f"reset {med('reset'):.3f} + {med('reset_trusted'):.3f} CPU-s; wall median {med('wall'):.2f} s")
        return 0
    _report(rows, args.top)
    return 0


@contextlib.contextmanager
def _quiet():
    """stdout to /dev/null (the warm-up's grading prints its table)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _slot_sandbox(options: argparse.Namespace, sample_workers: bool):
    """The slot's sandbox, started; with `sample_workers` its workers sample themselves."""
    from autograder import slot

    sandbox = slot._sandbox(options, gpu=False)  # (as a slot's: with the batch's preload)
    if sample_workers:
        runtime = sandbox._runtime
        (runtime / "worker.py").rename(runtime / "worker_impl.py")
        (runtime / "worker.py").write_text(WORKER_SAMPLER, encoding="utf-8")
        os.chmod(runtime / "worker.py", 0o644)
    sandbox.launch()
    return sandbox


def _worker_samples(sandbox) -> dict:
    """What the workers' samplers wrote since the last call (and clear it): CPU seconds per kind
    of code, the CPU each worker spent before its first request, how many workers."""
    kinds = dict.fromkeys(WORKER_KINDS, 0.0)
    start, workers = 0.0, set()
    output = sandbox._stderr
    data = bytes(output.data)
    del output.data[:len(data)]
    for line in data.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0] != "@wp":
            continue
        workers.add(parts[1])
        if parts[2] == "start" and len(parts) == 4:
            start += float(parts[3])
        elif parts[2] in kinds and len(parts) == 4:
            kinds[parts[2]] += float(parts[3])
    return {"worker_kinds": kinds, "worker_start": start, "worker_count": len(workers)}


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


def worker_rows(figures: dict) -> list[tuple[str, float]]:
    """The sandbox side's CPU per grading, by where it goes: (label, CPU-s), from one run's
    figures or the medians (as written with --json)."""
    kinds = figures["worker_kinds"]
    sampled = sum(kinds.values())
    return [("the zygote and bubblewrap (forking the workers, copying the files in)", figures["standing"]),
            (f"a worker's start, before its first call ({figures['worker_count']:g} workers: Landlock, "
             "seccomp filter)", figures["worker_start"]),
            *[(WORKER_KINDS[k], kinds[k]) for k in sorted(kinds, key=lambda k: -kinds[k])],
            ("workers, not sampled (the sampler's blind spots; /proc total minus the rows above)",
             max(figures["workers"] - figures["worker_start"] - sampled, 0.0)),
            ("the reset after the grading (zygote; the slot's own side)", figures["reset"] + figures["reset_trusted"])]


def worker_table(rows: list[dict]) -> str:
    med = lambda xs: statistics.median(xs)  # noqa: E731
    figures = {k: med([r[k] for r in rows]) for k in ("standing", "workers", "worker_start", "worker_count",
                                                       "reset", "reset_trusted")}
    figures["worker_kinds"] = {k: med([r["worker_kinds"][k] for r in rows]) for k in WORKER_KINDS}
    lines = rows_ = worker_rows(figures)
    total = sum(v for _, v in rows_)
    lines = ["| Where (sandbox side, /proc and the workers' sampler) | CPU s (median) | share |", "|---|--:|--:|"]
    lines += [f"| {label} | {value:.3f} | {value / total:.0%} |" for label, value in rows_]
    lines.append(f"| **total** | **{total:.3f}** | |")
    return "\n".join(lines)


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
    print(f"\n{worker_table(rows)}")
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

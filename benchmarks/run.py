"""`make bench`: run every measurement once, side by side, and write docs/performance.md."""

from __future__ import annotations

import argparse
import time

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from . import grading, memory, nbgrader_baseline, timer
from .common import REPO, machine, median
from .profile import CATEGORIES, OTHER

DOC = REPO / "docs" / "performance.md"


def s(values: list[float]) -> str:
    return f"{median(values):.2f} s ({', '.join(f'{v:.2f}' for v in values)})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="batch of 4 (no batch of 100), nbgrader 1 and 2, shorter timer")
    p.add_argument("--runs", type=int, default=3, help="runs per single-submission measurement (default 3)")
    p.add_argument("--out", default=str(DOC), help="markdown file to write")
    a = p.parse_args(argv)
    started = time.perf_counter()
    n_batch, nb_students = (4, [1, 2]) if a.quick else (20, [1, 20])
    info = machine()
    step = lambda name: print(f"[{time.perf_counter() - started:6.1f} s] {name}", flush=True)  # noqa: E731
    step("timer vs torch.utils.benchmark"); tm = timer.compare(rounds=3 if a.quick else 5,
                                                                min_run_time=0.2 if a.quick else 0.5)
    step("grade vs pytest"); gp = grading.grade_vs_pytest(a.runs)
    step("public suite"); pub = grading.public_suite(a.runs)
    step("peak memory"); mem = memory.peak_rss()
    step(f"batch of {n_batch}"); bt = grading.batches(n_batch, [1, 2, 4])
    big = None
    if not a.quick:
        step("batch of 100"); big = grading.batches(100, [2])
    step("nbgrader"); nb = nbgrader_baseline.autograde(nb_students)
    step("profile of one warm grading"); prof = profiles(3 if a.quick else 5)
    total = time.perf_counter() - started
    step("done")
    DOC.parent.mkdir(exist_ok=True)
    open(a.out, "w", encoding="utf-8").write(render(info, gp, pub, mem, bt, big, nb, nb_students, tm, a, total)
                                               + render_profile(prof))
    print(f"wrote {a.out}")
    return 0


def profiles(runs: int) -> dict:
    """benchmarks.profile, each in its own process: the reference and the stubs without the
    profiler, the reference with it."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        for name, extra in (("reference", ["--plain"]), ("stubs", ["--plain", "--submission", "assignment"]),
                            ("profiled", [])):
            path = Path(tmp) / f"{name}.json"
            subprocess.run([sys.executable, "-m", "benchmarks.profile", "--runs", str(runs), "--json", str(path),
                            *extra], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
            out[name] = json.loads(path.read_text())
    return out


def render_profile(p: dict) -> str:
    ref, stubs, prof = p["reference"], p["stubs"], p["profiled"]
    total = sum(prof["categories"].values())
    labels = sorted([label for label, _ in CATEGORIES] + [OTHER], key=lambda lb: -prof["categories"][lb])
    L = ["## Where one warm grading's CPU goes", "",
         "`python -m benchmarks.profile` sets up as a batch slot does (one torch thread, the warm modules "
         "imported, a started sandbox, the reference graded once, the sandbox reset), then grades in a forked "
         "child per grading, as the slot does. The child profiles itself with "
         "`cProfile.Profile(time.process_time)`: CPU seconds per function, so waiting on a worker or on a "
         "sleeping probe costs nothing there. The sandbox's processes (zygote, workers) are read from `/proc` "
         f"every 20 ms, workers that have exited included. Medians of {ref['runs']} gradings each.", "",
         "| Grading (no profiler) | trusted side CPU-s | sandbox CPU-s | wall |", "|---|--:|--:|--:|",
         f"| the reference ({ref['score']:g} points) | {ref['trusted']:.2f} | {ref['sandbox']:.2f} | "
         f"{ref['wall']:.2f} s |",
         f"| the stubs (every call raises at once) | {stubs['trusted']:.2f} | {stubs['sandbox']:.2f} | "
         f"{stubs['wall']:.2f} s |",
         "| **target per student (issue 17)** | **0.6 in all** | | |", "",
         "The stubs' sandbox figure is the floor (forking the workers, importing the modules, the wire's other "
         "end); the rest of the reference's is its own work (the timing harness's loops, `benchmark()`'s "
         "matmuls). Before this table existed, grading.yml was parsed twice per load by PyYAML's pure-Python "
         "parser: 1.42 CPU-s on the trusted side; now libyaml parses it once.", "",
         "The trusted side with the profiler (which about doubles its figure), self time by kind of code:", "",
         "| Where (trusted side) | CPU-s | share |", "|---|--:|--:|",
         *[f"| {lb} | {prof['categories'][lb]:.2f} | {prof['categories'][lb] / total:.0%} |" for lb in labels], "",
         "Caching the reference's outputs per slot would save almost nothing (the reference computations' "
         "line); the cost is per test case (pytest's machinery and the wire's round trips for ~470 cases) and "
         "the worker side's. To do (issue 17): the worker side's own profile, calls batched on the wire, the "
         "warm-up paid once per batch, and `make gpu-check`.", ""]
    return "\n".join(L)


def render(info, gp, pub, mem, bt, big, nb, nb_students, tm, a, total) -> str:
    n = bt["students"]
    k = nb_students[-1]
    # Same number of students (the full run): a plain ratio of wall times; --quick: per student.
    vs = "wall times" if k == n else f"per student, {k} vs {n} students"

    def batch_row(label: str, b: dict, students: int) -> str:
        return (f"| {label} | {b['wall']:.1f} s | {b['wall'] / students:.2f} s | {b['cpu']:.0f} s "
                f"({b['cpu'] / students:.2f} s) | {b['median_student']:.1f} s / {b['max_student']:.1f} s | "
                f"{b['reused']} of {b['rows']} |")

    rows = [batch_row(f"batch of {n}, `-j {j}`", bt[j], n) for j in (1, 2, 4)]
    if big:
        rows.append(batch_row("batch of 100, `-j 2`", big[2], 100))
    nb_vs = lambda j: (nb[k] / k) / (bt[j]["wall"] / n)  # noqa: E731
    L = ["# Performance", "",
         f"Generated by `make bench` (`python -m benchmarks.run{' --quick' if a.quick else ''}`) in {total:.0f} s. "
         f"Single-submission figures are medians of {a.runs} run{'s' if a.runs > 1 else ''} (each run listed "
         "in brackets); the batch and nbgrader figures are single runs. "
         "The machine is shared: other processes may run at the same time, so a run can be slow by a few "
         "tenths of a second (compare the individual runs). The GPU part of issue 6 (CUDA timings, "
         "`grade --gpu require`) is pending: this machine has no GPU.", "",
         "## Machine", "", "| | |", "|---|---|", *[f"| {k_} | {v} |" for k_, v in info.items()], "",
         "## Grading one correct submission (the reference)", "",
         "| Measurement | Wall time (median, runs) |", "|---|---|",
         f"| `autograder grade solutions --gpu off` (sandboxed workers) | {s(gp['grade'])} |",
         f"| plain pytest, same files in-process (`pytest -q -p no:cacheprovider --noconftest -p hwkit.plugin "
         f"tests autograder/hidden --submission solutions`) | {s(gp['pytest'])} |",
         f"| **ratio grader / pytest** (target ≤ 1.3×) | **{gp['ratio']:.2f}×** |", "",
         "`--noconftest` is needed next to `-p hwkit.plugin`: `tests/conftest.py` loads the same plugin, and "
         "pytest refuses the hook being registered twice. Both runs include the process start and the torch import "
         "of the trusted side. The grader starts its sandbox (bubblewrap, a zygote importing torch) before it "
         "imports torch and pytest itself, so the two imports run side by side; what remains is the wire round "
         "trip of every call.", "",
         "## Batches", "",
         f"Synthetic correct submissions (`autograder.examples.materialize(dest/name, {{}})`), "
         "`autograder batch DIR --out OUT -j J --gpu off`, one run each"
         f"{' (the batch of 100 is skipped with `--quick`)' if not big else ''}. "
         "Each of the J parallel jobs is a warm *slot*: it imports torch, pytest and the suites once, starts one "
         "sandbox (a bubblewrap zygote that has imported torch) and grades the reference once to warm up. Then, "
         "for each student, it forks a grading process, which grades in that sandbox and exits, and resets the "
         "sandbox for the next student; a new sandbox is started whenever the reset cannot be verified clean "
         "(docs/grading.md). So a batch pays a fixed warm-up per slot, then a steady cost per student.", "",
         "CPU: user + system time of the batch's whole process tree, sandboxes included, read from "
         "`/proc/<pid>/stat` every 50 ms (each process's last reading, summed). One student: the `seconds` "
         "of each student's `status.json`, median and largest (a slot's first student also waits for its "
         "warm-up). Reused sandbox: students whose `results.json` has `extra_data.sandbox.zygote`, out of the "
         "gradebook's rows.", "",
         "| Measurement | Wall time | Per student | CPU (per student) | One student: median / max | "
         "Graded in a reused sandbox |", "|---|---|---|---|---|---|", *rows, "",
         "Where a grading's time goes: the timing tests of task 3 check `measure_time` and `benchmark` "
         "against probes of known duration, which sleep on purpose — about 1.6 s per student that no "
         "faster machine removes. While one grading sleeps, another can run, so a batch is not CPU-bound "
         "(compare CPU with wall time) and more slots than cores help: `-j 4` on 2 cores.", "",
         "### nbgrader baseline", "",
         f"One nbgrader course with one notebook: `import torch`, the three reference modules as solution "
         f"cells, and {nb['tests']} autograder test cells with asserts over the same functions "
         "(`benchmarks/nbgrader_baseline.py`); every test cell passes. `nbgrader autograde ps1 --create --force`, "
         "one run each, wall time including nbgrader's own start.", "",
         "| Measurement | Wall time | Per student |", "|---|---|---|",
         *[f"| nbgrader autograde, {m} student{'s' if m > 1 else ''} | {nb[m]:.1f} s | {nb[m] / m:.2f} s |"
           for m in nb_students],
         f"| **nbgrader, {k} students / our batch of {n}, `-j 2`** ({vs}; target ≥ 8×) | **{nb_vs(2):.2f}×** | |",
         f"| nbgrader, {k} students / our batch of {n}, `-j 4` ({vs}) | {nb_vs(4):.2f}× | |", "",
         "Not like for like: nbgrader runs the notebook in one kernel with no isolation and 25 test cells; "
         "the grader runs about 350 public + hidden tests, every module in a sandboxed worker, and its timing "
         "tests wait for probes on purpose.", "",
         "## The student's public suite", "",
         "| Measurement | Wall time (median, runs) |", "|---|---|",
         f"| `pytest -q -p no:cacheprovider tests --submission solutions` (target ≤ 15 s) | {s(pub['public'])} |", "",
         "## Peak memory of one grading", "",
         f"`autograder grade solutions --gpu off`; every 50 ms the RSS of the grader and all its descendants "
         "is read from `/proc/<pid>/stat` (processes inside bubblewrap are visible in the host's /proc) and "
         f"summed; the table gives the largest sample ({mem['samples']} samples). RSS counts pages shared "
         "between the zygote and its forked workers once per process, so the sum over-states real use.", "",
         "| Measurement | Peak |", "|---|---|",
         f"| grader + sandbox + workers (sum per sample) | {mem['total_mib']:.0f} MiB |",
         f"| grader process alone | {mem['grader_mib']:.0f} MiB |",
         f"| everything under it (bubblewrap, zygote, workers) | {mem['others_mib']:.0f} MiB |",
         f"| processes in the tree at most | {mem['max_processes']} |", "",
         "## Timing harness vs `torch.utils.benchmark.Timer` (CPU)", "",
         f"`torch.set_num_threads({tm['threads']})` and `Timer(..., num_threads={tm['threads']})`. Ours: "
         f"median over {tm['rounds']} calls of `measure_time(fn, a, repeat={tm['repeat']}, warmup={tm['warmup']})` "
         f"(each a mean of {tm['repeat']} calls); Timer: `blocked_autorange(min_run_time={tm['min_run_time']})`. "
         "Ratios are ours / Timer (goal: within 5 %).", "",
         "| Op | Size (float32) | ours (ms) | spread of ours | Timer median (ms) | Timer mean (ms) | "
         "ours / median | ours / mean |", "|---|---|---|---|---|---|---|---|",
         *[f"| {r['op']} | {r['size']} | {r['ours_ms']:.4f} | {100 * r['ours_spread']:.0f} % | "
           f"{r['timer_median_ms']:.4f} | {r['timer_mean_ms']:.4f} | {r['vs_median']:.3f} | {r['vs_mean']:.3f} |"
           for r in tm["rows"]], "",
         f"Within 5 % of Timer's median: {sum(abs(r['vs_median'] - 1) <= 0.05 for r in tm['rows'])} of "
         f"{len(tm['rows'])} rows. Why they differ: `measure_time` returns a *mean* of {tm['repeat']} "
         "single calls, each timed on its own with `perf_counter` (the call overhead of the timer and of Python "
         "is included in each), so one preempted call pulls it up; Timer runs blocks of many calls and reports "
         "the per-call time of each block, so overhead is amortised and its median ignores slow blocks. For "
         "microsecond operations (add and sum at 256x256) the timer overhead and noise are a visible fraction, "
         "and the ratio swings either way between runs (add 256x256 measured 1.03 in one run and 0.71 in "
         "another on this shared machine); for matmul the two agree within "
         f"{100 * max(abs(r['vs_median'] - 1) for r in tm['rows'] if r['op'] == 'matmul'):.0f} %. Warm-up: ours "
         "makes explicit untimed calls, Timer warms up during its autorange calibration. Threads: both use the same count here; without "
         "`num_threads` Timer would run single-threaded while `measure_time` uses torch's default.", ""]
    return "\n".join(L)


if __name__ == "__main__":
    raise SystemExit(main())

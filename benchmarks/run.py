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
from .profile import CATEGORIES, OTHER, worker_rows

DOC = REPO / "docs" / "performance.md"


def s(values: list[float]) -> str:
    return f"{median(values):.2f} s ({', '.join(f'{v:.2f}' for v in values)})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="batch of 4 at -j 2 and auto (no batch of 100), nbgrader 1 and 2, shorter timer")
    p.add_argument("--runs", type=int, default=3, help="runs per single-submission measurement (default 3)")
    p.add_argument("--out", default=str(DOC), help="markdown file to write")
    a = p.parse_args(argv)
    started = time.perf_counter()
    from autograder.batch import auto_jobs

    auto = auto_jobs()
    n_batch, nb_students = (4, [1, 2]) if a.quick else (20, [1, 20])
    jobs = sorted({2, auto} if a.quick else {2, 4, 6, auto})
    info = machine()
    info["`-j auto` here"] = str(auto)
    step = lambda name: print(f"[{time.perf_counter() - started:6.1f} s] {name}", flush=True)  # noqa: E731
    step("timer vs torch.utils.benchmark"); tm = timer.compare(rounds=3 if a.quick else 5,
                                                                min_run_time=0.2 if a.quick else 0.5)
    step("grade vs pytest"); gp = grading.grade_vs_pytest(a.runs)
    step("plain pytest in one warm process"); gp["floor"] = grading.floor(3 if a.quick else 5)
    step("public suite"); pub = grading.public_suite(a.runs)
    step("peak memory"); mem = memory.peak_rss()
    step("a batch's warm-up"); warm = grading.slot_warm_up()
    step(f"batch of {n_batch}"); bt = grading.batches(n_batch, jobs)
    big = None
    if not a.quick:
        step(f"batch of 100 at -j {auto}"); big = grading.batches(100, [auto])
    step("nbgrader"); nb = nbgrader_baseline.autograde(nb_students)
    step("profile of one warm grading"); prof = profiles(3 if a.quick else 5)
    total = time.perf_counter() - started
    step("done")
    DOC.parent.mkdir(exist_ok=True)
    open(a.out, "w", encoding="utf-8").write(render(info, gp, pub, mem, warm, bt, big, auto, nb, nb_students, tm,
                                                    prof, a, total) + "\n" + render_profile(prof))
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
    workers = worker_rows(prof)
    worker_total = sum(v for _, v in workers)
    L = ["## Where one warm grading's CPU goes", "",
         "`python -m benchmarks.profile` sets up as a batch slot does (one torch thread; the warm modules "
         "imported and the reference graded once, as the warm parent does; then a sandbox of the slot's own), "
         "then grades in a forked child per grading, as the slot does, and resets the sandbox after each. The "
         "child profiles itself with `cProfile.Profile(time.process_time)`: CPU seconds per function, so "
         "waiting on a worker or on a sleeping probe costs nothing there. The sandbox's processes (bubblewrap, "
         "zygote, workers) are read from `/proc` every 20 ms, workers that have exited included. Medians of "
         f"{ref['runs']} gradings each.", "",
         "| Grading (no profiler) | trusted side CPU-s | sandbox CPU-s | reset after it, CPU-s | wall |",
         "|---|--:|--:|--:|--:|",
         *[f"| {label} | {r['trusted']:.2f} | {r['sandbox']:.2f} | {r['reset'] + r['reset_trusted']:.2f} | "
           f"{r['wall']:.2f} s |" for label, r in ((f"the reference ({ref['score']:g} points)", ref),
                                                   ("the stubs (every call raises at once)", stubs))],
         "| **target per student (issue 17)** | **0.6 in all** | | | |", "",
         "The stubs' sandbox figure is the floor (forking the workers, importing the modules, the wire's other "
         "end); the rest of the reference's is its own work (the timing harness's loops, `benchmark()`'s "
         "matmuls). A batch also pays, once, the warm parent and each slot's sandbox, and per student the "
         "files it writes; and CPU time runs slower when every core is busy. (The machine's speed also drifts "
         "during a run: this profile runs last.)", "",
         "The trusted side with the profiler (which about doubles its figure), self time by kind of code:", "",
         "| Where (trusted side) | CPU-s | share |", "|---|--:|--:|",
         *[f"| {lb} | {prof['categories'][lb]:.2f} | {prof['categories'][lb] / total:.0%} |" for lb in labels], "",
         "The sandbox side, same gradings: the processes that stand before a grading (bubblewrap, the zygote) "
         "and the reset from `/proc`; inside each worker a sampler (the runtime's `worker.py` swapped for the "
         "real one plus a `SIGPROF` timer every 2 ms of the worker's CPU, `benchmarks/profile.py`) charges "
         "the CPU since its last sample to the code running, its own thread's to that code, its other "
         "threads' (torch's OpenMP pool) apart:", "",
         "| Where (sandbox side) | CPU-s | share |", "|---|--:|--:|",
         *[f"| {label} | {value:.2f} | {value / worker_total:.0%} |" for label, value in workers],
         f"| **total** | **{worker_total:.2f}** | |", "",
         "Caching the reference's outputs per slot would save almost nothing (the reference computations' "
         "line); the trusted side's cost is per test case (pytest's machinery and the wire's round trips for "
         "~470 cases). On the sandbox side the wire's worker end (decoding each call's arguments, hashing "
         "the storages it was given, encoding the reply) costs more than the student's own functions. So "
         "did the modules torch imports on first use: the autograd worker's first `torch.autograd.grad` "
         "with `grad_outputs` (the `vjp` call) imports `torch.fx.experimental.symbolic_shapes`, sympy and "
         "mpmath (about 490 modules), in every worker. A batch slot's zygote now imports them once "
         "(`zygote.BATCH_PRELOAD`; this profile's sandbox is a slot's): measured before and after, the "
         "sandbox side of a grading 0.71 → 0.45 CPU-s, and a batch of 20 at `-j 4` (two A/B pairs, "
         "2026-11-30) 34.8 → 30.7 s of wall time and 44.2 → 37.1 CPU-s. And 370 of a grading's 900 calls "
         "into the sandbox were lookups of the same module functions, test after test: the grader now "
         "looks each up once per worker (`RemoteHomework.getattr`; its handle lives as long as the "
         "worker), 583 calls, measured with `--plain` the trusted side 1.01 → 0.77 and the sandbox side "
         "0.50 → 0.35 CPU-s per grading. A batch slot's gradings no longer configure pytest and collect the "
         "suites each time: the slot does it once and forks each grading at pytest's test loop "
         "(`autograder.slot.StudentLoop`); this profile grades from scratch, as `autograder grade` does, so "
         "its trusted side still includes them (about 0.08 CPU-s: 0.01 before `pytest.main`, 0.03 configuring, "
         "0.03 collecting). Measured when it changed (batch of 40 at `-j 6`, two pairs of alternating runs, "
         "2026-11-30, before → after): the grading processes 28.1 → 24.1 and 26.8 → 24.1 CPU-s, the whole "
         "tree 55.8 → 51.4 and 54.1 → 51.9 CPU-s, the wall time 39.2 → 38.0 and 38.4 → 38.3 s. "
         "Not done: the remaining calls batched per test (each costs about "
         "0.2 ms of encoding and decoding on the two sides) and pytest's per-test work on the trusted side "
         "(about 350 tests).",
         ""]
    return "\n".join(L)


PER_STUDENT_ROLES = ("gradings", "workers")


def role_table(small: dict, n: int, j: str, big: dict | None) -> list[str]:
    """The batches' CPU by role (benchmarks.grading.ROLES): what grows with the students, what not."""
    batches = [(f"batch of {n}, {j}", small, n)] + ([(f"batch of 100, {j}", big, 100)] if big else [])
    rows = []
    for role, label in grading.ROLES.items():
        rows.append(f"| {label} | " + " | ".join(f"{b['roles'][role]:.1f} s ({b['roles'][role] / m:.2f} s)"
                                                  for _, b, m in batches) + " |")
    return ["CPU of each batch's process tree by role (user + system from `/proc`, total and per student; "
            "`benchmarks.grading.roles`): the grading processes and the workers grow with the students, "
            "the rest is paid once per batch or per slot.", "",
            "| Role | " + " | ".join(label for label, _, _ in batches) + " |", "|---|" + "--:|" * len(batches),
            *rows]


def missed(per_student: float, where: str, b: dict, students: int, small: dict, n: int, floor: dict, cores: int,
           nb_per_student: float) -> str:
    """Why targets are missed, in figures from this run."""
    steady = sum(b["roles"][r] for r in PER_STUDENT_ROLES) / students
    fixed = sum(v for r, v in b["roles"].items() if r not in PER_STUDENT_ROLES)
    fixed_small = sum(v for r, v in small["roles"].items() if r not in PER_STUDENT_ROLES)
    used = b["cpu"] / (b["wall"] * cores)
    return (f"Why targets are missed: a student costs {per_student:.2f} CPU-s {where}: "
            f"{b['roles']['gradings'] / students:.2f} in its grading process (the trusted side: pytest's "
            f"per-test machinery for about 350 tests, the wire, the reports), {b['roles']['workers'] / students:.2f} "
            f"in its three sandboxed workers, and {fixed / students:.2f} as its share of what the batch pays "
            f"once ({fixed:.0f} CPU-s: the warm parent, a sandbox per slot, the batch process; table in "
            f"\"Batches\"). For scale, plain pytest running the same tests in one warm process — no sandbox, no "
            f"wire, no reports, nothing written — costs {floor['median']:.2f} CPU-s per run "
            f"(`benchmarks/floor.py`, median of {len(floor['runs'])}, the grader's own pytest settings): a goal "
            f"of 0.6 CPU-s per student would leave {max(0.6 - floor['median'], 0):.2f} for all that isolation "
            f"adds, which here is {steady - floor['median']:.2f} (the grading process and its workers together "
            f"cost {steady:.2f}): the wire's round trips (about 0.2 ms of encoding and decoding on each side, "
            "for each of some 580 calls into the sandbox), three workers started and importing the student's "
            f"modules, the record written. Throughput: on {cores} cores a batch cannot go "
            f"below {per_student / cores:.2f} s per student, and this one kept {used:.0%} of the cores busy "
            "(the warm-up before the first slot runs on about one core, and each grading waits about 1.9 s, "
            "by design, for its timing probes and the simulated GPU's kernels, which only more slots overlap). "
            f"A batch of {n} also pays its {fixed_small:.0f} CPU-s of set-up over only {n} students "
            f"({fixed_small / n:.2f} s each). nbgrader spends {nb_per_student:.2f} s per student running 25 "
            "asserts in one kernel with no isolation.")


def render(info, gp, pub, mem, warm, bt, big, auto, nb, nb_students, tm, prof, a, total) -> str:
    n = bt["students"]
    k = nb_students[-1]
    # Same number of students (the full run): a plain ratio of wall times; --quick: per student.
    vs = "wall times" if k == n else f"per student, {k} vs {n} students"
    nb_per_student = nb[k] / k

    def batch_row(label: str, b: dict, students: int) -> str:
        return (f"| {label} | {b['wall']:.1f} s | {b['wall'] / students:.2f} s | {b['cpu']:.0f} s "
                f"({b['cpu'] / students:.2f} s) | {b['median_student']:.1f} s / {b['max_student']:.1f} s | "
                f"{b['reused']} of {b['rows']} |")

    j_label = lambda j: f"`-j {j}`" + (" (auto)" if j == auto else "")  # noqa: E731
    jobs = [j for j in bt if j != "students"]
    rows = [batch_row(f"batch of {n}, {j_label(j)}", bt[j], n) for j in jobs]
    if big:
        rows.append(batch_row(f"batch of 100, {j_label(auto)}", big[auto], 100))
    nb_vs = lambda j: nb_per_student / (bt[j]["wall"] / n)  # noqa: E731
    cores = int(info["cores"])
    per_student, where = ((big[auto]["cpu"] / 100, "in the batch of 100") if big
                          else (bt[auto]["cpu"] / n, f"in the batch of {n}"))
    ref = prof["reference"]
    steady = ref["trusted"] + ref["sandbox"] + ref["reset"] + ref["reset_trusted"]
    big_b, students_b = (big[auto], 100) if big else (bt[auto], n)

    def target(what: str, goal: str, measured: str, met: bool | None) -> str:
        return f"| {what} | {goal} | {measured} | {'—' if met is None else '**yes**' if met else '**no**'} |"

    if big:
        cpu = big[auto]["cpu"] / 100
        targets = [
            target(f"CPU per student, batch of 100 (`-j {auto}`, whole process tree)", "≤ 0.6 s", f"{cpu:.2f} s",
                   cpu <= 0.6),
            target(f"batch of 100 (`-j {auto}`) vs nbgrader, per-student throughput", "≥ 5×",
                   f"{nb_per_student / (big[auto]['wall'] / 100):.2f}× ({big[auto]['wall'] / 100:.2f} s vs "
                   f"{nb_per_student:.2f} s per student)", nb_per_student / (big[auto]["wall"] / 100) >= 5)]
    else:
        targets = [target("CPU per student, batch of 100", "≤ 0.6 s", "not measured (`--quick`); batch of "
                          f"{n}: {bt[auto]['cpu'] / n:.2f} s, one warm grading alone: {steady:.2f} s", None),
                   target("batch of 100 vs nbgrader, per-student throughput", "≥ 5×",
                          "not measured (`--quick`)", None)]
    targets += [
        target(f"batch of {n} (`-j {auto}`) vs nbgrader{'' if k == n else f' ({vs})'}", "≥ 3×" if n == 20 else
               "≥ 3× (for 20)", f"{nb_vs(auto):.2f}× ({bt[auto]['wall']:.1f} s vs nbgrader's {nb[k]:.1f} s for "
               f"{k})", nb_vs(auto) >= 3 if n == 20 else None),
        target("one submission: `autograder grade` / plain pytest", "≤ 1.3×", f"{gp['ratio']:.2f}×",
               gp["ratio"] <= 1.3),
        target("for scale: the same tests run by plain pytest in one warm process, no isolation (CPU per run)",
               "—", f"{gp['floor']['median']:.2f} s", None),
        target("the student's public suite", "≤ 15 s", f"{median(pub['public']):.2f} s", median(pub["public"]) <= 15)]
    L = ["# Performance", "",
         f"Generated by `make bench` (`python -m benchmarks.run{' --quick' if a.quick else ''}`) in {total:.0f} s. "
         f"Single-submission figures are medians of {a.runs} run{'s' if a.runs > 1 else ''} (each run listed "
         "in brackets); the batch and nbgrader figures are single runs. "
         "The machine is shared: other processes may run at the same time, so a run can be slow by a few "
         "tenths of a second (compare the individual runs), and over an hour the whole machine can be slower "
         "by tens of percent (other virtual machines share its host; the CPU model below may change between "
         "runs). This machine has no GPU: the GPU figures (CUDA timings, `grade --gpu require` on an "
         "H200) are in docs/gpu.md.", "",
         "## Machine", "", "| | |", "|---|---|", *[f"| {k_} | {v} |" for k_, v in info.items()], "",
         "## The targets, measured in this run", "",
         "| Target | Goal | Measured | Met? |", "|---|---|---|---|", *targets, "",
         "Every figure is from the sections below, measured in this one run (nbgrader's too)."
         + (" " + missed(per_student, where, big_b, students_b, bt[auto], n, gp["floor"], cores, nb_per_student)
            if "**no**" in "".join(targets) else ""), "",
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
         "The batch starts one warm parent: it imports torch, pytest and the suites, starts a sandbox (the "
         "batch's check that a sandbox keeps its promises here) and grades the reference in it once, then "
         "closes it. Each of the J parallel jobs is a *slot* forked from that parent, which starts a sandbox "
         "of its own (a bubblewrap zygote that imports torch). Then, for each student, the slot forks a "
         "grading process, which grades in that sandbox and exits, and resets the sandbox for the next "
         "student; a new sandbox is started whenever the reset cannot be verified clean (docs/grading.md). So "
         "a batch pays one warm-up, a sandbox per slot, then a steady cost per student.", "",
         "CPU: user + system time of the batch's whole process tree, sandboxes included, read from "
         "`/proc/<pid>/stat` every 50 ms (each process's last reading, summed). One student: the `seconds` "
         "of each student's `status.json`, median and largest (a slot's first student also waits for the "
         "warm-up). Reused sandbox: students whose `results.json` has `extra_data.sandbox.zygote`, out of the "
         "gradebook's rows (each slot's first student gets its fresh sandbox).", "",
         "| Measurement | Wall time | Per student | CPU (per student) | One student: median / max | "
         "Graded in a reused sandbox |", "|---|---|---|---|---|---|", *rows, "",
         *role_table(bt[auto], n, j_label(auto), big[auto] if big else None), "",
         "Where a grading's time goes: the timing tests of task 3 check `measure_time` and `benchmark` "
         "against probes of known duration, which sleep on purpose — about 1.6 s per student that no "
         "faster machine removes. While one grading sleeps, another can run, so more slots than cores help; "
         "past that the cores are shared by more gradings and each one's CPU time grows (compare the CPU per "
         "student across the rows). `-j auto` takes three slots per core, fewer where the memory available "
         "would not hold about 450 MB each (`autograder/batch/run.py`). It took two until 2026-11-30: "
         "measured then, one run each on this machine, a batch of 100 took 90.6 s at `-j 4`, 77.9 s at `-j 6` "
         "and 77.5 s at `-j 8` (104.5, 112.4 and 117.7 CPU-s), while for 20 students `-j 4` and `-j 6` were "
         "within a second of each other (30.1 and 30.9 s). The same day the workers' OpenMP threads were made "
         "to sleep when idle instead of spinning (`OMP_WAIT_POLICY=PASSIVE`, `autograder/sandbox/zygote.py`): "
         "the sandbox side of one grading 0.29 → 0.27 and 0.30 → 0.25 CPU-s (two before/after pairs, medians "
         "of 5 gradings each, `python -m benchmarks.profile --plain`).", "",
         "### What a batch pays before its first grading", "",
         "`benchmarks.grading.slot_warm_up`: a warm parent started as a batch starts it, then two slots "
         "forked from it; wall times of one run.", "",
         "| Step | Wall time |", "|---|---|",
         f"| the warm parent started, its sandbox measured (the batch's check) | {warm['check']:.2f} s |",
         f"| ... imports and the reference graded, until the first slot is forked (once per batch) | "
         f"{warm['warm_up']:.2f} s |",
         f"| a further slot: the fork | {warm['fork']:.3f} s |",
         f"| a further slot: its own sandbox started and measured | {warm['sandbox']:.2f} s |",
         f"| a slot's first grading / a later grading in the same slot / a second slot's first grading | "
         f"{warm['first_slot_first']:.2f} s / {warm['later']:.2f} s / {warm['second_slot_first']:.2f} s |", "",
         "The warm parent grades the reference with every wait skipped (`hwkit.simcuda.instant_waits`: "
         "its timing tests fail, and nobody reads them), since about 2 s of sleeping probes and simulated "
         "kernels only delayed the first slot: measured when it changed (2026-11-30, one run each), the "
         "second row 5.65 → 3.85 s, and a slot's first grading as fast as a later one (2.85 s).", "",
         "Before the warm parent (up to 2026-11-30), every slot was a `python -m autograder.slot` of its own "
         "that imported everything and graded the reference in its own sandbox: a slot's first grading "
         "answered 10.3–10.6 s after the slot started, a later one 4.0 s after, so about 6.4 s of warm-up "
         "was paid per slot, which is why `-j 4` did not beat `-j 2` on 2 cores. Now a slot costs its fork "
         "and its own sandbox, and its first grading is as fast as a later one. Measured when it changed "
         "(batch of 20, two pairs of alternating runs on this machine, 2026-11-30, before → after): `-j 2` "
         "73.1 → 69.4 s and 59.7 → 58.3 s of wall time, 81.5 → 73.5 and 60.7 → 57.3 CPU-s; `-j 4` 64.5 → "
         "54.1 s and 57.3 → 50.3 s, 90.1 → 71.1 and 78.8 → 62.6 CPU-s, and the whole tree's peak memory "
         "(PSS) 2168 → 1640 and 2030 → 1474 MiB. The machine's speed varies by tens of percent over an hour "
         "(other virtual machines share its host), so compare runs made side by side.", "",
         "### nbgrader baseline", "",
         f"One nbgrader course with one notebook: `import torch`, the three reference modules as solution "
         f"cells, and {nb['tests']} autograder test cells with asserts over the same functions "
         "(`benchmarks/nbgrader_baseline.py`); every test cell passes. `nbgrader autograde ps1 --create --force`, "
         "one run each, wall time including nbgrader's own start.", "",
         "| Measurement | Wall time | Per student |", "|---|---|---|",
         *[f"| nbgrader autograde, {m} student{'s' if m > 1 else ''} | {nb[m]:.1f} s | {nb[m] / m:.2f} s |"
           for m in nb_students],
         *[f"| nbgrader, {k} students / our batch of {n}, {j_label(j)} ({vs}) | {nb_vs(j):.2f}× | |"
           for j in jobs],
         *([f"| nbgrader, {k} students / our batch of 100, {j_label(auto)} (per student) | "
            f"{nb_per_student / (big[auto]['wall'] / 100):.2f}× | |"] if big else []), "",
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

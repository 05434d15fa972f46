"""`make gpu-check`: everything that needs a GPU, as one prepared run (docs/gpu.md).

    python -m benchmarks.gpu_check OUT_DIR              # on a machine with a CUDA GPU
    python -m benchmarks.gpu_check OUT_DIR --simulate   # anywhere: the simulated GPU

Steps, each one checked (the run exits 1 if any check fails):

1. the card: name, memory, driver, torch and its CUDA;
2. the public suite's `gpu` tests on the reference, in-process as a student runs them (skipped
   in simulation: a student's pytest never simulates a GPU);
3. `autograder grade --gpu require` (`--gpu simulate` in simulation) on the reference, on the
   mistake of timing CUDA without synchronising, and on the stubs: the reference earns every
   GPU point, the mistake loses the GPU timing points, the stubs earn none;
4. `autograder batch --gpu off` of the same three, then `merge-gpu` of step 3's records: on a GPU
   the reference's total becomes full marks; in simulation merge-gpu must refuse the records and
   leave the batch as it was;
5. the reference's `benchmark()` (DEFAULT_SHAPES; SMALL_SHAPES in simulation) and
   `transfer_overhead()`;
6. the reference's `measure_time` next to `torch.utils.benchmark.Timer` and, when Triton is there,
   `triton.testing.do_bench`, on the same operations;
7. achieved memory bandwidth (add, mul, transpose, sum) and FP32 TFLOP/s (matmul) against the
   card's datasheet peak. Above 100 % means the measurement is wrong;
8. (on a real GPU) the card's own ceilings: a 1 GiB device-to-device copy and an 8192³ FP32
   matmul, the yardsticks for step 7's percentages.

Step 0 says what the sandbox can use on the machine. A step that raises fails its check and the
run goes on; the report is rewritten after every step, so a run cut short still leaves one.

The report goes to OUT_DIR/gpu.md and OUT_DIR/gpu.json (the device machine returns only files
written there). Figures produced in simulation are the simulation's model, marked so throughout.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# Datasheet peaks (NVIDIA's H100/H200 product briefs): memory bandwidth in TB/s and dense FP32
# (non-tensor-core) TFLOP/s. The first entry whose words all occur in the card's name wins.
PEAKS: list[tuple[tuple[str, ...], str, float, float]] = [
    (("H200",), "H200 SXM", 4.8, 67.0),
    (("H100", "PCIe"), "H100 PCIe", 2.0, 51.0),
    (("H100", "NVL"), "H100 NVL", 3.9, 60.0),
    (("H100",), "H100 SXM", 3.35, 67.0),
    (("A100",), "A100 SXM 80GB", 2.039, 19.5),
]
BANDWIDTH_TARGET, MATMUL_TARGET = 0.85, 0.70  # of peak: add's bandwidth, the largest matmul's FP32
TIMING_TESTS = ("test_gpu_measure_time_real_kernel", "test_gpu_measure_time_hidden")  # lost without synchronising
NO_SYNC = "cuda_timed_without_synchronize"  # autograder/tests/mistakes/performance.py


class Report:
    """Sections of markdown plus a JSON record, and every check's outcome."""

    def __init__(self, simulate: bool) -> None:
        self.simulate = simulate
        self.sections: list[str] = []
        self.data: dict[str, Any] = {"simulated": simulate, "checks": []}
        self.failed: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        self.data["checks"].append({"ok": bool(ok), "check": what})
        if not ok:
            self.failed.append(what)
        print(("  ok    " if ok else "  FAIL  ") + what, flush=True)
        return ok

    def section(self, title: str, body: str) -> None:
        self.sections.append(f"## {title}\n\n{body.strip()}\n")

    def markdown(self) -> str:
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        head = ["# GPU check", "",
                f"`make gpu-check` ({'SIMULATED GPU: every figure below is the simulation model, not a measurement' if self.simulate else 'a real GPU'}), {when}. "
                "`python -m benchmarks.gpu_check` writes this file; see its docstring for the steps.", ""]
        checks = ["## Checks", "", "| | check |", "|---|---|"]
        checks += [f"| {'ok' if c['ok'] else '**FAIL**'} | {c['check']} |" for c in self.data["checks"]]
        return "\n".join(head + checks) + "\n\n" + "\n".join(self.sections)

    def write(self, out: Path) -> None:
        (out / "gpu.json").write_text(json.dumps(self.data, indent=2, default=str), encoding="utf-8")
        (out / "gpu.md").write_text(self.markdown(), encoding="utf-8")


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def run(cmd: list[str], log: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """A command of the kit, its output appended to `log` (the device's minutes are few: a command
    that hangs fails its step after `timeout` seconds, and the run goes on)."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        with log.open("a", encoding="utf-8") as f:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
            f.write(f"\n$ {' '.join(cmd)}   # TIMED OUT after {timeout:g} s\n{out}")
        raise
    with log.open("a", encoding="utf-8") as f:
        f.write(f"\n$ {' '.join(cmd)}   # exit {proc.returncode}, {time.perf_counter() - started:.1f} s\n{proc.stdout}")
    return proc


def step(report: Report, out: Path, log: Path, title: str, fn, *args):
    """One step: an exception fails it (its traceback in the log and the report) and the run goes
    on; the report is written after every step, so a run cut short still leaves one."""
    print(title, flush=True)
    started = time.perf_counter()
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - every step's failure is a finding; the next step still runs
        trace = traceback.format_exc()
        with log.open("a", encoding="utf-8") as f:
            f.write(f"\n# {title}: raised\n{trace}")
        report.check(False, f"{title}: {type(exc).__name__}: {str(exc)[:300]}")
        report.section(f"{title}: raised", "```\n" + trace[-3000:] + "\n```")
        return None
    finally:
        report.data.setdefault("step_seconds", {})[title] = round(time.perf_counter() - started, 1)
        report.write(out)


# -- 0. the machine, as the sandbox sees it ------------------------------------------------------

def machine(report: Report, tier: str | None) -> None:
    """What the sandbox can use here (kernel, Landlock, namespaces, cgroup) and the GPU's device
    files: what explains a grading's sandbox tier and weaknesses below."""
    sys.path.insert(0, str(REPO))
    from autograder.sandbox import isolation

    protections = isolation.detect(tier)  # (the tier the gradings below ask for)
    devices = sorted(str(d) for d in Path("/dev").glob("nvidia*"))
    summary = protections.summary(gpu=bool(devices))
    info = {"kernel": platform.release(), "cpus": len(os.sched_getaffinity(0)), "gpu_device_files": devices,
            "bubblewrap": shutil.which("bwrap"), "sandbox": summary}
    report.data["machine"] = info
    rows = [["kernel", info["kernel"]], ["CPUs", info["cpus"]], ["GPU device files", " ".join(devices) or "—"],
            ["bubblewrap", info["bubblewrap"] or "not installed"]]
    rows += [[f"sandbox: {k}", v] for k, v in summary.items() if k != "notes"]
    report.section("The machine, as the sandbox sees it", table(["", ""], rows))


# -- 1. the card ---------------------------------------------------------------------------------

def card(report: Report) -> dict:
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "python": platform.python_version()}
    info["name"] = torch.cuda.get_device_name(0)
    if report.simulate:
        info.update(memory_gib=None, driver="(simulated)")
    else:
        info["memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        smi = shutil.which("nvidia-smi")
        out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                             text=True).stdout.strip() if smi else ""
        info["driver"] = out.splitlines()[0] if out else "(nvidia-smi not found)"
    with contextlib.suppress(ImportError):
        info["triton"] = importlib.import_module("triton").__version__
    info["peak"] = peak(info["name"])
    report.data["card"] = info
    report.check(torch.cuda.is_available(), f"torch sees a CUDA device: {info['name']}")
    rows = [[k, info.get(k)] for k in ("name", "memory_gib", "driver", "torch", "torch_cuda", "triton", "python")]
    p = info["peak"]
    rows.append(["datasheet peak", f"{p['label']}: {p['tb_s']} TB/s, {p['tflops_fp32']} TFLOP/s FP32" if p
                 else "unknown card: no percentages"])
    report.section("The card", table(["", ""], rows))
    return info


def peak(name: str) -> dict | None:
    for words, label, tb_s, tflops in PEAKS:
        if all(w.lower() in name.lower() for w in words):
            return {"label": label, "tb_s": tb_s, "tflops_fp32": tflops}
    return None


# -- 2. the public suite's gpu tests, as a student runs them -------------------------------------

def public_gpu_tests(report: Report, work: Path, log: Path) -> None:
    xml = work / "public-gpu.xml"
    proc = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", "tests",
                "--submission", "solutions", "--junitxml", str(xml)], log)
    outcomes = junit_outcomes(xml)
    report.data["public_gpu_tests"] = {"exit": proc.returncode, "outcomes": outcomes}
    counts = {k: sum(1 for v in outcomes.values() if v == k) for k in ("passed", "failed", "skipped")}
    if report.simulate:
        report.check(proc.returncode == 0 and counts["passed"] == 0 and counts["skipped"] >= 3 and not counts["failed"],
                     f"`pytest -m gpu tests --submission solutions` without a GPU: {counts['skipped']} skipped, "
                     "none failed (a student's run never simulates a GPU)")
    else:
        report.check(proc.returncode == 0 and counts["passed"] >= 3 and not counts["failed"] and not counts["skipped"],
                     f"`pytest -m gpu tests --submission solutions`: {counts['passed']} passed on the reference")
    report.section("The public suite's gpu tests (in-process, as a student runs them)",
                   table(["test", "outcome"], [[k, v] for k, v in outcomes.items()]))


def junit_outcomes(xml: Path) -> dict[str, str]:
    if not xml.is_file():
        return {}
    outcomes = {}
    for case in ElementTree.parse(xml).iter("testcase"):
        kinds = {child.tag for child in case}
        name = case.get("name", "?")
        outcomes[name] = ("failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed")
    return outcomes


# -- 3. the grader on the reference, the mistake and the stubs -----------------------------------

def fixtures(work: Path) -> dict[str, Path]:
    """The three submissions, written as the test suite writes its own (autograder.examples):
    folders named as the batch's students."""
    sys.path.insert(0, str(REPO))
    from autograder import course
    from autograder.examples import materialize
    from autograder.tests.mistakes.performance import MISTAKES
    from hwkit.grading import load_grading

    subs = work / "submissions"
    if subs.exists():
        shutil.rmtree(subs)
    modules = load_grading(course.find(str(REPO)).grading).modules
    mistake = next(m for m in MISTAKES if m.id == NO_SYNC)
    return {"reference": materialize(subs / "reference", {}, name="reference"),
            "no_sync": mistake.write(subs),
            "stubs": materialize(subs / "stubs", {key: {"from": "assignment"} for key in modules}, name="stubs")}


def grade_gpu(report: Report, subs: dict[str, Path], work: Path, log: Path, sandbox: list[str]) -> dict[str, Path]:
    mode = "simulate" if report.simulate else "require"
    records, rows, messages = {}, [], []
    gpu_dir = work / "gpu-results"
    gpu_dir.mkdir(exist_ok=True)
    for name, sub in subs.items():
        record = gpu_dir / f"{sub.name}.json"
        started = time.perf_counter()
        proc = run([sys.executable, "-m", "autograder.cli", "grade", str(sub), "--gpu", mode, "--record", str(record),
                    *sandbox], log)
        seconds = time.perf_counter() - started
        if not report.check(proc.returncode == 0 and record.is_file(),
                            f"`grade --gpu {mode}` on {name}: exit {proc.returncode}, record written"):
            continue
        records[name] = record
        data = json.loads(record.read_text(encoding="utf-8"))
        gpu_tests = [t for t in data["tests"] if t.get("gpu")]
        got = sum(t["score"] for t in gpu_tests)
        total = sum(t["max_score"] for t in gpu_tests)
        failed = sorted(t["name"].split("::")[-1] for t in gpu_tests if t["status"] != "passed")
        rows.append([name, f"{got:g} / {total:g}", len(gpu_tests), ", ".join(failed) or "—", data.get("gpu"),
                     data.get("sandbox", {}).get("tier", "?"), f"{seconds:.1f} s"])
        if name == "reference":
            messages += [[name, t["name"].split("::")[-1], short(t.get("output", ""))]
                         for t in gpu_tests if t["status"] != "passed"]
        report.data.setdefault("gradings", {})[name] = {"gpu_points": got, "gpu_max": total, "failed": failed,
                                                         "gpu": data.get("gpu"), "seconds": round(seconds, 1),
                                                         "weak": data.get("sandbox", {}).get("weak", [])}
        if report.simulate:
            report.check(data.get("gpu") == "simulated", f"{name}: the record is marked gpu=simulated")
        if name == "reference":
            report.check(total > 0 and got == total and not failed, f"the reference earns every GPU point ({got:g} of {total:g})")
        elif name == "no_sync":
            lost = [t for t in gpu_tests if t["name"].split("::")[-1] in TIMING_TESTS]
            report.check(bool(lost) and all(t["score"] == 0 and t["status"] == "failed" for t in lost),
                         "timing CUDA without synchronising loses the GPU timing points: "
                         + ", ".join(sorted({t['name'].split('::')[-1] for t in lost})))
            sync_named = all("synchronize" in t.get("output", "") for t in lost)
            report.check(sync_named, "…and the message tells the student to synchronise")
        else:
            report.check(got == 0 and total > 0, f"the stubs earn no GPU point ({got:g} of {total:g})")
    report.section(f"`autograder grade --gpu {mode}`",
                   table(["submission", "GPU points", "GPU tests", "not passed", "record's gpu", "sandbox", "time"], rows)
                   + ("\n\nThe reference's GPU tests that did not pass, with the grader's message:\n\n"
                      + table(["submission", "test", "message"], messages) if messages else ""))
    return records


def short(text: str, n: int = 400) -> str:
    """One table cell of a test's message."""
    text = " ".join(text.split())
    return (text[:n] + "…" if len(text) > n else text).replace("|", "\\|")


def sandbox_layers(report: Report) -> None:
    """CUDA under each of the sandbox's layers in turn (benchmarks.gpu_sandbox_layers)."""
    from benchmarks.gpu_sandbox_layers import probe

    rows = probe()
    report.data["sandbox_layers"] = rows
    for row in rows:
        if row["ok"] is not None and "address_space" not in row["layers"] and not row.get("variant"):
            report.check(bool(row["ok"]), f"CUDA starts under: {row['label']}"
                         + ("" if row["ok"] else f" ({short(row.get('error', ''), 200)})"))
    report.section("CUDA under each of the sandbox's layers (benchmarks/gpu_sandbox_layers.py)",
                   table(["layers", "CUDA", "seconds", "error"],
                         [[r["label"], {True: "works", False: "**fails**", None: "—"}[r["ok"]], r.get("seconds", ""),
                           short(r.get("error", ""), 300)] for r in rows]))


PROBE_MODULE = '''"""gpu-check's probe: what CUDA does inside the sandbox, raised so that the grader shows it."""
import os
import resource

lines = [f"uid={os.getuid()}"]
for name in ("nvidiactl", "nvidia0", "nvidia-uvm", "nvidia-uvm-tools"):
    path = "/dev/" + name
    lines.append(f"{name}: exists={os.path.exists(path)} rw={os.access(path, os.R_OK | os.W_OK)}")
lines.append(f"RLIMIT_AS={resource.getrlimit(resource.RLIMIT_AS)[0]} NPROC={resource.getrlimit(resource.RLIMIT_NPROC)[0]}")
import torch

try:
    lines.append(f"is_available={torch.cuda.is_available()}")
    lines.append(f"sum={float(torch.ones(1024, device='cuda').sum())}")
except BaseException as exc:
    lines.append(f"cuda: {type(exc).__name__}: {exc}"[:700])
raise RuntimeError("; ".join(lines))
'''


def sandbox_probe(report: Report, work: Path, log: Path, sandbox: list[str]) -> None:
    """The whole sandbox, as a grading builds it: a submission whose performance module reports
    what CUDA does there (its import raises that report, which the grader's message carries)."""
    from autograder.examples import materialize

    sub = materialize(work / "probe" / "cuda_probe", {"performance": {"source": PROBE_MODULE}}, name="cuda_probe")
    record = work / "probe.json"
    run([sys.executable, "-m", "autograder.cli", "grade", str(sub), "--gpu", "require", "--record", str(record),
         *sandbox], log)
    data = json.loads(record.read_text(encoding="utf-8"))
    seen = next((t.get("output", "") for t in data["tests"] if "uid=" in t.get("output", "")), "")
    report.data["sandbox_probe"] = seen
    report.check("sum=1024.0" in seen, "CUDA works inside the grader's sandbox (the probe module's report)")
    report.section("CUDA inside the grader's sandbox (a probe submission's import)", "```\n" + seen[-2500:] + "\n```")


# -- 4. a small batch, and merge-gpu -------------------------------------------------------------

def batch_and_merge(report: Report, subs: dict[str, Path], records: dict[str, Path], work: Path, log: Path,
                    sandbox: list[str]) -> None:
    out = work / "batch"
    if out.exists():
        shutil.rmtree(out)
    proc = run([sys.executable, "-m", "autograder.cli", "batch", str(next(iter(subs.values())).parent), "--out", str(out),
                "--gpu", "off", "-j", "1", *sandbox], log, timeout=300)
    if not report.check(proc.returncode == 0, f"`batch --gpu off` of the three: exit {proc.returncode}"):
        return
    before = totals(out)
    gradebook = (out / "gradebook.csv").read_bytes()
    proc = run([sys.executable, "-m", "autograder.cli", "merge-gpu", str(out), str(work / "gpu-results")], log)
    after = totals(out)
    shown = lambda t: f"{t[0]:g} / {t[1]:g}" if t else "—"  # noqa: E731
    rows = [[name, shown(before.get(sub.name)), shown(after.get(sub.name))] for name, sub in subs.items()]
    report.data["merge"] = {"exit": proc.returncode, "before": before, "after": after, "output": proc.stdout[-2000:]}
    if report.simulate:
        report.check(proc.returncode != 0 and "simulat" in proc.stdout.lower(),
                     f"merge-gpu refuses the simulated records (exit {proc.returncode}): "
                     + (proc.stdout.strip().splitlines() or ["(no output)"])[-1][:400])
        report.check((out / "gradebook.csv").read_bytes() == gradebook, "…and leaves the batch's gradebook as it was")
    else:
        ref = subs["reference"].name
        report.check(proc.returncode == 0, f"merge-gpu folds the GPU records in (exit {proc.returncode})")
        got, most = after.get(ref, (0.0, -1.0))
        report.check(abs(got - most) < 1e-6 and got > before.get(ref, (0.0, 0.0))[0],
                     f"the reference has full marks in the batch after the merge ({got:g} of {most:g})")
    lost = []
    with contextlib.suppress(OSError, ValueError, KeyError):
        data = json.loads((out / "students" / subs["reference"].name / "record.json").read_text(encoding="utf-8"))
        lost = [[t["name"].split("::")[-1], t["status"], f"{t['score']:g} / {t['max_score']:g}", short(t.get("output", ""))]
                for t in data["tests"] if t["status"] not in ("passed", "pending_gpu")]
    report.data["reference_not_passed"] = lost
    if not report.simulate:
        report.check(not lost, f"the reference passes every CPU test in the batch ({len(lost)} did not)")
    report.section("`autograder batch --gpu off`, then `merge-gpu`",
                   table(["submission", "total before", "total after"], rows)
                   + ("\n\nThe reference's tests that did not pass in the batch:\n\n"
                      + table(["test", "status", "points", "message"], lost) if lost else "")
                   + f"\n\nmerge-gpu: exit {proc.returncode}\n\n```\n{proc.stdout.strip()[-1500:]}\n```")


def totals(out: Path) -> dict[str, tuple[float, float]]:
    """student -> (score, max_score) of the automatic points, from each record."""
    found = {}
    for record in sorted((out / "students").glob("*/record.json")):
        with contextlib.suppress(ValueError, KeyError, OSError):
            data = json.loads(record.read_text(encoding="utf-8"))
            found[record.parent.name] = (float(data["score"]), float(data["max_score"]))
    return found


# -- 5–7. the reference's own measurements -------------------------------------------------------

def reference_module():
    sys.path.insert(0, str(REPO / "solutions"))
    return importlib.import_module("homework_performance")


def reference_runs(report: Report, perf) -> None:
    shapes = perf.SMALL_SHAPES if report.simulate else perf.DEFAULT_SHAPES
    started = time.perf_counter()
    rows = perf.benchmark(shapes, ["cpu", "cuda"], 5)
    table_rows = perf.speedup_table(rows)
    seconds = time.perf_counter() - started
    report.data["benchmark"] = {"shapes": [list(s) for s in shapes], "table": table_rows, "seconds": round(seconds, 1)}
    report.check(all(r["cuda_ms"] and r["cuda_ms"] > 0 for r in table_rows), "benchmark(): every operation timed on cuda")
    shape = tuple(shapes[0][1:])
    transfer = perf.transfer_overhead(shape, 10)
    report.data["transfer_overhead"] = {"shape": list(shape), **transfer}
    report.check(all(v > 0 for v in transfer.values()), f"transfer_overhead({shape}, 10): every figure positive")
    report.section(f"The reference's `benchmark({'SMALL' if report.simulate else 'DEFAULT'}_SHAPES, ['cpu', 'cuda'], 5)` "
                   f"({seconds:.1f} s)", "```\n" + perf.format_table(table_rows) + "\n```\n\n"
                   + f"`transfer_overhead({shape}, 10)`, ms:\n\n"
                   + table(list(transfer), [[f"{v:.4f}" for v in transfer.values()]]))


def timings(report: Report, perf, info: dict) -> None:
    import torch
    from torch.utils import benchmark as torch_benchmark

    shapes = perf.SMALL_SHAPES if report.simulate else perf.DEFAULT_SHAPES
    do_bench = None
    if not report.simulate:
        with contextlib.suppress(ImportError):
            do_bench = importlib.import_module("triton.testing").do_bench
    p = info.get("peak")
    rows, data = [], []
    for shape in shapes:
        t = perf.make_tensors([shape], "cuda", 0)[0]
        numel = t.numel()
        for name, op in perf.OPERATIONS.items():
            ours = perf.measure_time(op, t, device="cuda", warmup=3, repeat=20)
            timer = torch_benchmark.Timer(stmt="op(t)", globals={"op": op, "t": t}).blocked_autorange(min_run_time=0.3)
            triton_ms = do_bench(lambda op=op, t=t: op(t)) if do_bench else None
            moved, flops = work_of(name, shape, t.element_size())
            gb_s = moved / (ours / 1000) / 1e9 if moved else None
            tflops = flops / (ours / 1000) / 1e12 if flops else None
            of_peak = (gb_s / (p["tb_s"] * 1000) if gb_s else tflops / p["tflops_fp32"]) if p else None
            entry = {"op": name, "shape": list(shape), "ours_ms": ours, "timer_median_ms": timer.median * 1000,
                     "triton_ms": triton_ms, "gb_s": gb_s, "tflops": tflops, "of_peak": of_peak, "numel": numel}
            data.append(entry)
            rows.append([name, "x".join(map(str, shape)), f"{ours:.4f}", f"{timer.median * 1000:.4f}",
                         f"{triton_ms:.4f}" if triton_ms is not None else "—",
                         f"{gb_s:.0f} GB/s" if gb_s else f"{tflops:.1f} TFLOP/s",
                         f"{of_peak:.0%}" if of_peak is not None else "—"])
        t = None  # (the largest shape's 256 MiB freed before the next one)
        if not report.simulate:
            torch.cuda.empty_cache()
    report.data["timings"] = data
    for e in data:
        if e["of_peak"] is not None:
            report.check(e["of_peak"] <= 1.0, f"{e['op']} {e['shape']}: {e['of_peak']:.0%} of peak, not above 100 %")
        if not report.simulate:  # (in simulation Timer's host clock also counts the maths the CPU does)
            agree = e["ours_ms"] / e["timer_median_ms"]
            report.check(0.5 <= agree <= 2.0, f"{e['op']} {e['shape']}: measure_time within 2× of Timer's median "
                                              f"({agree:.2f}×)")
    if p and not report.simulate:
        adds = [e for e in data if e["op"] == "add"]
        best_add = max(e["of_peak"] for e in adds)
        largest = max((e for e in data if e["op"] == "matmul"), key=lambda e: e["numel"] * e["shape"][-1])
        report.data["targets"] = {"add_bandwidth": best_add, "largest_matmul": largest["of_peak"]}
        # Reported, not failed: a shortfall is a finding about the card or the op to explain in docs/gpu.md.
        print(f"  target add ≥ {BANDWIDTH_TARGET:.0%} of peak bandwidth: {best_add:.0%}; largest matmul ≥ "
              f"{MATMUL_TARGET:.0%} of FP32 peak: {largest['of_peak']:.0%}")
    report.section("`measure_time` next to `torch.utils.benchmark.Timer` and `triton.testing.do_bench` (ms per call)",
                   "Bytes are each distinct tensor read or written once (float32): add, mul and the transpose "
                   "copy read N and write N elements, sum reads N; matmul of (b, n, n) is 2·b·n³ FLOPs "
                   "(FP32: TF32 stays off, torch's default)."
                   + (" In simulation the device times are the model's and Timer's are the host's, which "
                      "also runs the maths on the CPU: the columns are not comparable." if report.simulate else "")
                   + "\n\n"
                   + table(["op", "shape", "measure_time", "Timer median", "do_bench", "achieved", "of peak"], rows))


def ceilings(report: Report, info: dict) -> None:
    """What this card reaches outside the homework, timed with CUDA events: a 1 GiB device-to-device
    copy (the bandwidth any elementwise op can hope for) and an 8192³ FP32 matmul (cuBLAS's
    best case): the yardsticks for the percentages above when they fall short of the targets."""
    import torch

    def best_ms(fn, repeat: int = 20) -> float:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(repeat):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return sorted(times)[len(times) // 2]

    p = info.get("peak")
    src = torch.empty(2**28, device="cuda")  # 1 GiB of float32
    dst = torch.empty_like(src)
    copy_ms = best_ms(lambda: dst.copy_(src))
    copy_gb_s = 2 * src.numel() * 4 / (copy_ms / 1000) / 1e9
    src = dst = None  # (freed before the matmul)
    a = torch.randn(8192, 8192, device="cuda")
    b = torch.randn(8192, 8192, device="cuda")
    mm_ms = best_ms(lambda: a @ b, repeat=10)
    mm_tflops = 2 * 8192**3 / (mm_ms / 1000) / 1e12
    a = b = None
    torch.cuda.empty_cache()
    data = {"copy_1gib_gb_s": copy_gb_s, "matmul_8192_fp32_tflops": mm_tflops,
            "tf32_allowed": torch.backends.cuda.matmul.allow_tf32}
    if p:
        data.update(copy_of_peak=copy_gb_s / (p["tb_s"] * 1000), matmul_of_peak=mm_tflops / p["tflops_fp32"])
    report.data["ceilings"] = data
    report.check(not data["tf32_allowed"], "FP32 matmuls run in FP32 (TF32 off, torch's default)")
    rows = [["device-to-device copy, 1 GiB", f"{copy_ms:.3f} ms", f"{copy_gb_s:.0f} GB/s",
             f"{data['copy_of_peak']:.0%}" if p else "—"],
            ["matmul 8192×8192 @ 8192×8192, FP32", f"{mm_ms:.3f} ms", f"{mm_tflops:.1f} TFLOP/s",
             f"{data['matmul_of_peak']:.0%}" if p else "—"]]
    report.section("What the card reaches outside the homework (CUDA events, median)",
                   table(["yardstick", "time", "achieved", "of datasheet peak"], rows))


def work_of(name: str, shape: tuple, itemsize: int) -> tuple[float, float]:
    """(bytes moved, FLOPs) of one call of OPERATIONS[name] on a tensor of `shape`."""
    numel = 1
    for n in shape:
        numel *= n
    if name == "matmul":
        batch = numel // (shape[-1] * shape[-2])
        return 0.0, 2.0 * batch * shape[-2] * shape[-1] * shape[-1]
    return (numel * itemsize * (1 if name == "sum" else 2)), 0.0


# -- the run -------------------------------------------------------------------------------------

@contextlib.contextmanager
def simulated_gpu(on: bool):
    """The simulated GPU in this process (the script's own measurements), when asked for."""
    if not on:
        yield
        return
    from hwkit import simgpu

    with simgpu.installed():
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder for gpu.md, gpu.json and gpu-check.log")
    parser.add_argument("--simulate", action="store_true",
                        help="no GPU here: grade with `--gpu simulate`, measure on the simulated device, SMALL_SHAPES")
    parser.add_argument("--sandbox", choices=("auto", "bubblewrap", "landlock"), default=None,
                        help="the grader's sandbox tier (passed to grade and batch)")
    parser.add_argument("--allow-weak-sandbox", action="store_true",
                        help="grade where the sandbox cannot keep a promise: for these fixtures only (the "
                             "reference and known mistakes, no student code)")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "gpu-check.log"
    log.write_text("", encoding="utf-8")
    sandbox = (["--sandbox", args.sandbox] if args.sandbox else []) + (["--allow-weak-sandbox"] if args.allow_weak_sandbox else [])
    report = Report(args.simulate)
    started = time.perf_counter()
    import torch

    if not args.simulate and not torch.cuda.is_available():
        print("gpu-check: torch sees no CUDA GPU here; use --simulate (make gpu-check does so by itself)", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        work = Path(args.work) if args.work else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gpu-check-")))
        work.mkdir(parents=True, exist_ok=True)
        step(report, out, log, "0. the machine", machine, report, args.sandbox)
        with simulated_gpu(args.simulate):
            info = step(report, out, log, "1. the card", card, report) or {}
        step(report, out, log, "2. the public suite's gpu tests", public_gpu_tests, report, work, log)
        subs = step(report, out, log, "3a. the fixtures", fixtures, work)
        if subs:
            if not args.simulate:
                step(report, out, log, "3b. CUDA under each sandbox layer", sandbox_layers, report)
                step(report, out, log, "3c. CUDA inside the grader's sandbox", sandbox_probe, report, work, log, sandbox)
            records = step(report, out, log, "3. grading on the GPU", grade_gpu, report, subs, work, log, sandbox) or {}
            step(report, out, log, "4. batch and merge-gpu", batch_and_merge, report, subs, records, work, log, sandbox)
        with simulated_gpu(args.simulate):
            perf = step(report, out, log, "5a. the reference module", reference_module)
            if perf is not None:
                step(report, out, log, "5. the reference's benchmark() and transfer_overhead()", reference_runs, report, perf)
                step(report, out, log, "6–7. timings and achieved throughput", timings, report, perf, info)
        if not args.simulate:
            step(report, out, log, "8. the card's own ceilings", ceilings, report, info)
        # The records and the batch's folder as they are, for what the report does not show.
        with contextlib.suppress(OSError):
            with tarfile.open(out / "artifacts.tar.gz", "w:gz") as tar:
                for name in ("gpu-results", "batch", "probe.json", "public-gpu.xml"):
                    if (work / name).exists():
                        tar.add(work / name, arcname=name)
    report.data["seconds"] = round(time.perf_counter() - started, 1)
    report.section("Run", f"{report.data['seconds']} s in all; the kit's commands and their output are in "
                          "gpu-check.log beside this report.\n\n"
                   + table(["step", "seconds"], [[k, v] for k, v in report.data.get("step_seconds", {}).items()]))
    report.write(out)
    print(f"gpu-check: {len(report.data['checks']) - len(report.failed)} of {len(report.data['checks'])} checks ok, "
          f"{report.data['seconds']} s; report in {out / 'gpu.md'}")
    for failed in report.failed:
        print(f"FAILED: {failed}", file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

"""The public suite as a student runs it: passes on the reference, fails cleanly on the stubs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from autograder.tests import REPO


def run_public(submission: str, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfs",
                           "tests", "--submission", submission, *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "400"})  # short summary lines untruncated
    return proc, time.perf_counter() - started


def counts(output: str) -> dict[str, int]:
    last = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)][-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", last)}


def test_public_suite_passes_on_the_reference_and_prints_points():
    proc, seconds = run_public("solutions")
    assert proc.returncode == 0, proc.stdout[-3000:]
    c = counts(proc.stdout)
    assert c.get("failed", 0) == 0 and c["passed"] > 50
    assert "points per task" in proc.stdout and "Task 1" in proc.stdout
    assert seconds < 60  # the ≤ 15 s target is measured by benchmarks, not asserted here


def test_public_suite_fails_every_test_on_the_stubs_with_the_task_named():
    proc, _ = run_public("assignment")
    assert proc.returncode == 1
    c = counts(proc.stdout)
    assert c.get("passed", 0) == 0 and c["failed"] > 50 and "error" not in c and "errors" not in c
    failures = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    assert failures and all(re.search(r"Task \d\.\d", line) for line in failures), \
        [line for line in failures if not re.search(r"Task \d\.\d", line)][:5]


def test_one_task_can_be_selected_by_marker():
    proc, _ = run_public("solutions", "-m", "task2")
    c = counts(proc.stdout)
    assert proc.returncode == 0 and c["passed"] > 10
    assert "test_tensors" not in proc.stdout


SLOW_TESTS = '''
from hwkit import checks
RUNS = []

def test_slow_only_once():
    RUNS.append(1)
    if len(RUNS) == 1:
        checks.too_slow("a busy machine made this timing long")

def test_slow_every_time():
    checks.too_slow("the total, not the mean")
'''


def test_a_timing_that_came_out_too_long_is_measured_once_more(tmp_path):
    (tmp_path / "test_slow.py").write_text(SLOW_TESTS)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
                           "--rootdir", str(REPO), "-p", "hwkit.plugin", str(tmp_path / "test_slow.py")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert counts(proc.stdout) == {"passed": 1, "failed": 1}, proc.stdout[-2000:]
    assert "test_slow_every_time" in proc.stdout and "the total, not the mean" in proc.stdout


# The CUDA calls the docstring of measure_time lists as the simulated device's: each correct way
# to time on a GPU with them passes the hidden suite's measure_time tests.
_CUDA_TAIL = '''    torch.cuda.synchronize()  # every event must be reached before reading it
    return float(sum(start.elapsed_time(end) for start, end in events) / repeat)'''
TIMING_VARIANTS = {
    "event-synchronize": (_CUDA_TAIL, '''    for _, end in events:
        end.synchronize()
    return float(sum(start.elapsed_time(end) for start, end in events) / repeat)'''),
    "stream-and-device-synchronize": (
        "    torch.cuda.synchronize()  # do not let queued warm-up work leak into the first timing",
        "    torch.cuda.current_stream().synchronize()"),
    "clock-between-synchronizations": (
        "    torch.cuda.synchronize()  # do not let queued warm-up work leak into the first timing\n"
        "    events = []", '''    torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(repeat):
        func(*args, **kwargs)
    torch.cuda.synchronize(device)
    return (time.perf_counter() - started) * 1000.0 / repeat
    events = []'''),
}


@pytest.mark.parametrize("variant", list(TIMING_VARIANTS))
def test_every_documented_way_to_time_on_the_simulated_gpu_passes(tmp_path, variant):
    from autograder.tests.conftest import make_submission

    old, new = TIMING_VARIANTS[variant]
    source = (REPO / "solutions" / "homework_performance.py").read_text(encoding="utf-8")
    assert old in source, "the reference changed: update TIMING_VARIANTS"
    sub = make_submission(tmp_path / "sub", replace={"performance": source.replace(old, new, 1)})
    # (the hidden suite's measure_time tests, the strictest: loaded with -p as the grader does)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-p", "hwkit.plugin",
                           "-k", "measure_time", "--submission", str(sub),
                           "autograder/hidden/test_performance_hidden.py"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "400"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert counts(proc.stdout)["passed"] >= 5, proc.stdout[-3000:]

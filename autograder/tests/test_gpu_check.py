"""`make gpu-check` on this machine: the whole prepared GPU run on the simulated GPU, so the
script the GPU machine runs cannot rot between the sessions that are lent one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from autograder.tests import REPO
from benchmarks import gpu_check


@pytest.fixture(scope="module")
def simulated_run(tmp_path_factory) -> dict:
    out, work = tmp_path_factory.mktemp("gpu-check"), tmp_path_factory.mktemp("gpu-check-work")
    # The Makefile's own driver, as `make gpu-check` calls it (GPU_PYTHON: no GPU here either way).
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh", str(out), "--work", str(work)], cwd=REPO,
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "VENV_PYTHON": sys.executable, "GPU_PYTHON": sys.executable})
    return {"proc": proc, "out": out, "work": work,
            "data": json.loads((out / "gpu.json").read_text(encoding="utf-8")) if (out / "gpu.json").is_file() else None}


def _checks(run: dict) -> list[str]:
    return [c["check"] for c in run["data"]["checks"]]


def test_the_simulated_run_passes_every_check(simulated_run):
    proc, data = simulated_run["proc"], simulated_run["data"]
    assert "no CUDA GPU here: the simulated GPU" in proc.stdout
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert data is not None and data["simulated"] is True
    failed = [c["check"] for c in data["checks"] if not c["ok"]]
    assert not failed
    assert len(data["checks"]) >= 20


def test_the_grader_gives_each_fixture_what_the_issue_says(simulated_run):
    gradings = simulated_run["data"]["gradings"]
    assert set(gradings) == {"reference", "no_sync", "stubs"}
    reference, no_sync, stubs = gradings["reference"], gradings["no_sync"], gradings["stubs"]
    assert reference["gpu_points"] == reference["gpu_max"] > 0 and not reference["failed"]
    assert set(gpu_check.TIMING_TESTS) <= set(no_sync["failed"])
    assert no_sync["gpu_points"] < reference["gpu_max"]
    assert stubs["gpu_points"] == 0
    assert {g["gpu"] for g in gradings.values()} == {"simulated"}


def test_merge_gpu_refuses_the_simulated_records_and_changes_nothing(simulated_run):
    merge = simulated_run["data"]["merge"]
    assert merge["exit"] != 0
    assert "simulat" in merge["output"].lower()
    assert merge["before"] == merge["after"] and len(merge["before"]) == 3


def test_the_report_says_simulated_and_has_every_section(simulated_run):
    text = (simulated_run["out"] / "gpu.md").read_text(encoding="utf-8")
    assert "SIMULATED GPU" in text
    for heading in ("## The card", "## The public suite's gpu tests", "## `autograder grade --gpu simulate`",
                    "## `autograder batch --gpu off`, then `merge-gpu`", "## The reference's `benchmark(SMALL_SHAPES",
                    "## `measure_time` next to"):
        assert heading in text, heading
    timings = simulated_run["data"]["timings"]
    assert {t["op"] for t in timings} == {"matmul", "add", "mul", "transpose", "sum"}
    assert all(t["ours_ms"] > 0 and t["timer_median_ms"] > 0 for t in timings)
    # The command that really ran on the grader's machine is in the log beside the report.
    log = (simulated_run["out"] / "gpu-check.log").read_text(encoding="utf-8")
    assert "grade" in log and "--gpu simulate" in log and "merge-gpu" in log


def test_on_a_gpu_the_same_outcomes_merge_into_full_marks_for_the_reference(simulated_run, tmp_path):
    """What the GPU machine's merge does, on the simulated run's outcomes relabelled as a real run's
    (by the test, never by the kit): the reference's pending points — the gpu tests and the test
    gated on one — all arrive, and the two others get what their outcomes earn."""
    work = simulated_run["work"]
    batch = tmp_path / "batch"
    shutil.copytree(work / "batch", batch)
    relabelled = tmp_path / "gpu-results"
    relabelled.mkdir()
    for record in (work / "gpu-results").glob("*.json"):
        data = json.loads(record.read_text(encoding="utf-8"))
        assert data["gpu"] == "simulated"
        data["gpu"] = "require"
        (relabelled / record.name).write_text(json.dumps(data), encoding="utf-8")
    before = gpu_check.totals(batch)
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "merge-gpu", str(batch), str(relabelled)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = gpu_check.totals(batch)
    score, most = after["reference"]
    assert score == most > before["reference"][0]
    assert after["stubs"][0] == before["stubs"][0]
    assert before["cuda_timed_without_synchronize"][0] < after["cuda_timed_without_synchronize"][0] < most


@pytest.mark.parametrize("name, label", [("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H200", "H200 SXM"),
                                         ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H100 NVL", "H100 NVL")])
def test_the_peak_is_looked_up_by_the_card_name(name, label):
    assert gpu_check.peak(name)["label"] == label


def test_an_unknown_card_gets_no_percentage():
    assert gpu_check.peak("NVIDIA GeForce GTX 1080") is None


def test_bytes_and_flops_of_each_operation():
    # (64, 1024, 1024) float32: 256 MiB per tensor
    size = 64 * 1024 * 1024 * 4
    assert gpu_check.work_of("add", (64, 1024, 1024), 4) == (2 * size, 0.0)
    assert gpu_check.work_of("transpose", (64, 1024, 1024), 4) == (2 * size, 0.0)
    assert gpu_check.work_of("sum", (64, 1024, 1024), 4) == (size, 0.0)
    assert gpu_check.work_of("matmul", (64, 1024, 1024), 4) == (0.0, 2.0 * 64 * 1024 ** 3)


def test_without_a_gpu_the_real_run_refuses_and_says_how(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--simulate" in proc.stderr

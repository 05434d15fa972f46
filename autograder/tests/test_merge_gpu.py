"""merge-gpu: results pending a GPU are completed by a later `grade --gpu require` run."""

from __future__ import annotations

import csv
import json

import pytest

from autograder.tests import REPO, reference_scores
from autograder.cli import main
from autograder.merge_gpu import MergeError, merge
from autograder.report import gradescope
from hwkit import record
from hwkit.record import build
from hwkit.grading import load_grading
from hwkit.scoring import CaseOutcome, score

GRADING = load_grading(REPO / "grading.yml")
GPU_TESTS = {"tests/test_performance.py::test_gpu_measure_time_real_kernel", "tests/test_performance.py::"
             "test_gpu_benchmark_and_speedups", "tests/test_performance.py::test_gpu_transfer_overhead",
             "autograder/hidden/test_performance_hidden.py::test_gpu_measure_time_hidden",
             "autograder/hidden/test_performance_hidden.py::test_gpu_benchmark_device_order_hidden",
             "autograder/hidden/test_performance_hidden.py::test_gpu_transfer_overhead_hidden",
             "autograder/hidden/test_performance_hidden.py::test_gpu_make_tensors_on_cuda"}


def _result(statuses: dict[str, str], gpu_only: bool = False) -> record.GradingResult:
    """A grading's record as `grade --record` writes it, from one outcome per test."""
    outcomes = [CaseOutcome(t, statuses.get(t, "passed"), "gpu said no" if statuses.get(t) == "failed" else "")
                for t in GRADING.all_tests() if not gpu_only or t in GPU_TESTS]
    tasks = score(GRADING, outcomes)
    if gpu_only:
        for task in tasks:
            task.tests = [t for t in task.tests if t.status != "not_run"]
    return build(GRADING.assignment, "sub", tasks, execution_time=1.0, sandbox={}, worker_restarts=0, gpu="off",
                 errors=[])


def _batch(tmp_path, students: dict[str, record.GradingResult]):
    out = tmp_path / "out"
    for sid, result in students.items():
        folder = out / "students" / sid
        folder.mkdir(parents=True)
        record.save(result, folder / "record.json")
        (folder / "status.json").write_text(json.dumps({"id": sid, "status": "graded"}))
    return out


def test_gpu_results_complete_the_pending_points_and_the_gradebook(tmp_path):
    pending = {t: "pending_gpu" for t in GPU_TESTS}
    cpu = _result(pending)
    assert cpu.score == pytest.approx(reference_scores()[0])  # the gated CPU test waits too
    out = _batch(tmp_path, {"alice": cpu, "bob": cpu, "carol": cpu})
    gpu_dir = tmp_path / "gpu"
    gpu_dir.mkdir()
    record.save(_result({}, gpu_only=True), gpu_dir / "alice.json")  # `grade --gpu require --record`
    # bob's GPU run fails one test (0.75 points); carol has no GPU run yet. bob's came as
    # results.json (`grade --gpu require --json`), which is read too.
    failed = {"tests/test_performance.py::test_gpu_benchmark_and_speedups": "failed"}
    (gpu_dir / "bob.json").write_text(gradescope.render(_result(failed, gpu_only=True)))
    assert main(["merge-gpu", str(out), str(gpu_dir)]) == 0
    scores = {row["student"]: row for row in csv.DictReader(open(out / "gradebook.csv"))}
    automatic = sum(t.points for t in GRADING.automatic_tasks().values())
    assert float(scores["alice"]["total"]) == automatic and float(scores["alice"]["pending_gpu"]) == 0
    assert float(scores["bob"]["total"]) == automatic - GRADING.points_for(next(iter(failed)))[1]
    assert float(scores["carol"]["total"]) == reference_scores()[0] and float(scores["carol"]["pending_gpu"]) > 0
    alice = json.loads((out / "students/alice/results.json").read_text())
    gated = next(t for t in alice["tests"] if t["name"].endswith("test_transfer_overhead_needs_a_gpu"))
    assert gated["score"] == 0.25  # its prerequisite passed on the GPU, so it counts now
    assert "pending" not in (out / "students/alice/feedback.md").read_text().lower()


def test_a_gpu_run_never_changes_a_cpu_verdict(tmp_path):
    cpu = _result({**{t: "pending_gpu" for t in GPU_TESTS}, "tests/test_tensors.py::test_create_tensors_values": "failed"})
    out = _batch(tmp_path, {"dave": cpu})
    gpu = _result({}, gpu_only=True)
    # A forged GPU file that also claims the failed CPU test passed.
    gpu.cases.append({"nodeid": "tests/test_tensors.py::test_create_tensors_values", "status": "passed",
                      "message": ""})
    (tmp_path / "gpu").mkdir()
    record.save(gpu, tmp_path / "gpu" / "dave.json")
    merge(out, tmp_path / "gpu", GRADING)
    merged = json.loads((out / "students/dave/results.json").read_text())
    automatic = sum(t.points for t in GRADING.automatic_tasks().values())
    lost = GRADING.points_for("tests/test_tensors.py::test_create_tensors_values")[1]
    assert merged["score"] == pytest.approx(automatic - lost)


def test_unusable_inputs_are_named(tmp_path, capsys):
    assert main(["merge-gpu", str(tmp_path / "nope"), str(tmp_path)]) == 2
    assert "not a batch output folder" in capsys.readouterr().err
    out = _batch(tmp_path, {"erin": _result({t: "pending_gpu" for t in GPU_TESTS})})
    (tmp_path / "gpu").mkdir()
    (tmp_path / "gpu" / "erin.json").write_text("{}")
    with pytest.raises(MergeError, match="erin.json: not a record or results.json"):
        merge(out, tmp_path / "gpu", GRADING)


def test_a_batch_folder_from_before_records_is_refused_not_emptied(tmp_path):
    out = _batch(tmp_path, {"erin": _result({t: "pending_gpu" for t in GPU_TESTS})})
    old = out / "students" / "erin"
    (old / "results.json").write_text(gradescope.render(_result({t: "pending_gpu" for t in GPU_TESTS})))
    (old / "record.json").unlink()  # as an older autograder left it
    (out / "gradebook.csv").write_text("student,total\nerin,83.75\n")
    (tmp_path / "gpu").mkdir()
    with pytest.raises(MergeError, match="graded by an older autograder .* --force"):
        merge(out, tmp_path / "gpu", GRADING)
    assert (out / "gradebook.csv").read_text() == "student,total\nerin,83.75\n"

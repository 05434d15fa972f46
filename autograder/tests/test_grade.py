"""Whole gradings: the reference, the stubs, and submissions that try to cheat."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder.tests import REPO
from autograder.cli import main
from autograder.grade import grade
from autograder.report import feedback

from .conftest import needs_strong_sandbox

pytestmark = needs_strong_sandbox


@pytest.fixture(scope="module")
def reference():
    return grade(REPO / "solutions", gpu="off")


def test_solutions_earn_every_point_a_cpu_grader_can_give(reference):
    not_passed = [t for t in reference.tests if t.status != "passed"]
    assert all(t.status == "pending_gpu" for t in not_passed), [(t.name, t.output) for t in not_passed]
    pending = sum(t.max_score for t in reference.pending_gpu)
    assert pending > 0
    assert reference.score == pytest.approx(reference.max_score - pending)
    assert reference.sandbox["filesystem"] != "NONE"


def test_stubs_score_zero_and_every_test_fails_cleanly():
    result = grade(REPO / "assignment", gpu="off")
    assert result.score == 0
    failed = [t for t in result.tests if t.status == "failed"]
    assert failed and all(t.status in ("failed", "pending_gpu") for t in result.tests)
    assert all("not implemented yet" in t.output or "NotImplementedError" in t.output for t in failed), \
        [t.output for t in failed if "NotImplementedError" not in t.output][:3]
    assert result.worker_restarts == 0
    # A blank submission's feedback lists the functions to start with, not one section per test.
    shown = feedback.render(result)
    assert len(shown.splitlines()) <= 80 and "create_tensors" in shown, shown[:3000]
    assert shown.count("not implemented yet") <= 1


# Attacks on the grader (tampering, faults, escapes) are in the red-team corpus: test_redteam.py.


def test_cli_writes_gradescope_results_and_feedback_from_a_zip(tmp_path, submission):
    sub = submission(replace={"tensors": "def create_tensors(:\n"})  # a syntax error
    archive = tmp_path / "hw.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sub.iterdir():
            z.write(f, f"student/{f.name}")
        z.writestr("../escape/homework_tensors.py", "print('never extracted')")
    out_json, out_md = tmp_path / "results.json", tmp_path / "feedback.md"
    assert main(["grade", str(archive), "--gpu", "off", "--json", str(out_json), "--feedback", str(out_md)]) == 0
    data = json.loads(out_json.read_text())
    assert {"score", "max_score", "execution_time", "tests", "extra_data"} <= set(data)
    # (a test waiting for a GPU has no status: Gradescope would show it as failed)
    assert all({"name", "score", "max_score", "output", "visibility", "tags"} <= set(t) for t in data["tests"])
    assert all(("status" in t) == ("pending_gpu" not in t["tags"]) for t in data["tests"])
    task1 = [t for t in data["tests"] if "task1" in t["tags"]]
    assert task1 and all(t["score"] == 0 for t in task1)
    assert all("SyntaxError" in t["output"] for t in task1)
    assert data["extra_data"]["tasks"]["task2"]["score"] > 0
    assert data["extra_data"]["pending_gpu"], "the GPU-only tests are listed as pending"
    feedback = out_md.read_text()
    assert "Points per task" in feedback and "SyntaxError" in feedback


def test_cli_exit_codes_for_unusable_input(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "missing")]) == 2
    assert "no such file" in " ".join(capsys.readouterr().err.split())
    bad = tmp_path / "grading.yml"
    bad.write_text("assignment: x\ntotal: 100\ntasks:\n  t:\n    title: T\n    points: 100\n"
                   "    tests:\n      tests/test_x.py::test_y: 90\n")
    assert main(["grade", str(REPO / "solutions"), "--grading", str(bad)]) == 2
    assert "grading.yml:4: tasks.t: test points add up to 90" in "".join(capsys.readouterr().err.split("\n"))


def test_bundled_examples_get_their_documented_scores(capsys):
    assert main(["grade-examples"]) == 0
    assert "full_marks" in capsys.readouterr().out


def test_check_validates_the_repository(capsys):
    assert main(["check"]) == 0
    assert "assignment/ is in sync" in capsys.readouterr().out


def test_a_sandbox_that_cannot_start_stops_grading_instead_of_scoring_zero(monkeypatch):
    from autograder.grade import GraderError

    from autograder.sandbox.zygote import Sandbox

    monkeypatch.setattr(Sandbox, "_command_line", lambda self, inner: ["/bin/false"])
    started = time.monotonic()
    with pytest.raises(GraderError, match="sandbox could not start"):
        grade(REPO / "solutions", gpu="off")
    assert time.monotonic() - started < 60


def test_an_example_edit_that_no_longer_fits_the_reference_is_reported(tmp_path):
    from autograder.examples import ExampleError, materialize

    with pytest.raises(ExampleError, match="partial: homework_autograd.py: 'no such line' occurs 0 times"):
        materialize(tmp_path / "x", {"autograd": {"replace": [["no such line", "x"]]}}, name="partial")


# Every public function of the module sleeps `SLOW` seconds first, then answers right.
SLOWED = r'''
import functools as _functools
import inspect as _inspect
import time as _time


def _slowed(function):
    @_functools.wraps(function)
    def slow(*args, **kwargs):
        _time.sleep(@@SLOW@@)
        return function(*args, **kwargs)
    return slow


for _name, _value in list(globals().items()):
    if _inspect.isfunction(_value) and _value.__module__ == __name__ and not _name.startswith("_"):
        globals()[_name] = _slowed(_value)
'''


def test_a_submission_slow_everywhere_is_stopped_by_the_grading_budget(tmp_path, submission):
    """Every call takes 0.9 x call_timeout_s: no call times out, so only the budget stops it."""
    import yaml

    config = yaml.safe_load((REPO / "grading.yml").read_text(encoding="utf-8"))
    config["limits"].update(call_timeout_s=2, grading_timeout_s=12)
    grading = tmp_path / "grading.yml"
    grading.write_text(yaml.safe_dump(config), encoding="utf-8")
    slow = SLOWED.replace("@@SLOW@@", "1.8")
    sub = submission(append={"tensors": slow, "autograd": slow, "performance": slow})
    out_json, out_md = tmp_path / "results.json", tmp_path / "feedback.md"
    started = time.monotonic()
    assert main(["grade", str(sub), "--gpu", "off", "--grading", str(grading), "--json", str(out_json),
                 "--feedback", str(out_md)]) == 0
    took = time.monotonic() - started
    assert took < 12 + 30, f"the grading took {took:.0f} s"  # the budget, plus starting the sandbox and pytest
    data = json.loads(out_json.read_text())
    stopped = [t for t in data["tests"] if "grading_timeout_s" in t["output"] and "pending_gpu" not in t["tags"]]
    assert stopped and all(t["score"] < t["max_score"] for t in stopped)
    assert not any("timed out after" in t["output"] for t in data["tests"]), "no single call ran past its limit"
    assert 0 < data["score"] < 30, "the tests run before the budget was spent keep their points"
    assert "grading_timeout_s" in out_md.read_text()


def _peak_rss_mb(submission: Path) -> float:
    """The trusted grading process's own peak resident memory (its sandbox not counted)."""
    code = ("import resource, sys\nfrom autograder.grade import grade\ngrade(sys.argv[1], gpu='off')\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code, str(submission)], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=600)
    return float(out.stdout.split()[-1])


# Zero-stride views as large as limits.max_elements allows (four bytes on the wire each), in
# place of the reference's answers (renamed _reference_*).
ZERO_STRIDE = r'''


def tensor_operations(a, b):
    out = _reference_tensor_operations(a, b)
    return {k: torch.zeros(1, dtype=v.dtype).expand(4096, 4096) for k, v in out.items()}


def index_tensor(t):
    return {k: torch.zeros(1).expand(4096, 4096) for k in _reference_index_tensor(t)}
'''


def test_zero_stride_answers_cost_the_grader_little_memory(submission):
    source = (REPO / "solutions" / "homework_tensors.py").read_text()
    hostile = source.replace("def tensor_operations(", "def _reference_tensor_operations(").replace(
        "def index_tensor(", "def _reference_index_tensor(") + ZERO_STRIDE
    relu = "\n\nclass CustomReLU(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n" \
           "        return torch.zeros(1, dtype=x.dtype).expand(4096, 4096)\n\n    @staticmethod\n" \
           "    def backward(ctx, g):\n        return torch.zeros(1, dtype=g.dtype).expand(4096, 4096)\n"
    reference = _peak_rss_mb(REPO / "solutions")
    attacked = _peak_rss_mb(submission(replace={"tensors": hostile}, append={"autograd": relu}))
    assert attacked < reference + 256, f"{attacked:.0f} MB against {reference:.0f} MB for the reference"

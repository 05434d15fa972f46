"""Whole gradings: the reference, the stubs, and submissions that try to cheat."""

from __future__ import annotations

import json
import time
import zipfile

import pytest

from autograder import REPO
from autograder.cli import main
from autograder.grade import grade

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


TAMPER_ASSERTS = '''
import torch, torch.testing, builtins
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
torch.autograd.gradcheck = lambda *a, **k: True
'''

WRONG_BUT_TAMPERING = {
    # Wrong answers everywhere in Task 1, plus tampering with every comparison it can reach.
    "tensors": TAMPER_ASSERTS + '''
def create_tensors():
    return {k: torch.zeros(1) for k in ("random_3x4", "zeros_2x3x4", "ones_5x5", "range_4x4")}
def tensor_operations(a, b):
    return {k: torch.zeros(1) for k in ("transpose", "matmul", "elementwise", "sum")}
def index_tensor(t):
    return {k: torch.zeros(1) for k in ("first_row", "last_column", "center_2x2", "even_indices")}
def reshape_tensor(t):
    return {s: torch.zeros(1) for s in [(2, 12), (3, 8), (4, 6), (2, 3, 4), (2, 2, 2, 3)]}
''',
}


def test_monkeypatching_comparisons_at_import_gains_nothing(submission, reference, tmp_path):
    from .conftest import make_submission

    honest = {"tensors": WRONG_BUT_TAMPERING["tensors"].replace(TAMPER_ASSERTS, "import torch\n")}
    baseline = grade(make_submission(tmp_path / "honest", replace=honest), gpu="off")
    result = grade(submission(replace=WRONG_BUT_TAMPERING), gpu="off")
    task1 = next(t for t in result.tasks if t.name == "task1")
    # Exactly what the same wrong code earns without tampering (e.g. "inputs not modified").
    assert task1.score == next(t for t in baseline.tasks if t.name == "task1").score < 2
    # The patches live on in the worker, so they can only hurt the other tasks, never help.
    assert result.score <= reference.score
    task2 = next(t for t in result.tasks if t.name == "task2")
    assert task2.score == next(t for t in reference.tasks if t.name == "task2").score


def test_submission_conftest_and_config_files_have_no_effect(submission, reference, tmp_path):
    marker = tmp_path / "conftest-was-imported"
    hostile = f'''
import pytest, pathlib
pathlib.Path({str(marker)!r}).write_text("yes")
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
'''
    sub = submission(
        append={"tensors": "def create_tensors():\n    raise NotImplementedError('Task 1.1')\n"},
        extra_files={"conftest.py": hostile, "tests/conftest.py": hostile,
                     "pytest.ini": "[pytest]\naddopts = -p no:python\n",
                     "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '--co'\n",
                     "sitecustomize.py": f"open({str(marker)!r}, 'w').write('site')\n"})
    result = grade(sub, gpu="off")
    assert not marker.exists()
    task1 = next(t for t in result.tasks if t.name == "task1")
    ref1 = next(t for t in reference.tasks if t.name == "task1")
    assert task1.score < ref1.score
    failing = [t for t in result.tests if t.status == "failed"]
    assert failing and all("create_tensors" in t.name or "Task 1.1" in t.output for t in failing)


def test_infinite_loop_fails_only_its_tests(submission, tmp_path, reference):
    grading = (REPO / "grading.yml").read_text()
    fast = tmp_path / "grading.yml"
    fast.write_text(grading.replace("call_timeout_s:", "call_timeout_s: 2 #", 1)
                    if "call_timeout_s:" in grading else grading + "\nlimits:\n  call_timeout_s: 2\n")
    sub = submission(append={"autograd": "def chain_rule_analytic(x):\n    while True:\n        pass\n"})
    result = grade(sub, grading_path=fast, gpu="off")
    failed = [t for t in result.tests if t.status == "failed"]
    assert failed and all("chain_rule" in t.name for t in failed), [t.name for t in failed]
    assert any("timed out" in t.output for t in failed)
    assert result.worker_restarts >= 1
    lost = sum(t.max_score - t.score for t in failed)
    assert result.score == pytest.approx(reference.score - lost)


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
    assert all({"name", "score", "max_score", "status", "output", "visibility", "tags"} <= set(t) for t in data["tests"])
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
    from autograder.sandbox import isolation

    real = isolation.bwrap_command
    monkeypatch.setattr(isolation, "bwrap_command",
                        lambda inner, **kw: real(["/bin/false"], **kw))
    monkeypatch.setattr(isolation, "detect", lambda: isolation.Protections(bubblewrap=True, landlock_abi=1))
    started = time.monotonic()
    with pytest.raises(GraderError, match="sandbox could not start"):
        grade(REPO / "solutions", gpu="off")
    assert time.monotonic() - started < 60


def test_an_example_edit_that_no_longer_fits_the_reference_is_reported(tmp_path):
    from autograder.examples import ExampleError, materialize

    with pytest.raises(ExampleError, match="partial: homework_autograd.py: 'no such line' occurs 0 times"):
        materialize(tmp_path / "x", {"autograd": {"replace": [["no such line", "x"]]}}, name="partial")

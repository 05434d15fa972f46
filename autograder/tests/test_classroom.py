"""GitHub: the students' workflow (points summary, the Classroom reporter's input)."""


from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder.tests import REPO, reference_scores, reference_tasks
from hwkit import classroom
from hwkit.grading import load_grading


WORKFLOW = REPO / "autograder" / "templates" / "autograde.yml"
# The reference solutions on a machine without a GPU: every public test that can run here.
# Fields of a test in GitHub Classroom's runner `result` (autograding-command-grader's
# generateResult), plus the test's own max_score.
CLASSROOM_TEST_FIELDS = {"name", "status", "score", "max_score", "message", "test_code", "filename", "line_no",
                         "duration"}


# --- GitHub: the workflow students get ---------------------------------------------------------

def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _steps() -> dict[str, dict]:
    job = _workflow()["jobs"]["run-autograding-tests"]
    return {s.get("id") or s.get("name"): s for s in job["steps"]}


def test_workflow_parses_and_has_the_expected_jobs_and_steps():
    wf = _workflow()
    assert wf["name"] == "Autograding Tests"  # the name GitHub Classroom's reporter requires
    assert set(wf["on"]) == {"push", "pull_request", "workflow_dispatch"}
    assert list(wf["jobs"]) == ["run-autograding-tests"]
    job = wf["jobs"]["run-autograding-tests"]
    assert job["runs-on"] == "ubuntu-latest"
    assert job["outputs"]["result"] == "${{ steps.autograding.outputs.result }}"
    steps = job["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert uses[0].startswith("actions/checkout@") and uses[1].startswith("actions/setup-python@")
    assert str(steps[1]["with"]["python-version"]) == "3.11"
    install = next(s["run"] for s in steps if "pip install" in s.get("run", ""))
    assert "-r requirements.txt" in install
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in install
    by_id = _steps()
    tests, grading = by_id["tests"], by_id["autograding"]
    assert tests["continue-on-error"] is True and "--points-json points.json" in tests["run"]
    assert shlex.split(tests["run"])[:4] == ["python", "-m", "pytest", "tests"]
    assert shlex.split(grading["run"]) == ["python", "-m", "hwkit.classroom", "points.json"]
    assert "cancelled()" in grading["if"], "the points are reported even when tests failed"
    # Pytest, then the points, then the verdict: red only when a test failed.
    order = [s.get("id") or s.get("name") for s in steps]
    last = steps[-1]
    assert order.index("tests") < order.index("autograding") < order.index(last.get("id") or last["name"])
    assert last["if"] == "steps.tests.outcome != 'success'" and "exit 1" in last["run"]


def _run_workflow_commands(submission: str, tmp: Path) -> dict:
    """The workflow's pytest line and classroom step, run here against `submission`."""
    steps = _steps()
    points = tmp / "points.json"
    pytest_cmd = shlex.split(steps["tests"]["run"])
    pytest_cmd[0] = sys.executable
    pytest_cmd[pytest_cmd.index("--points-json") + 1] = str(points)
    pytest_cmd += ["--submission", submission]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GITHUB_"))}
    ran = subprocess.run(pytest_cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    summary, output = tmp / "step_summary.md", tmp / "github_output"
    cmd = shlex.split(steps["autograding"]["run"])
    cmd[0], cmd[-1] = sys.executable, str(points)
    step = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**env, "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)})
    assert step.returncode == 0, step.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return {"pytest": ran, "points": json.loads(points.read_text()), "stdout": step.stdout,
            "summary": summary.read_text(encoding="utf-8"), "outputs": outputs,
            "result": json.loads(base64.b64decode(outputs["result"], validate=True))}


@pytest.fixture(scope="module")
def ci_solutions(tmp_path_factory):
    return _run_workflow_commands("solutions", tmp_path_factory.mktemp("ci-solutions"))


@pytest.fixture(scope="module")
def ci_stubs(tmp_path_factory):
    return _run_workflow_commands("assignment", tmp_path_factory.mktemp("ci-stubs"))


def _public_tests() -> dict[str, float]:
    return {t: pts for t, (_, pts) in load_grading(REPO / "grading.yml").all_tests().items() if t.startswith("tests/")}


def _public_points_by_task() -> dict[str, float]:
    """Task title -> the public points the reference earns where no GPU is (from grading.yml)."""
    return {t.title: round(sum(x.score for x in t.tests if x.public and x.status == "passed"), 4)
            for t in reference_tasks()}


def test_workflow_on_the_reference_passes_with_every_public_point(ci_solutions):
    assert ci_solutions["pytest"].returncode == 0, ci_solutions["pytest"].stdout[-2000:]
    result = ci_solutions["result"]
    assert result["version"] == 1 and result["status"] == "pass"
    assert result["max_score"] == pytest.approx(reference_scores()[1])
    public = _public_tests()
    pending = {t["name"] for t in ci_solutions["points"]["tests"] if t["status"] == "pending_gpu"}
    assert pending and all(t.startswith("tests/test_performance.py::") for t in pending)
    names = [t["name"] for t in result["tests"]]
    assert len(names) == len(set(names)) and set(names) == set(public) - pending
    assert sum(public.values()) - sum(public[t] for t in pending) == pytest.approx(reference_scores()[1])
    for t in result["tests"]:
        assert set(t) == CLASSROOM_TEST_FIELDS
        assert t["status"] == "pass" and t["score"] == t["max_score"] == public[t["name"]]
        assert t["line_no"] == 0 and t["test_code"] == f'python -m pytest "{t["name"]}"'
    assert ci_solutions["outputs"]["status"] == "pass"
    assert float(ci_solutions["outputs"]["score"]) == pytest.approx(reference_scores()[1])
    summary = ci_solutions["summary"]
    public = f"{reference_scores()[1]:g}"
    assert f"**{public} / {public} points**" in summary and f"| **Total** | **{public} / {public}** |" in summary
    for title, points in _public_points_by_task().items():
        assert f"| {title} | {points:g} / {points:g} ✅ |" in summary, title
    assert "graded by hand (10)" in summary and "2.75 points in 4 tests wait for a real GPU" in summary
    assert "lost points" not in summary
    assert ci_solutions["stdout"].strip() == summary.strip(), "the summary is printed too"


def test_workflow_on_the_stubs_fails_with_zero_points(ci_stubs):
    assert ci_stubs["pytest"].returncode == 1
    result = ci_stubs["result"]
    assert result["status"] == "fail" and result["tests"]
    assert all(t["status"] == "fail" and t["score"] == 0 for t in result["tests"])
    assert all("not implemented yet" in t["message"] for t in result["tests"]), \
        [t["message"] for t in result["tests"] if "not implemented yet" not in t["message"]][:3]
    public = _public_tests()
    assert result["max_score"] == pytest.approx(sum(public[t["name"]] for t in result["tests"]))
    outputs = ci_stubs["outputs"]
    assert outputs["status"] == "fail" and float(outputs["score"]) == 0
    summary = ci_stubs["summary"]
    assert f"**0 / {result['max_score']:g} points**" in summary
    assert "| Task 1 — Tensors | 0 / 8 ❌ | 0 / 13 |" in summary
    assert f"### Tests that lost points ({len(result['tests'])})" in summary
    assert "| `test_create_tensors_values` | Task 1 — Tensors | 0 / 0.75 | NotImplementedError" in summary


def test_classroom_step_reports_an_error_when_pytest_did_not_finish(tmp_path, capsys, monkeypatch):
    out, summary = tmp_path / "out", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert classroom.main([str(tmp_path / "missing.json")]) == 0
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    result = json.loads(base64.b64decode(outputs["result"]))
    assert result["status"] == "error" and result["max_score"] == 0
    assert [t["status"] for t in result["tests"]] == ["error"] and "was not written" in result["tests"][0]["message"]
    assert "could not be computed" in summary.read_text() and "could not be computed" in capsys.readouterr().out
    # A run pytest stopped (collection error, usage error) is an error, not a pass.
    # (the run's record, hwkit/record.py, as the plugin writes it)
    points = {"version": 1, "exitstatus": 2, "no_points": None, "tasks": [],
              "tests": [{"name": "tests/test_x.py::test_y", "task": "task1", "score": 1,
                         "max_score": 1, "status": "passed", "output": "", "cases": 1, "cases_passed": 1}]}
    assert classroom.classroom_result(points)["status"] == "error"
    points["exitstatus"] = 0
    assert classroom.classroom_result(points)["status"] == "pass"
    # Messages cannot break the summary table or inject HTML.
    points["tests"][0].update(status="failed", score=0, output="a | b <script>\x1b[31mred\nmore")
    md = classroom.summary_markdown(points, classroom.classroom_result(points))
    assert "a \\| b &lt;script&gt;red" in md and "<script>" not in md and "\x1b" not in md


def test_classroom_summary_speaks_the_runs_language_and_puts_the_most_useful_hint_first():
    def test(name, rank, status="failed"):
        return {"name": f"tests/test_x.py::{name}", "task": "task1", "score": 0, "max_score": 1,
                "status": status, "output": f"{name} is wrong", "cases": 1, "cases_passed": 0, "hint_rank": rank}

    points = {"version": 1, "exitstatus": 1, "no_points": None, "lang": "ru",
              "tasks": [{"name": "task1", "title": "Задание 1 — тензоры", "max_score": 3, "manual": False}],
              "tests": [test("test_late", 1), test("test_first", 0), test("test_ok", None, "passed")]}
    md = classroom.summary_markdown(points, classroom.classroom_result(points))
    assert "Баллы за домашнее задание — открытые тесты" in md and "### Тесты, в которых потеряны баллы (2)" in md
    assert md.index("test_first is wrong") < md.index("test_late is wrong")
    points["lang"] = "en"
    assert "### Tests that lost points (2)" in classroom.summary_markdown(points, classroom.classroom_result(points))



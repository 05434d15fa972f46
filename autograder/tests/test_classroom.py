"""GitHub: the students' workflow, run step by step in the release tree as Actions runs it
(autograder/tests/actions.py), with GitHub Classroom's own reporter (node, unmodified, from
../shared/clients) as its last step, on the reference, a partial submission, the stubs and a
submission that calls os._exit(0)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder import examples, release
from autograder.tests import REPO, reference_scores, reference_tasks, venvs
from autograder.tests.actions import node_action, run_job
from hwkit import classroom
from hwkit.grading import load_grading
from hwkit.text import strip_terminal

WORKFLOW = REPO / "autograder" / "templates" / "autograde.yml"
JOB = "run-autograding-tests"
REPORTER = REPO.parent / "shared" / "clients" / "classroom-grading-reporter" / "main.js"
MODULES = tuple(m.file for m in load_grading(REPO / "grading.yml").modules.values())
# Fields of an entry of a Classroom runner's `result` (autograding-command-grader's generateResult).
CLASSROOM_TEST_FIELDS = {"name", "status", "score", "message", "test_code", "filename", "line_no", "duration"}


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _steps() -> dict[str, dict]:
    return {s.get("id") or s.get("name"): s for s in _workflow()["jobs"][JOB]["steps"]}


def test_workflow_parses_and_has_the_expected_jobs_and_steps():
    wf = _workflow()
    assert wf["name"] == "Autograding Tests"  # the name GitHub Classroom's reporter requires
    assert set(wf["on"]) == {"push", "pull_request", "workflow_dispatch"}
    assert list(wf["jobs"]) == [JOB]
    steps = wf["jobs"][JOB]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert uses[0].startswith("actions/checkout@") and uses[1].startswith("actions/setup-python@")
    install = next(s["run"] for s in steps if "pip install" in s.get("run", ""))
    assert "-r requirements.txt" in install and "--extra-index-url https://download.pytorch.org/whl/cpu" in install
    by_id = _steps()
    assert by_id["tests"]["continue-on-error"] is True
    assert '--points-json "$RUNNER_TEMP/points.json"' in by_id["tests"]["run"]  # never a file of the repository
    assert by_id["autograding"]["if"] == "${{ !cancelled() }}"
    # Classroom's reporter is the last step and runs whatever the tests did.
    last = steps[-1]
    assert last["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    assert last["if"].startswith("${{ !cancelled()") and last["with"]["runners"] == "${{ steps.autograding.outputs.runners }}"


# --- the job, run here ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("classroom") / "release"
    assert release.build_release(out) == []
    return out


def _reporter_available() -> bool:
    return REPORTER.is_file() and shutil.which("node") is not None


def _reporter(inputs, env, workdir):
    return node_action(REPORTER)(inputs, {**env, "INPUT_TOKEN": "not-used"}, workdir)


def _needs_reporter():
    if not _reporter_available():
        pytest.skip(f"GitHub Classroom's reporter needs node and {REPORTER} (see ../shared/clients/README.md)")


def _submission(kind: str, release_dir: Path, tmp: Path) -> Path:
    repo = tmp / kind
    shutil.copytree(release_dir, repo)
    if kind == "stubs":
        return repo
    modules = examples.load()["partial"]["modules"] if kind == "partial" else {}
    made = examples.materialize(tmp / f"{kind}-modules", modules)
    for name in MODULES:
        shutil.copyfile(made / name, repo / name)
    if kind == "os_exit":  # passes what runs before, then ends the test process "successfully"
        with open(repo / "homework_tensors.py", "a", encoding="utf-8") as f:
            f.write("\nimport os\nos._exit(0)\n")
    return repo


RUNS: dict[str, object] = {}


def job_of(kind: str, released: Path, tmp_path_factory):
    if kind not in RUNS:
        repo = _submission(kind, released, tmp_path_factory.mktemp(f"job-{kind}"))
        python = venvs.student_python(repo)
        env = venvs.clean_env()
        env["PATH"] = f"{python.parent}{':'}{env.get('PATH', '')}"
        actions = {"classroom-resources/autograding-grading-reporter@": _reporter} if _reporter_available() else {}
        RUNS[kind] = run_job(WORKFLOW, JOB, repo, env, actions=actions,
                             skip=("Install dependencies (CPU build of PyTorch)",))
    return RUNS[kind]


def _reporter_totals(out: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """(the console table's Total row, the `Points X/Y` notice Classroom records)."""
    text = strip_terminal(out)
    row = next(line for line in text.splitlines() if "Total:" in line)
    table = tuple(float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", row.split("Total:", 1)[1]))
    notice = re.search(r"::notice title=Autograding complete::Points ([\d.e-]+)/([\d.e-]+)", text)
    assert notice, text[-2000:]
    return (table[0], table[1]), (float(notice.group(1)), float(notice.group(2)))


def _ours(job) -> tuple[float, float]:
    summary = job.step("Points per task").summary
    m = re.search(r"\*\*([\d.]+) / ([\d.]+) points\*\*", summary)
    assert m, summary
    outputs = job.step("Points per task").outputs
    assert (float(outputs["score"]), float(outputs["max_score"])) == (float(m.group(1)), float(m.group(2)))
    return float(m.group(1)), float(m.group(2))


@pytest.mark.parametrize("kind", ["reference", "partial", "stubs", "os_exit"])
def test_the_reporters_two_totals_equal_our_summary(kind, released, tmp_path_factory):
    _needs_reporter()
    job = job_of(kind, released, tmp_path_factory)
    points, reporter = job.step("Points per task"), job.step("Report the points to GitHub Classroom")
    assert reporter.ran, "the reporter runs whatever the tests did"
    score, max_score = _ours(job)
    table, notice = _reporter_totals(reporter.stdout)
    assert round(table[0], 2) == round(notice[0], 2) == round(score, 2), (table, notice, score)
    assert round(table[1], 2) == round(notice[1], 2) == round(max_score, 2)
    # The same maximum for every submission: the public points a machine without a GPU can award.
    assert max_score == pytest.approx(reference_scores()[1])
    runners = points.outputs["runners"].split(",")
    public = {t: p for t, (_, p) in load_grading(REPO / "grading.yml").all_tests().items() if t.startswith("tests/")}
    assert len(runners) == len(set(runners)) == len(public) - 4  # (3 `gpu` tests and the one that requires one)
    for rid in runners:
        result = json.loads(base64.b64decode(job.env[f"{rid.upper()}_RESULTS"]))
        assert result["version"] == 1 and result["tests"]
        assert all(set(t) == CLASSROOM_TEST_FIELDS and t["line_no"] == 0 for t in result["tests"])
    if kind == "reference":
        assert score == max_score and job.result == "success" and reporter.outcome == "success"
        assert points.outcome == "success"
    else:
        assert job.result == "failure" and points.outcome == "failure" and reporter.outcome == "failure"
        assert score < max_score


def test_a_run_cut_short_by_os_exit_records_zero_and_is_red(released, tmp_path_factory):
    job = job_of("os_exit", released, tmp_path_factory)
    tests = job.step("Run the public tests")
    assert tests.outcome == "success", "pytest itself exits 0 here: the points step must notice"
    assert _ours(job)[0] == 0 and job.result == "failure"
    points = job.step("Points per task")
    assert "pytest did not finish" in points.summary and "pytest did not finish" in points.stderr
    assert "::error" in points.stderr


def test_the_reference_earns_every_public_point_in_each_task(released, tmp_path_factory):
    job = job_of("reference", released, tmp_path_factory)
    summary = job.step("Points per task").summary
    public = f"{reference_scores()[1]:g}"
    assert f"**{public} / {public} points**" in summary and f"| **Total** | **{public} / {public}** |" in summary
    for task in reference_tasks():
        points = round(sum(x.score for x in task.tests if x.public and x.status == "passed"), 4)
        if points:
            assert f"| {task.title} | {points:g} / {points:g} ✅ |" in summary, task.title
    assert "graded by hand (10)" in summary and "2.75 points wait for a real GPU (tests: 4)" in summary
    assert "lost points" not in summary
    assert job.step("Points per task").stdout.strip() == summary.strip(), "the summary is printed too"


def test_the_stubs_score_zero_and_say_not_implemented(released, tmp_path_factory):
    job = job_of("stubs", released, tmp_path_factory)
    summary = job.step("Points per task").summary
    assert f"**0 / {reference_scores()[1]:g} points**" in summary
    assert "| Task 1 — Tensors | 0 / 8 ❌ | 0 / 13 |" in summary
    assert "| `test_create_tensors_values` | Task 1 — Tensors | 0 / 0.75 | NotImplementedError" in summary
    result = json.loads(base64.b64decode(job.env["CREATE_TENSORS_VALUES_RESULTS"]))
    assert result["status"] == "fail" and {t["status"] for t in result["tests"]} == {"fail"}
    assert "not implemented yet" in result["tests"][0]["message"]
    if _reporter_available():
        assert "❌ test_create_tensors_values" in job.step("Report the points to GitHub Classroom").stdout


def test_classroom_step_reports_an_error_when_pytest_did_not_finish(tmp_path, capsys, monkeypatch):
    out, summary = tmp_path / "out", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ENV", str(tmp_path / "env"))
    assert classroom.main([str(tmp_path / "missing.json")]) == 1
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert outputs["status"] == "error" and outputs["runners"] == "autograding"
    env = dict(line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines())
    result = json.loads(base64.b64decode(env["AUTOGRADING_RESULTS"]))
    assert result["status"] == "error" and result["max_score"] == 0
    assert [t["status"] for t in result["tests"]] == ["error"] and "was not written" in result["tests"][0]["message"]
    assert "could not be computed" in summary.read_text() and "could not be computed" in capsys.readouterr().out
    # A run pytest stopped (collection error, usage error) is an error, not a pass.
    # (the run's record, hwkit/record.py, as the plugin writes it)
    points = {"version": 1, "exitstatus": 2, "no_points": None, "tasks": [],
              "tests": [{"name": "tests/test_x.py::test_y", "task": "task1", "score": 1,
                         "max_score": 1, "status": "passed", "output": "", "cases": 1, "cases_passed": 1}]}
    assert classroom.classroom_result(points)["status"] == "error"
    # ... and records nothing, in our summary as in the reporter's runners (pytest.exit() or a
    # KeyboardInterrupt in the student's code must not keep the points of the tests before it)
    assert [t["score"] for t in classroom.classroom_result(points)["tests"] if t["name"] != "public tests"] == [0]
    md = classroom.summary_markdown(points, classroom.classroom_result(points))
    assert "**0 / 1 points**" in md and "exit code 2" in md
    assert sum(e["score"] for r in classroom.runner_results(points).values() for e in r["tests"]) == 0
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




def test_the_points_step_explains_a_run_whose_install_failed(tmp_path):
    """No pydantic, PyYAML or torch (pip failed): the step still says why and the job is red."""
    code = ("import sys\nfor m in ('pydantic', 'yaml', 'torch', 'numpy'): sys.modules[m] = None\n"
            "import hwkit.classroom\nsys.exit(hwkit.classroom.main([sys.argv[1]]))")
    ran = subprocess.run([sys.executable, "-c", code, str(tmp_path / "points.json")], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 1, ran.stderr
    assert "could not be computed" in ran.stdout and "was not written" in ran.stdout

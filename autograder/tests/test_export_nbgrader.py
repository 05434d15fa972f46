"""`export_nbgrader`: a batch's scores in nbgrader's gradebook, read back by `nbgrader export`.

No grading runs here: the batch folders are written by hand, each student's record.json (the
grading's record, hwkit/record.py) from a made-up result.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder.tests import REPO
from autograder import cli, export_nbgrader
from autograder.export_nbgrader import AUTO_NOTEBOOK, cell_name, grade_cells_for, open_gradebook
from autograder.report.gradescope import to_gradescope
from hwkit import record as model  # (a `Test...` class imported here would be collected)
from hwkit.grading import load_grading

GRADING_PATH = REPO / "grading.yml"
GRADING = load_grading(GRADING_PATH)
ASSIGNMENT = GRADING.assignment
AUTO_MAX = sum(t.points for t in GRADING.automatic_tasks().values())  # 90
MANUAL_MAX = sum(t.points for t in GRADING.tasks.values() if t.manual)  # 10
GPU_TESTS = [tid for tid in GRADING.all_tests() if "::test_gpu_" in tid]
GPU_POINTS = sum(GRADING.all_tests()[tid][1] for tid in GPU_TESTS)  # 6

FAILED = "tests/test_tensors.py::test_index_tensor_values"  # 1.25, public
PARTIAL = "autograder/hidden/test_autograd_hidden.py::test_second_derivative_matches_reference"  # 3.0, hidden
ABSENT = "tests/test_performance.py::test_format_table"  # 0.5, missing from bob's record
HIDDEN_GPU = "autograder/hidden/test_performance_hidden.py::test_gpu_measure_time_hidden"
DEADLINE = "2026-11-30T23:59:00+01:00"


# -- a fake batch output folder ------------------------------------------------------------------------
def make_result(student: str, statuses: dict[str, tuple[str, float]] | None = None,
                drop: tuple[str, ...] = ()) -> dict:
    """The record for `student`: every test passed, GPU tests pending, except `statuses`
    (test id -> (status, fraction of its points earned)); tests in `drop` are left out."""
    statuses = statuses or {}
    tests, tasks = [], []
    for task_name, task in GRADING.tasks.items():
        earned = pending = 0.0
        for tid, points in task.tests.items():
            status, fraction = statuses.get(tid, ("pending_gpu", 0.0) if tid in GPU_TESTS else ("passed", 1.0))
            score = round(points * fraction, 4)
            earned += score
            pending += points - score if status == "pending_gpu" else 0
            if tid in drop:
                continue
            tests.append(model.TestResult(
                name=tid, task=task_name, score=score, max_score=points, status=status,
                output="" if status == "passed" else f"AssertionError: {tid.split('::')[1]} is wrong",
                cases_passed=round(4 * fraction), cases=4, hidden=not tid.startswith("tests/")))
        tasks.append(model.TaskResult(name=task_name, title=task.title, score=round(earned, 4), max_score=task.points,
                                manual=task.manual, pending_gpu=round(pending, 4)))
    auto = [t for t in tasks if not t.manual]
    result = model.GradingResult(assignment=ASSIGNMENT, submission=student,
                                 score=round(sum(t.score for t in auto), 4),
                           max_score=sum(t.max_score for t in auto), execution_time=7.5, tasks=tasks, tests=tests,
                           sandbox={"isolation": "landlock"}, gpu="off")
    return result


def write_student(out: Path, student: str, results: model.GradingResult | dict | None, status: str = "graded",
                  message: str = "",
                  commit_date: str | None = "2026-11-29T18:00:00+01:00") -> None:
    folder = out / "students" / student
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("status.json", "record.json", "results.json", "feedback.md"):
        (folder / name).unlink(missing_ok=True)
    if isinstance(results, dict):  # not a record: what a damaged file holds
        (folder / "record.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    elif results is not None:
        model.save(results, folder / "record.json")
        (folder / "results.json").write_text(json.dumps(to_gradescope(results), indent=2), encoding="utf-8")
        (folder / "feedback.md").write_text("# Feedback\n", encoding="utf-8")
    record = {"id": student, "source": f"/submissions/hw-{student}", "kind": "git", "commit": "0123abcd" * 5,
              "commit_date": commit_date, "late": False, "status": status, "message": message,
              "seconds": 9.1, "deadline": DEADLINE}
    (folder / "status.json").write_text(json.dumps(record, indent=2), encoding="utf-8")


BOB = {FAILED: ("failed", 0.0), PARTIAL: ("failed", 0.5)}
ALICE_SCORE = AUTO_MAX - GPU_POINTS  # 84: everything but the pending GPU tests
BOB_SCORE = ALICE_SCORE - 1.25 - 1.5 - 0.5  # 80.75


@pytest.fixture
def batch_out(tmp_path) -> Path:
    out = tmp_path / "batch"
    write_student(out, "alice", make_result("alice"))
    write_student(out, "bob", make_result("bob", BOB, drop=(ABSENT,)))
    write_student(out, "carol", None, status="error",
                  message="the grader exited with code 1: RuntimeError: boom")
    (out / "gradebook.csv").write_text("student\n", encoding="utf-8")  # batch files next to students/
    return out


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory) -> Path:
    """A new, empty gradebook.db. Creating one runs nbgrader's `alembic heads` (about 3 s), so
    the tests but one start from a copy of this."""
    db = tmp_path_factory.mktemp("template") / "gradebook.db"
    with open_gradebook(db):
        pass
    return db


@pytest.fixture
def db(tmp_path, empty_gradebook) -> Path:
    path = tmp_path / "course" / "gradebook.db"
    path.parent.mkdir()
    shutil.copyfile(empty_gradebook, path)
    return path


def gradebook(db: Path):
    return open_gradebook(db)


def auto_score(gb, test_id: str, student: str):
    return gb.find_grade(cell_name(test_id), AUTO_NOTEBOOK, ASSIGNMENT, student)


def row_counts(gb) -> dict[str, int]:
    from nbgrader.api import Comment, Grade, GradeCell, Notebook, SolutionCell, Student, SubmittedAssignment, \
        SubmittedNotebook
    return {k.__name__: gb.db.query(k).count() for k in (Student, SubmittedAssignment, SubmittedNotebook, Grade,
                                                          Comment, GradeCell, SolutionCell, Notebook)}


def nbgrader_export(course: Path, db: Path) -> list[dict[str, str]]:
    """Run the real `nbgrader export` in a course folder whose nbgrader_config.py names `db`."""
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(db)!r}\n"
        "c.CourseDirectory.course_id = 'dl-course'\n", encoding="utf-8")
    env = {**os.environ, "HOME": str(course), "JUPYTER_CONFIG_DIR": str(course / ".jupyter"),
           "JUPYTER_DATA_DIR": str(course / ".jupyter-data"),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    env.pop("JUPYTER_CONFIG_PATH", None)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "grades.csv"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "nbgrader_config.py" not in proc.stderr  # it found the course's config ("No ... file found")
    with (course / "grades.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- tests ----------------------------------------------------------------------------------------------
def test_cell_names_are_unique_nbgrader_grade_ids():
    cells = grade_cells_for(GRADING)
    names = [name for name, _ in cells.values()]
    assert len(names) == len(set(names)) == len(GRADING.all_tests())
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,128}", n) for n in names)
    assert cell_name(FAILED) == "tests-test_tensors__test_index_tensor_values"
    assert cell_name(HIDDEN_GPU) == "autograder-hidden-test_performance_hidden__test_gpu_measure_time_hidden"
    long_id = "tests/" + "x" * 200 + ".py::test_y"
    assert len(cell_name(long_id)) == 128 and cell_name(long_id) != cell_name(long_id.replace("_y", "_z"))


def test_export_writes_students_cells_and_auto_scores(tmp_path, batch_out):
    db = tmp_path / "course" / "gradebook.db"  # neither the file nor its folder exists yet
    counts = export_nbgrader.export(db, batch_out, ASSIGNMENT, GRADING_PATH)

    assert counts["exported"] == ["alice", "bob"] and counts["created"] == 2 and counts["updated"] == 0
    assert counts["scores"] == {"alice": ALICE_SCORE, "bob": BOB_SCORE}
    assert [s["id"] for s in counts["skipped"]] == ["carol"]
    assert "status error" in counts["skipped"][0]["reason"] and "boom" in counts["skipped"][0]["reason"]
    assert counts["test_cells"] == len(GRADING.all_tests()) and counts["manual_cells"] == 4
    assert counts["pending_gpu"] == 2 * len(GPU_TESTS)
    # bob's record lacks a test: that is said, not an error
    assert not [w for w in counts["warnings"] if "alice" in w or "analysis" in w]

    with gradebook(db) as gb:
        assert sorted(s.id for s in gb.students) == ["alice", "bob"]
        assignment = gb.find_assignment(ASSIGNMENT)
        assert [a.name for a in gb.assignments] == [ASSIGNMENT]
        assert [nb.name for nb in assignment.notebooks] == ["analysis", AUTO_NOTEBOOK]
        assert assignment.max_score == pytest.approx(AUTO_MAX + MANUAL_MAX)
        assert assignment.duedate is not None and assignment.duedate.isoformat() == "2026-11-30T22:59:00"

        auto = gb.find_notebook(AUTO_NOTEBOOK, ASSIGNMENT)
        assert auto.max_score == pytest.approx(AUTO_MAX) and auto.max_code_score == pytest.approx(AUTO_MAX)
        cells = {c.name: c for c in auto.grade_cells}
        assert len(cells) == len(GRADING.all_tests())
        for tid, (_, points) in GRADING.all_tests().items():
            cell = cells[cell_name(tid)]
            assert (cell.max_score, cell.cell_type) == (points, "code")
        analysis = gb.find_notebook("analysis", ASSIGNMENT)
        assert {c.name: (c.max_score, c.cell_type) for c in analysis.grade_cells} == {
            "answer_a": (3, "markdown"), "answer_b": (2, "markdown"), "answer_c": (2, "markdown"),
            "answer_d": (3, "markdown")}
        assert analysis.max_written_score == pytest.approx(MANUAL_MAX)
        # solution cells, as `nbgrader generate_assignment` records them: TAs comment on these
        assert {c.name for c in analysis.solution_cells} == {"speedup_plot", "answer_a", "answer_b", "answer_c",
                                                               "answer_d"}

        for student, total in (("alice", ALICE_SCORE), ("bob", BOB_SCORE)):
            sub = gb.find_submission(ASSIGNMENT, student)
            assert sub.score == pytest.approx(total) and sub.code_score == pytest.approx(total)
            assert sub.written_score == 0 and sub.max_score == pytest.approx(AUTO_MAX + MANUAL_MAX)
            assert sub.timestamp.isoformat() == "2026-11-29T17:00:00"  # commit date, in UTC
            assert sub.needs_manual_grade  # the analysis answers wait for a TA
            for name in ("answer_a", "answer_d"):
                g = gb.find_grade(name, "analysis", ASSIGNMENT, student)
                assert g.auto_score is None and g.manual_score is None and g.needs_manual_grade
            snb = gb.find_submission_notebook(AUTO_NOTEBOOK, ASSIGNMENT, student)
            assert not snb.needs_manual_grade  # every test cell has its score: nothing to grade by hand
            assert len(snb.grades) == len(GRADING.all_tests())

        passed = auto_score(gb, "tests/test_autograd.py::test_chain_rule", "bob")
        assert (passed.auto_score, passed.score, passed.needs_manual_grade) == (1.5, 1.5, False)
        comment = gb.find_comment(cell_name("tests/test_autograd.py::test_chain_rule"), AUTO_NOTEBOOK,
                                  ASSIGNMENT, "bob")
        assert comment.auto_comment is None
        assert auto_score(gb, FAILED, "bob").auto_score == 0.0
        assert auto_score(gb, FAILED, "alice").auto_score == 1.25
        assert auto_score(gb, PARTIAL, "bob").auto_score == 1.5  # 2 of 4 cases of a hidden test
        text = gb.find_comment(cell_name(PARTIAL), AUTO_NOTEBOOK, ASSIGNMENT, "bob").auto_comment
        assert text.startswith("failed (1.5 / 3): AssertionError")
        absent = auto_score(gb, ABSENT, "bob")
        assert (absent.auto_score, absent.needs_manual_grade) == (0.0, False)
        assert "Not in" in gb.find_comment(cell_name(ABSENT), AUTO_NOTEBOOK, ASSIGNMENT, "bob").auto_comment
        for student in ("alice", "bob"):
            gpu = auto_score(gb, HIDDEN_GPU, student)
            assert (gpu.auto_score, gpu.score, gpu.max_score, gpu.needs_manual_grade) == (0.0, 0.0, 1.0, False)
            text = gb.find_comment(cell_name(HIDDEN_GPU), AUTO_NOTEBOOK, ASSIGNMENT, student).auto_comment
            assert text.startswith("pending_gpu (0 / 1)") and "GPU" in text


def test_nbgrader_export_csv_has_every_student_with_the_autograded_totals(tmp_path, batch_out, db):
    export_nbgrader.export(db, batch_out, ASSIGNMENT, GRADING_PATH)
    with gradebook(db) as gb:  # a TA grades one analysis answer in the formgrader
        g = gb.find_grade("answer_a", "analysis", ASSIGNMENT, "alice")
        g.manual_score, g.needs_manual_grade = 2.5, False
        gb.db.commit()

    rows = nbgrader_export(tmp_path / "course", db)
    assert sorted(r["student_id"] for r in rows) == ["alice", "bob"]  # carol (error) is not in the gradebook
    by_id = {r["student_id"]: r for r in rows}
    for student, total in (("alice", ALICE_SCORE + 2.5), ("bob", BOB_SCORE)):
        r = by_id[student]
        assert r["assignment"] == ASSIGNMENT
        assert float(r["raw_score"]) == pytest.approx(total) and float(r["score"]) == pytest.approx(total)
        assert float(r["max_score"]) == pytest.approx(AUTO_MAX + MANUAL_MAX)
        assert float(r["late_submission_penalty"]) == 0.0
        assert r["timestamp"].startswith("2026-11-29 17:00:00") and r["duedate"].startswith("2026-11-30 22:59:00")


def test_reexport_updates_in_place_and_reports_skipped(tmp_path, batch_out, db, capsys):
    first = export_nbgrader.export(db, batch_out, ASSIGNMENT, GRADING_PATH)
    with gradebook(db) as gb:
        before = row_counts(gb)
        # what TAs entered: an analysis score, a comment, and an override of one test's score
        g = gb.find_grade("answer_b", "analysis", ASSIGNMENT, "bob")
        g.manual_score, g.needs_manual_grade = 2.0, False
        gb.find_comment("answer_b", "analysis", ASSIGNMENT, "bob").manual_comment = "Good."
        auto_score(gb, "tests/test_autograd.py::test_mse_value", "alice").manual_score = 0.25
        gb.db.commit()

    # the same batch again, through the command line: nothing new
    assert cli.main(["export", "nbgrader", "--db", str(db), "--results", str(batch_out)]) == 0
    printed = capsys.readouterr()
    assert "2 students exported (0 new, 2 updated), 1 skipped" in printed.out
    assert "skipped carol: status error" in " ".join(printed.err.split())

    # bob is re-graded (the failed test now passes, the partial one scores 3/4, the GPU tests ran);
    # alice's re-grade broke the grader; carol is graded for the first time
    write_student(batch_out, "bob", make_result("bob", {PARTIAL: ("failed", 0.75),
                                                        **{t: ("passed", 1.0) for t in GPU_TESTS}}))
    write_student(batch_out, "alice", None, status="error", message="batch error: OSError: disk full")
    write_student(batch_out, "carol", make_result("carol", {FAILED: ("failed", 0.0)}))
    second = export_nbgrader.export(db, batch_out, None, GRADING_PATH)  # the name from grading.yml
    assert second["exported"] == ["bob", "carol"] and (second["created"], second["updated"]) == (1, 1)
    assert second["skipped"] == [{"id": "alice", "reason": "status error: batch error: OSError: disk full",
                                  "kept_previous": True}]
    bob_new = AUTO_MAX - 0.75
    assert second["scores"] == {"bob": bob_new, "carol": ALICE_SCORE - 1.25}
    assert second["overridden"] == 0  # alice, whose test score a TA overrode, was skipped

    with gradebook(db) as gb:
        after = row_counts(gb)
        per_student = {k: v // 2 for k, v in before.items() if k in ("SubmittedAssignment", "SubmittedNotebook",
                                                                      "Grade", "Comment")}
        assert after == {**before, "Student": 3, **{k: before[k] + v for k, v in per_student.items()}}
        assert [s.id for s in gb.students] == ["alice", "bob", "carol"]
        assert len(gb.find_assignment(ASSIGNMENT).submissions) == 3
        assert gb.find_submission(ASSIGNMENT, "bob").score == pytest.approx(bob_new + 2.0)  # + the TA's 2
        assert auto_score(gb, FAILED, "bob").auto_score == 1.25
        assert auto_score(gb, HIDDEN_GPU, "bob").auto_score == 1.0
        assert gb.find_comment(cell_name(HIDDEN_GPU), AUTO_NOTEBOOK, ASSIGNMENT, "bob").auto_comment is None
        assert gb.find_grade("answer_b", "analysis", ASSIGNMENT, "bob").manual_score == 2.0
        assert gb.find_comment("answer_b", "analysis", ASSIGNMENT, "bob").manual_comment == "Good."
        # alice was skipped: her earlier scores stay, with the TA's override
        assert gb.find_submission(ASSIGNMENT, "alice").score == pytest.approx(ALICE_SCORE - 0.5 + 0.25)

    # alice graded again: the TA's override still wins, and is flagged for review as nbgrader does
    write_student(batch_out, "alice", make_result("alice"))
    third = export_nbgrader.export(db, batch_out, ASSIGNMENT, GRADING_PATH)
    assert (third["created"], third["updated"], third["skipped"], third["overridden"]) == (0, 3, [], 1)
    with gradebook(db) as gb:
        assert row_counts(gb) == after
        g = auto_score(gb, "tests/test_autograd.py::test_mse_value", "alice")
        assert (g.auto_score, g.manual_score, g.score, g.needs_manual_grade) == (0.5, 0.25, 0.25, True)

    rows = nbgrader_export(tmp_path / "course", db)
    assert {r["student_id"]: float(r["score"]) for r in rows} == pytest.approx(
        {"alice": ALICE_SCORE - 0.25, "bob": bob_new + 2.0, "carol": ALICE_SCORE - 1.25})
    assert first["test_cells"] == third["test_cells"]


def test_a_test_dropped_from_grading_yml_loses_its_cell(tmp_path, batch_out, db):
    export_nbgrader.export(db, batch_out, ASSIGNMENT, GRADING_PATH)
    data = yaml.safe_load(GRADING_PATH.read_text(encoding="utf-8"))
    task1 = data["tasks"]["task1"]
    task1["requires"] = {k: v for k, v in task1["requires"].items() if FAILED not in (k, v)}
    task1["points"] -= task1["tests"].pop(FAILED)
    data["total"] -= 1.25
    smaller = tmp_path / "grading.yml"
    smaller.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    counts = export_nbgrader.export(db, batch_out, ASSIGNMENT, smaller)
    assert counts["removed_cells"] == 1 and counts["test_cells"] == len(GRADING.all_tests()) - 1
    assert counts["scores"] == {"alice": ALICE_SCORE - 1.25, "bob": BOB_SCORE}
    assert any("not in grading.yml" in w for w in counts["warnings"])  # alice's record still has it
    with gradebook(db) as gb:
        names = {c.name for c in gb.find_notebook(AUTO_NOTEBOOK, ASSIGNMENT).grade_cells}
        assert cell_name(FAILED) not in names and len(names) == counts["test_cells"]
        assert gb.find_assignment(ASSIGNMENT).max_score == pytest.approx(AUTO_MAX + MANUAL_MAX - 1.25)
        assert gb.find_submission(ASSIGNMENT, "alice").score == pytest.approx(ALICE_SCORE - 1.25)


def test_bad_inputs(tmp_path, batch_out, db, capsys):
    # unreadable or foreign files are skipped with a reason; a folder that is not a batch is refused
    write_student(batch_out, "dave", {"score": 1}, status="graded")
    (batch_out / "students" / "erin").mkdir()
    other = make_result("frank")
    other.assignment = "another-homework"
    write_student(batch_out, "frank", other)
    counts = export_nbgrader.export(db, batch_out, "hw1", GRADING_PATH)
    assert counts["assignment"] == "hw1" and counts["exported"] == ["alice", "bob"]
    reasons = {s["id"]: s["reason"] for s in counts["skipped"]}
    assert set(reasons) == {"carol", "dave", "erin", "frank"}
    assert "record.json" in reasons["dave"] and "status.json" in reasons["erin"]
    assert "another-homework" in reasons["frank"]

    assert cli.main(["export", "nbgrader", "--db", str(tmp_path / "x.db"), "--results",
                     str(tmp_path / "nowhere")]) == 2
    assert "not a batch output folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["export", "nbgrader", "--results", str(batch_out)])  # --db is required

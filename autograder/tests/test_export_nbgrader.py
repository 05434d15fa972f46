"""`export_nbgrader`: a batch's scores in nbgrader's gradebook, read back by `nbgrader export`,
and the course folder the formgrader grades the analysis notebooks in.

No grading runs here: the batch folders are written by hand, each student's record.json (the
grading's record, hwkit/record.py) from a made-up result. autograder/tests/test_formgrader.py
drives the formgrader itself in a browser.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest
import yaml

from autograder.tests import REPO
from autograder import cli, export_nbgrader
from autograder.export_nbgrader import AUTO_NOTEBOOK, cell_name, grade_cells_for, open_gradebook, pick_notebook
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
                  message: str = "", commit_date: str | None = "2026-11-29T18:00:00+01:00",
                  source: Path | None = None, kind: str = "git", commit: str = "0123abcd" * 5) -> None:
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
    record = {"id": student, "source": str(source or f"/submissions/hw-{student}"), "kind": kind,
              "commit": commit if kind == "git" else None,
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


# -- the course folder: source/ and autograded/ for the formgrader ---------------------------------------
STUDENT_NOTEBOOK = REPO / "assignment" / "analysis.ipynb"  # the student version (nbgrader metadata, no answers)
MODULE_FILES = [m.file for m in GRADING.modules.values()]


def answered_notebook(student: str, edit=None) -> str:
    """The student notebook with `student`'s answers typed in; `edit(cells)` changes it further."""
    nb = json.loads(STUDENT_NOTEBOOK.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade"):
            cell["source"] = f"{student.capitalize()}'s answer to {meta['grade_id'][-1]}: small shapes lose."
    if edit:
        edit(nb["cells"])
    return json.dumps(nb, indent=1)


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", HOME=str(repo.parent))
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=Student", "-c", "user.email=s@example.org",
                           "-c", "init.defaultBranch=main", *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def git_submission(repo: Path, files: dict[str, str]) -> str:
    """Commit `files` (path -> text) to `repo` (created if needed); the commit's hash."""
    if not (repo / ".git").is_dir():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "homework")
    return git(repo, "rev-parse", "HEAD").strip()


def modules(prefix: str = "") -> dict[str, str]:
    return {prefix + f: "# the student's module\n" for f in MODULE_FILES}


def autograded(course: Path, student: str) -> Path:
    return course / "autograded" / student / ASSIGNMENT / "analysis.ipynb"


def nbgrader_cells(path: Path) -> dict[str, dict]:
    """grade_id -> nbgrader metadata of each cell that has some, in order."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader")
        if meta:
            assert meta["grade_id"] not in found, "two cells with one grade_id"
            found[meta["grade_id"]] = meta
    return found


def test_pick_notebook_takes_the_one_beside_the_modules_else_the_shallowest():
    P = PurePosixPath
    paths = [P("analysis.ipynb"), P("hw/analysis.ipynb"), *(P("hw") / f for f in MODULE_FILES)]
    assert pick_notebook(paths, "analysis.ipynb", MODULE_FILES) == P("hw/analysis.ipynb")
    assert pick_notebook([P("notes/analysis.ipynb"), P("a/b/analysis.ipynb"), *map(P, MODULE_FILES)],
                         "analysis.ipynb", MODULE_FILES) == P("notes/analysis.ipynb")
    hidden = [P(".ipynb_checkpoints/analysis.ipynb"), P("__MACOSX/analysis.ipynb"), P("a/b/c/d/analysis.ipynb")]
    assert pick_notebook(hidden, "analysis.ipynb", MODULE_FILES) is None
    assert pick_notebook([P("Analysis.ipynb")], "analysis.ipynb", MODULE_FILES) is None


def test_export_lays_out_the_course_folder_from_each_kind_of_submission(tmp_path, db, capsys):
    subs, out, course = tmp_path / "subs", tmp_path / "batch", db.parent
    # alice: a git repository (the notebook at the graded commit, not a later one)
    commit = git_submission(subs / "alice", {**modules(), "analysis.ipynb": answered_notebook("alice")})
    git_submission(subs / "alice", {"analysis.ipynb": answered_notebook("mallory")})  # after the graded commit
    write_student(out, "alice", make_result("alice"), source=subs / "alice", commit=commit)

    # bob: a .zip with the homework in a folder, an older notebook at the top and a checkpoint;
    # his edits lost answer_b's metadata, copied answer_a's cell and deleted answer_d
    def damage(cells):
        next(c for c in cells if c["id"] == "answer_b")["metadata"] = {}
        answer_a = next(c for c in cells if c["id"] == "answer_a")
        cells.insert(cells.index(answer_a) + 1, {**answer_a, "id": "copy-of-a", "source": "a draft"})
        cells.remove(next(c for c in cells if c["id"] == "answer_d"))
    with zipfile.ZipFile(subs / "bob.zip", "w") as z:
        for name, text in modules("hw1/").items():
            z.writestr(name, text)
        z.writestr("hw1/analysis.ipynb", answered_notebook("bob", damage))
        z.writestr("analysis.ipynb", answered_notebook("old bob"))
        z.writestr("hw1/.ipynb_checkpoints/analysis.ipynb", answered_notebook("checkpoint"))
    write_student(out, "bob", make_result("bob", BOB), source=subs / "bob.zip", kind="zip")

    # carol: a folder without the notebook; dave: a folder whose notebook is not JSON; erin: a
    # folder whose notebook is a link (never followed); frank: a repository gone since grading
    for sid, extra in (("carol", {}), ("dave", {"analysis.ipynb": "{not json"})):
        folder = subs / sid
        for name, text in {**modules(), **extra}.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
        write_student(out, sid, make_result(sid), source=folder, kind="dir")
    (subs / "erin").mkdir()
    (subs / "erin" / "analysis.ipynb").symlink_to(REPO / "solutions" / "analysis.ipynb")
    write_student(out, "erin", make_result("erin"), source=subs / "erin", kind="dir")
    write_student(out, "frank", make_result("frank"), source=subs / "frank", commit=commit)

    assert cli.main(["export", "nbgrader", "--db", str(db), "--results", str(out)]) == 0
    printed = capsys.readouterr()
    err = " ".join(printed.err.split())
    assert "no notebook for carol: analysis.ipynb is not in the submission" in err
    assert "no notebook for dave: analysis.ipynb is not a readable notebook" in err
    assert "no notebook for erin: analysis.ipynb is a symbolic link" in err
    assert "no notebook for frank:" in err and "no longer there" in err
    assert "bob: analysis.ipynb: the cell 'answer_d' is not in the notebook" in err
    assert "2 new, 0 replaced (a new submission), 0 unchanged; 4 without a notebook" in " ".join(printed.out.split())

    source = course / "source" / ASSIGNMENT / "analysis.ipynb"
    assert source.read_bytes() == (REPO / "solutions" / "analysis.ipynb").read_bytes()
    assert sorted(p.name for p in (course / "autograded").iterdir()) == ["alice", "bob"]
    alice = json.loads(autograded(course, "alice").read_text(encoding="utf-8"))
    assert "Alice's answer to a" in "".join(next(c for c in alice["cells"] if c["id"] == "answer_a")["source"])
    assert alice["metadata"]["autograder"]["commit"] == commit
    assert nbgrader_cells(autograded(course, "alice")) == nbgrader_cells(source)
    bob = json.loads(autograded(course, "bob").read_text(encoding="utf-8"))
    assert "Bob's answer to b" in "".join(next(c for c in bob["cells"] if c["id"] == "answer_b")["source"])
    expected = {k: v for k, v in nbgrader_cells(source).items() if k != "answer_d"}
    assert nbgrader_cells(autograded(course, "bob")) == expected  # b restored, the copy of a plain again
    assert "nbgrader" not in next(c for c in bob["cells"] if c["id"] == "copy-of-a")["metadata"]

    # the course's nbgrader_config.py (none was there) names the gradebook: `nbgrader export` finds it
    config = (course / "nbgrader_config.py").read_text(encoding="utf-8")
    assert "gradebook.db" in config and str(course) not in config  # relative to itself: the folder can move
    env = {**os.environ, "HOME": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / ".jupyter"),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "grades.csv"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with (course / "grades.csv").open(newline="", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 6


def test_reexport_keeps_a_notebook_unless_the_submission_changed_and_never_a_ta_grade(tmp_path, db):
    subs, out, course = tmp_path / "subs", tmp_path / "batch", tmp_path / "nbgrader-course"
    commit = git_submission(subs / "alice", {**modules(), "analysis.ipynb": answered_notebook("alice")})
    write_student(out, "alice", make_result("alice"), source=subs / "alice", commit=commit)
    bob_dir = subs / "bob"
    git_submission(bob_dir, {**modules(), "analysis.ipynb": answered_notebook("bob")})
    write_student(out, "bob", make_result("bob"), source=bob_dir, kind="dir")
    first = export_nbgrader.export(db, out, ASSIGNMENT, GRADING_PATH, course_dir=course)
    assert first["notebooks"]["added"] == ["alice/analysis.ipynb", "bob/analysis.ipynb"]
    assert not (db.parent / "autograded").exists() and autograded(course, "alice").is_file()
    with gradebook(db) as gb:  # a TA grades both, and fixes a typo in alice's autograded notebook
        for student in ("alice", "bob"):
            g = gb.find_grade("answer_a", "analysis", ASSIGNMENT, student)
            g.manual_score, g.needs_manual_grade = 2.0, False
        gb.db.commit()
    edited = autograded(course, "alice").read_text(encoding="utf-8").replace("Alice's", "Alice’s")
    autograded(course, "alice").write_text(edited, encoding="utf-8")
    (course / "source" / ASSIGNMENT / "analysis.ipynb").write_text("{}", encoding="utf-8")  # stale
    (course / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")  # the TA's own

    # the same submissions again: nothing changes but the source notebook, back from solutions/
    again = export_nbgrader.export(db, out, ASSIGNMENT, GRADING_PATH, course_dir=course)
    nbs = again["notebooks"]
    assert (nbs["unchanged"], nbs["added"], nbs["replaced"], nbs["flagged"]) == (
        ["alice/analysis.ipynb", "bob/analysis.ipynb"], [], [], 0)
    assert nbs["source"] == [f"source/{ASSIGNMENT}/analysis.ipynb"] and not nbs["config"]
    assert autograded(course, "alice").read_text(encoding="utf-8") == edited
    assert (course / "nbgrader_config.py").read_text(encoding="utf-8") == "c = get_config()\n"

    # alice submits a new notebook and is graded again; bob's notebook was put there by hand
    commit = git_submission(subs / "alice", {"analysis.ipynb": answered_notebook("alice, again")})
    write_student(out, "alice", make_result("alice"), source=subs / "alice", commit=commit)
    autograded(course, "bob").write_text(answered_notebook("by hand"), encoding="utf-8")
    third = export_nbgrader.export(db, out, ASSIGNMENT, GRADING_PATH, course_dir=course)
    nbs = third["notebooks"]
    assert (nbs["replaced"], nbs["kept"], nbs["flagged"]) == (["alice/analysis.ipynb"], ["bob/analysis.ipynb"], 1)
    assert any("bob" in w and "not written by this command" in w for w in third["warnings"])
    assert any("alice" in w and "flagged" in w for w in third["warnings"])
    assert "Alice, again's answer" in autograded(course, "alice").read_text(encoding="utf-8")
    assert "By hand's answer" in autograded(course, "bob").read_text(encoding="utf-8")
    with gradebook(db) as gb:
        a = gb.find_grade("answer_a", "analysis", ASSIGNMENT, "alice")
        assert (a.manual_score, a.needs_manual_grade) == (2.0, True)  # kept, to be looked at again
        b = gb.find_grade("answer_a", "analysis", ASSIGNMENT, "bob")
        assert (b.manual_score, b.needs_manual_grade) == (2.0, False)
        assert gb.find_submission(ASSIGNMENT, "alice").score == pytest.approx(ALICE_SCORE + 2.0)

    # a re-grade whose submission lost the notebook keeps the earlier one (and says so)
    (subs / "alice" / "analysis.ipynb").unlink()
    commit = git_submission(subs / "alice", {})
    write_student(out, "alice", make_result("alice"), source=subs / "alice", commit=commit)
    fourth = export_nbgrader.export(db, out, ASSIGNMENT, GRADING_PATH, course_dir=course)
    assert fourth["notebooks"]["missing"] == [{"id": "alice", "notebook": "analysis.ipynb", "kept_previous": True,
                                               "reason": f"analysis.ipynb is not in the graded commit {commit[:10]}"}]
    assert "Alice, again's answer" in autograded(course, "alice").read_text(encoding="utf-8")


def test_the_notebook_the_batch_kept_wins_over_a_folder_edited_since(tmp_path, db, capsys):
    """A folder (or .zip) can change after grading; the batch keeps the graded notebook in
    students/<id>/submitted/ and the export takes that one."""
    subs, out, course = tmp_path / "subs", tmp_path / "batch", db.parent
    folder = subs / "grace"
    for name, text in {**modules(), "analysis.ipynb": answered_notebook("late edit")}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    write_student(out, "grace", make_result("grace"), source=folder, kind="dir")
    kept = out / "students" / "grace" / "submitted" / "analysis.ipynb"
    kept.parent.mkdir()
    kept.write_text(answered_notebook("grace"), encoding="utf-8")
    assert cli.main(["export", "nbgrader", "--db", str(db), "--results", str(out)]) == 0
    capsys.readouterr()
    grace = json.loads(autograded(course, "grace").read_text(encoding="utf-8"))
    answer = "".join(next(c for c in grace["cells"] if c["id"] == "answer_a")["source"])
    assert "Grace's answer to a" in answer and "late edit" not in answer.lower()


def test_the_batch_keeps_the_graded_notebook(tmp_path):
    from autograder.batch.student import Batch
    from hwkit.grading import load_grading

    grading = load_grading(REPO / "grading.yml")
    keeper = Batch.__new__(Batch)  # (only the notebook copy: no slot, no grading)
    keeper.notebooks = [f"{n}.ipynb" for n, t in grading.tasks.items() if t.manual]
    keeper.module_files = [m.file for m in grading.modules.values()]
    sub, folder = tmp_path / "sub", tmp_path / "students" / "heidi"
    for name, text in {**modules("hw/"), "hw/analysis.ipynb": answered_notebook("heidi")}.items():
        (sub / name).parent.mkdir(parents=True, exist_ok=True)
        (sub / name).write_text(text, encoding="utf-8")
    folder.mkdir(parents=True)
    keeper._keep_notebooks(sub, folder)
    assert (folder / "submitted" / "analysis.ipynb").read_text(encoding="utf-8") == answered_notebook("heidi")
    empty = tmp_path / "students" / "ivan"
    empty.mkdir()
    keeper._keep_notebooks(tmp_path / "nothing-here", empty)  # no notebook: nothing kept, no error
    assert not (empty / "submitted").exists()

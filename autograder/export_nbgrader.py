"""Export a batch's scores into an nbgrader gradebook (gradebook.db), for `nbgrader export`.

Run it as ``autograder export nbgrader --db COURSE/gradebook.db --results OUT_DIR``.

Why: a course that already runs nbgrader keeps its marks in nbgrader's gradebook, and its TAs
grade the written analysis in nbgrader's formgrader and send grades on with `nbgrader export`.
This command puts the sandboxed autograder's per-test scores next to those, through nbgrader's
own `nbgrader.api.Gradebook` (no SQL of ours), so `nbgrader export` gives every student's total.

What it writes, for the assignment (``--assignment``, default: grading.yml's ``assignment``):

* a notebook ``autograded`` with one grade cell per test of grading.yml (cell type "code";
  name = the test id made into an nbgrader grade id, see `cell_name`; max_score = its points),
  so per-test points are visible in the formgrader and in the gradebook. Each also has a
  solution cell of the same name, which is what nbgrader hangs comments on: the comment says
  why a test earned less than full marks (failed, pending GPU, not run). There is no
  ``autograded.ipynb`` anywhere: the formgrader's gradebook pages show these scores, its
  notebook view has nothing to open for it;
* for every manual task of grading.yml (here ``analysis``), the notebook ``<task>`` with the
  grade cells of ``solutions/<task>.ipynb`` (names = their ``nbgrader.grade_id``, max_score =
  ``points``, cell type "markdown") and its solution cells (for comments), left WITHOUT
  scores: TAs grade them in nbgrader's formgrader (which shows the students' notebooks from
  the course's ``autograded/<student>/<assignment>/`` folder: copy them there, this command
  only writes the gradebook);
* for every student of the batch folder whose ``status.json`` says "graded" and whose
  ``record.json`` (the grading's record) is valid: the student and a submission, with each test
  cell's ``auto_score`` taken from the record (by test name; a test missing there scores 0).

Students with any other status (error, invalid, no-submission) or unreadable files are
skipped and reported; nothing of theirs is changed, so scores from an earlier export stay (the
report says so). Such a student is not added to the gradebook; students already there (e.g.
imported with `nbgrader db student import`) are listed by `nbgrader export` with 0 for an
assignment they have no submission of.

Pending GPU tests get ``auto_score`` = the points they earned so far (0 unless some cases ran),
``needs_manual_grade`` = False and a comment saying the points wait for a GPU run. So
`nbgrader export` gives the same total as the batch's gradebook.csv (GPU points withheld, the
assignment's max_score still counts them), and re-exporting once the batch's records
include the GPU run (``autograder grade --gpu require``) fills them in. Leaving them "needs
manual grade" instead would change no total (an unscored grade counts 0) but would invite a TA
to type a manual score, and in nbgrader a manual score always wins over the auto score, so the
later GPU result would never show.

Idempotent: cells, students and submissions are updated in place, never duplicated; run it
again after a re-grade and the new auto scores replace the old. Tests no longer in grading.yml
lose their cells. What TAs entered is kept: manual scores, extra credit and manual comments
(as nbgrader's own autograde does, a test cell with a manual score is flagged for review).

Our flow never calls `nbgrader autograde` (student code runs only in our sandbox). Note that
`nbgrader autograde` would overwrite students' .py files with the source versions of the
assignment, which is one reason not to mix it in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Iterator

from hwkit import i18n
from hwkit.grading import GradingConfig, load_grading
from hwkit.record import GradingResult

from .course import find as find_course
from .nbgrader_env import alembic_on_path
from .gradebook import RECORD_FILE, STATUS_FILE, STATUSES, read_json, read_record, students_dir

AUTO_NOTEBOOK = "autograded"
MAX_NAME = 128  # nbgrader's cell and student name columns


class ExportError(Exception):
    """The export cannot run; the message says what to fix."""


# -- names and inputs ------------------------------------------------------------------------------
def cell_name(test_id: str) -> str:
    """An nbgrader grade id for a test id (only letters, digits, '_' and '-').

    ``tests/test_tensors.py::test_index_tensor_values`` -> ``tests-test_tensors__test_index_tensor_values``
    """
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", test_id.replace(".py::", "__")).strip("-")
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 9] + "-" + _digest(test_id)
    return name


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def grade_cells_for(grading: GradingConfig) -> dict[str, tuple[str, float]]:
    """test id -> (grade cell name, points), for every graded test of grading.yml."""
    cells: dict[str, tuple[str, float]] = {}
    used: set[str] = set()
    for test_id, (_, points) in grading.all_tests().items():
        name = cell_name(test_id)
        if name in used:  # two ids that differ only in punctuation
            name = name[: MAX_NAME - 9] + "-" + _digest(test_id)
        used.add(name)
        cells[test_id] = (name, float(points))
    return cells


def manual_cells(notebook: Path) -> list[dict]:
    """The graded and solution cells of an nbgrader source notebook (as `nbgrader
    generate_assignment` records them): name, grade, points, cell type, solution."""
    try:
        data = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{notebook}: cannot read the notebook ({exc})") from None
    cells = []
    for cell in data.get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        grade, solution = bool(meta.get("grade")), bool(meta.get("solution"))
        if not (grade or solution):
            continue
        if not meta.get("grade_id") or (grade and meta.get("points") is None):
            raise ExportError(f"{notebook}: a graded or solution cell has no grade_id, or a graded cell no points")
        cells.append({"name": str(meta["grade_id"]), "grade": grade, "points": float(meta.get("points") or 0),
                      "cell_type": "code" if cell.get("cell_type") == "code" else "markdown",
                      "solution": solution})
    return cells


def read_student(folder: Path, assignment: str) -> tuple[dict | None, GradingResult | None, str]:
    """(status, record, why skipped): the record is None when the student is skipped."""
    status = read_json(folder / STATUS_FILE)
    if status is None:
        return None, None, "no readable status.json (the batch has not finished this student)"
    if status.get("status") not in STATUSES or status.get("id") != folder.name:
        return status, None, "status.json is not a batch record for this folder"
    if status["status"] != "graded":
        message = " ".join(str(status.get("message") or "").split())
        return status, None, f"status {status['status']}" + (f": {message[:200]}" if message else "")
    graded = read_record(folder)
    if graded is None:
        return status, None, f"{RECORD_FILE} is missing or not a grading record of this version (grade again)"
    if graded.assignment not in ("", assignment):
        return status, None, f"{RECORD_FILE} is for the assignment {graded.assignment!r}, not {assignment!r}"
    return status, graded, ""


# -- the gradebook ---------------------------------------------------------------------------------
@contextlib.contextmanager
def open_gradebook(db: Path, course_id: str | None = None) -> Iterator:
    """nbgrader's Gradebook on the sqlite file `db` (created with its tables if missing).

    Creating a new gradebook runs the `alembic` command; when this Python's virtual environment
    is not on PATH (``.venv/bin/python -m ...``), its bin folder is put there for that call.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from nbgrader.api import Gradebook

    db.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{db.resolve()}"
    kwargs = {"course_id": course_id} if course_id else {}
    try:
        with alembic_on_path():
            gb = Gradebook(url, **kwargs)
    except FileNotFoundError as exc:
        raise ExportError(f"{db}: nbgrader needs the `alembic` command to create a gradebook ({exc})") from None
    try:
        yield gb
    finally:
        gb.close()


def _remove_cell(gb, cell) -> None:
    from nbgrader.api import Comment, Grade

    for grade in gb.db.query(Grade).filter(Grade.cell_id == cell.id).all():
        gb.db.delete(grade)
    for comment in gb.db.query(Comment).filter(Comment.cell_id == cell.id).all():
        gb.db.delete(comment)
    gb.db.delete(cell)


def _has_ta_work(gb, cell) -> bool:
    from nbgrader.api import Comment, Grade

    graded = gb.db.query(Grade).filter(Grade.cell_id == cell.id).filter(
        (Grade.manual_score.isnot(None)) | (Grade.extra_credit.isnot(None))).count()
    commented = gb.db.query(Comment).filter(Comment.cell_id == cell.id,
                                            Comment.manual_comment.isnot(None)).count()
    return bool(graded or commented)


def sync_notebook(gb, assignment: str, notebook: str, cells: list[dict], *, owned: bool,
                  warn: list[str]) -> int:
    """Make the notebook's grade and solution cells exactly `cells`; return grade cells removed.

    A cell no longer listed is removed with its grades, unless the notebook is not ours
    (`owned` False) and a TA has already scored or commented it: then it is kept, with a warning.
    """
    from nbgrader.api import GradeCell

    gb.update_or_create_notebook(notebook, assignment)
    wanted = {c["name"]: c for c in cells}
    removed = 0
    nb = gb.find_notebook(notebook, assignment)
    for cell in list(nb.grade_cells) + list(nb.solution_cells):
        is_grade = isinstance(cell, GradeCell)
        if cell.name in wanted and wanted[cell.name]["grade" if is_grade else "solution"]:
            continue
        if not owned and _has_ta_work(gb, cell):
            warn.append(f"{notebook}/{cell.name}: no longer in the source notebook, but kept because a TA "
                        "scored or commented it; remove it in nbgrader if it is obsolete")
            continue
        removed += is_grade
        _remove_cell(gb, cell)
    gb.db.commit()
    for c in cells:
        if c["grade"]:
            gb.update_or_create_grade_cell(c["name"], notebook, assignment, max_score=c["points"],
                                           cell_type=c["cell_type"])
        if c["solution"]:
            gb.update_or_create_solution_cell(c["name"], notebook, assignment)
    return removed


def ensure_submission(gb, assignment: str, student: str, timestamp: str | None):
    """The student's submission with a submitted notebook, a grade per grade cell and a comment
    per solution cell (nbgrader makes these only when a submission is created; cells added
    later need theirs)."""
    from nbgrader.api import Comment, Grade, MissingEntry, SubmittedNotebook
    from nbgrader.utils import parse_utc

    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        with gb.db.no_autoflush:
            submission = gb.add_submission(assignment, student)
    submission.timestamp = parse_utc(timestamp) if timestamp else None
    have = {snb.notebook_id: snb for snb in submission.notebooks}
    for notebook in submission.assignment.notebooks:
        snb = have.get(notebook.id)
        if snb is None:
            snb = SubmittedNotebook(notebook=notebook, assignment=submission)
            gb.db.add(snb)
        graded = {g.cell_id for g in snb.grades}
        commented = {c.cell_id for c in snb.comments}
        for cell in notebook.grade_cells:
            if cell.id not in graded:
                gb.db.add(Grade(cell_id=cell.id, notebook=snb))
        for cell in notebook.solution_cells:
            if cell.id not in commented:
                gb.db.add(Comment(cell_id=cell.id, notebook=snb))
    gb.db.commit()
    return submission


def write_scores(gb, submission, cells: dict[str, tuple[str, float]], graded: GradingResult,
                 warn: list[str], student: str) -> dict:
    """Set the auto score and comment of every test cell of one submission; return counts."""
    by_test = {t.name: t for t in graded.tests}
    unknown = sorted(set(by_test) - set(cells))
    if unknown:
        warn.append(f"{student}: {len(unknown)} test(s) of its record are not in grading.yml and were "
                    f"ignored, e.g. {unknown[0]}")
    snb = next(s for s in submission.notebooks if s.notebook.name == AUTO_NOTEBOOK)
    grades = {g.cell.name: g for g in snb.grades}
    comments = {c.cell.name: c for c in snb.comments}
    total, pending, overridden, scaled = 0.0, 0, 0, []

    def shown(test) -> str:  # (in the student's language, as the feedback)
        with i18n.using(graded.lang if graded.lang in i18n.LANGUAGES else "en"):
            return test.shown()

    for test_id, (name, points) in cells.items():
        test = by_test.get(test_id)
        if test is None:
            score, comment = 0.0, "Not in this student's grading record: 0 points."
        else:
            status = test.status
            score, top = test.score, test.max_score
            if top and abs(top - points) > 1e-9:
                scaled.append(f"{test_id} ({top:g} -> {points:g})")  # keep the fraction earned
                score = score * points / top
            score = round(min(max(score, 0.0), points), 4)
            pending += status == "pending_gpu"
            comment = None if status == "passed" else \
                f"{status} ({score:g} / {points:g}): {shown(test).strip()}".strip()
        grade = grades[name]
        grade.auto_score = score
        # as nbgrader's autograde: a manual score (which wins over the auto score) means "review"
        grade.needs_manual_grade = grade.manual_score is not None
        overridden += grade.manual_score is not None
        if name in comments:
            comments[name].auto_comment = comment
        total += score
    gb.db.commit()
    if scaled:
        warn.append(f"{student}: {len(scaled)} test(s) were graded out of other points than grading.yml "
                    f"gives, their scores were scaled: {', '.join(scaled[:3])}"
                    + (", ..." if len(scaled) > 3 else ""))
    if abs(graded.score - total) > 1e-3:
        warn.append(f"{student}: the test scores add up to {total:g} but its record says {graded.score:g} "
                    "(was it graded with another grading.yml?)")
    return {"score": round(total, 4), "pending_gpu": pending, "overridden": overridden}


# -- the export ------------------------------------------------------------------------------------
def export(db: Path, results_dir: Path, assignment: str | None = None, grading_path: Path | None = None,
           *, solutions: Path | None = None, course_id: str | None = None) -> dict:
    """Write the batch in `results_dir` into the nbgrader gradebook `db`; return what was done.

    The result: ``assignment``, ``exported`` (student ids), ``created`` / ``updated`` (how many
    submissions), ``skipped`` (``[{"id", "reason", "kept_previous"}]``), ``scores`` (id -> the
    exported automatic total), ``test_cells``, ``manual_cells``, ``removed_cells``, ``pending_gpu``
    (pending GPU tests over all students), ``overridden`` (test grades a TA's manual score
    overrides), ``warnings``.
    """
    course = None if grading_path and solutions else find_course()
    grading = load_grading(grading_path or course.grading)
    solutions = solutions or course.solutions
    name = assignment or grading.assignment
    folder = students_dir(Path(results_dir))
    if not folder.is_dir():
        raise ExportError(f"{results_dir}: not a batch output folder (it has no students/ folder); "
                          "give the --out folder of `autograder batch`")
    cells = grade_cells_for(grading)
    manual: dict[str, list[dict]] = {}
    warn: list[str] = []
    for task_name, task in grading.tasks.items():
        if not task.manual:
            continue
        source = Path(solutions) / f"{task_name}.ipynb"
        if not source.is_file():
            warn.append(f"{task_name}: manual task without a notebook {source}; not in the gradebook")
            continue
        manual[task_name] = manual_cells(source)
        found = sum(c["points"] for c in manual[task_name] if c["grade"])
        if abs(found - task.points) > 1e-9:
            warn.append(f"{source.name}: its graded cells give {found:g} points but grading.yml gives "
                        f"{task_name} {task.points:g}")

    students = []
    skipped = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        status, results, why = read_student(entry, grading.assignment)
        if results is None:
            skipped.append({"id": entry.name, "reason": why, "kept_previous": False})
        elif len(entry.name) > MAX_NAME:
            skipped.append({"id": entry.name, "reason": f"student id longer than {MAX_NAME} characters",
                            "kept_previous": False})
        else:
            students.append((entry.name, status, results))

    counts = {"assignment": name, "exported": [], "created": 0, "updated": 0, "skipped": skipped, "scores": {},
              "test_cells": len(cells), "manual_cells": sum(c["grade"] for cs in manual.values() for c in cs),
              "removed_cells": 0, "pending_gpu": 0, "overridden": 0, "warnings": warn}
    from nbgrader.api import MissingEntry

    with open_gradebook(Path(db), course_id) as gb:
        gb.update_or_create_assignment(name)
        deadlines = {s.get("deadline") for _, s, _ in students}
        the_assignment = gb.find_assignment(name)
        if the_assignment.duedate is None and len(deadlines) == 1 and None not in deadlines:
            gb.update_or_create_assignment(name, duedate=deadlines.pop())
        auto = [{"name": n, "grade": True, "points": p, "cell_type": "code", "solution": True}
                for n, p in cells.values()]
        counts["removed_cells"] += sync_notebook(gb, name, AUTO_NOTEBOOK, auto, owned=True, warn=warn)
        for notebook, nb_cells in manual.items():
            counts["removed_cells"] += sync_notebook(gb, name, notebook, nb_cells, owned=False, warn=warn)

        for skip in skipped:
            with contextlib.suppress(MissingEntry):
                gb.find_submission(name, skip["id"])
                skip["kept_previous"] = True
        for student, status, results in students:
            gb.update_or_create_student(student)
            try:
                gb.find_submission(name, student)
                counts["updated"] += 1
            except MissingEntry:
                counts["created"] += 1
            submission = ensure_submission(gb, name, student, status.get("commit_date"))
            done = write_scores(gb, submission, cells, results, warn, student)
            counts["exported"].append(student)
            counts["scores"][student] = done["score"]
            counts["pending_gpu"] += done["pending_gpu"]
            counts["overridden"] += done["overridden"]
    return counts

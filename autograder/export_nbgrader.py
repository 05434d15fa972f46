"""Export a batch's scores into an nbgrader gradebook (gradebook.db), for `nbgrader export`.

Run it as ``autograder export nbgrader --db COURSE/gradebook.db --results OUT_DIR``
(docs/platforms/nbgrader.md is the TA's walk-through).

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
  scores: TAs grade them in nbgrader's formgrader (Manual Grading), on the notebooks this
  command lays out in the course folder (below);
* for every student of the batch folder whose ``status.json`` says "graded" and whose
  ``record.json`` (the grading's record) is valid: the student and a submission, with each test
  cell's ``auto_score`` taken from the record (by test name; a test missing there scores 0).

The course folder (``--course-dir``, default: the folder of the db), as the formgrader reads it
(`CourseDirectory.root`), so that Manual Grading works with no hand step:

* ``source/<assignment>/<task>.ipynb``: ``solutions/<task>.ipynb`` (the notebook with the nbgrader
  metadata the student version was made from), rewritten when solutions/ changed. The
  formgrader lists an assignment only when this folder exists;
* ``autograded/<student>/<assignment>/<task>.ipynb`` for every exported student: the
  ``<task>.ipynb`` of the submission the batch graded: the copy the batch kept when it graded
  (``students/<id>/submitted/``), else read from the source its status.json names: a git
  repository at the graded commit, a .zip or a folder as they are now (the one beside
  the homework modules the grader took, else the shallowest; never through a link or a hidden
  folder). Its nbgrader cell metadata is put back from the source notebook by ``grade_id`` (or by
  cell id when a student's edit lost it), as `nbgrader autograde` would, so a score box shows for
  every graded cell; its outputs are kept as submitted (nothing is run). A student whose
  submission has none gets none (an earlier export's stays), and the result says so
  (``notebooks["missing"]``);
* ``nbgrader_config.py`` when there is none: the db's location (and ``--course-id``).

Overwriting: an autograded notebook records (metadata ``autograder.submitted_sha256``) the
submitted notebook it was made from. Exported again with the same submitted notebook, the file is
left as it is (so a TA's edits stay); with another one (a new submission), it is replaced and
every grade of it a TA already entered is kept and flagged "needs manual grade", so the TA looks
at the new answer; a file this command did not write is never touched (a warning says so). TAs'
grades live in the gradebook, which a notebook's replacement never changes otherwise.

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
import copy
import hashlib
import json
import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from hwkit import i18n
from hwkit.grading import GradingConfig, load_grading
from hwkit.record import GradingResult

from .course import find as find_course
from .nbgrader_env import alembic_on_path
from .gradebook import (RECORD_FILE, STATUS_FILE, STATUSES, SUBMITTED_DIR, atomic_write, read_json, read_record,
                        students_dir)
from .submission import SubmissionError

AUTO_NOTEBOOK = "autograded"
MAX_NAME = 128  # nbgrader's cell and student name columns
SOURCE_DIR, AUTOGRADED_DIR, CONFIG_FILE = "source", "autograded", "nbgrader_config.py"  # nbgrader's names
ORIGIN = "autograder"  # an autograded notebook's metadata key: what it was made from
MAX_NOTEBOOK_BYTES = 32 * 2**20
MAX_DEPTH = 4  # a notebook is looked for at most this many path parts down (locate's 3 folders + the file)


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


# -- the course folder: what the formgrader's Manual Grading opens ---------------------------------
def pick_notebook(paths: list[PurePosixPath], name: str, module_files: list[str]) -> PurePosixPath | None:
    """The submission's notebook `name` among its files (relative paths): the one in the folder
    the grader takes the homework modules from (autograder/submission.py's `locate`: the
    shallowest folder with the most of them), else the shallowest. Hidden folders
    (.ipynb_checkpoints, .git) and __MACOSX are never looked in."""
    usable = [p for p in paths if len(p.parts) <= MAX_DEPTH
              and not any(part.startswith(".") or part == "__MACOSX" for part in p.parts)]
    present = set(usable)
    folders = sorted({q for p in usable for q in p.parents}, key=lambda d: (len(d.parts), str(d)))
    found = sorted((p for p in usable if p.name == name), key=lambda p: (len(p.parts), str(p)))
    if not found:
        return None
    modules_at = max(folders, key=lambda d: (sum(d / f in present for f in module_files), -len(d.parts)))
    return modules_at / name if modules_at / name in present else found[0]


def submitted_notebook(status: dict, name: str, module_files: list[str]) -> tuple[bytes | None, str]:
    """(the bytes of notebook `name` in the submission that status.json names, why there is none)."""
    source, kind = status.get("source"), status.get("kind")
    if not source:
        return None, "its status.json names no submission"
    path = Path(source)
    try:
        if kind == "git":
            return _from_git(path, status.get("commit"), name, module_files)
        if kind == "zip" or (kind is None and path.suffix.lower() == ".zip"):
            return _from_zip(path, name, module_files)
        if kind in ("dir", None):
            return _from_dir(path, name, module_files)
    except SubmissionError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{path}: cannot be read ({exc.strerror or exc})"
    return None, f"status.json names a submission of an unknown kind {kind!r}"


def _too_large(name: str, size: int) -> tuple[None, str] | None:
    if size > MAX_NOTEBOOK_BYTES:
        return None, f"{name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
    return None


def _from_dir(root: Path, name: str, module_files: list[str]) -> tuple[bytes | None, str]:
    if not root.is_dir():
        return None, f"{root}: the submitted folder is no longer there"
    paths = []
    for folder, dirs, files in os.walk(root):  # (os.walk never enters a linked folder)
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = [] if depth >= MAX_DEPTH - 1 else [d for d in dirs if not d.startswith(".")]
        paths += [PurePosixPath(*Path(folder, f).relative_to(root).parts) for f in files
                  if f == name or f in module_files]
    chosen = pick_notebook(paths, name, module_files)
    if chosen is None:
        return None, f"{name} is not in the submission"
    target = root.joinpath(*chosen.parts)
    if target.is_symlink() or not target.is_file():
        return None, f"{chosen} is a symbolic link or not a file; submit the notebook itself"
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # (nor one put there since)
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_NOTEBOOK_BYTES + 1)
    return _too_large(str(chosen), len(data)) or (data, "")


def _from_zip(archive_path: Path, name: str, module_files: list[str]) -> tuple[bytes | None, str]:
    if not archive_path.is_file():
        return None, f"{archive_path}: the submitted .zip is no longer there"
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as exc:
        return None, f"{archive_path}: not a readable .zip file ({exc})"
    with archive:
        members = {}
        for m in archive.infolist():
            path = PurePosixPath(m.filename)
            if m.is_dir() or path.is_absolute() or ".." in path.parts or (m.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # (a link is never followed)
            members.setdefault(path, m)
        chosen = pick_notebook(list(members), name, module_files)
        if chosen is None:
            return None, f"{name} is not in the submission"
        member = members[chosen]
        if member.file_size > MAX_NOTEBOOK_BYTES:
            return _too_large(str(chosen), member.file_size)
        try:
            with archive.open(member) as f:
                data = f.read(MAX_NOTEBOOK_BYTES + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            return None, f"{chosen}: cannot be read from the .zip ({exc})"
        return _too_large(str(chosen), len(data)) or (data, "")


def _from_git(repo: Path, commit: str | None, name: str, module_files: list[str]) -> tuple[bytes | None, str]:
    from .batch.git import Git, check_repository

    if not commit:
        return None, "its status.json names no graded commit"
    if not repo.is_dir():
        return None, f"{repo}: the submitted repository is no longer there"
    check_repository(repo)
    with tempfile.TemporaryDirectory(prefix="export-nbgrader-git-") as home:
        git = Git(repo, Path(home))
        listing = git("ls-tree", "-r", "-z", "-l", "--full-tree", commit, check=False)
        if listing is None:
            return None, f"{repo.name}: the graded commit {commit[:10]} is no longer in the repository"
        blobs = {}
        for entry in filter(None, listing.split(b"\0")):
            meta, _, raw = entry.partition(b"\t")
            mode, kind, obj, size = meta.split()
            path = PurePosixPath(raw.decode("utf-8", "replace"))
            if kind == b"blob" and mode in (b"100644", b"100755") and not path.is_absolute() and ".." not in path.parts:
                blobs[path] = (obj.decode(), int(size))  # (links and submodules are never followed)
        chosen = pick_notebook(list(blobs), name, module_files)
        if chosen is None:
            return None, f"{name} is not in the graded commit {commit[:10]}"
        obj, size = blobs[chosen]
        return _too_large(str(chosen), size) or (git("cat-file", "blob", obj) or b"", "")


def notebook_for_grading(raw: bytes, source, name: str) -> tuple[dict, list[str]]:
    """The student's notebook as the formgrader shows it, and what a TA should know about it.

    Each cell that has a graded or locked cell's ``grade_id`` (or, when its metadata was lost, the
    cell id) of the `source` notebook gets that cell's nbgrader metadata back, as `nbgrader
    autograde` restores it; any other nbgrader metadata (a copied cell, a second cell with one
    id) is removed, so every score box is the gradebook's. ValueError if `raw` is no notebook.
    """
    import nbformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - any way a file can fail to be a notebook
        raise ValueError(f"{name} is not a readable notebook ({type(exc).__name__})") from None
    wanted = {}
    by_cell_id = {}
    for cell in source.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and meta.get("grade_id"):
            wanted[meta["grade_id"]] = meta
            if cell.get("id"):
                by_cell_id[cell["id"]] = meta["grade_id"]
    seen: set[str] = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id not in wanted:
            grade_id = by_cell_id.get(cell.get("id"))
        if grade_id is None or grade_id in seen:
            cell.get("metadata", {}).pop("nbgrader", None)
            continue
        seen.add(grade_id)
        cell.setdefault("metadata", {})["nbgrader"] = copy.deepcopy(wanted[grade_id])
    lost = [g for g, meta in wanted.items() if g not in seen and (meta.get("grade") or meta.get("solution"))]
    notes = [f"{name}: the cell {g!r} is not in the notebook (deleted?), so the formgrader shows nothing to "
             "grade for it" for g in lost]
    return nb, notes


def submitted_sha256(path: Path) -> str | None:
    """The sha256 of the submitted notebook an autograded notebook was made from (None: it is
    unreadable or this command did not write it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        value = data["metadata"][ORIGIN]["submitted_sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def write_config(course_dir: Path, db: Path, course_id: str | None) -> bool:
    """Write the course's nbgrader_config.py if it has none: where the gradebook is (next to it
    by default), so `nbgrader` and the formgrader started in the course folder find it."""
    config = course_dir / CONFIG_FILE
    if config.exists():
        return False
    db = db.resolve()
    where = repr(db.name) if db.parent == course_dir.resolve() else repr(str(db))
    lines = ["# Written by `autograder export nbgrader` because there was none; edit it freely, it is never",
             "# rewritten. nbgrader reads it when run in this folder (the course folder).",
             "import os", "", "c = get_config()  # noqa: F821 - (nbgrader's config files get it)",
             "c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))",
             f"c.CourseDirectory.db_url = 'sqlite:///' + os.path.join(c.CourseDirectory.root, {where})"]
    if course_id:
        lines.append(f"c.CourseDirectory.course_id = {course_id!r}")
    atomic_write(config, "\n".join(lines) + "\n")
    return True


def write_sources(course_dir: Path, assignment: str, sources: dict[str, Path]) -> list[str]:
    """Copy each manual task's source notebook to source/<assignment>/; the paths written."""
    written = []
    for task, notebook in sources.items():
        target = course_dir / SOURCE_DIR / assignment / f"{task}.ipynb"
        data = notebook.read_bytes()
        if not target.is_file() or target.read_bytes() != data:
            atomic_write(target, data)
            written.append(target.relative_to(course_dir).as_posix())
    return written


def kept_notebook(folder: Path, name: str) -> tuple[bytes | None, str]:
    """The notebook the batch copied out of the submission it graded (``submitted/``), if any."""
    path = folder / SUBMITTED_DIR / name
    if path.is_symlink() or not path.is_file():
        return None, ""
    data = path.read_bytes()
    return _too_large(name, len(data)) or (data, "")


def place_notebooks(gb, course_dir: Path, assignment: str, student: str, status: dict,
                    sources: dict[str, object], module_files: list[str], done: dict, warn: list[str],
                    folder: Path | None = None) -> None:
    """Write autograded/<student>/<assignment>/<task>.ipynb for each manual task (see the module's
    docstring for when an existing one is kept); record what was done in `done`. The notebook is
    the copy the batch kept when it graded (the student's `folder`/submitted/), else it is read
    from the submission status.json names."""
    for task, source in sources.items():
        name = f"{task}.ipynb"
        target = course_dir / AUTOGRADED_DIR / student / assignment / name
        label = f"{student}/{name}"
        raw, why = kept_notebook(folder, name) if folder else (None, "")
        if raw is None:
            raw, why = submitted_notebook(status, name, module_files)
        if raw is None:
            done["missing"].append({"id": student, "notebook": name, "reason": why,
                                    "kept_previous": target.is_file()})
            continue
        digest = hashlib.sha256(raw).hexdigest()
        previous = submitted_sha256(target) if target.exists() else None
        if target.exists() and previous is None:
            warn.append(f"{student}: {target.relative_to(course_dir)} was not written by this command; left as it "
                        "is (delete it to have the submitted notebook put there)")
            done["kept"].append(label)
            continue
        if previous == digest:
            done["unchanged"].append(label)
            continue
        try:
            nb, notes = notebook_for_grading(raw, source, name)
        except ValueError as exc:
            done["missing"].append({"id": student, "notebook": name, "reason": str(exc),
                                    "kept_previous": target.is_file()})
            continue
        warn.extend(f"{student}: {n}" for n in notes)
        nb.metadata[ORIGIN] = {"submitted_sha256": digest, "commit": status.get("commit")}
        import nbformat

        atomic_write(target, nbformat.writes(nb))
        if previous is None:
            done["added"].append(label)
            continue
        done["replaced"].append(label)
        flagged = flag_for_review(gb, assignment, task, student)
        done["flagged"] += flagged
        if flagged:
            warn.append(f"{student}: {name} is from a new submission; the {flagged} grade(s) a TA gave the "
                        "earlier one are kept and flagged 'needs manual grade' for review")


def flag_for_review(gb, assignment: str, notebook: str, student: str) -> int:
    """Flag every grade a TA entered in the student's notebook `notebook`; how many."""
    from nbgrader.api import MissingEntry

    try:
        snb = gb.find_submission_notebook(notebook, assignment, student)
    except MissingEntry:
        return 0
    flagged = 0
    for grade in snb.grades:
        if grade.manual_score is not None or grade.extra_credit is not None:
            grade.needs_manual_grade = True
            flagged += 1
    gb.db.commit()
    return flagged


# -- the export ------------------------------------------------------------------------------------
def export(db: Path, results_dir: Path, assignment: str | None = None, grading_path: Path | None = None,
           *, solutions: Path | None = None, course_id: str | None = None, course_dir: Path | None = None) -> dict:
    """Write the batch in `results_dir` into the nbgrader gradebook `db`, and the notebooks to
    grade by hand into the course folder `course_dir` (default: the db's folder); return what
    was done.

    The result: ``assignment``, ``exported`` (student ids), ``created`` / ``updated`` (how many
    submissions), ``skipped`` (``[{"id", "reason", "kept_previous"}]``), ``scores`` (id -> the
    exported automatic total), ``test_cells``, ``manual_cells``, ``removed_cells``, ``pending_gpu``
    (pending GPU tests over all students), ``overridden`` (test grades a TA's manual score
    overrides), ``notebooks`` (the course folder: ``course_dir``, ``config`` (whether
    nbgrader_config.py was written), ``source`` (paths written), ``added`` / ``replaced`` /
    ``unchanged`` / ``kept`` (``student/<task>.ipynb``), ``missing`` (``[{"id", "notebook",
    "reason", "kept_previous"}]``), ``flagged`` (TA grades flagged for review)), ``warnings``.
    """
    course = None if grading_path and solutions else find_course()
    grading = load_grading(grading_path or course.grading)
    solutions = solutions or course.solutions
    name = assignment or grading.assignment
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.strip(".") == "":
        raise ExportError(f"assignment {name!r}: an nbgrader assignment name is letters, digits, '_', '-' and '.'")
    course_dir = Path(course_dir) if course_dir is not None else Path(db).parent
    folder = students_dir(Path(results_dir))
    if not folder.is_dir():
        raise ExportError(f"{results_dir}: not a batch output folder (it has no students/ folder); "
                          "give the --out folder of `autograder batch`")
    cells = grade_cells_for(grading)
    manual: dict[str, list[dict]] = {}
    sources: dict[str, Path] = {}
    warn: list[str] = []
    for task_name, task in grading.tasks.items():
        if not task.manual:
            continue
        source = Path(solutions) / f"{task_name}.ipynb"
        if not source.is_file():
            warn.append(f"{task_name}: manual task without a notebook {source}; not in the gradebook")
            continue
        manual[task_name] = manual_cells(source)
        sources[task_name] = source
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
            students.append((entry.name, status, results, entry))

    counts = {"assignment": name, "exported": [], "created": 0, "updated": 0, "skipped": skipped, "scores": {},
              "test_cells": len(cells), "manual_cells": sum(c["grade"] for cs in manual.values() for c in cs),
              "removed_cells": 0, "pending_gpu": 0, "overridden": 0, "warnings": warn}
    notebooks = {"course_dir": str(course_dir), "config": False, "source": [], "added": [], "replaced": [],
                 "unchanged": [], "kept": [], "missing": [], "flagged": 0}
    counts["notebooks"] = notebooks
    import nbformat
    from nbgrader.api import MissingEntry

    try:
        source_nbs = {task: nbformat.read(str(path), as_version=4) for task, path in sources.items()}
        course_dir.mkdir(parents=True, exist_ok=True)
        notebooks["source"] = write_sources(course_dir, name, sources)
        notebooks["config"] = write_config(course_dir, Path(db), course_id)
    except OSError as exc:
        raise ExportError(f"{course_dir}: cannot write the course folder ({exc.strerror or exc})") from None
    module_files = [m.file for m in grading.modules.values()]

    with open_gradebook(Path(db), course_id) as gb:
        gb.update_or_create_assignment(name)
        deadlines = {s.get("deadline") for _, s, _, _ in students}
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
        for student, status, results, student_folder in students:
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
            try:
                place_notebooks(gb, course_dir, name, student, status, source_nbs, module_files, notebooks, warn,
                                student_folder)
            except OSError as exc:
                raise ExportError(f"{course_dir}: cannot write {student}'s notebook ({exc.strerror or exc}); the "
                                  "gradebook is written up to this student, run the export again") from None
    return counts

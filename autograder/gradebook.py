"""The batch's files on disk: atomic writes, per-student records, and gradebook.csv.

Layout of a batch output folder::

    OUT/students/<id>/record.json    the grading's record (hwkit/record.py): what every file below is made of
    OUT/students/<id>/results.json   exported from it: Gradescope format, as `autograder grade --json` writes it
    OUT/students/<id>/feedback.md    exported from it
    OUT/students/<id>/status.json    the batch's status of the student; written LAST: a student is done iff it is valid
    OUT/gradebook.csv                rebuilt from the records, never appended to

Because the gradebook is always rebuilt from the per-student files, a batch killed at any
moment and run again lists every student exactly once.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from hwkit import record
from hwkit.files import TMP_SUFFIX, atomic_write  # noqa: F401 - (atomic_write: the batch's writer too)
from hwkit.text import points, strip_terminal

STATUSES = ("graded", "error", "no-submission", "invalid")
STATUS_FILE, RECORD_FILE, RESULTS_FILE, FEEDBACK_FILE = "status.json", "record.json", "results.json", "feedback.md"
# The notebooks of the hand-graded tasks, as they were in the graded submission (for the
# nbgrader export: a folder or .zip may change after the batch has graded it).
SUBMITTED_DIR = "submitted"
GRADEBOOK = "gradebook.csv"


@dataclass(frozen=True)
class TaskColumn:
    name: str
    manual: bool
    max_score: float


def task_columns(grading) -> list[TaskColumn]:
    """One gradebook column per task of a GradingConfig, in file order."""
    return [TaskColumn(name, t.manual, t.points) for name, t in grading.tasks.items()]


def remove_partial_files(folder: Path) -> None:
    """Delete temporary files left by a killed batch (never a finished file)."""
    for p in list(folder.glob(f".*{TMP_SUFFIX}")) + list(folder.glob(f"students/*/.*{TMP_SUFFIX}")):
        with contextlib.suppress(OSError):
            p.unlink()


def students_dir(out: Path) -> Path:
    return out / "students"


def read_json(path: Path) -> dict | None:
    """A JSON object from `path`, or None if it is missing or corrupt."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def valid_results(data: dict | None) -> bool:
    """Enough of the Gradescope format for the gradebook and the class report."""
    if not isinstance(data, dict):
        return False
    extra = data.get("extra_data")
    return (_is_number(data.get("score")) and _is_number(data.get("max_score"))
            and isinstance(data.get("tests"), list) and all(isinstance(t, dict) for t in data["tests"])
            and isinstance(extra, dict) and isinstance(extra.get("tasks"), dict))


def read_status(student: Path) -> dict | None:
    """The student's status.json if it is valid and, for a graded student, its record too."""
    status = read_json(student / STATUS_FILE)
    if status is None or status.get("status") not in STATUSES or status.get("id") != student.name:
        return None
    if status["status"] == "graded" and read_record(student) is None:
        return None
    return status


def read_record(student: Path) -> record.GradingResult | None:
    """A graded student's record (None if missing, corrupt or of another version)."""
    return record.load(student / RECORD_FILE)


def graded_by_an_older_grader(student: Path) -> bool:
    """Graded, with a results.json, but without a record this version can read (a batch folder
    from before records existed): its files cannot be re-exported or merged, only regraded."""
    status = read_json(student / STATUS_FILE)
    return (status is not None and status.get("status") == "graded" and (student / RESULTS_FILE).is_file()
            and read_record(student) is None)


def done(out: Path, student_id: str) -> bool:
    return read_status(students_dir(out) / student_id) is not None


def rows(out: Path, tasks: list[TaskColumn], cache: dict | None = None) -> list[dict[str, str]]:
    """One row per finished student, sorted by id. `cache` (a dict kept by the caller): rows
    already read, reused while the student's status.json and record.json are the same files
    (they are only ever replaced whole), so that a batch rebuilding after every student reads
    each record once, not once per later student."""
    max_total = sum(t.max_score for t in tasks if not t.manual)
    result = []
    folder = students_dir(out)
    for student in sorted(folder.iterdir() if folder.is_dir() else [], key=lambda p: p.name):
        if not student.is_dir():
            continue
        stamp = _stamp(student) if cache is not None else None
        if stamp is not None and student.name in cache and cache[student.name][0] == stamp:
            row = cache[student.name][1]
        else:
            row = _row(student, tasks, max_total)
            if stamp is not None:
                cache[student.name] = (stamp, row)
        if row is not None:
            result.append(dict(row))
    return result


def _stamp(student: Path) -> tuple | None:
    """What identifies the versions of a student's status.json and record.json."""
    stamp = []
    for name in (STATUS_FILE, RECORD_FILE):
        try:
            st = (student / name).stat()
        except FileNotFoundError:
            stamp.append(None)
            continue
        except OSError:
            return None
        stamp.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(stamp)


def _row(student: Path, tasks: list[TaskColumn], max_total: float) -> dict[str, str] | None:
    status = read_status(student)
    if status is None:
        return None
    row = {"student": student.name, "commit": status.get("commit") or "",
           "late": "" if status.get("late") is None else ("yes" if status["late"] else "no"),
           "status": status["status"], "message": _one_line(status.get("message") or "")}
    graded = read_record(student) if status["status"] == "graded" else None
    if graded is not None:
        scores = {t.name: t.score for t in graded.tasks}
        for t in tasks:
            row[t.name] = "" if t.manual else _num(scores.get(t.name, 0.0))
        pending = sum(t.max_score for t in graded.pending_gpu)
        row.update(total=_num(graded.score), max=_num(graded.max_score), pending_gpu=_num(pending))
    else:
        # invalid / no-submission score 0; a grader error is not a grade, so it stays blank.
        zero = "" if status["status"] == "error" else "0"
        for t in tasks:
            row[t.name] = "" if t.manual else zero
        row.update(total=zero, max=_num(max_total), pending_gpu="")
    return row


def columns(tasks: list[TaskColumn]) -> list[str]:
    return ["student", "commit", "late", "status", *[t.name for t in tasks], "total", "max", "pending_gpu",
            "message"]


def rebuild(out: Path, tasks: list[TaskColumn], cache: dict | None = None) -> list[dict[str, str]]:
    """Write OUT/gradebook.csv from every finished student's files; return its rows (`cache`:
    see :func:`rows`)."""
    table = rows(out, tasks, cache)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(tasks), lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: _cell(v) for k, v in row.items()} for row in table])
    atomic_write(out / GRADEBOOK, buf.getvalue())
    return table


def read_gradebook(out: Path) -> list[dict[str, str]]:
    path = out / GRADEBOOK
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _num(x: float) -> str:
    """Two decimals at most, as everywhere points are shown (the record keeps the exact sum)."""
    return points(float(x))


def _cell(value: str) -> str:
    """A CSV cell no spreadsheet runs as a formula (OWASP's rule: a leading quote)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number_text(value) else value


def _is_number_text(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(strip_terminal(text, " ").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

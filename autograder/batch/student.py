"""Grading one student: prepare the submission (check a .zip or folder, or export a git
repository's commit), grade it in this thread's slot, and write the student's files, its
``status.json`` last, so a student is done only once everything is written."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from hwkit import record
from hwkit.grading import GradingConfig
from hwkit.record import clean_text

from .. import gradebook
from ..gradebook import FEEDBACK_FILE, RECORD_FILE, RESULTS_FILE, STATUS_FILE, SUBMITTED_DIR
from ..report import feedback, gradescope
from ..submission import SubmissionError, unpacked
from .discovery import Entry
from .errors import NoSubmission
from .git import Git, check_repository, pick_commit
from .slots import SlotPool, SlotUnavailable, WarmParent
from .zips import check_zip

if TYPE_CHECKING:
    from .run import Options

WORK = ".work"  # OUT/.work: temporary folders of the running batch, removed at the next start


class Batch:
    """What every grading of a batch shares (options, task columns, OUT/.work, slots)."""

    def __init__(self, opts: Options, grading: GradingConfig, console: Console,
                 parent: WarmParent | None = None) -> None:
        """`parent`: the warm parent the slots are forked from, started already (else when needed)."""
        self.opts, self.console = opts, console
        self.tasks = gradebook.task_columns(grading)
        self.notebooks = [f"{name}.ipynb" for name, task in grading.tasks.items() if task.manual]
        self.module_files = [m.file for m in grading.modules.values()]
        self.work = opts.out / WORK
        self.lock = threading.Lock()
        self.pool = SlotPool(opts, self.work, self.lock, parent)
        self.rows: dict = {}  # the gradebook's rows already read (gradebook.rows)

    def grade(self, entry: Entry) -> dict | None:
        """Grade one student and write its files; None if the batch is stopping."""
        started = time.monotonic()
        folder = gradebook.students_dir(self.opts.out) / entry.id
        folder.mkdir(parents=True, exist_ok=True)
        for name in (STATUS_FILE, RECORD_FILE, RESULTS_FILE, FEEDBACK_FILE):  # status first: not done from here on
            (folder / name).unlink(missing_ok=True)
        shutil.rmtree(folder / SUBMITTED_DIR, ignore_errors=True)
        status = {"id": entry.id, "source": str(entry.path), "kind": entry.kind, "commit": None,
                  "commit_date": None, "late": None, "status": "error", "message": "", "seconds": 0.0,
                  "deadline": self.opts.deadline.isoformat() if self.opts.deadline else None}
        work = Path(tempfile.mkdtemp(prefix=f"{entry.id}-", dir=self.work))
        try:
            submission = self._prepare(entry, work, status)
            self._run_grader(submission, work, folder, status)
            if status["status"] == "graded":
                with contextlib.suppress(OSError):  # (the export then reads the submission itself)
                    self._keep_notebooks(submission, folder)
        except NoSubmission as exc:
            status.update(status="no-submission", message=str(exc))
        except SubmissionError as exc:
            status.update(status="invalid", message=str(exc))
        except Exception as exc:  # noqa: BLE001 - one student's failure never stops the batch
            status.update(status="error", message=f"batch error: {type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if self.pool.stopping:
            return None
        status["seconds"] = round(time.monotonic() - started, 1)
        # (messages quote entry names and archive members: no escape sequence reaches a terminal)
        status["message"] = clean_text(str(status["message"]), 2000)
        gradebook.atomic_write(folder / STATUS_FILE, _json(status))
        return status

    def _prepare(self, entry: Entry, work: Path, status: dict) -> Path:
        if entry.kind == "zip":
            check_zip(entry.path)
            return entry.path
        if entry.kind == "dir":
            with unpacked(entry.path):
                return entry.path
        check_repository(entry.path)
        git = Git(entry.path, work / "home")
        commit, late, why = pick_commit(git, self.opts.deadline)
        status["late"] = late
        if commit is None:
            raise NoSubmission(why)
        status.update(commit=commit, commit_date=git.commit_date(commit))
        tree = work / "tree"
        tree.mkdir()
        git.export(commit, tree)
        return tree

    def _keep_notebooks(self, submission: Path, folder: Path) -> None:
        """Copy the hand-graded tasks' notebooks out of the graded submission (the nbgrader
        export reads them from there); a notebook that is missing or unreadable is skipped
        here and reported by the export."""
        from ..export_nbgrader import submitted_notebook

        kind = "zip" if submission.is_file() else "dir"
        for name in self.notebooks:
            raw, _ = submitted_notebook({"source": str(submission), "kind": kind}, name, self.module_files)
            if raw is not None:
                gradebook.atomic_write(folder / SUBMITTED_DIR / name, raw)

    def _run_grader(self, submission: Path, work: Path, folder: Path, status: dict) -> None:
        graded = work / RECORD_FILE
        argv = ["grade", str(submission), "--record", str(graded),
                "--gpu", self.opts.gpu, "--grading", str(self.opts.grading), "--course", str(self.opts.course.root)]
        if self.opts.allow_weak:
            argv.append("--allow-weak-sandbox")
        if self.opts.lang:
            argv += ["--lang", self.opts.lang]
        try:
            slot = self.pool.get()
        except SlotUnavailable as exc:
            status["message"] = f"no grading slot could start: {exc}"
            return
        code = slot.grade(argv, work / "stdout.log", work / "stderr.log", self.opts.student_timeout)
        stderr = (work / "stderr.log").read_text("utf-8", "replace") if (work / "stderr.log").exists() else ""
        if code is None:
            status["log"] = stderr[-4000:]
            status["message"] = f"grading took more than {self.opts.student_timeout:g} s and was stopped" \
                if slot.timed_out else "the grading slot ended unexpectedly: " + slot.log_tail()
            return
        if code != 0:
            status["log"] = stderr[-4000:]  # the grader's own error output, for the TA
            status["message"] = _grader_failure(code, stderr)
            return
        result = record.load(graded)
        if result is None:
            status["message"] = "the grader finished but wrote no valid record.json"
            return
        # The record is the student's file of reference; the others are exported from it here.
        gradebook.atomic_write(folder / RECORD_FILE, graded.read_bytes())
        gradebook.atomic_write(folder / RESULTS_FILE, gradescope.render(result))
        gradebook.atomic_write(folder / FEEDBACK_FILE, feedback.render(result))
        status.update(status="graded", message="; ".join(str(e) for e in result.errors))


def _grader_failure(code: int, stderr: str) -> str:
    text = " ".join(stderr.split())
    if code == 2 and "cannot grade:" in text:
        return "cannot grade: " + text.split("cannot grade:", 1)[1].strip()[:1000]
    if code == 2 and "configuration error:" in text:
        return text[text.index("configuration error:"):][:1000]
    if code < 0:
        return f"the grader was killed by signal {-code} ({signal.Signals(-code).name})"
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return f"the grader exited with code {code}: {lines[-1].strip()[:1000] if lines else 'no message'}"


def _json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

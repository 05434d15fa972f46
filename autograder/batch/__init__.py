"""`autograder batch`: grade every student of a folder (folders, .zip files, git repositories).

Each of the ``-j`` parallel jobs has a warm grading slot (:mod:`autograder.slot`), forked from
one warm parent that has imported torch and the suites and warmed them up once per batch; the
slot keeps a sandbox of its own warm and grades each student in a process of its own forked
from it (killed with the batch, and after ``--student-timeout``).
Files are written atomically and a student's ``status.json`` last, so a batch killed at any
moment can simply be run again: finished students are skipped and the gradebook is rebuilt from
the per-student files.

Modules: :mod:`.discovery` (entries and student ids), :mod:`.zips` (.zip checks), :mod:`.git`
(repositories, --deadline), :mod:`.slots` (the warm parent and its slots), :mod:`.student` (one
student's grading and files), :mod:`.run` (options and the whole batch), :mod:`.errors`.
"""

from __future__ import annotations

from ..submission import SubmissionError
from .discovery import MAX_ID, Entry, common_prefix, discover, safe_id, student_ids
from .errors import BatchError, NoSubmission
from .git import DEADLINE_EXAMPLE, GIT_TIMEOUT_S, Git, check_repository, parse_deadline, pick_commit
from .run import DEFAULT_STUDENT_TIMEOUT_S, Options, auto_jobs, run
from .slots import Slot, SlotPool, SlotUnavailable, WarmParent
from .student import WORK, Batch
from .zips import check_zip

__all__ = ["BatchError", "Batch", "auto_jobs", "DEADLINE_EXAMPLE", "DEFAULT_STUDENT_TIMEOUT_S", "Entry", "GIT_TIMEOUT_S", "Git",
           "MAX_ID", "NoSubmission", "Options", "Slot", "SlotPool", "SlotUnavailable", "SubmissionError", "WORK",
           "WarmParent", "check_repository", "check_zip", "common_prefix", "discover", "parse_deadline", "pick_commit",
           "run", "safe_id", "student_ids"]

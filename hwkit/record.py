"""The record of one grading: what it produced, versioned. Every report is an export of it.

The grader saves one per student (``autograder grade --record``, a batch's
``students/<id>/record.json``); results.json (Gradescope), feedback.md, the terminal table,
gradebook.csv and the nbgrader export are written from it, and merging a later GPU run edits
it and exports again. A student's ``pytest --points-json`` writes the same record for the
public tests that ran, and the GitHub summary is written from that.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from .files import atomic_write
from .i18n import tr
from .scoring import TaskScore
from .record_format import RECORD_VERSION  # noqa: F401 - (re-exported: the record's readers use it)
from .text import STUB_MESSAGE, strip_terminal


class TestResult(BaseModel):
    name: str  # the test id, "tests/test_tensors.py::test_index_tensor_views"
    task: str
    score: float
    max_score: float
    status: str  # passed | failed | pending_gpu | skipped | not_run
    output: str = ""
    # The first line of each distinct failure (several cases can fail in different ways).
    problems: list[str] = []
    cases_passed: int = 0
    cases: int = 0
    hidden: bool = False
    # Earns points only on a real GPU (marked `gpu`, or requires such a test): a run without
    # one never counts it, whatever the submission.
    gpu: bool = False
    # Position among the task's tests that did not pass, most useful hint first (0); None if passed.
    hint_rank: int | None = None
    duration: float = 0.0  # seconds, all cases together

    def not_started(self) -> tuple[str, str] | None:
        """(task number, function) when this test failed on a stub nobody has filled in yet."""
        if self.status == "pending_gpu" and self.problems:  # (its own cases failed on a stub)
            return _stub(self.problems[0])
        return _stub(self.output) if self.status == "failed" else None

    def unstarted(self) -> list[tuple[str, str]]:
        """Every (task number, function) this test's failures found unwritten: a parametrized
        test can reach several stubs (one per case), each a distinct failure."""
        if self.status != "failed" and not (self.status == "pending_gpu" and self.problems):
            return []  # (a test waiting for a GPU test still names the stubs its own cases found)
        return list(dict.fromkeys(filter(None, map(_stub, self.problems or [self.output]))))

    def shown(self) -> str:
        """What a report shows for this test (in the current language): its message, or why it
        has none yet."""
        if self.status == "pending_gpu":
            return tr("Pending: this test needs a real CUDA GPU; its points are withheld until it runs on one.")
        if self.status == "not_run":
            return tr("This test did not run.")
        return self.output


def _stub(text: str) -> tuple[str, str] | None:
    text = text.strip()
    found = STUB_MESSAGE.match(text.removeprefix("NotImplementedError: ")) \
        if text.startswith("NotImplementedError: ") else None
    return (found.group(1), found.group(2)) if found else None


class TaskResult(BaseModel):
    name: str
    title: str
    score: float
    max_score: float
    manual: bool = False
    pending_gpu: float = 0.0
    # Points of tests that are not part of this run (a student's: the hidden ones).
    hidden_points: float = 0.0


#: GradingResult.gpu of a run on the simulated GPU (`grade --gpu simulate`): its GPU points are no grade.
SIMULATED_GPU = "simulated"


class GradingResult(BaseModel):
    version: int = RECORD_VERSION
    assignment: str
    submission: str
    score: float
    max_score: float  # automatic points only; manual tasks are graded elsewhere
    execution_time: float
    tasks: list[TaskResult]
    tests: list[TestResult]
    sandbox: dict = Field(default_factory=dict)
    worker_restarts: int = 0
    gpu: str = "off"  # the grading's --gpu mode (auto, require, off), "simulated", or "merged" (merge-gpu)
    errors: list[str] = Field(default_factory=list)
    lang: str = "en"  # of the messages; reports are written in it too
    # Every test case's outcome, so results can be re-scored (e.g. merged with a later GPU run).
    cases: list[dict] = Field(default_factory=list)
    # A student's own run (pytest --points-json): pytest's exit status, why no points could be
    # computed at all (grading.yml unreadable), and tests that ran without points.
    exitstatus: int | None = None
    no_points: str | None = None
    unscored: list[str] = Field(default_factory=list)

    @property
    def weak_sandbox(self) -> list[str]:
        """The sandbox's promises that did not hold (graded only because the TA allowed it)."""
        weak = self.sandbox.get("weak")
        return [str(w) for w in weak] if type(weak) is list else []

    @property
    def simulated_gpu(self) -> bool:
        """Whether the GPU tests ran on the simulated GPU: their points are not a grade."""
        return self.gpu == SIMULATED_GPU

    def simulated_gpu_note(self) -> str:
        """What every report of a run on the simulated GPU says first (current language); "" otherwise."""
        if not self.simulated_gpu:
            return ""
        return tr("The GPU tests ran on a simulated GPU (`autograder grade --gpu simulate`), not on a real one: "
                  "their points only check the grader and are not a grade.")

    @property
    def pending_gpu(self) -> list[TestResult]:
        return [t for t in self.tests if t.status == "pending_gpu"]


MAX_OUTPUT = 4000


def clean_text(text: str, limit: int = MAX_OUTPUT) -> str:
    """A message safe to show anywhere: no terminal escapes or control characters, bounded length.

    Test messages can quote what the student's code raised, and that text is the student's.
    """
    text = strip_terminal(text)
    return text if len(text) <= limit else text[:limit] + "\n[... truncated]"


def build(assignment: str, submission: str = "", tasks: list[TaskScore] = (), *, execution_time: float,
          sandbox: dict, worker_restarts: int, gpu: str, errors: list[str], lang: str = "en",
          **extra) -> GradingResult:
    """The record of one grading from its scored tasks; `extra`: the student-run fields."""
    tests, task_results = [], []
    for task in tasks:
        task_results.append(TaskResult(name=task.name, title=task.title, score=task.score,
                                       max_score=task.max_score, manual=task.manual,
                                       pending_gpu=task.pending_gpu, hidden_points=task.hidden_points))
        ranks = task.hint_ranks()
        for t in task.tests:
            tests.append(TestResult(
                name=t.test_id, task=task.name, score=t.score, max_score=t.max_score, status=t.status,
                output=clean_text(t.message),
                problems=[clean_text((m.strip().splitlines() or [""])[0], 300) for m in t.failures],
                cases_passed=t.passed_cases, cases=len(t.cases),
                hidden=not t.public, gpu=t.gpu, hint_rank=ranks.get(t.test_id),
                duration=round(sum(c.duration for c in t.cases), 3)))
    automatic = [t for t in task_results if not t.manual]
    cases = [{"nodeid": c.nodeid, "status": c.status, "message": clean_text(c.message, 1000)}
             for task in tasks for t in task.tests for c in t.cases]
    return GradingResult(
        assignment=assignment, submission=submission,
        score=round(sum(t.score for t in automatic), 4),
        max_score=round(sum(t.max_score for t in automatic), 4),
        execution_time=round(execution_time, 3), tasks=task_results, tests=tests,
        sandbox=sandbox, worker_restarts=worker_restarts, gpu=gpu, errors=errors, cases=cases, lang=lang, **extra)


def save(result: GradingResult, path: Path) -> None:
    """Write the record as JSON, atomically (a reader never sees half a file)."""
    atomic_write(Path(path), result.model_dump_json(indent=2) + "\n")


def load(path: Path) -> GradingResult | None:
    """The record at `path`, or None when it is missing, unreadable or not a record of this
    version (a batch then grades that student again)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        return None
    try:
        return GradingResult.model_validate(data)
    except ValueError:
        return None

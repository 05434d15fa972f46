"""The results model: what one grading produced. Every reporter reads this and nothing else."""

from __future__ import annotations


from pydantic import BaseModel, Field

from hwkit.scoring import TaskScore
from hwkit.text import strip_terminal


class TestResult(BaseModel):
    name: str  # the test id, "tests/test_tensors.py::test_index_tensor_views"
    task: str
    score: float
    max_score: float
    status: str  # passed | failed | pending_gpu | skipped | not_run
    output: str = ""
    cases_passed: int = 0
    cases: int = 0
    hidden: bool = False
    # Position among the task's tests that did not pass, most useful hint first (0); None if passed.
    hint_rank: int | None = None


class TaskResult(BaseModel):
    name: str
    title: str
    score: float
    max_score: float
    manual: bool = False
    pending_gpu: float = 0.0


class GradingResult(BaseModel):
    assignment: str
    submission: str
    score: float
    max_score: float  # automatic points only; manual tasks are graded elsewhere
    execution_time: float
    tasks: list[TaskResult]
    tests: list[TestResult]
    sandbox: dict = Field(default_factory=dict)
    worker_restarts: int = 0
    gpu: str = "off"
    errors: list[str] = Field(default_factory=list)
    lang: str = "en"  # of the messages; reports are written in it too
    # Every test case's outcome, so results can be re-scored (e.g. merged with a later GPU run).
    cases: list[dict] = Field(default_factory=list)

    @property
    def weak_sandbox(self) -> list[str]:
        """The sandbox's promises that did not hold (graded only because the TA allowed it)."""
        weak = self.sandbox.get("weak")
        return [str(w) for w in weak] if type(weak) is list else []

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


def build(assignment: str, submission: str, tasks: list[TaskScore], *, execution_time: float,
          sandbox: dict, worker_restarts: int, gpu: str, errors: list[str], lang: str = "en") -> GradingResult:
    tests, task_results = [], []
    for task in tasks:
        task_results.append(TaskResult(name=task.name, title=task.title, score=task.score,
                                       max_score=task.max_score, manual=task.manual,
                                       pending_gpu=task.pending_gpu))
        ranks = task.hint_ranks()
        for t in task.tests:
            tests.append(TestResult(
                name=t.test_id, task=task.name, score=t.score, max_score=t.max_score, status=t.status,
                output=clean_text(t.message), cases_passed=t.passed_cases, cases=len(t.cases),
                hidden=not t.public, hint_rank=ranks.get(t.test_id)))
    automatic = [t for t in task_results if not t.manual]
    cases = [{"nodeid": c.nodeid, "status": c.status, "message": clean_text(c.message, 1000)}
             for task in tasks for t in task.tests for c in t.cases]
    return GradingResult(
        assignment=assignment, submission=submission,
        score=round(sum(t.score for t in automatic), 4),
        max_score=round(sum(t.max_score for t in automatic), 4),
        execution_time=round(execution_time, 3), tasks=task_results, tests=tests,
        sandbox=sandbox, worker_restarts=worker_restarts, gpu=gpu, errors=errors, cases=cases, lang=lang)

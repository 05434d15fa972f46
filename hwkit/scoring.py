"""Turn test outcomes into points: the scoring core shared by the student's summary and the grader.

A graded test is a test *function* (``path::name``) with points in ``grading.yml``. If it is
parametrized, each case earns an equal share of its points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from .grading import GradingConfig
from .i18n import language, tr

MAX_FAILURES = 6  # distinct failures of one test reported, most useful first
_NUMBERS = re.compile(r"-?\d+(?:\.\d+)?")

Status = Literal["passed", "failed", "skipped", "pending_gpu", "not_run"]


@dataclass
class CaseOutcome:
    nodeid: str
    status: Status
    message: str = ""
    duration: float = 0.0

    @property
    def test_id(self) -> str:
        return test_id_of(self.nodeid)


@dataclass
class TestScore:
    test_id: str
    task: str
    max_score: float
    cases: list[CaseOutcome] = field(default_factory=list)
    # Set when the test this one requires (grading.yml `requires`) has not passed a single case:
    # ("failed" | "pending_gpu", why). Its own cases then earn nothing yet.
    gate: tuple[Status, str] | None = None
    # Points of other tests that wait for this one (their `requires`): fixing it unlocks them.
    unlocks: float = 0.0
    # In a public suite (grading.yml `suites:`): the student has this test and can run it.
    public: bool = True
    # Earns points only on a real GPU: marked `gpu`, or requires such a test (grading.yml).
    gpu: bool = False

    @property
    def passed_cases(self) -> int:
        return sum(c.status == "passed" for c in self.cases)

    @property
    def score(self) -> float:
        if not self.cases or self.gate:
            return 0.0
        return round(self.max_score * self.passed_cases / len(self.cases), 4)

    @property
    def status(self) -> Status:
        if not self.cases:
            return "not_run"
        # Waiting for a GPU test: pending whatever its own cases did, so that the points a run
        # without a GPU can award are the same for every submission.
        if self.gate and (self.own_status == "passed" or self.gate[0] == "pending_gpu"):
            return self.gate[0]
        return self.own_status

    @property
    def own_status(self) -> Status:
        """The status from this test's own cases, ignoring `gate`."""
        if not self.cases:
            return "not_run"
        statuses = {c.status for c in self.cases}
        if statuses == {"passed"}:
            return "passed"
        if "failed" in statuses:
            return "failed"
        if "pending_gpu" in statuses:
            return "pending_gpu"
        if statuses <= {"passed", "skipped"}:
            return "skipped"
        return "failed"

    @property
    def failures(self) -> list[str]:
        """The failed cases' messages, one per distinct mistake (at most MAX_FAILURES): two
        cases whose messages differ only in numbers (the same slip at two shapes) count once,
        so that one mistake never hides the next."""
        seen: dict[str, str] = {}
        for c in self.cases:
            if c.status == "failed":
                first = (c.message.strip().splitlines() or [""])[0]
                seen.setdefault(_NUMBERS.sub("#", first), c.message)
        return list(seen.values())[:MAX_FAILURES]

    @property
    def message(self) -> str:
        """The failures' messages, the first (most useful) first; else why it did not pass."""
        if self.gate and self.own_status == "passed":
            return self.gate[1]
        if self.gate and self.gate[0] == "pending_gpu":
            return "\n\n".join([self.gate[1], *self.failures])
        if self.failures:
            return "\n\n".join(self.failures)
        for c in self.cases:
            if c.status in ("pending_gpu", "skipped"):
                return c.message
        return ""


@dataclass
class TaskScore:
    name: str
    title: str
    max_score: float
    manual: bool
    tests: list[TestScore] = field(default_factory=list)
    hidden_points: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def run_max(self) -> float:
        """Points of the tests that were part of this run."""
        return round(sum(t.max_score for t in self.tests if t.status != "not_run"), 4)

    @property
    def pending_gpu(self) -> float:
        return round(sum(t.max_score - t.score for t in self.tests if t.status == "pending_gpu"), 4)

    def hints(self) -> list[TestScore]:
        """The tests that did not pass, the most useful hint first.

        First the tests others wait for (``requires``: fixing one unlocks several), then public
        tests (the student can run and debug them), then hidden ones; within each, the most
        points at stake (its own missing points plus those of the tests waiting for it). A test
        that only waits for another comes after it; GPU-pending and skipped tests come last.
        """
        order = {"failed": 0, "pending_gpu": 2, "skipped": 2}
        waiting = [t for t in self.tests if t.status not in ("passed", "not_run")]

        def key(item: tuple[int, TestScore]) -> tuple:
            index, t = item
            kind = 1 if t.gate and t.own_status == "passed" else order.get(t.status, 2)
            at_stake = t.max_score - t.score + t.unlocks
            return kind, not t.unlocks, not t.public, -at_stake, index

        return [t for _, t in sorted(enumerate(waiting), key=key)]

    def hint_ranks(self) -> dict[str, int]:
        """test id -> its position in :meth:`hints` (0 = the most useful)."""
        return {t.test_id: i for i, t in enumerate(self.hints())}


def test_id_of(nodeid: str) -> str:
    """``tests/test_a.py::test_b[cpu-3]`` -> ``tests/test_a.py::test_b``."""
    return nodeid.split("[", 1)[0]


def score(grading: GradingConfig, outcomes: list[CaseOutcome],
          run_files: set[str] | None = None, gpu_tests: set[str] = frozenset()) -> list[TaskScore]:
    """Points per task. Tests whose file was not part of this run (``run_files``) are hidden;
    ``gpu_tests`` (marked `gpu`) and the tests that require one of them need a real GPU."""
    by_test: dict[str, list[CaseOutcome]] = {}
    for outcome in outcomes:
        by_test.setdefault(outcome.test_id, []).append(outcome)
    tasks = []
    for name, task in grading.tasks.items():
        ts = TaskScore(name=name, title=task.titles.get(language(), task.title), max_score=task.points,
                       manual=task.manual,
                       hidden_points=task.hidden_points)
        for test_id, points in task.tests.items():
            file = test_id.split("::", 1)[0]
            if run_files is not None and file not in run_files:
                ts.hidden_points += points
                continue
            ts.tests.append(TestScore(test_id, name, points, by_test.get(test_id, []),
                                      public=grading.is_public(test_id),
                                      gpu=test_id in gpu_tests or task.requires.get(test_id) in gpu_tests))
        _apply_requires(ts.tests, task.requires)
        tasks.append(ts)
    return tasks


def _apply_requires(tests: list[TestScore], requires: dict[str, str]) -> None:
    by_id = {t.test_id: t for t in tests}
    for dependent, prerequisite in requires.items():
        dep, pre = by_id.get(dependent), by_id.get(prerequisite)
        if dep is None or pre is None or pre.passed_cases > 0:
            continue
        function = short_name(prerequisite)
        pre.unlocks += dep.max_score
        if pre.status == "pending_gpu":
            dep.gate = ("pending_gpu", tr("counts once {test} has passed on a GPU", test=function))
        else:
            dep.gate = ("failed", tr("this test counts only once your function gives a right answer: "
                                     "make {test} pass first", test=function))


def short_name(test_id: str) -> str:
    """``tests/test_a.py::test_b`` -> ``test_b``."""
    return test_id.rsplit("::", 1)[-1]


def unscored(grading: GradingConfig, outcomes: list[CaseOutcome]) -> list[str]:
    """Test ids that ran but have no points in grading.yml (a configuration error)."""
    listed = grading.all_tests()
    return sorted({o.test_id for o in outcomes if o.test_id not in listed})

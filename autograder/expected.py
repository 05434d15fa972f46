"""Expected scores, computed from the tests a submission must lose and grading.yml.

An example or a red-team case names what it loses; its score is what the grader's own scoring
(:func:`hwkit.scoring.score`, ``requires:`` gates included) gives when exactly those cases
fail, the GPU tests wait for a GPU, and every other case passes. No total is typed in, so
moving points or adding a test cannot leave one stale.

A pattern is a task name (``task1``: all its tests), a glob over test function names
(``test_index_tensor*``: every case), or a glob over cases (``test_chain_rule[sin*]``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from hwkit.grading import GradingConfig
from hwkit.scoring import CaseOutcome, TaskScore, score

from .collect import Collected


def matches(pattern: str, task: str, nodeid: str) -> bool:
    """Whether a case (``path::test_x[params]``) of `task` is one that `pattern` names. The part
    in brackets is a glob of its own (param ids hold brackets, which fnmatch reads as sets)."""
    if pattern == task:
        return True
    function, _, params = nodeid.split("::", 1)[1].partition("[")
    name_glob, bracket, params_glob = pattern.partition("[")
    if not fnmatchcase(function, name_glob):
        return False
    return not bracket or fnmatchcase(params.removesuffix("]"), params_glob.removesuffix("]"))


class PatternError(ValueError):
    """A pattern names no test case (a typo, or a test that was renamed)."""


def outcomes(grading: GradingConfig, collected: dict[str, Collected], lost: tuple[str, ...] = (),
             kept: tuple[str, ...] = ()) -> list[CaseOutcome]:
    """One outcome per collected case: GPU cases pending, cases matching `lost` (and not
    `kept`) failed, the rest passed."""
    for pattern in (*lost, *kept):
        if not any(matches(pattern, (grading.points_for(test_id) or ("", 0))[0], nodeid)
                   for test_id, test in collected.items() for nodeid in test.cases):
            raise PatternError(f"{pattern!r} names no test case of the suites (a task, a test name glob, or "
                               "test_x[case glob])")
    found = []
    for test_id, test in collected.items():
        task = (grading.points_for(test_id) or ("", 0))[0]
        for nodeid in test.cases:
            if "gpu" in test.markers:
                status = "pending_gpu"
            elif any(matches(p, task, nodeid) for p in lost) and not any(matches(p, task, nodeid) for p in kept):
                status = "failed"
            else:
                status = "passed"
            found.append(CaseOutcome(nodeid, status))
    return found


def expected_tasks(grading: GradingConfig, collected: dict[str, Collected], lost: tuple[str, ...] = (),
                   kept: tuple[str, ...] = ()) -> list[TaskScore]:
    return score(grading, outcomes(grading, collected, lost, kept))


def expected_score(grading: GradingConfig, collected: dict[str, Collected], lost: tuple[str, ...] = (),
                   kept: tuple[str, ...] = ()) -> float:
    """The total a CPU grading (``--gpu off``) gives a submission that loses `lost`."""
    return round(sum(t.score for t in expected_tasks(grading, collected, lost, kept) if not t.manual), 4)

"""Which scored tests would count without a right answer.

A test either checks answers (marked ``@pytest.mark.value``) or checks a property of a function
— raises on bad input, leaves its inputs alone, returns a view, passes gradcheck — and then
must wait, through grading.yml ``requires:``, for a value test of the same function. Otherwise
a stub that raises, returns None or returns a constant earns its points. ``autograder check``
reports what this module finds.
"""

from __future__ import annotations

from pathlib import Path

from hwkit.grading import GradingConfig

from .collect import collect
from .course import Course


def value_markers(course: Course, grading: GradingConfig, grading_path: Path) -> dict[str, bool]:
    """test id -> marked ``value``, for every test function of the suites (collected only)."""
    return {test_id: "value" in test.markers for test_id, test in collect(course, grading, grading_path).items()}


def ungated(course: Course, grading: GradingConfig, grading_path: Path) -> list[str]:
    """Scored tests that neither check values nor wait for a test that does, as messages."""
    marked = value_markers(course, grading, grading_path)
    problems = []
    for name, task in grading.tasks.items():
        for test_id in task.tests:
            if test_id in task.requires or marked.get(test_id, False):
                continue
            problems.append(f"{test_id} ({name}) counts without a right answer: add it to {name}'s requires: in "
                            f"{grading_path.name}, naming a value test of the same function (or mark it "
                            "@pytest.mark.value if it checks answers itself)")
        for dependent, prerequisite in task.requires.items():
            if not marked.get(prerequisite, False):
                problems.append(f"{dependent} waits for {prerequisite}, which is not marked @pytest.mark.value")
    return problems

"""Which scored tests would count without a right answer.

A test either checks answers (marked ``@pytest.mark.value``) or checks a property of a function
— raises on bad input, leaves its inputs alone, returns a view, passes gradcheck — and then
must wait, through grading.yml ``requires:``, for a value test of the same function. Otherwise
a stub that raises, returns None or returns a constant earns its points. ``autograder check``
reports what this module finds.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pytest

from hwkit.grading import GradingConfig

from .course import Course


class _Markers:
    """Collects, per test function, whether it is marked ``value``."""

    def __init__(self) -> None:
        self.value: dict[str, bool] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            test_id = item.nodeid.split("[")[0]
            self.value[test_id] = self.value.get(test_id, False) or item.get_closest_marker("value") is not None


def value_markers(course: Course, grading_path: Path) -> dict[str, bool]:
    """test id -> marked ``value``, for every test function of the suites (collected only)."""
    markers = _Markers()
    with tempfile.TemporaryDirectory(prefix="autograder-collect-") as tmp:
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown):
            code = pytest.main([*course.pytest_args(Path(tmp) / "pytest.ini"), "-p", "hwkit.plugin",
                                "--grading", str(grading_path), "--collect-only", "-q",
                                "--submission", str(course.solutions), *map(str, course.suites)],
                               plugins=[markers])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise RuntimeError(f"the test suites could not be collected (pytest exit code {int(code)}):\n"
                           + shown.getvalue()[-3000:])
    return markers.value


def ungated(course: Course, grading: GradingConfig, grading_path: Path) -> list[str]:
    """Scored tests that neither check values nor wait for a test that does, as messages."""
    marked = value_markers(course, grading_path)
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

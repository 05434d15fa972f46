"""What the course's suites hold, without running a test: every case and its markers.

A collect-only pytest run over the suites grading.yml names (no student code is imported:
the ``hw`` fixture is never set up). ``autograder check`` reads the markers (gates.py), and
expected scores are computed from the cases (expected.py).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hwkit.grading import GradingConfig
from hwkit.scoring import test_id_of

from .course import Course


class CollectError(Exception):
    """The suites cannot be collected (a test file does not import); the message has pytest's words."""


@dataclass
class Collected:
    """One test function: its cases (node ids) and the markers any case carries."""

    cases: list[str] = field(default_factory=list)
    markers: set[str] = field(default_factory=set)


class _Collector:
    def __init__(self) -> None:
        self.tests: dict[str, Collected] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            test = self.tests.setdefault(test_id_of(item.nodeid), Collected())
            test.cases.append(item.nodeid)
            test.markers |= {mark.name for mark in item.iter_markers()}


def collect(course: Course, grading: GradingConfig, grading_path: Path | None = None) -> dict[str, Collected]:
    """test id -> its cases and markers, for every test function of the suites."""
    collector = _Collector()
    with tempfile.TemporaryDirectory(prefix="autograder-collect-") as tmp:
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown):
            code = pytest.main([*course.pytest_args(Path(tmp) / "pytest.ini"), "-p", "hwkit.plugin",
                                "--grading", str(grading_path or course.grading), "--collect-only", "-q",
                                "--submission", str(course.solutions),
                                *(str(course.root / folder) for folder in grading.suite_folders())],
                               plugins=[collector])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise CollectError(f"the test suites could not be collected (pytest exit code {int(code)}):\n"
                           + shown.getvalue()[-3000:])
    return collector.tests

"""What each test case did: one CaseOutcome per case, with the message a student should read.

Registered by the homework plugin; the summary, the points JSON and the grader read the list
it fills (``config.stash[stash.OUTCOMES]``).
"""

from __future__ import annotations

import re

import pytest

from .explain import explain
from .i18n import tr
from .scoring import CaseOutcome


def gpu_skip_message() -> str:
    return tr("needs a real CUDA GPU; none is available here")



class Recorder:
    """Keeps one CaseOutcome per test case, in the order tests ran."""

    def __init__(self, outcomes: list[CaseOutcome]) -> None:
        self.outcomes = outcomes
        self._by_nodeid: dict[str, CaseOutcome] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.passed and report.when != "call":
            return
        status = "passed" if report.passed else "skipped" if report.skipped else "failed"
        message = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2]).removeprefix("Skipped: ")
            if message == gpu_skip_message():
                status = "pending_gpu"
        elif report.failed:
            message = failure_message(report)
            where = getattr(report, "student_line", None)
            if where and "\n" not in message.strip():  # (your line, as the grader shows it)
                message = f"{message.strip()}  [{where}]"
        previous = self._by_nodeid.get(report.nodeid)
        if previous is None:
            outcome = CaseOutcome(report.nodeid, status, message, report.duration)
            self._by_nodeid[report.nodeid] = outcome
            self.outcomes.append(outcome)
        elif status == "failed" and previous.status != "failed":
            # An error in teardown turns a passed test into a failure.
            previous.status, previous.message = status, message


_GRADER_EXCEPTION = re.compile(r"^(?:autograder\.sandbox\.\w+\.(?:CallTimeout|WorkerDied|SandboxFault|StudentError)"
                               r"|hwkit\.checks\.TooSlow): ")


def failure_message(report: pytest.TestReport) -> str:
    """The assertion message without pytest's code listing, when there is one; a known PyTorch
    error gets its plain-words explanation first."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = report.longreprtext if crash is None else crash.message
    # The grader's own exceptions (a timeout, a crashed process) say everything in their message.
    text = _GRADER_EXCEPTION.sub("", text.removeprefix("Failed: ").strip())
    return explain(text)

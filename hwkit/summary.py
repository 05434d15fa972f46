"""The points of a run: the terminal summary (points per task, the most useful hint first) and
``--points-json`` (this run's record, hwkit/record.py), both made from the same record."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from . import i18n, record
from .grading import GradingConfig
from .i18n import tr
from .scoring import CaseOutcome, score, short_name, test_id_of, unscored
from .stash import GRADING, GRADING_ERROR, OUTCOMES, STARTED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Points per task and the tests that lost points, from this run's record."""
    out = terminalreporter
    if config.stash.get(GRADING, None) is None:
        out.write_sep("=", tr("points per task"))
        out.write_line(tr("no points summary: {why}", why=config.stash.get(GRADING_ERROR, "")), yellow=True)
        return
    if not config.stash[OUTCOMES]:
        return
    run = run_record(config, int(exitstatus))
    out.write_sep("=", tr("points per task (from grading.yml)"))
    total = tr("Total (tests run here)")
    width = max(len(total), *(len(t.title) for t in run.tasks))
    earned = possible = 0.0
    for task in run.tasks:
        if task.manual:
            out.write_line(f"{task.title:<{width}}   " + tr("graded by hand ({points} points)",
                                                            points=f"{task.max_score:g}"))
            continue
        ran = [t for t in run.tests if t.task == task.name and t.status != "not_run"]
        if not ran:
            continue
        run_max = round(sum(t.max_score for t in ran), 4)
        earned += task.score
        possible += run_max
        extra = "  " + tr("(+{points} in tests not run here)", points=f"{task.hidden_points:g}") \
            if task.hidden_points else ""
        full = task.score >= run_max
        out.write_line(f"{task.title:<{width}}  {task.score:5.1f} / {run_max:<5g}{extra}",
                       green=full, red=not full, bold=True)
        hints = sorted((t for t in run.tests if t.task == task.name and t.hint_rank is not None),
                       key=lambda t: t.hint_rank)
        for test in hints:  # the most useful hint first
            first_line = (test.output.strip().splitlines() or [""])[0][:160]
            out.write_line(f"    {test.score:4.1f}/{test.max_score:<3g} {short_name(test.name)}: {first_line}")
    out.write_line(f"{total:<{width}}  {earned:5.1f} / {possible:g}", bold=True)
    if run.unscored:
        out.write_line(tr("tests without points in grading.yml: {tests}", tests=", ".join(run.unscored)),
                       yellow=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("--points-json", None)
    if path:
        record.save(run_record(session.config, int(exitstatus)), Path(path))


def run_record(config: pytest.Config, exitstatus: int) -> record.GradingResult:
    """The record of this run: the tests of the files that ran, with the points grading.yml gives."""
    grading: GradingConfig | None = config.stash.get(GRADING, None)
    outcomes: list[CaseOutcome] = config.stash.get(OUTCOMES, [])
    common = dict(submission=str(config.getoption("--submission") or ""), sandbox={}, worker_restarts=0,
                  gpu="auto", errors=[], lang=i18n.language(), exitstatus=exitstatus,
                  execution_time=round(time.perf_counter() - config.stash.get(STARTED, time.perf_counter()), 3))
    if grading is None:
        why = config.stash.get(GRADING_ERROR, "grading.yml could not be read")
        return record.build("", tasks=[], no_points=f"no points: {why}", **common)
    run_files = {test_id_of(o.nodeid).split("::")[0] for o in outcomes}
    return record.build(grading.assignment, tasks=score(grading, outcomes, run_files),
                        unscored=unscored(grading, outcomes), **common)

"""The points of a run: the terminal summary (points per task, the most useful hint first) and
``--points-json`` (this run's record, hwkit/record.py), both made from the same record."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from . import i18n, record
from .grading import GradingConfig
from .i18n import tr, trn, trp
from .scoring import CaseOutcome, score, short_name, test_id_of, unscored
from .stash import GPU_TESTS, GRADING, GRADING_ERROR, OUTCOMES, STARTED
from .text import points


HINTS_PER_TASK = 4


def _first_line(text: str, limit: int = 150) -> str:
    return textwrap.shorten((text.strip().splitlines() or [""])[0], limit, placeholder=" …")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """What to fix, then the points (the last thing on screen), from this run's record."""
    out = terminalreporter
    if i18n.language() != "en":  # pytest's own last line ("3 failed, 2 passed in 1.2s") too
        out.summary_stats = lambda: _summary_stats(out, config)
    if config.stash.get(GRADING, None) is None:
        out.write_sep("=", tr("points per task"))
        out.write_line(tr("no points summary: {why}", why=config.stash.get(GRADING_ERROR, "")), yellow=True)
        return
    if not config.stash[OUTCOMES]:
        return
    run = run_record(config, int(exitstatus))
    _what_to_fix(out, run)
    _points(out, run)


def _what_to_fix(out, run: record.GradingResult) -> None:
    # (a test waiting for a GPU test still shows what its own cases found wrong here)
    failed = [t for t in run.tests if t.status == "failed" or t.status == "pending_gpu" and t.problems]
    if not failed:
        return
    out.write_sep("=", tr("what to fix"))
    stubs: dict[str, list[str]] = {}  # task number -> functions not started, in test order
    for t in failed:
        for number, function in t.unstarted():
            if function not in stubs.get(number, []):
                stubs.setdefault(number, []).append(function)
    if stubs:
        out.write_line(tr("Not started yet:"), yellow=True)
        for number, functions in stubs.items():
            line = tr("Task {n}: {functions}", n=number, functions=", ".join(functions))
            width = max(40, getattr(out, "_tw", None).fullwidth if getattr(out, "_tw", None) else 80) - 1
            out.write_line(textwrap.fill(line, width, initial_indent="  ", subsequent_indent="    ",
                                         break_on_hyphens=False, break_long_words=False))
        first = next(iter(stubs.values()))[0]
        out.write_line("  " + tr("Start with {function}: read its docstring, then replace the "
                                 "`raise NotImplementedError` with your code.", function=first))
    seen: set[str] = set()  # (a module that does not import fails every test the same way: once)
    for task in run.tasks:
        hints = sorted((t for t in failed if t.task == task.name and not t.not_started()),
                       key=lambda t: (t.hint_rank is None, t.hint_rank or 0))
        shown = 0
        for test in hints:  # the most useful hint first
            for problem in test.problems or [test.output]:
                line = _first_line(problem)
                if line in seen or shown == HINTS_PER_TASK:
                    continue
                seen.add(line)
                shown += 1
                out.write_line(f"{short_name(test.name)}: {line}", red=True)
    if seen:
        out.write_line("  " + tr("One test in full: pytest --tb=short -k NAME"))


def _points(out, run: record.GradingResult) -> None:
    out.write_sep("=", tr("points per task (from grading.yml)"))
    here = tr("Tests run here")
    width = max(len(here), *(len(t.title) for t in run.tasks))
    earned = possible = gpu = hidden = 0.0
    by_hand = []
    for task in run.tasks:
        if task.manual:
            by_hand.append(task)
            continue
        tests = [t for t in run.tests if t.task == task.name]
        ran = [t for t in tests if t.status not in ("not_run", "pending_gpu")]
        gpu += sum(t.max_score for t in tests if t.status == "pending_gpu")
        hidden += task.hidden_points
        if not ran:
            continue
        score, top = round(sum(t.score for t in ran), 4), round(sum(t.max_score for t in ran), 4)
        earned, possible = earned + score, possible + top
        full = score >= top
        out.write_line(f"{task.title:<{width}}  {points(score):>6} / {points(top)}", green=full, red=not full,
                       bold=True)
    out.write_line(f"{here:<{width}}  {points(earned):>6} / {points(possible)}", bold=True,
                   green=earned >= possible)
    if hidden:
        out.write_line(trp("Hidden tests: {points} more point, checked when your work is graded.",
                           "Hidden tests: {points} more points, checked when your work is graded.", hidden))
    if gpu:
        out.write_line(trp("GPU tests: {points} more point, run on a CUDA GPU (on Colab: a GPU runtime, then "
                           "pytest -m gpu).",
                           "GPU tests: {points} more points, run on a CUDA GPU (on Colab: a GPU runtime, then "
                           "pytest -m gpu).", gpu))
    for task in by_hand:
        out.write_line(trp("{task}: {points} point, graded by hand.", "{task}: {points} points, graded by hand.",
                           task.max_score, task=task.title))
    if run.unscored:
        out.write_line(tr("tests without points in grading.yml: {tests}", tests=", ".join(run.unscored)),
                       yellow=True)


def _count(key: str, n: int) -> str:
    """pytest's "3 failed" in the current language."""
    if key == "passed":
        return trn("{n} passed", "{n} passed", n)
    if key == "failed":
        return trn("{n} failed", "{n} failed", n)
    if key == "skipped":
        return trn("{n} skipped", "{n} skipped", n)
    if key == "error":
        return trn("{n} error", "{n} errors", n)
    if key == "warnings":
        return trn("{n} warning", "{n} warnings", n)
    if key == "deselected":
        return trn("{n} deselected", "{n} deselected", n)
    if key == "xfailed":
        return trn("{n} xfailed", "{n} xfailed", n)
    if key == "xpassed":
        return trn("{n} xpassed", "{n} xpassed", n)
    if key == "rerun":
        return trn("{n} rerun", "{n} rerun", n)
    return f"{n} {key}"


def _summary_stats(out, config: pytest.Config) -> None:
    """pytest's last line (TerminalReporter.summary_stats) in the current language, one colour."""
    if out.verbosity < -1:
        return
    _parts, color = out.build_summary_stats_line()
    counts = [(key, len([r for r in out.stats.get(key, []) if getattr(r, "count_towards_summary", True)]))
              for key in getattr(out, "_known_types", None) or list(out.stats)]
    shown = [_count(key, n) for key, n in counts if n and key]
    try:  # (pytest's own clock, as its English line would show it)
        seconds = out._session_start.elapsed().seconds
    except AttributeError:
        seconds = time.perf_counter() - config.stash.get(STARTED, time.perf_counter())
    line = (", ".join(shown) or tr("no tests ran")) + " " + tr("in {seconds} s", seconds=f"{seconds:.2f}")
    if out.verbosity >= 0:
        out.write_sep("=", line, **{color: True})
    else:
        out.write_line(line, **{color: True})


def pytest_collection_finish(session: pytest.Session) -> None:
    # Written now with every test "not run" and no exit status, and again at the end: a run
    # cut short (a crash, os._exit in the student's code, a killed job) leaves a record that
    # says so and scores 0, never no record or a stale one.
    path = session.config.getoption("--points-json", None)
    if path:
        record.save(run_record(session.config, None), Path(path))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("--points-json", None)
    if path:
        record.save(run_record(session.config, int(exitstatus)), Path(path))


def run_record(config: pytest.Config, exitstatus: int | None) -> record.GradingResult:
    """The record of this run: the tests of the files that ran, with the points grading.yml gives."""
    grading: GradingConfig | None = config.stash.get(GRADING, None)
    outcomes: list[CaseOutcome] = config.stash.get(OUTCOMES, [])
    common = dict(submission=str(config.getoption("--submission") or ""), sandbox={}, worker_restarts=0,
                  gpu="auto", errors=[], lang=i18n.language(), exitstatus=exitstatus,
                  execution_time=round(time.perf_counter() - config.stash.get(STARTED, time.perf_counter()), 3))
    if grading is None:
        why = config.stash.get(GRADING_ERROR, "grading.yml could not be read")
        return record.build("", tasks=[], no_points=f"no points: {why}", **common)
    # Hidden: tests the student does not have. A public test left out of this run (pytest -k, -m,
    # one file) is "not run", not hidden, and counts in no line.
    run_files = {test_id_of(o.nodeid).split("::")[0] for o in outcomes}
    run_files |= {test_id.split("::")[0] for test_id in grading.all_tests() if grading.is_public(test_id)}
    return record.build(grading.assignment, tasks=score(grading, outcomes, run_files, config.stash.get(GPU_TESTS, set())),
                        unscored=unscored(grading, outcomes), **common)

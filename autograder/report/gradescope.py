"""results.json in Gradescope's autograder format, exported from a grading's record."""

from __future__ import annotations

import json
from pathlib import Path

from hwkit import i18n
from hwkit.files import atomic_write
from hwkit.i18n import tr, trp

from hwkit.record import GradingResult


def to_gradescope(result: GradingResult) -> dict:
    with i18n.using(result.lang):
        return _to_gradescope(result)


def _to_gradescope(result: GradingResult) -> dict:
    tests = []
    for t in result.tests:
        tests.append({
            "name": t.name, "score": t.score, "max_score": t.max_score,
            # Gradescope knows only passed/failed; the finer status is in the tags.
            "status": "passed" if t.status == "passed" else "failed",
            "output": t.shown(),
            # Hidden tests are named to students only after the due date.
            "visibility": "after_due_date" if t.hidden else "visible",
            "tags": [t.task, t.status] + (["hidden"] if t.hidden else []),
        })
    return {
        "score": result.score,
        "max_score": result.max_score,
        "execution_time": result.execution_time,
        "output": _summary_line(result),  # (in the result's language)
        "tests": tests,
        "extra_data": {
            "assignment": result.assignment,
            "tasks": {t.name: {"title": t.title, "score": t.score, "max_score": t.max_score,
                               "manual": t.manual, "pending_gpu": t.pending_gpu} for t in result.tasks},
            "pending_gpu": [{"name": t.name, "max_score": t.max_score} for t in result.pending_gpu],
            "sandbox": result.sandbox,
            "worker_restarts": result.worker_restarts,
            "gpu": result.gpu,
            "errors": result.errors,
            "submission": result.submission,
            "cases": result.cases,
            "lang": result.lang,
        },
    }


def _summary_line(result: GradingResult) -> str:
    with i18n.using(result.lang):
        pending = sum(t.max_score for t in result.pending_gpu)
        line = tr("Automatic score: {score} / {max_score}.", score=f"{result.score:g}",
                  max_score=f"{result.max_score:g}")
        if result.weak_sandbox:
            line = tr("Graded in a weak sandbox (the course staff allowed it): {missing}.",
                      missing="; ".join(result.weak_sandbox)) + " " + line
        if result.errors:
            line += " " + tr("Problems with the submission: {problems}.", problems="; ".join(result.errors))
        if pending:
            line += " " + trp("{points} point is pending a GPU run.", "{points} points are pending a GPU run.",
                              pending)
        manual = [t for t in result.tasks if t.manual]
        if manual:
            named = [trp("{task} ({points} point)", "{task} ({points} points)", t.max_score, task=t.title)
                     for t in manual]
            line += " " + tr("{tasks} is graded by hand.", tasks=", ".join(named))
        return line


def render(result: GradingResult) -> str:
    """results.json's text."""
    return json.dumps(to_gradescope(result), indent=2, ensure_ascii=False) + "\n"


def write(result: GradingResult, path: Path) -> None:
    atomic_write(Path(path), render(result))

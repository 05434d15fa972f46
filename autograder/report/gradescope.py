"""results.json in Gradescope's autograder format (also read by our batch and merge tools)."""

from __future__ import annotations

import json
from pathlib import Path

from ..results import GradingResult


def to_gradescope(result: GradingResult) -> dict:
    tests = []
    for t in result.tests:
        output = t.output
        if t.status == "pending_gpu":
            output = "Pending: this test needs a real CUDA GPU; its points are withheld until it runs on one."
        elif t.status == "not_run":
            output = "This test did not run."
        tests.append({
            "name": t.name, "score": t.score, "max_score": t.max_score,
            # Gradescope knows only passed/failed; the finer status is in the tags.
            "status": "passed" if t.status == "passed" else "failed",
            "output": output,
            # Hidden tests are named to students only after the due date.
            "visibility": "after_due_date" if t.hidden else "visible",
            "tags": [t.task, t.status] + (["hidden"] if t.hidden else []),
        })
    return {
        "score": result.score,
        "max_score": result.max_score,
        "execution_time": result.execution_time,
        "output": _summary_line(result),
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
        },
    }


def _summary_line(result: GradingResult) -> str:
    pending = sum(t.max_score for t in result.pending_gpu)
    line = f"Automatic score: {result.score:g} / {result.max_score:g}."
    if result.errors:
        line += " Problems with the submission: " + "; ".join(result.errors) + "."
    if pending:
        line += f" {pending:g} points are pending a GPU run."
    manual = [t for t in result.tasks if t.manual]
    if manual:
        line += " " + ", ".join(f"{t.title} ({t.max_score:g} points)" for t in manual) + " is graded by hand."
    return line


def write(result: GradingResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(to_gradescope(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)

"""Fold a later GPU run into a batch (`autograder merge-gpu BATCH_OUT GPU_RESULTS`).

On a CPU machine the tests marked `gpu` are *pending* (points withheld). On a GPU machine,
`autograder grade SUB --gpu require --json GPU_RESULTS/<student>.json` runs only those tests.
This command takes each student's pending cases from that file, re-scores the whole result
with grading.yml (so `requires:` gates that waited for a GPU test resolve too), and rewrites
the student's results.json, feedback.md and the gradebook. Cases that were not pending are
never replaced: a GPU run cannot change a CPU verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

from hwkit import i18n
from hwkit.grading import GradingConfig
from hwkit.scoring import CaseOutcome, score

from . import gradebook
from .report import feedback, gradescope
from .results import build


class MergeError(Exception):
    """The batch folder or a GPU result cannot be used; the message says which and why."""


def merge(batch_out: Path, gpu_dir: Path, grading: GradingConfig) -> tuple[list[str], list[str]]:
    """Merge every student that has a GPU result; return (merged ids, ids still pending)."""
    students = gradebook.students_dir(batch_out)
    if not students.is_dir():
        raise MergeError(f"{batch_out}: not a batch output folder (no students/ in it)")
    if not gpu_dir.is_dir():
        raise MergeError(f"{gpu_dir}: no such folder of GPU results")
    merged, missing = [], []
    for folder in sorted(p for p in students.iterdir() if p.is_dir()):
        status = gradebook.read_status(folder)
        if not status or status.get("status") != "graded":
            continue
        base = gradebook.read_json(folder / gradebook.RESULTS_FILE)
        pending = [c for c in base["extra_data"].get("cases", []) if c.get("status") == "pending_gpu"]
        if not pending:
            continue
        gpu_file = next((f for f in (gpu_dir / f"{folder.name}.json", gpu_dir / folder.name / "results.json")
                         if f.is_file()), None)
        if gpu_file is None:
            missing.append(folder.name)
            continue
        gpu = gradebook.read_json(gpu_file)
        if not gradebook.valid_results(gpu) or "cases" not in gpu.get("extra_data", {}):
            raise MergeError(f"{gpu_file}: not a results.json written by `autograder grade --gpu require`")
        result = merge_one(base, gpu, grading)
        gradebook.atomic_write(folder / gradebook.RESULTS_FILE,
                               json.dumps(gradescope.to_gradescope(result), indent=2, ensure_ascii=False) + "\n")
        gradebook.atomic_write(folder / gradebook.FEEDBACK_FILE, feedback.render(result))
        merged.append(folder.name)
    gradebook.rebuild(batch_out, gradebook.task_columns(grading))
    return merged, missing


def merge_one(base: dict, gpu: dict, grading: GradingConfig):
    """The base result with its pending cases replaced by the GPU run's outcomes, re-scored."""
    cases = {c["nodeid"]: c for c in base["extra_data"]["cases"]}
    for c in gpu["extra_data"]["cases"]:
        if cases.get(c.get("nodeid"), {}).get("status") == "pending_gpu" and c.get("status") != "pending_gpu":
            cases[c["nodeid"]] = c
    outcomes = [CaseOutcome(c["nodeid"], c["status"], c.get("message", "")) for c in cases.values()]
    extra = base["extra_data"]
    lang = extra.get("lang") if extra.get("lang") in i18n.LANGUAGES else "en"
    with i18n.using(lang):  # messages the re-scoring writes (e.g. "counts once ...") in the student's language
        return build(grading.assignment, extra.get("submission", ""), score(grading, outcomes),
                     execution_time=float(base.get("execution_time", 0)) + float(gpu.get("execution_time", 0)),
                     sandbox=extra.get("sandbox", {}), worker_restarts=int(extra.get("worker_restarts", 0)),
                     gpu="merged", errors=list(extra.get("errors", [])), lang=lang)

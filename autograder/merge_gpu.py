"""Fold a later GPU run into a batch (`autograder merge-gpu BATCH_OUT GPU_RESULTS`).

On a CPU machine the tests marked `gpu` are *pending* (points withheld). On a GPU machine,
`autograder grade SUB --gpu require --record GPU_RESULTS/<student>.json` (or `--json`) runs
only those tests. This command takes each student's pending cases from that file, re-scores
the whole record with grading.yml (so `requires:` gates that waited for a GPU test resolve
too), saves it, and exports the student's results.json and feedback.md and the gradebook
again. Cases that were not pending are never replaced: a GPU run cannot change a CPU verdict.
A run on the simulated GPU (`grade --gpu simulate`) is no grade: it is refused, and then
nothing in the batch changes.
"""

from __future__ import annotations

from pathlib import Path

from hwkit import i18n
from hwkit import record as hwrecord
from hwkit.grading import GradingConfig
from hwkit.record import GradingResult, build
from hwkit.scoring import CaseOutcome, score

from . import gradebook
from .report import feedback, gradescope


class MergeError(Exception):
    """The batch folder or a GPU result cannot be used; the message says which and why."""


def merge(batch_out: Path, gpu_dir: Path, grading: GradingConfig) -> tuple[list[str], list[str]]:
    """Merge every student that has a GPU result; return (merged ids, ids still pending)."""
    students = gradebook.students_dir(batch_out)
    if not students.is_dir():
        raise MergeError(f"{batch_out}: not a batch output folder (no students/ in it)")
    if not gpu_dir.is_dir():
        raise MergeError(f"{gpu_dir}: no such folder of GPU results")
    folders = sorted(p for p in students.iterdir() if p.is_dir())
    older = [f.name for f in folders if gradebook.graded_by_an_older_grader(f)]
    if older:  # (before anything is written: their scores would vanish from the gradebook)
        raise MergeError(f"{len(older)} student(s) in {batch_out} were graded by an older autograder (results.json "
                         f"without record.json), e.g. {older[0]}: grade them again with `autograder batch "
                         f"SUBMISSIONS --out {batch_out} --force`, then merge")
    # Every GPU run is read before anything is written: one that cannot be merged changes nothing.
    ready, missing = [], []
    for folder in folders:
        status = gradebook.read_status(folder)
        if not status or status.get("status") != "graded":
            continue
        base = gradebook.read_record(folder)
        if not any(c.get("status") == "pending_gpu" for c in base.cases):
            continue
        gpu_file = next((f for f in (gpu_dir / f"{folder.name}.json", gpu_dir / folder.name / "record.json",
                                     gpu_dir / folder.name / "results.json") if f.is_file()), None)
        if gpu_file is None:
            missing.append(folder.name)
            continue
        ready.append((folder, base, _gpu_run(gpu_file)))
    for folder, base, run in ready:
        result = merge_one(base, *run, grading)
        # The record is edited; results.json and feedback.md are exported from it again.
        hwrecord.save(result, folder / gradebook.RECORD_FILE)
        gradebook.atomic_write(folder / gradebook.RESULTS_FILE, gradescope.render(result))
        gradebook.atomic_write(folder / gradebook.FEEDBACK_FILE, feedback.render(result))
    gradebook.rebuild(batch_out, gradebook.task_columns(grading))
    return [folder.name for folder, _, _ in ready], missing


def _gpu_run(path: Path) -> tuple[list[dict], float]:
    """(case outcomes, seconds) of a GPU run: its record (`--record`) or its results.json (`--json`)."""
    run = hwrecord.load(path)
    if run is not None:
        _not_simulated(path, run.gpu)
        return run.cases, run.execution_time
    data = gradebook.read_json(path)
    if not gradebook.valid_results(data) or not isinstance(data["extra_data"].get("cases"), list):
        raise MergeError(f"{path}: not a record or results.json written by `autograder grade --gpu require`")
    _not_simulated(path, data["extra_data"].get("gpu"))
    time = data.get("execution_time", 0)
    return data["extra_data"]["cases"], float(time) if isinstance(time, (int, float)) else 0.0


def _not_simulated(path: Path, gpu: object) -> None:
    if gpu == hwrecord.SIMULATED_GPU:
        raise MergeError(f"{path}: graded on a simulated GPU (`grade --gpu simulate`), not a real one: its points are "
                         "not a grade, so nothing was merged (grade with `--gpu require` on a GPU machine)")


def merge_one(base: GradingResult, gpu_cases: list[dict], gpu_seconds: float,
              grading: GradingConfig) -> GradingResult:
    """The base record with its pending cases replaced by the GPU run's outcomes, re-scored."""
    cases = {c["nodeid"]: c for c in base.cases}
    for c in gpu_cases:
        if not isinstance(c, dict) or not isinstance(c.get("nodeid"), str) or not isinstance(c.get("status"), str):
            continue
        if cases.get(c["nodeid"], {}).get("status") == "pending_gpu" and c["status"] != "pending_gpu":
            cases[c["nodeid"]] = c
    outcomes = [CaseOutcome(c["nodeid"], c["status"], c.get("message", "")) for c in cases.values()]
    lang = base.lang if base.lang in i18n.LANGUAGES else "en"
    with i18n.using(lang):  # messages the re-scoring writes (e.g. "counts once ...") in the student's language
        return build(grading.assignment, base.submission, score(grading, outcomes, gpu_tests={t.name for t in base.tests if t.gpu}),
                     execution_time=base.execution_time + gpu_seconds, sandbox=base.sandbox,
                     worker_restarts=base.worker_restarts, gpu="merged", errors=list(base.errors), lang=lang)

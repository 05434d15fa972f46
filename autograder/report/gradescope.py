"""results.json in Gradescope's autograder format, exported from a grading's record.

What a student sees (Gradescope's specification, docs/platforms/gradescope.md):

* **Before the due date** only the public tests (``"visibility": "visible"``) and the top-level
  ``output``. Hidden tests are ``after_due_date``, and "if test cases are hidden, students will
  not be able to see their total score", so the top-level ``score`` is not shown either. The
  ``output`` therefore counts the visible tests only and says how many hidden tests there are
  and what they are worth in all, never what they earned or the total.
* **After the due date** every test and the total.
* **Tests that need a GPU** (pending here: Gradescope has none) are listed with
  ``max_score`` = ``score`` = what the CPU run could give them (0), so they never show as failed
  and the autograder's points are the same for every submission; their points come as a
  separate question of the Gradescope assignment, which the course staff fill in from
  ``autograder merge-gpu``'s gradebook.
* ``extra_data`` is "extra data to be stored", not shown: the full record for the course staff
  (tasks, the sandbox's report, every case for merge-gpu).

Our own tools read ``score`` and ``max_score`` (all automatic points, the GPU ones included)
and ``extra_data``; Gradescope takes the maximum from the assignment's outline.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hwkit import i18n
from hwkit.files import atomic_write
from hwkit.i18n import tr, trp
from hwkit.outcomes import gpu_skip_message
from hwkit.record import GradingResult, TestResult
from hwkit.text import points

#: The separate question of the Gradescope assignment that holds the GPU tests' points.
GPU_QUESTION = "GPU tests"
# What Markdown reads in running text: the characters every Markdown escapes with a backslash,
# and the three HTML would (as entities, which every Markdown decodes).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def to_gradescope(result: GradingResult) -> dict:
    with i18n.using(result.lang):
        return _to_gradescope(result)


def _to_gradescope(result: GradingResult) -> dict:
    public = {t.name.rsplit("::", 1)[-1] for t in result.tests if not t.hidden}
    hidden_names = sorted({t.name.rsplit("::", 1)[-1] for t in result.tests if t.hidden} - public)
    tests = [_test(t, hidden_names) for t in result.tests]
    return {
        "score": result.score,
        "max_score": result.max_score,
        "execution_time": result.execution_time,
        # Our own text, in Markdown; every value that comes from elsewhere (task titles, the
        # submission's problems, file names with `_` in them) is escaped.
        "output": summary(result),
        "output_format": "md",
        # Test messages quote code (`**kwargs`, `__init__`, `a * b`), tracebacks and
        # torch.testing's reports, and the student's own exception text: as Markdown they would
        # lose characters and could be made to look like anything. Plain text, as written.
        "test_output_format": "text",
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


def _test(t: TestResult, hidden_names: list[str]) -> dict:
    entry = {"name": t.name, "score": t.score, "max_score": t.max_score}
    if t.status == "pending_gpu":
        # Not failed, not passed: no status, and only what this run could give counts here
        # (Gradescope shows a test whose score reaches its max_score as passing).
        entry["max_score"] = t.score
        output = trp("Not graded here: this test needs a CUDA GPU, which this autograder does not have. "
                     "Its {points} point is graded later on a GPU machine and comes as the separate "
                     "question \u201c{question}\u201d of this assignment.",
                     "Not graded here: this test needs a CUDA GPU, which this autograder does not have. "
                     "Its {points} points are graded later on a GPU machine and come as the separate "
                     "question \u201c{question}\u201d of this assignment.",
                     t.max_score - t.score, question=GPU_QUESTION)
        if t.output.strip() not in ("", gpu_skip_message()):  # e.g. "counts once test_x has passed on a GPU"
            output += "\n\n" + t.output
    else:
        # Gradescope knows only passed/failed; the finer status is in the tags.
        entry["status"] = "passed" if t.status == "passed" else "failed"
        output = t.shown()
    if not t.hidden:  # (a visible test never names a hidden one, even in a `requires:` message)
        output = _without_names(output, hidden_names)
    entry.update({
        "output": output,
        "output_format": "text",
        # Hidden tests are named to students only after the due date.
        "visibility": "after_due_date" if t.hidden else "visible",
        "tags": [t.task, t.status] + (["hidden"] if t.hidden else []),
    })
    return entry


def _without_names(text: str, names: list[str]) -> str:
    for name in names:
        text = re.sub(rf"\b{re.escape(name)}\b", tr("a hidden test"), text)
    return text


def md(text: str) -> str:
    """`text` as literal Markdown: one line, every character Markdown could read escaped."""
    text = _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))
    return re.sub(r"[&<>]", lambda m: _HTML[m.group()], text)


def summary(result: GradingResult) -> str:
    """The top-level output (Markdown, in the result's language): what a student may see before
    the due date — the visible tests' score, how many hidden tests there are and their points in
    all, the GPU tests and the hand-graded tasks; never the hidden tests' score or the total."""
    with i18n.using(result.lang):
        visible = [t for t in result.tests if not t.hidden and t.status != "pending_gpu"]
        hidden = [t for t in result.tests if t.hidden and t.status != "pending_gpu"]
        pending = result.pending_gpu
        paragraphs = []
        if result.simulated_gpu:
            paragraphs.append("**" + result.simulated_gpu_note() + "**")
        if result.weak_sandbox:
            paragraphs.append(tr("Graded in a weak sandbox (the course staff allowed it): {missing}.",
                                 missing=md("; ".join(result.weak_sandbox))))
        paragraphs.append("**" + tr("Visible tests: {score} / {max_score} points.",
                                    score=points(sum(t.score for t in visible)),
                                    max_score=points(sum(t.max_score for t in visible))) + "**")
        if hidden:
            paragraphs.append(tr("Hidden tests: {count}, worth {points} in all. They are graded now; their "
                                 "results and your total score are shown after the due date.",
                                 count=len(hidden), points=_points(sum(t.max_score for t in hidden))))
        if pending:
            paragraphs.append(tr("Tests that need a GPU: {count}, worth {points} in all. This autograder has "
                                 "no GPU: the course staff run them later, and their points come as the "
                                 "separate question \u201c{question}\u201d of this assignment.",
                                 count=len(pending), question=GPU_QUESTION,
                                 points=_points(sum(t.max_score - t.score for t in pending))))
        manual = [t for t in result.tasks if t.manual]
        if manual:
            named = [trp("{task} ({points} point)", "{task} ({points} points)", t.max_score, task=md(t.title))
                     for t in manual]
            paragraphs.append(tr("{tasks} is graded by hand.", tasks=", ".join(named)))
        if result.errors:
            paragraphs.append(tr("Problems with the submission: {problems}.",
                                 problems=md("; ".join(result.errors))))
        return "\n\n".join(paragraphs) + "\n"


def _points(x: float) -> str:
    return trp("{points} point", "{points} points", x)


def render(result: GradingResult) -> str:
    """results.json's text."""
    return json.dumps(to_gradescope(result), indent=2, ensure_ascii=False) + "\n"


def write(result: GradingResult, path: Path) -> None:
    atomic_write(Path(path), render(result))

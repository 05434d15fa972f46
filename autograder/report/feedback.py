"""feedback.md: points per task and, for every failed test, what was expected and what came back."""

from __future__ import annotations

import re
from pathlib import Path

from hwkit import i18n
from hwkit.files import atomic_write
from hwkit.i18n import tr, trn, trp
from hwkit.text import points

from hwkit.record import GradingResult

def render(result: GradingResult) -> str:
    with i18n.using(result.lang):
        return _render(result)


def _render(result: GradingResult) -> str:
    lines = [tr("# Feedback — {assignment}", assignment=result.assignment), "",
             tr("**Automatic score: {score} / {max_score}**", score=points(result.score),
                max_score=points(result.max_score)), ""]
    if result.simulated_gpu:
        lines += [f"**{result.simulated_gpu_note()}**", ""]
    if result.weak_sandbox:
        lines += [tr("Graded in a weak sandbox (the course staff allowed it): {missing}.",
                     missing="; ".join(result.weak_sandbox)), ""]
    if result.errors:
        lines += [tr("## Problems with the submission"), ""] + [f"- {e}" for e in result.errors] + [""]
    lines += [tr("## Points per task"), "", tr("| Task | Points | |"), "|---|---:|---|"]
    for task in result.tasks:
        if task.manual:
            by_hand = tr("graded by hand")
            lines.append(f"| {task.title} | — / {points(task.max_score)} | {by_hand} |")
            continue
        note = trp("{points} point pending a GPU run", "{points} points pending a GPU run",
                   task.pending_gpu) if task.pending_gpu else ""
        lines.append(f"| {task.title} | {points(task.score)} / {points(task.max_score)} | {note} |")
    lines.append("")
    for task in result.tasks:
        failed = [t for t in result.tests if t.task == task.name and t.status in ("failed", "not_run")]
        if not failed:
            continue
        lines += [tr("## {task}: what to fix", task=task.title), ""]
        stubs = [t for t in failed if t.not_started()]
        if stubs:  # one line, not one section per test of a function nobody has started
            functions = list(dict.fromkeys(function for t in stubs for _, function in t.unstarted()))
            lines += [trn("Not started yet ({n} test): {functions}.", "Not started yet ({n} tests): {functions}.",
                          len(stubs), functions=", ".join(f"`{f}`" for f in functions)), ""]
        # The most useful hint first (see TaskScore.hints): what fixing it is worth, public first.
        for t in sorted((t for t in failed if not t.not_started()), key=lambda t: (t.hint_rank is None,
                                                                                  t.hint_rank or 0)):
            where = tr("hidden test") if t.hidden else tr("run it: `pytest \"{test}\"`", test=t.name)
            cases = trn(", {passed}/{n} case passed", ", {passed}/{n} cases passed", t.cases,
                        passed=t.cases_passed) if t.cases > 1 else ""
            heading = f"### `{t.name.split('::')[1]}` — {points(t.score)} / {points(t.max_score)} ({where}{cases})"
            lines += [heading, "",
                      *_fenced(_trim(t.output) or tr("(no message)")), ""]
    pending = result.pending_gpu
    if pending:
        lines += [tr("## Pending a GPU"), "",
                  tr("These tests need a real CUDA GPU and will be graded on one; their points are not counted "
                     "yet:"), ""]
        lines += [trp("- `{test}` ({points} point)", "- `{test}` ({points} points)", t.max_score, test=t.name)
                  for t in pending] + [""]
    return "\n".join(lines)


def _fenced(text: str) -> list[str]:
    """A code block that the text cannot close early (its fence is longer than any ``` inside)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", text, fence]


def _trim(text: str, limit: int = 3000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "\n" + tr("[... truncated]")


def write(result: GradingResult, path: Path) -> None:
    atomic_write(Path(path), render(result))

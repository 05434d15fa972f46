"""feedback.md: points per task and, for every failed test, what was expected and what came back."""

from __future__ import annotations

import re
from pathlib import Path

from ..results import GradingResult

STATUS = {"passed": "passed", "failed": "failed", "pending_gpu": "pending GPU", "skipped": "skipped",
          "not_run": "did not run"}


def render(result: GradingResult) -> str:
    lines = [f"# Feedback — {result.assignment}", "",
             f"**Automatic score: {result.score:g} / {result.max_score:g}**", ""]
    if result.errors:
        lines += ["## Problems with the submission", ""] + [f"- {e}" for e in result.errors] + [""]
    lines += ["## Points per task", "", "| Task | Points | |", "|---|---:|---|"]
    for task in result.tasks:
        if task.manual:
            lines.append(f"| {task.title} | — / {task.max_score:g} | graded by hand |")
            continue
        note = f"{task.pending_gpu:g} pending a GPU run" if task.pending_gpu else ""
        lines.append(f"| {task.title} | {task.score:g} / {task.max_score:g} | {note} |")
    lines.append("")
    for task in result.tasks:
        failed = [t for t in result.tests if t.task == task.name and t.status in ("failed", "not_run")]
        if not failed:
            continue
        lines += [f"## {task.title}: what to fix", ""]
        # Public tests first (students can run them), then the largest point losses.
        for t in sorted(failed, key=lambda t: (t.hidden, -(t.max_score - t.score))):
            where = "hidden test" if t.hidden else f"run it: `pytest \"{t.name}\"`"
            cases = f", {t.cases_passed}/{t.cases} cases passed" if t.cases > 1 else ""
            lines += [f"### `{t.name.split('::')[1]}` — {t.score:g} / {t.max_score:g} ({where}{cases})", "",
                      *_fenced(_trim(t.output) or "(no message)"), ""]
    pending = result.pending_gpu
    if pending:
        lines += ["## Pending a GPU", "",
                  "These tests need a real CUDA GPU and will be graded on one; their points are not counted yet:", ""]
        lines += [f"- `{t.name}` ({t.max_score:g} points)" for t in pending] + [""]
    return "\n".join(lines)


def _fenced(text: str) -> list[str]:
    """A code block that the text cannot close early (its fence is longer than any ``` inside)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", text, fence]


def _trim(text: str, limit: int = 3000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "\n[... truncated]"


def write(result: GradingResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result), encoding="utf-8")

"""The summary table printed in the terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hwkit.record import GradingResult


def print_result(result: GradingResult, console: Console | None = None) -> None:
    console = console or Console()
    title = f"{result.submission}: {result.score:g} / {result.max_score:g}"
    if result.weak_sandbox:
        title += " — WEAK SANDBOX: " + "; ".join(result.weak_sandbox)
    table = Table(title=title, title_justify="left")
    table.add_column("Task")
    table.add_column("Points", justify="right")
    table.add_column("Failed / pending tests")
    for task in result.tasks:
        if task.manual:
            table.add_row(task.title, f"— / {task.max_score:g}", "graded by hand")
            continue
        failed = [t for t in result.tests if t.task == task.name and t.status == "failed"]
        pending = [t for t in result.tests if t.task == task.name and t.status == "pending_gpu"]
        notes = []
        if failed:
            notes.append(f"{len(failed)} failed")
        if pending:
            notes.append(f"{len(pending)} pending GPU ({task.pending_gpu:g} pts)")
        style = "green" if task.score >= task.max_score else "yellow" if task.score else "red"
        table.add_row(task.title, f"[{style}]{task.score:g} / {task.max_score:g}[/]", ", ".join(notes))
    console.print(table)
    console.print(headline(result), highlight=False)
    for error in result.errors:
        console.print(f"[red]•[/] {error}")
    fs = result.sandbox.get("filesystem", "?")
    console.print(f"[dim]sandbox: filesystem={fs}, network={result.sandbox.get('network', '?')}, "
                  f"user={result.sandbox.get('user', '?')}; worker restarts: {result.worker_restarts}; "
                  f"{result.execution_time:.1f} s[/]")


def headline(result: GradingResult) -> str:
    """What the score is out of: the points this machine could award, and what waits elsewhere."""
    pending = round(sum(t.max_score for t in result.pending_gpu), 4)
    available = round(result.max_score - pending, 4)
    line = f"{result.score:g} / {available:g} available on this machine"
    if pending:
        line += f"; {pending:g} wait for a GPU run"
    manual = sum(t.max_score for t in result.tasks if t.manual)
    if manual:
        line += f"; {manual:g} graded by hand"
    return line


def print_summary(rows: list[tuple[str, GradingResult, str]], console: Console | None = None) -> None:
    """One line per graded example: name, score, expected."""
    console = console or Console()
    table = Table(title="Bundled example submissions")
    for col in ("Submission", "Score", "Expected", "Time (s)"):
        table.add_column(col, justify="right" if col != "Submission" else "left")
    for name, result, expected in rows:
        table.add_row(name, f"{result.score:g} / {result.max_score:g}", expected, f"{result.execution_time:.1f}")
    console.print(table)

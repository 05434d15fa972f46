"""The summary table printed in the terminal (rich), in the result's language (``grade --lang``)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hwkit import i18n
from hwkit.i18n import tr, trn, trp
from hwkit.record import GradingResult
from hwkit.text import points


def print_result(result: GradingResult, console: Console | None = None) -> None:
    with i18n.using(result.lang):
        _print_result(result, console or Console())


def _print_result(result: GradingResult, console: Console) -> None:
    title = f"{result.submission}: {points(result.score)} / {points(result.max_score)}"
    if result.weak_sandbox:
        title += " — " + tr("WEAK SANDBOX: {missing}", missing="; ".join(result.weak_sandbox))
    table = Table(title=title, title_justify="left")
    table.add_column(tr("Task"))
    table.add_column(tr("Points"), justify="right")
    table.add_column(tr("Failed / pending tests"))
    for task in result.tasks:
        if task.manual:
            table.add_row(task.title, f"— / {points(task.max_score)}", tr("graded by hand"))
            continue
        failed = [t for t in result.tests if t.task == task.name and t.status == "failed"]
        pending = [t for t in result.tests if t.task == task.name and t.status == "pending_gpu"]
        notes = []
        if failed:
            notes.append(trn("{n} failed", "{n} failed", len(failed)))
        if pending:
            notes.append(trn("{n} pending GPU ({pts})", "{n} pending GPU ({pts})", len(pending),
                             pts=trp("{points} pt", "{points} pts", task.pending_gpu)))
        style = "green" if task.score >= task.max_score else "yellow" if task.score else "red"
        table.add_row(task.title, f"[{style}]{points(task.score)} / {points(task.max_score)}[/]", ", ".join(notes))
    console.print(table)
    console.print(headline(result), highlight=False)
    if result.simulated_gpu:
        console.print(f"[bold yellow]{escape(result.simulated_gpu_note())}[/]", highlight=False)
    for error in result.errors:
        console.print(f"[red]•[/] {error}")
    fs = result.sandbox.get("filesystem", "?")
    sandbox = tr("sandbox: filesystem={fs}, network={network}, user={user}; worker restarts: {restarts}; "
                 "{seconds} s", fs=fs, network=result.sandbox.get("network", "?"),
                 user=result.sandbox.get("user", "?"), restarts=result.worker_restarts,
                 seconds=f"{result.execution_time:.1f}")
    console.print(f"[dim]{sandbox}[/]")


def headline(result: GradingResult) -> str:
    """What the score is out of: the points this machine could award, and what waits elsewhere."""
    pending = round(sum(t.max_score for t in result.pending_gpu), 4)
    available = round(result.max_score - pending, 4)
    line = tr("{score} / {available} available on this machine", score=points(result.score),
              available=points(available))
    if pending:
        line += "; " + trp("{points} waits for a GPU run", "{points} wait for a GPU run", pending)
    manual = sum(t.max_score for t in result.tasks if t.manual)
    if manual:
        line += "; " + tr("{points} graded by hand", points=points(manual))
    return line


def print_summary(rows: list[tuple[str, GradingResult, str]], console: Console | None = None) -> None:
    """One line per graded example: name, score, expected."""
    console = console or Console()
    table = Table(title="Bundled example submissions")
    for col in ("Submission", "Score", "Expected", "Time (s)"):
        table.add_column(col, justify="right" if col != "Submission" else "left")
    for name, result, expected in rows:
        table.add_row(name, f"{points(result.score)} / {points(result.max_score)}", expected, f"{result.execution_time:.1f}")
    console.print(table)

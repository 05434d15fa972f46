"""The class report of a batch: terminal summary, report.md (hardest tests first) and scores.png.

Pure functions over the batch's output folder: they read gradebook.csv and the students'
records (hwkit/record.py) and nothing else, so they can be tested without grading anything.
"""

from __future__ import annotations

import csv
import html
import io
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from hwkit.record import GradingResult

from .. import gradebook

REPORT, PLOT = "report.md", "scores.png"
BINS = 10


@dataclass
class PerTest:
    name: str
    visibility: str  # public | hidden
    max_score: float
    passed: int = 0
    graded: int = 0  # students for whom it ran (not pending a GPU)
    points: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None

    @property
    def mean_points(self) -> float | None:
        return statistics.fmean(self.points) if self.points else None


@dataclass
class ClassData:
    rows: list[dict[str, str]]  # gradebook.csv
    tasks: list[str]  # the task columns of the gradebook, in order
    results: dict[str, GradingResult]  # student id -> record of graded students
    assignment: str = ""

    def graded(self) -> list[dict[str, str]]:
        return [r for r in self.rows if r["status"] == "graded"]

    def totals(self) -> list[float]:
        return [float(r["total"]) for r in self.graded() if r.get("total")]

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.rows)


def load(out: Path) -> ClassData:
    """Read the gradebook and the record of every graded student."""
    rows = gradebook.read_gradebook(out)
    header = list(rows[0]) if rows else _header(out)
    tasks = header[header.index("status") + 1: header.index("total")] if "status" in header else []
    results = {}
    for row in rows:
        if row["status"] == "graded":
            graded = gradebook.read_record(gradebook.students_dir(out) / row["student"])
            if graded is not None:
                results[row["student"]] = graded
    assignment = next((r.assignment for r in results.values()), "")
    return ClassData(rows, tasks, results, assignment)


def _header(out: Path) -> list[str]:
    path = out / gradebook.GRADEBOOK
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        return next(csv.reader(f), [])


def per_test(data: ClassData) -> list[PerTest]:
    """Per-test pass rates over graded students, hardest first (tests that never ran last)."""
    stats: dict[str, PerTest] = {}
    for graded in data.results.values():
        for t in graded.tests:
            s = stats.setdefault(t.name, PerTest(t.name, "hidden" if t.hidden else "public", t.max_score))
            if t.status == "pending_gpu":
                continue
            s.graded += 1
            s.passed += t.status == "passed"
            s.points.append(t.score)
    return sorted(stats.values(), key=lambda s: (s.rate is None, s.rate or 0.0,
                                                 (s.mean_points or 0) / s.max_score if s.max_score else 0, s.name))


def histogram(totals: list[float], top: float, bins: int = BINS) -> list[tuple[float, float, int]]:
    """(low, high, count) for `bins` equal bins over [0, top]; the last bin includes `top`."""
    top = max([top, *totals, 1e-9])
    width = top / bins
    counts = [0] * bins
    for x in totals:
        counts[min(int(max(x, 0) / width), bins - 1)] += 1
    return [(i * width, (i + 1) * width, c) for i, c in enumerate(counts)]


def task_means(data: ClassData) -> dict[str, float | None]:
    """Mean points per task over graded students; None for tasks graded by hand (blank column)."""
    means = {}
    for task in data.tasks:
        values = [float(r[task]) for r in data.graded() if r.get(task)]
        means[task] = statistics.fmean(values) if values else None
    return means


def _max_total(data: ClassData) -> float:
    return max((float(r["max"]) for r in data.rows if r.get("max")), default=0.0)


def summary(data: ClassData) -> list[tuple[str, str]]:
    """The figures shown in the terminal and at the top of report.md."""
    totals = data.totals()
    late = sum(r.get("late") == "yes" for r in data.rows)
    pending = [float(r["pending_gpu"]) for r in data.graded() if r.get("pending_gpu") and float(r["pending_gpu"])]
    lines = [("students", f"{len(data.rows)} ({len(data.graded())} graded)")]
    if totals:
        lines += [("mean total", _n(statistics.fmean(totals))), ("median total", _n(statistics.median(totals))),
                  ("min total", _n(min(totals))), ("max total", _n(max(totals))),
                  ("out of", _n(_max_total(data)))]
    for task, mean in task_means(data).items():
        lines.append((f"mean {task}", "graded by hand" if mean is None else _n(mean)))
    lines += [("late", str(late)), ("errors", str(data.count("error"))), ("invalid", str(data.count("invalid"))),
              ("no submission", str(data.count("no-submission"))),
              ("pending GPU", f"{len(pending)} students" + (f" ({_n(sum(pending))} points)" if pending else ""))]
    return lines


def summary_table(data: ClassData) -> Table:
    table = Table(title=f"Class summary{' — ' + escape(data.assignment) if data.assignment else ''}",
                  title_justify="left")
    table.add_column("")
    table.add_column("", justify="right")
    table.show_header = False
    for key, value in summary(data):
        table.add_row(key, escape(value))
    return table


def render(data: ClassData) -> str:
    """report.md."""
    lines = [f"# Class report{' — ' + _cell(data.assignment) if data.assignment else ''}", "", "| | |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in summary(data)] + [""]
    attention = [r for r in data.rows if r["status"] != "graded"]
    if attention:
        lines += ["## Not graded", "", "| Student | Status | Why |", "|---|---|---|"]
        lines += [f"| {_cell(r['student'])} | {_cell(r['status'])} | {_cell(r.get('message', ''))} |"
                  for r in attention] + [""]
    lines += ["## Score histogram", "", f"![histogram of total scores]({PLOT})", "",
              "| Points | Students | |", "|---|---:|---|"]
    for low, high, count in histogram(data.totals(), _max_total(data)):
        lines.append(f"| {_n(low)}–{_n(high)} | {count} | {'█' * count} |")
    lines += ["", "## Tests, hardest first", "",
              "| Test | Visibility | Passed / graded | Mean points |", "|---|---|---:|---:|"]
    for s in per_test(data):
        passed = f"{s.passed} / {s.graded}" if s.graded else "pending GPU"
        mean = f"{_n(s.mean_points)} / {_n(s.max_score)}" if s.mean_points is not None else f"— / {_n(s.max_score)}"
        lines.append(f"| `{s.name}` | {s.visibility} | {passed} | {mean} |")
    return "\n".join(lines) + "\n"


def plot(totals: list[float], top: float) -> bytes:
    """A PNG histogram of the totals (matplotlib's Agg canvas; no global backend is changed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    edges = [low for low, _, _ in histogram(totals, top)] + [max([top, *totals, 1e-9])]
    ax.hist(totals, bins=edges, color="#4c72b0", edgecolor="white")
    ax.set_xlabel("total points")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Scores of {len(totals)} graded students")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write(out: Path) -> ClassData:
    """Write OUT/report.md and OUT/scores.png from the batch's files."""
    data = load(out)
    gradebook.atomic_write(out / REPORT, render(data))
    gradebook.atomic_write(out / PLOT, plot(data.totals(), _max_total(data)))
    return data


def _n(x: float) -> str:
    return f"{round(x, 2):g}"


def _cell(text: str) -> str:
    """Plain text inside one Markdown table cell: one line; no HTML, link, emphasis or code span
    (a message or a name from a submission must show as written, never as markup)."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return re.sub(r"([\\`*_\[\]()#+!|~{}=-])", r"\\\1", text)

"""A whole batch: its options, the checks before it starts (options, output folder, one sandbox,
the lock on OUT), then every student not done yet graded ``-j`` at a time with a progress bar and
one line each, and the gradebook and class report written at the end."""

from __future__ import annotations

import fcntl
import os
import shutil
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn

from hwkit.grading import GradingConfig, load_grading

from .. import gradebook
from ..course import Course, find as find_course
from .discovery import Entry, discover
from .errors import BatchError
from .slots import SlotUnavailable, WarmParent
from .student import Batch

DEFAULT_STUDENT_TIMEOUT_S = 30 * 60
# A grading waits on its timing probes (which sleep on purpose) for about 60 % of its time, and a
# slot forked from the warm parent costs only its own sandbox: three slots per core keep the cores
# busy. Measured on 2 cores (2026-11-30, docs/performance.md): 20 students -j 2 69 s, -j 3 62 s,
# -j 4 54 s, -j 6 63 s (30.1 and 30.9 s in a faster hour); 100 students -j 4 90.6 s, -j 6 77.9 s,
# -j 8 77.5 s. (The pool never starts more slots than there are students.)
SLOTS_PER_CORE = 3
# One slot's memory at its peak (its sandbox and workers, its grading process; the warm parent's
# pages are shared): a batch's whole tree measured at 923 / 1195 / 1640 MiB PSS with 2 / 3 / 4
# slots, rounded up.
SLOT_MEMORY_MB = 450
RESERVED_MEMORY_MB = 512  # for the batch, the warm parent and the rest of the machine


def auto_jobs(cpus: int | None = None, meminfo: str | None = None) -> int:
    """`-j auto`: three slots per core, fewer when the memory available would not hold them."""
    if cpus is None:  # (the cores this process may use, as a container or taskset limits them)
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    slots = max(1, cpus) * SLOTS_PER_CORE
    if meminfo is None:
        try:
            meminfo = Path("/proc/meminfo").read_text(encoding="ascii")
        except OSError:
            return slots
    available = next((int(line.split()[1]) // 1024 for line in meminfo.splitlines()
                      if line.startswith("MemAvailable:")), None)
    if available is None:
        return slots
    return max(1, min(slots, (available - RESERVED_MEMORY_MB) // SLOT_MEMORY_MB))


@dataclass
class Options:
    submissions: Path
    out: Path
    jobs: int = os.cpu_count() or 1
    deadline: datetime | None = None
    force: bool = False
    gpu: str = "auto"
    grading: Path | None = None  # None: the course's
    course: Course = field(default_factory=find_course)
    allow_weak: bool = False
    lang: str | None = None  # None: grading.yml's feedback.lang
    strip_prefix: str | None = None
    student_timeout: float = DEFAULT_STUDENT_TIMEOUT_S


def run(opts: Options, console: Console | None = None, err: Console | None = None) -> int:
    """Grade every student not done yet; write the gradebook and the class report. Returns 0."""
    console = console or Console()
    err = err or Console(stderr=True)
    if opts.jobs < 1:
        raise BatchError(f"-j {opts.jobs}: the number of parallel gradings must be at least 1")
    if opts.student_timeout <= 0:
        raise BatchError("--student-timeout must be a positive number of seconds")
    opts.grading = Path(opts.grading or opts.course.grading).resolve()
    grading = load_grading(opts.grading)  # GradingConfigError: the caller reports it
    opts.submissions, opts.out = opts.submissions.resolve(), opts.out.resolve()
    if opts.out == opts.submissions or opts.submissions in opts.out.parents:
        raise BatchError(f"--out {opts.out} is inside {opts.submissions}; it would be graded as a student "
                         "next time. Choose a folder outside it")
    entries = discover(opts.submissions, opts.strip_prefix,
                       warn=lambda m: err.print(f"[yellow]warning:[/] {escape(m)}", soft_wrap=True))
    # The warm parent first starts a sandbox and measures it: one that cannot keep its promises
    # here stops the whole batch with the reason (not a hundred "cannot grade" rows). Then it
    # warms up while the batch gets ready.
    parent = WarmParent(opts)
    try:
        try:
            parent.check()  # (SandboxUnavailable: the caller reports it)
        except SlotUnavailable as exc:
            raise BatchError(str(exc)) from None
        return _run(opts, grading, entries, parent, console, err)
    finally:
        parent.kill()  # (ended already, after a whole batch)


def _run(opts: Options, grading: GradingConfig, entries: list[Entry], parent: WarmParent, console: Console,
         err: Console) -> int:
    from ..report import classreport
    from ..sandbox import isolation

    try:
        opts.out.mkdir(parents=True, exist_ok=True)
        lock = open(opts.out / ".batch.lock", "w")
    except OSError as exc:
        raise BatchError(f"--out {opts.out}: cannot write there ({exc.strerror})") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchError(f"another batch is writing to {opts.out}; wait for it or choose another --out") from None
        batch = Batch(opts, grading, console, parent)
        shutil.rmtree(batch.work, ignore_errors=True)
        batch.work.mkdir()
        gradebook.remove_partial_files(opts.out)
        older = [e.id for e in entries if gradebook.graded_by_an_older_grader(gradebook.students_dir(opts.out) / e.id)]
        todo = [e for e in entries if opts.force or not gradebook.done(opts.out, e.id)]
        gradebook.rebuild(opts.out, batch.tasks, batch.rows)
        if older and not opts.force:
            console.print(f"[yellow]{len(older)} student(s) were graded by an older autograder (results.json "
                          f"without record.json) and are graded again:[/] {escape(', '.join(older[:10]))}"
                          + (", ..." if len(older) > 10 else ""), soft_wrap=True, highlight=False)
        console.print(f"{len(entries)} students in {opts.submissions}: {len(todo)} to grade"
                      + (f", {len(entries) - len(todo)} already done (--force regrades them)"
                         if len(todo) < len(entries) else "") + f"; {opts.jobs} at a time",
                      soft_wrap=True, highlight=False)
        interrupted = _grade_all(batch, todo, console)
        shutil.rmtree(batch.work, ignore_errors=True)
        isolation.sweep_orphans()
        if interrupted:
            err.print("[yellow]interrupted:[/] run the same command again to grade the remaining students")
            return 130
        classreport.write(opts.out)
        console.print(classreport.summary_table(classreport.load(opts.out)))
        console.print(f"gradebook: {opts.out / gradebook.GRADEBOOK}; report: {opts.out / classreport.REPORT}",
                      soft_wrap=True, highlight=False)
    return 0


def _grade_all(batch: Batch, todo: list[Entry], console: Console) -> bool:
    """Run the gradings with a progress bar; True if interrupted (Ctrl-C)."""
    progress = Progress(TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True,
                        disable=not console.is_terminal or not todo)
    pool = ThreadPoolExecutor(max_workers=batch.opts.jobs, thread_name_prefix="grade")
    try:
        if todo:
            batch.pool.start()  # (a no-op unless it died: then started from this thread, which outlives the gradings)
        with progress:
            bar = progress.add_task("grading", total=len(todo))
            futures = {pool.submit(batch.grade, e): e for e in todo}
            for future in as_completed(futures):
                try:
                    record = future.result()
                except OSError as exc:  # e.g. the output disk is full: say so, keep going
                    progress.console.print(f"[red]✗ {escape(futures[future].id)}: cannot write its files:[/] "
                                           f"{escape(str(exc))}")
                    continue
                if record is None:
                    continue
                with batch.lock:
                    gradebook.rebuild(batch.opts.out, batch.tasks, batch.rows)
                progress.console.print(_line(record, batch.opts.out), highlight=False, soft_wrap=True)
                progress.advance(bar)
        batch.pool.close()  # while the pool's threads live: a replacement parent dies with the thread that started it
    except KeyboardInterrupt:
        batch.pool.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        return True
    pool.shutdown(wait=True)
    return False


def _line(r: dict, out: Path) -> str:
    where = f" [dim]{r['commit'][:10]} {r['commit_date'] or ''}[/]" if r.get("commit") else ""
    late = " [yellow]late[/]" if r.get("late") else ""
    if r["status"] == "graded":
        graded = gradebook.read_record(gradebook.students_dir(out) / r["id"])
        score = f"{graded.score:g} / {graded.max_score:g}" if graded else "?"
        return f"[green]✓[/] {escape(r['id'])}: {score}{where}{late} [dim]({r['seconds']:g} s)[/]"
    colour = {"error": "red", "invalid": "yellow"}.get(r["status"], "dim")
    return f"[{colour}]✗ {escape(r['id'])}: {r['status']}[/]{where}{late} — {escape(r['message'])}"

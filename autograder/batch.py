"""`autograder batch`: grade every student of a folder (folders, .zip files, git repositories).

Each of the ``-j`` parallel jobs has a warm grading slot (:mod:`autograder.slot`): a process
that has imported torch and the suites once and keeps a sandbox warm, and grades each student
in a process of its own forked from it (killed with the batch, and after ``--student-timeout``).
Files are written atomically and a student's ``status.json`` last, so a batch killed at any
moment can simply be run again: finished students are skipped and the gradebook is rebuilt from
the per-student files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn

from hwkit.grading import GradingConfig, load_grading
from hwkit.modules import MODULES

from . import gradebook
from .course import Course, find as find_course
from .gradebook import FEEDBACK_FILE, RESULTS_FILE, STATUS_FILE
from .sandbox import isolation
from .results import clean_text
from .submission import MAX_ZIP_BYTES, SubmissionError, open_submission

DEFAULT_STUDENT_TIMEOUT_S = 30 * 60
GIT_TIMEOUT_S = 120
DEADLINE_EXAMPLE = "2026-11-30T23:59:00+01:00"
WORK = ".work"  # OUT/.work: temporary folders of the running batch, removed at the next start


class BatchError(Exception):
    """The batch cannot start; the message says what to fix."""


class NoSubmission(Exception):
    """A git repository with no commit to grade (none at or before the deadline)."""


@dataclass(frozen=True)
class Entry:
    id: str
    path: Path
    kind: str  # dir | zip | git


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


# -- inputs --------------------------------------------------------------------------------------
def parse_deadline(text: str | None) -> datetime | None:
    """An ISO-8601 date and time with a time zone, or None."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BatchError(f"--deadline {text!r} is not an ISO-8601 date and time; "
                         f"write e.g. {DEADLINE_EXAMPLE}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise BatchError(f"--deadline {text!r} has no time zone, so it is ambiguous; "
                         f"write e.g. {DEADLINE_EXAMPLE} (or Z for UTC)")
    return value


def common_prefix(names: list[str]) -> str:
    """The longest prefix ending in '-' that every name has, with something left after it.

    Only for 2 or more names (GitHub Classroom names repositories `<assignment>-<user>`).
    """
    if len(names) < 2:
        return ""
    shared = os.path.commonprefix(names)
    for end in range(len(shared), 0, -1):
        prefix = shared[:end]
        if prefix.endswith("-") and all(len(n) > len(prefix) for n in names):
            return prefix
    return ""


def student_ids(names: list[str], strip_prefix: str | None = None) -> dict[str, str]:
    """Map each entry name (without .zip) to its student id; BatchError on a collision."""
    ids = _ids(names, strip_prefix)
    _check_unique(ids, names)
    return dict(zip(names, ids))


def _ids(names: list[str], strip_prefix: str | None) -> list[str]:
    prefix = common_prefix(names) if strip_prefix is None else strip_prefix
    return [safe_id(n[len(prefix):] if prefix and n.startswith(prefix) and n != prefix else n) for n in names]


MAX_ID = 64
# Path separators, and what would break a Markdown table or become HTML in report.md.
_REPLACED = str.maketrans({c: "_" for c in "/\\|`<>"})
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def safe_id(name: str) -> str:
    """A student id every output can show as it is: no control or direction characters, no
    slashes, pipes, backquotes or angle brackets (Markdown, HTML), no leading ``= + - @`` (a
    formula in a spreadsheet) or dot, at most 64 characters
    (and a short hash of the original name when anything changed). Made once, here."""
    clean = _UNSAFE.sub("", name).translate(_REPLACED).lstrip("=+-@. \t")[:MAX_ID].strip()
    if clean == name:
        return name
    digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    return f"{clean or 'entry'}-{digest}"[:MAX_ID + 7]


def _check_unique(ids: list[str], labels: list[str]) -> None:
    seen: dict[str, list[str]] = {}
    for sid, label in zip(ids, labels):
        if sid.startswith(".") or "/" in sid:
            raise BatchError(f"{label}: the student id {sid!r} cannot be a folder name; rename the entry")
        seen.setdefault(sid, []).append(label)
    clashes = [f"{sid!r} ({', '.join(group)})" for sid, group in seen.items() if len(group) > 1]
    if clashes:
        raise BatchError("several submissions have the same student id: " + "; ".join(clashes)
                         + ". Rename them (or use --strip-prefix) so that every student is graded once")


def discover(folder: Path, strip_prefix: str | None = None,
             warn: Callable[[str], None] = lambda _: None) -> list[Entry]:
    """The students in `folder`: sub-folders, git repositories and .zip files, sorted by id."""
    if not folder.is_dir():
        raise BatchError(f"{folder}: not a folder (expected one sub-folder, .zip or git repository per student)")
    found: list[tuple[str, Path, str]] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            warn(f"ignored {path.name}: hidden entry")
        elif path.is_dir():
            found.append((path.name, path, "git" if (path / ".git").exists() else "dir"))
        elif path.name.lower().endswith(".zip"):
            found.append((path.name[:-4], path, "zip"))
        else:
            warn(f"ignored {path.name}: not a folder, .zip or git repository")
    if not found:
        raise BatchError(f"{folder}: no submissions found (expected one sub-folder, .zip or git repository "
                         "per student)")
    ids = _ids([name for name, _, _ in found], strip_prefix)
    _check_unique(ids, [path.name for _, path, _ in found])
    return sorted((Entry(sid, path, kind) for sid, (_, path, kind) in zip(ids, found)), key=lambda e: e.id)


def check_zip(path: Path) -> None:
    """Refuse an archive with absolute, '..' or link members, then apply the grader's own checks."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{path.name}: not a readable .zip file ({exc})") from None
    for m in members:
        if m.flag_bits & 0x1:
            raise SubmissionError(f"{path.name}: the archive is encrypted (password-protected); make the .zip "
                                  "again without a password")
        posix, windows = PurePosixPath(m.filename), PureWindowsPath(m.filename)
        if posix.is_absolute() or windows.drive or windows.root or ".." in posix.parts or ".." in windows.parts:
            raise SubmissionError(f"{path.name}: the archive member {m.filename!r} points outside the archive; "
                                  "make the .zip again from the homework folder")
        if (m.external_attr >> 16) & 0o170000 == 0o120000:
            raise SubmissionError(f"{path.name}: the archive member {m.filename!r} is a symbolic link; "
                                  "put the files themselves in the .zip")
    try:
        with open_submission(path):
            pass
    except (RuntimeError, NotImplementedError, zipfile.BadZipFile, EOFError) as exc:  # e.g. an unknown compression
        raise SubmissionError(f"{path.name}: the archive cannot be read ({exc}); make the .zip again") from None


# -- git ---------------------------------------------------------------------------------------
class Git:
    """Read-only plumbing on a student's repository that never trusts it.

    `git archive` is NOT used: it applies the repository's own filter drivers (a `smudge`
    command in .git/config), which would run the student's command here. `ls-tree` and
    `cat-file blob` read objects without any conversion. Nothing touches the working tree or
    the index, and no config, hook, pager or credential helper outside the repository is read.
    """

    HARDENING = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "safe.directory=*",
                 "-c", "log.showSignature=false", "--no-pager"]

    def __init__(self, repo: Path, home: Path) -> None:
        self.repo, self.home = repo, home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home), GIT_CONFIG_NOSYSTEM="1",
                        GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", GIT_ATTR_NOSYSTEM="1",
                        GIT_NO_REPLACE_OBJECTS="1", LC_ALL="C")

    def __call__(self, *args: str, check: bool = True) -> bytes | None:
        cmd = ["git", *self.HARDENING, f"--git-dir={self.repo / '.git'}", *args]
        try:
            proc = subprocess.run(cmd, cwd=self.home, env=self.env, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=GIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SubmissionError(f"{self.repo.name}: git {args[0]} took more than {GIT_TIMEOUT_S} s") from None
        except OSError as exc:
            raise SubmissionError(f"cannot run git: {exc}") from None
        if proc.returncode != 0:
            if not check:
                return None
            why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise SubmissionError(f"{self.repo.name}: git {args[0]} failed: {why[-1] if why else proc.returncode}")
        return proc.stdout

    def commits(self, *refs: str) -> list[tuple[int, str]]:
        """(committer timestamp, hash) of every commit reachable from `refs`."""
        out = self("rev-list", "--timestamp", *refs) or b""
        return [(int(ts), h) for ts, h in (line.split() for line in out.decode().splitlines())]

    def commit_date(self, commit: str) -> str:
        """The committer date of `commit`, ISO-8601 in the committer's time zone."""
        text = (self("cat-file", "commit", commit) or b"").decode("utf-8", "replace")
        m = re.search(r"^committer .* (\d+) ([+-])(\d\d)(\d\d)$", text, re.M)
        if not m:
            return ""
        offset = timedelta(hours=int(m[3]), minutes=int(m[4])) * (-1 if m[2] == "-" else 1)
        return datetime.fromtimestamp(int(m[1]), timezone(offset)).isoformat()

    def export(self, commit: str, dest: Path) -> None:
        """Write the commit's homework_*.py files under `dest` (the only files the grader reads)."""
        listing = self("ls-tree", "-r", "-z", "-l", "--full-tree", commit) or b""
        total = 0
        for record in filter(None, listing.split(b"\0")):
            meta, _, raw = record.partition(b"\t")
            mode, kind, obj, size = meta.split()
            name = PurePosixPath(raw.decode("utf-8", "replace"))
            if kind != b"blob" or mode not in (b"100644", b"100755"):
                continue  # symbolic links and submodules are never followed
            if not (name.name.startswith("homework_") and name.suffix == ".py"):
                continue
            if name.is_absolute() or ".." in name.parts:
                raise SubmissionError(f"{self.repo.name}: commit {commit[:10]} has a path outside the repository: "
                                      f"{str(name)!r}")
            total += int(size)
            if total > MAX_ZIP_BYTES:
                raise SubmissionError(f"{self.repo.name}: commit {commit[:10]} is too large to be a submission")
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self("cat-file", "blob", obj.decode()) or b"")


def check_repository(repo: Path) -> None:
    """Refuse a repository that borrows objects from outside itself: a `.git` *file* (``gitdir:
    ../alice/.git``), ``commondir``, object alternates, or a link that leaves the entry."""
    dot_git = repo / ".git"
    if dot_git.is_symlink() or not dot_git.is_dir():
        raise SubmissionError(f"{repo.name}: .git is a file or a link pointing to another repository; a "
                              "submission must be a repository of its own (clone it again)")
    for borrowed in ("commondir", "objects/info/alternates", "objects/info/http-alternates"):
        if os.path.lexists(dot_git / borrowed):
            raise SubmissionError(f"{repo.name}: .git/{borrowed} takes objects from another repository; a "
                                  "submission must be a repository of its own (clone it again)")
    root = os.path.realpath(repo)
    for folder, dirs, files in os.walk(dot_git):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path) and os.path.commonpath([root, os.path.realpath(path)]) != root:
                raise SubmissionError(f"{repo.name}: {os.path.relpath(path, repo)} is a link out of the "
                                      "submission")


def pick_commit(git: Git, deadline: datetime | None) -> tuple[str | None, bool | None, str]:
    """(commit to grade or None, whether anything was committed after the deadline, why None)."""
    git("rev-parse", "--git-dir")  # not a repository at all: SubmissionError (invalid)
    head = git("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    if not head:
        return None, None, "the repository has no commit"
    if deadline is None:
        return head.decode().strip(), None, ""
    cutoff = deadline.timestamp()
    history = git.commits("HEAD")
    on_time = [(ts, h) for ts, h in history if ts <= cutoff]
    late = any(ts > cutoff for ts, _ in git.commits("--all"))
    if not on_time:
        first = datetime.fromtimestamp(min(ts for ts, _ in history), deadline.tzinfo).isoformat()
        return None, late, f"no commit at or before the deadline {deadline.isoformat()} (the first is from {first})"
    return max(on_time, key=lambda c: c[0])[1], late, ""


# -- one student -------------------------------------------------------------------------------
class Batch:
    def __init__(self, opts: Options, grading: GradingConfig, console: Console) -> None:
        self.opts, self.console = opts, console
        self.tasks = gradebook.task_columns(grading)
        self.work = opts.out / WORK
        self.lock = threading.Lock()
        self.slots: dict[int, Slot] = {}  # per grading thread
        self.stopping = False

    def grade(self, entry: Entry) -> dict | None:
        """Grade one student and write its files; None if the batch is stopping."""
        started = time.monotonic()
        folder = gradebook.students_dir(self.opts.out) / entry.id
        folder.mkdir(parents=True, exist_ok=True)
        for name in (STATUS_FILE, RESULTS_FILE, FEEDBACK_FILE):  # status first: not done from here on
            (folder / name).unlink(missing_ok=True)
        record = {"id": entry.id, "source": str(entry.path), "kind": entry.kind, "commit": None,
                  "commit_date": None, "late": None, "status": "error", "message": "", "seconds": 0.0,
                  "deadline": self.opts.deadline.isoformat() if self.opts.deadline else None}
        work = Path(tempfile.mkdtemp(prefix=f"{entry.id}-", dir=self.work))
        try:
            submission = self._prepare(entry, work, record)
            self._run_grader(submission, work, folder, record)
        except NoSubmission as exc:
            record.update(status="no-submission", message=str(exc))
        except SubmissionError as exc:
            record.update(status="invalid", message=str(exc))
        except Exception as exc:  # noqa: BLE001 - one student's failure never stops the batch
            record.update(status="error", message=f"batch error: {type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if self.stopping:
            return None
        record["seconds"] = round(time.monotonic() - started, 1)
        # (messages quote entry names and archive members: no escape sequence reaches a terminal)
        record["message"] = clean_text(str(record["message"]), 2000)
        gradebook.atomic_write(folder / STATUS_FILE, _json(record))
        return record

    def _prepare(self, entry: Entry, work: Path, record: dict) -> Path:
        if entry.kind == "zip":
            check_zip(entry.path)
            return entry.path
        if entry.kind == "dir":
            with open_submission(entry.path):
                return entry.path
        check_repository(entry.path)
        git = Git(entry.path, work / "home")
        commit, late, why = pick_commit(git, self.opts.deadline)
        record["late"] = late
        if commit is None:
            raise NoSubmission(why)
        record.update(commit=commit, commit_date=git.commit_date(commit))
        tree = work / "tree"
        tree.mkdir()
        git.export(commit, tree)
        return tree

    def _run_grader(self, submission: Path, work: Path, folder: Path, record: dict) -> None:
        results, feedback = work / RESULTS_FILE, work / FEEDBACK_FILE
        argv = ["grade", str(submission), "--json", str(results), "--feedback", str(feedback),
                "--gpu", self.opts.gpu, "--grading", str(self.opts.grading), "--course", str(self.opts.course.root)]
        if self.opts.allow_weak:
            argv.append("--allow-weak-sandbox")
        if self.opts.lang:
            argv += ["--lang", self.opts.lang]
        with self.lock:
            if self.stopping:
                raise RuntimeError("the batch is stopping")
            slot = self.slots.get(threading.get_ident())
            if slot is None or not slot.alive():
                slot = self.slots[threading.get_ident()] = Slot(self.opts, self.work)
        code = slot.grade(argv, work / "stdout.log", work / "stderr.log", self.opts.student_timeout)
        stderr = (work / "stderr.log").read_text("utf-8", "replace") if (work / "stderr.log").exists() else ""
        if code is None:
            record["log"] = stderr[-4000:]
            record["message"] = f"grading took more than {self.opts.student_timeout:g} s and was stopped" \
                if slot.timed_out else "the grading slot ended unexpectedly: " + slot.log_tail()
            return
        if code != 0:
            record["log"] = stderr[-4000:]  # the grader's own error output, for the TA
            record["message"] = _grader_failure(code, stderr)
            return
        data = gradebook.read_json(results)
        if not gradebook.valid_results(data) or not feedback.is_file():
            record["message"] = "the grader finished but wrote no valid results.json / feedback.md"
            return
        gradebook.atomic_write(folder / RESULTS_FILE, results.read_bytes())
        gradebook.atomic_write(folder / FEEDBACK_FILE, feedback.read_bytes())
        record.update(status="graded", message="; ".join(str(e) for e in data["extra_data"].get("errors", [])))

    def stop(self) -> None:
        """Kill every slot and its grading; their students stay not done."""
        with self.lock:
            self.stopping = True
            for slot in self.slots.values():
                slot.kill()

    def close(self) -> None:
        """End the slots after the last student."""
        with self.lock:
            for slot in self.slots.values():
                slot.close()
            self.slots.clear()


class Slot:
    """A warm grading slot process (see :mod:`autograder.slot`), used by one thread at a time.

    Started from the thread that uses it, so it dies with that thread's batch (PDEATHSIG).
    """

    def __init__(self, opts: Options, work: Path) -> None:
        cmd = [sys.executable, "-m", "autograder.slot", "--course", str(opts.course.root), "--grading",
               str(opts.grading), "--gpu", opts.gpu]
        if opts.allow_weak:
            cmd.append("--allow-weak-sandbox")
        self.log = Path(tempfile.mkstemp(prefix="slot-", suffix=".log", dir=work)[1])
        env = {**os.environ, "COLUMNS": "200"}  # rich wraps messages at 80 columns otherwise
        with open(self.log, "wb") as log:
            # (cwd: `python -m` puts it first on sys.path, so not a folder holding another `autograder`)
            self.proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log, start_new_session=True,
                                         preexec_fn=partial(isolation.die_with_parent, os.getpid()))
        self.timed_out = False
        self._pending = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def grade(self, argv: list[str], stdout: Path, stderr: Path, timeout: float) -> int | None:
        """The grading's exit code, or None if it timed out (then the slot is killed) or the
        slot died."""
        job = {"argv": argv, "stdout": str(stdout), "stderr": str(stderr)}
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            return None
        line = self._read_line(time.monotonic() + timeout)
        if line is None:
            self.kill()
            return None
        try:
            code = json.loads(line)["code"]
        except (ValueError, KeyError, TypeError):
            self.kill()
            return None
        return code if type(code) is int else None

    def _read_line(self, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return None  # the slot died
                self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def log_tail(self) -> str:
        try:
            text = self.log.read_text("utf-8", "replace").strip()
        except OSError:
            return "no message"
        return " ".join(text.splitlines()[-1:])[:1000] or "no message"

    def kill(self) -> None:
        _kill_group(self.proc)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # the slot stops its sandbox and exits
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a grader (or slot) and its group, then remove what its sandboxes left on the host
    (their folders and cgroups; the sandboxes themselves die with it, PR_SET_PDEATHSIG)."""
    from .sandbox import isolation

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()
    isolation.sweep_orphans()


def _grader_failure(code: int, stderr: str) -> str:
    text = " ".join(stderr.split())
    if code == 2 and "cannot grade:" in text:
        return "cannot grade: " + text.split("cannot grade:", 1)[1].strip()[:1000]
    if code == 2 and "configuration error:" in text:
        return text[text.index("configuration error:"):][:1000]
    if code < 0:
        return f"the grader was killed by signal {-code} ({signal.Signals(-code).name})"
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return f"the grader exited with code {code}: {lines[-1].strip()[:1000] if lines else 'no message'}"


def _json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# -- the whole batch ------------------------------------------------------------------------------
def run(opts: Options, console: Console | None = None, err: Console | None = None) -> int:
    """Grade every student not done yet; write the gradebook and the class report. Returns 0."""
    from .report import classreport
    from .sandbox import isolation

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
    _check_sandbox(grading, opts)
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
        batch = Batch(opts, grading, console)
        shutil.rmtree(batch.work, ignore_errors=True)
        batch.work.mkdir()
        gradebook.remove_partial_files(opts.out)
        todo = [e for e in entries if opts.force or not gradebook.done(opts.out, e.id)]
        gradebook.rebuild(opts.out, batch.tasks)
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


def _check_sandbox(grading: GradingConfig, opts: Options) -> None:
    """Start one sandbox and measure it before any student: a sandbox that cannot keep its
    promises here stops the whole batch with the reason (not a hundred "cannot grade" rows)."""
    from .sandbox.zygote import Sandbox

    sandbox = Sandbox(grading.limits, modules=MODULES, gpu=False, allow_weak=opts.allow_weak)  # SandboxUnavailable: reported
    try:
        sandbox.launch()
        sandbox.ready()
    finally:
        sandbox.close()


def _grade_all(batch: Batch, todo: list[Entry], console: Console) -> bool:
    """Run the gradings with a progress bar; True if interrupted (Ctrl-C)."""
    progress = Progress(TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True,
                        disable=not console.is_terminal or not todo)
    pool = ThreadPoolExecutor(max_workers=batch.opts.jobs, thread_name_prefix="grade")
    try:
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
                    gradebook.rebuild(batch.opts.out, batch.tasks)
                progress.console.print(_line(record, batch.opts.out), highlight=False, soft_wrap=True)
                progress.advance(bar)
        batch.close()  # while the pool's threads live: a slot dies with the thread that started it
    except KeyboardInterrupt:
        batch.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        return True
    pool.shutdown(wait=True)
    return False


def _line(r: dict, out: Path) -> str:
    where = f" [dim]{r['commit'][:10]} {r['commit_date'] or ''}[/]" if r.get("commit") else ""
    late = " [yellow]late[/]" if r.get("late") else ""
    if r["status"] == "graded":
        data = gradebook.read_json(gradebook.students_dir(out) / r["id"] / RESULTS_FILE) or {}
        score = f"{data.get('score', 0):g} / {data.get('max_score', 0):g}"
        return f"[green]✓[/] {escape(r['id'])}: {score}{where}{late} [dim]({r['seconds']:g} s)[/]"
    colour = {"error": "red", "invalid": "yellow"}.get(r["status"], "dim")
    return f"[{colour}]✗ {escape(r['id'])}: {r['status']}[/]{where}{late} — {escape(r['message'])}"

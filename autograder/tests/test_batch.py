"""`autograder batch`: student ids, deadlines, git export, gradebook, class report, real batches.

The two real batches grade 4 + 3 submissions (about 6-15 s each), two at a time.
"""

from __future__ import annotations

import csv
import json
import contextlib
import os
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from autograder.tests import REPO, automatic_points, reference_scores
from autograder import batch, gradebook
from autograder.batch import BatchError
from autograder.cli import main
from autograder.examples import materialize
from autograder.gradebook import TaskColumn
from autograder.report import classreport
from hwkit.grading import load_grading
from hwkit import record as model  # (a `Test...` class imported here would be collected)

from .conftest import needs_strong_sandbox

DEADLINE = "2026-11-30T23:59:00+01:00"
BEFORE = "2026-11-30T12:00:00+01:00"
AFTER = "2026-12-01T09:30:00+01:00"
NOT_STARTED_TENSORS = {"tensors": {"from": "assignment"}}  # Task 1 scores 0, the rest is the reference
NOT_STARTED_AUTOGRAD = {"autograd": {"from": "assignment"}}  # Task 2 scores 0
NOT_STARTED_PERFORMANCE = {"performance": {"from": "assignment"}}  # Task 3 scores 0


# -- helpers ---------------------------------------------------------------------------------------
def git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", HOME=str(repo.parent))
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=Student", "-c", "user.email=s@example.org",
                           "-c", "init.defaultBranch=main", *args],
                          check=True, capture_output=True, text=True, env=env).stdout


def commit_all(repo: Path, date: str, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=date)
    return git(repo, "rev-parse", "HEAD").strip()


def repo_state(repo: Path) -> dict:
    """Everything a grader must not change: work tree files, index, HEAD, `git status`."""
    files = {str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*"))
             if p.is_file() and ".git" not in p.relative_to(repo).parts}
    return {"files": files, "index": (repo / ".git" / "index").read_bytes(),
            "head": git(repo, "rev-parse", "HEAD"),
            "status": git(repo, "--no-optional-locks", "status", "--porcelain")}  # (status may rewrite the index)


def zip_folder(folder: Path, dest: Path, inside: str = "") -> Path:
    with zipfile.ZipFile(dest, "w") as z:
        for p in sorted(folder.iterdir()):
            z.write(p, f"{inside}{p.name}")
    return dest


def read_rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "gradebook.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    names = [r["student"] for r in rows]
    assert len(names) == len(set(names)), f"a student appears twice: {names}"
    assert names == sorted(names)
    return {r["student"]: r for r in rows}


def status_files(out: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in (out / "students").glob("*/status.json")}


def leftovers(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.name.endswith(gradebook.TMP_SUFFIX) or p.name == batch.WORK]


def f(row: dict[str, str], column: str) -> float:
    return float(row[column])


POINTS = {name: t.points for name, t in load_grading(REPO / "grading.yml").tasks.items()}
AUTOMATIC = sum(t.points for t in load_grading(REPO / "grading.yml").tasks.values() if not t.manual)


def assert_reference(row: dict[str, str]) -> None:
    """The reference earns every point a CPU grader can give: all but the GPU-pending ones."""
    assert row["status"] == "graded", row
    assert f(row, "task1") == POINTS["task1"] and f(row, "task2") == POINTS["task2"]
    assert f(row, "max") == AUTOMATIC == automatic_points()
    assert 0 < f(row, "pending_gpu") < POINTS["task3"]
    assert f(row, "total") == pytest.approx(f(row, "max") - f(row, "pending_gpu"))
    assert f(row, "total") == pytest.approx(f(row, "task1") + f(row, "task2") + f(row, "task3"))
    assert row["analysis"] == ""  # graded by hand


# -- cheap unit tests ------------------------------------------------------------------------------
def test_student_ids_strip_the_common_classroom_prefix():
    assert batch.student_ids(["hw1-alice", "hw1-alex", "hw1-bob"]) == \
        {"hw1-alice": "alice", "hw1-alex": "alex", "hw1-bob": "bob"}
    assert batch.student_ids(["pytorch-hw1-ann", "pytorch-hw1-ben"]) == \
        {"pytorch-hw1-ann": "ann", "pytorch-hw1-ben": "ben"}
    same = lambda names: dict(zip(names, names))  # noqa: E731
    assert batch.student_ids(["alice", "bob"]) == same(["alice", "bob"])
    assert batch.student_ids(["hw1-alice"]) == same(["hw1-alice"])  # one entry: nothing to compare with
    assert batch.student_ids(["hw1-alice", "hw2-bob"]) == same(["hw1-alice", "hw2-bob"])  # "hw" has no '-'
    assert batch.student_ids(["hw1-", "hw1-bob"]) == same(["hw1-", "hw1-bob"])  # "hw1-" would become ""
    assert batch.student_ids(["hw1-alice", "bob"], strip_prefix="hw1-") == {"hw1-alice": "alice", "bob": "bob"}
    assert batch.student_ids(["hw1-alice", "hw1-bob"], strip_prefix="") == same(["hw1-alice", "hw1-bob"])
    with pytest.raises(BatchError, match="'alice' \\(hw1-alice, alice\\)"):
        batch.student_ids(["hw1-alice", "alice"], strip_prefix="hw1-")


def test_hostile_entry_names_become_ids_every_output_can_show():
    formula, painted = '=HYPERLINK("http://evil","ok")', "\x1b[32m\u2713 zed: 83.75\x1b[0m"
    ids = batch.student_ids([formula, painted, "+1-2", "a\u202eb" + "x" * 100, "alice", "| <b>bold</b> `x`"])
    assert ids["alice"] == "alice"  # an ordinary name is kept as it is
    for name, sid in ids.items():
        assert sid[0] not in "=+-@" and len(sid) <= batch.MAX_ID + 7
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c in "\u202e|`<>/" for c in sid), repr(sid)
        assert name == "alice" or sid != name  # changed: a suffix from the original name keeps it unique
    assert ids[formula].startswith('HYPERLINK("http:__evil","ok")-')
    # ... and every writer still guards its own format: a formula stays text in the CSV, and a
    # message loses its escape sequences.
    assert gradebook._cell('=1+1') == "'=1+1" and gradebook._cell("@SUM(A1)") == "'@SUM(A1)"
    assert gradebook._cell("-0.5") == "-0.5" and gradebook._cell("alice") == "alice"
    assert gradebook._one_line("bad \x1b[32mgreen\x1b[0m\nline") == "bad green line"


def test_a_repository_must_be_its_own(tmp_path):
    alice = tmp_path / "alice"
    subprocess.run(["git", "init", "-q", str(alice)], check=True)
    borrower = tmp_path / "mallory"
    borrower.mkdir()
    (borrower / ".git").write_text("gitdir: ../alice/.git\n")
    with pytest.raises(batch.SubmissionError, match="a repository of its own"):
        batch.check_repository(borrower)
    batch.check_repository(alice)  # an ordinary repository passes
    (alice / ".git" / "objects" / "info").mkdir(parents=True, exist_ok=True)
    (alice / ".git" / "objects" / "info" / "alternates").write_text(str(tmp_path / "elsewhere") + "\n")
    with pytest.raises(batch.SubmissionError, match="alternates"):
        batch.check_repository(alice)


def test_discover_finds_folders_zips_and_repositories_and_warns_about_the_rest(tmp_path):
    (tmp_path / "hw1-ann").mkdir()
    (tmp_path / "hw1-ben" / ".git").mkdir(parents=True)
    (tmp_path / "hw1-cid.zip").write_bytes(b"")
    (tmp_path / ".DS_Store").write_bytes(b"")
    (tmp_path / ".cache").mkdir()
    (tmp_path / "roster.csv").write_text("x")
    warnings: list[str] = []
    entries = batch.discover(tmp_path, warn=warnings.append)
    assert [(e.id, e.path.name, e.kind) for e in entries] == \
        [("ann", "hw1-ann", "dir"), ("ben", "hw1-ben", "git"), ("cid", "hw1-cid.zip", "zip")]
    assert sorted(w.split(":")[0] for w in warnings) == ["ignored .DS_Store", "ignored .cache", "ignored roster.csv"]

    (tmp_path / "hw1-ann.zip").write_bytes(b"")
    with pytest.raises(BatchError, match="same student id: 'ann' \\(hw1-ann, hw1-ann.zip\\)"):
        batch.discover(tmp_path)
    with pytest.raises(BatchError, match="not a folder"):
        batch.discover(tmp_path / "missing")
    with pytest.raises(BatchError, match="no submissions found"):
        batch.discover(tmp_path / ".cache")


def test_deadline_must_be_iso_8601_with_a_time_zone():
    assert batch.parse_deadline(DEADLINE).utcoffset().total_seconds() == 3600
    assert batch.parse_deadline("2026-11-30T22:59:00Z").timestamp() == batch.parse_deadline(DEADLINE).timestamp()
    assert batch.parse_deadline(None) is None
    with pytest.raises(BatchError, match="no time zone.*2026-11-30T23:59:00\\+01:00"):
        batch.parse_deadline("2026-11-30T23:59")
    with pytest.raises(BatchError, match="not an ISO-8601"):
        batch.parse_deadline("30/11/2026 23:59")


def test_cli_refuses_to_start_with_one_line_and_exit_code_2(tmp_path, capsys):
    subs = tmp_path / "subs"
    (subs / "hw1-ann").mkdir(parents=True)
    out = tmp_path / "out"
    bad_grading = tmp_path / "grading.yml"
    bad_grading.write_text("assignment: x\n")
    cases = {
        "has no time zone": ["--deadline", "2026-11-30T23:59"],
        "not a folder": [],  # the submissions folder is missing
        "configuration error": ["--grading", str(bad_grading)],
        "at least 1": ["-j", "0"],
        "inside": ["--out", str(subs / "out")],
    }
    for expected, extra in cases.items():
        target = tmp_path / "missing" if expected == "not a folder" else subs
        assert main(["batch", str(target), "--out", str(out), *extra]) == 2, expected
        err = capsys.readouterr().err
        assert expected in err, err
        if expected != "configuration error":  # that message is the grading file's own
            assert len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not (subs / "out").exists()


def test_a_batch_whose_sandbox_cannot_start_stops_before_writing_anything(tmp_path, capsys, monkeypatch):
    from autograder.sandbox import isolation

    materialize(tmp_path / "subs" / "ann")
    warm_folders = set(Path(tempfile.gettempdir()).glob(f"autograder-sandbox-{isolation.owner_tag()}-warm-*"))
    monkeypatch.setenv(isolation.TIER_ENV, "nonsense")  # (the warm parent inherits it: its sandbox fails)
    assert main(["batch", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "-j", "2", "--gpu", "off"]) == 2
    err = capsys.readouterr().err
    assert "cannot grade: unknown sandbox tier 'nonsense'" in " ".join(err.split()), err
    assert not (tmp_path / "out").exists()
    assert set(Path(tempfile.gettempdir()).glob(f"autograder-sandbox-{isolation.owner_tag()}-warm-*")) == warm_folders


def test_git_export_reads_objects_only_and_never_runs_the_repositorys_config(tmp_path):
    repo = tmp_path / "hw1-eve"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "homework_tensors.py").write_text("VERSION = 1\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "homework_autograd.py").write_text("VERSION = 1\n")
    (repo / "homework_performance.py").symlink_to("/etc/passwd")  # links are never followed
    (repo / ".gitattributes").write_text("*.py filter=evil\n")
    on_time = commit_all(repo, BEFORE, "on time")
    git(repo, "checkout", "-q", "-b", "late-work")
    (repo / "homework_tensors.py").write_text("VERSION = 2\n")
    late = commit_all(repo, AFTER, "late, on another branch")
    git(repo, "checkout", "-q", "main")
    # Hostile configuration, set after the commits: a smudge filter and a hook that leave a mark.
    pwned = tmp_path / "PWNED"
    git(repo, "config", "filter.evil.smudge", f"touch {pwned}; cat")
    git(repo, "config", "core.pager", f"touch {pwned}; cat")
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {pwned}\n")
    hook.chmod(0o755)
    (repo / "homework_tensors.py").write_text("VERSION = 'uncommitted'\n")
    before = repo_state(repo)

    g = batch.Git(repo, tmp_path / "home")
    deadline = batch.parse_deadline(DEADLINE)
    assert batch.pick_commit(g, deadline) == (on_time, True, "")  # late: a commit on another branch
    assert batch.pick_commit(g, None) == (on_time, None, "")  # no deadline: HEAD
    commit, was_late, why = batch.pick_commit(g, batch.parse_deadline("2026-11-01T00:00:00+01:00"))
    assert commit is None and was_late is True and "no commit at or before the deadline 2026-11-01" in why
    assert g.commit_date(on_time) == BEFORE

    dest = tmp_path / "export"
    g.export(on_time, dest)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == \
        ["homework_tensors.py", "sub/homework_autograd.py"]
    assert (dest / "homework_tensors.py").read_text() == "VERSION = 1\n"
    g.export(late, tmp_path / "export-late")
    assert (tmp_path / "export-late" / "homework_tensors.py").read_text() == "VERSION = 2\n"
    assert not pwned.exists(), "the student's filter, pager or hook ran on the grader's machine"
    assert repo_state(repo) == before

    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert batch.pick_commit(batch.Git(empty, tmp_path / "home2"), deadline) == \
        (None, None, "the repository has no commit")


def graded_record(tests: list[tuple[str, float, float, str]],
                  tasks: dict[str, tuple[float, float]]) -> model.GradingResult:
    """A minimal grading record: tests as (name, score, max, status); tasks as name -> (score, max)."""
    return model.GradingResult(
        assignment="pytorch-basics", submission="sub", execution_time=1.0,
        score=sum(s for s, _ in tasks.values()), max_score=sum(m for _, m in tasks.values()),
        tests=[model.TestResult(name=n, task="task1", score=s, max_score=m, status=st, hidden="hidden" in n)
               for n, s, m, st in tests],
        tasks=[model.TaskResult(name=k, title=k, score=s, max_score=m) for k, (s, m) in tasks.items()])


TASKS = [TaskColumn("task1", False, 20), TaskColumn("task2", False, 40), TaskColumn("task3", False, 30),
         TaskColumn("analysis", True, 10)]
EASY, MID, HARD = "tests/t.py::test_easy", "tests/t.py::test_mid", "hidden/t_hidden.py::test_hard"
GPU = "tests/t.py::test_gpu"


def fake_student(out: Path, sid: str, status: str, results: model.GradingResult | str | None = None,
                 **record) -> Path:
    folder = out / "students" / sid
    folder.mkdir(parents=True)
    if isinstance(results, str):  # what a damaged file holds
        (folder / "record.json").write_text(results)
    elif results is not None:
        model.save(results, folder / "record.json")
    if status:
        base = {"id": sid, "source": f"/subs/{sid}", "kind": "dir", "commit": None, "commit_date": None,
                "late": None, "status": status, "message": "", "seconds": 1.0}
        (folder / "status.json").write_text(json.dumps({**base, **record}))
    return folder


def fake_batch(out: Path) -> None:
    t = lambda easy, mid, hard: [(EASY, easy, 1, "passed" if easy else "failed"),  # noqa: E731
                                 (MID, mid, 2, "passed" if mid == 2 else "failed"),
                                 (HARD, hard, 3, "passed" if hard else "failed"), (GPU, 0, 4, "pending_gpu")]
    fake_student(out, "carol", "graded", graded_record(t(1, 2, 0), {"task1": (20, 20), "task2": (30, 40),
                                                                      "task3": (10, 30)}))
    fake_student(out, "alice", "graded", graded_record(t(1, 0, 0), {"task1": (20, 20), "task2": (40, 40),
                                                                      "task3": (20, 30)}),
                 kind="git", commit="abc123", late=True)
    fake_student(out, "bob", "no-submission", kind="git", late=True, message="no commit at or before the deadline")
    fake_student(out, "dave", "error", message="the grader exited with code 1:\n  Traceback | boom")
    fake_student(out, "eve", "invalid", message="eve.zip: the archive member '../evil.py' points outside")
    fake_student(out, "frank", "", graded_record(t(1, 2, 3), {"task1": (20, 20)}))  # killed before status.json
    fake_student(out, "gina", "graded", "{ corrupt")  # a damaged record (not written atomically)
    (out / "students" / "carol" / ".status.json.x1.part").write_text("{")


def test_gradebook_prints_points_with_two_decimals_at_most(tmp_path):
    out = tmp_path / "out"
    fake_student(out, "ivan", "graded", graded_record([(EASY, 0.3333, 1, "failed")],
                                                      {"task1": (12.3456, 20), "task2": (38.6425, 40)}))
    gradebook.rebuild(out, TASKS)
    row = read_rows(out)["ivan"]
    assert (row["task1"], row["task2"], row["total"], row["max"]) == ("12.35", "38.64", "50.99", "60")


def test_gradebook_is_rebuilt_from_finished_students_only(tmp_path):
    out = tmp_path / "out"
    fake_batch(out)
    assert [gradebook.done(out, s) for s in ("alice", "bob", "dave", "eve", "frank", "gina")] == \
        [True, True, True, True, False, False]  # frank and gina are regraded on the next run

    rows = gradebook.rebuild(out, TASKS)
    assert (out / "gradebook.csv").read_text().splitlines()[0] == \
        "student,commit,late,status,task1,task2,task3,analysis,total,max,pending_gpu,message"
    book = read_rows(out)
    assert list(book) == ["alice", "bob", "carol", "dave", "eve"] == [r["student"] for r in rows]
    assert {k: book["carol"][k] for k in ("task1", "task2", "task3", "analysis", "total", "max", "pending_gpu")} \
        == {"task1": "20", "task2": "30", "task3": "10", "analysis": "", "total": "60", "max": "90",
            "pending_gpu": "4"}
    assert (book["alice"]["commit"], book["alice"]["late"], book["alice"]["total"]) == ("abc123", "yes", "80")
    assert (book["bob"]["status"], book["bob"]["total"], book["bob"]["task1"], book["bob"]["late"]) == \
        ("no-submission", "0", "0", "yes")
    assert book["bob"]["message"] == "no commit at or before the deadline"
    assert (book["dave"]["status"], book["dave"]["total"]) == ("error", "")  # an error is not a zero
    assert book["dave"]["message"] == "the grader exited with code 1: Traceback | boom"  # one line
    assert (book["eve"]["status"], book["eve"]["total"], book["eve"]["max"]) == ("invalid", "0", "90")

    first = (out / "gradebook.csv").read_bytes()
    gradebook.remove_partial_files(out)
    assert gradebook.rebuild(out, TASKS) == rows and (out / "gradebook.csv").read_bytes() == first
    assert leftovers(out) == []


def test_a_batch_rebuilds_the_gradebook_from_rows_it_has_read_while_their_files_are_the_same(tmp_path, monkeypatch):
    out = tmp_path / "out"
    fake_batch(out)
    cache: dict = {}
    rows = gradebook.rebuild(out, TASKS, cache)
    assert rows == gradebook.rebuild(out, TASKS) and set(cache) >= {"alice", "carol"}
    loads = []
    real = gradebook.read_record
    monkeypatch.setattr(gradebook, "read_record", lambda student: loads.append(student.name) or real(student))
    assert gradebook.rebuild(out, TASKS, cache) == rows and loads == []  # nothing read again
    # A student regraded (its files replaced, as the batch writes them) is read again.
    carol = out / "students" / "carol"
    status = json.loads((carol / "status.json").read_text())
    gradebook.atomic_write(carol / "status.json", json.dumps(dict(status, message="regraded")))
    again = gradebook.rebuild(out, TASKS, cache)
    assert loads and set(loads) == {"carol"}
    assert [r["message"] for r in again if r["student"] == "carol"] == ["regraded"]
    (out / "students" / "frank" / "status.json").write_text(json.dumps({  # finished meanwhile
        "id": "frank", "source": "/subs/frank", "kind": "dir", "commit": None, "commit_date": None,
        "late": None, "status": "graded", "message": "", "seconds": 1.0}))
    assert [r["student"] for r in gradebook.rebuild(out, TASKS, cache)] == \
        [r["student"] for r in gradebook.rebuild(out, TASKS)] == ["alice", "bob", "carol", "dave", "eve", "frank"]


def test_atomic_write_replaces_whole_files_with_ordinary_permissions(tmp_path):
    target = tmp_path / "a" / "results.json"
    gradebook.atomic_write(target, "{}")
    gradebook.atomic_write(target, b'{"score": 1}')
    assert target.read_bytes() == b'{"score": 1}'
    assert os.listdir(target.parent) == ["results.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_class_report_lists_the_hardest_tests_first_and_draws_the_histogram(tmp_path):
    out = tmp_path / "out"
    fake_batch(out)
    gradebook.rebuild(out, TASKS)
    data = classreport.write(out)

    report = (out / "report.md").read_text()
    test_lines = [line for line in report.splitlines() if line.startswith("| `")]
    assert test_lines == [
        f"| `{HARD}` | hidden | 0 / 2 | 0 / 3 |",
        f"| `{MID}` | public | 1 / 2 | 1 / 2 |",
        f"| `{EASY}` | public | 2 / 2 | 1 / 1 |",
        f"| `{GPU}` | public | pending GPU | — / 4 |",
    ]
    assert report.index("## Score histogram") < report.index("## Tests, hardest first")
    assert "| 72–81 | 1 | █ |" in report and "| 54–63 | 1 | █ |" in report  # 80 and 60 of 90
    assert "| dave | error | the grader exited with code 1: Traceback \\| boom |" in report
    assert "| mean total | 70 |" in report and "| late | 2 |" in report and "| errors | 1 |" in report
    assert "| pending GPU | 2 students (8 points) |" in report
    assert "| mean task2 | 35 |" in report and "| mean analysis | graded by hand |" in report
    assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    console = Console(record=True, width=100)
    console.print(classreport.summary_table(data))
    text = console.export_text()
    assert "5 (2 graded)" in text and "median total" in text and "70" in text


def test_a_grading_past_the_student_timeout_is_killed_and_recorded_as_an_error(tmp_path, capsys):
    subs, out = tmp_path / "submissions", tmp_path / "out"
    materialize(subs / "ann")
    # The grader cannot even import torch in a second, so the timeout always strikes first.
    args = ["batch", str(subs), "--out", str(out), "-j", "1", "--gpu", "off", "--student-timeout", "1",
            "--allow-weak-sandbox"]
    assert main(args) == 0
    row = read_rows(out)["ann"]
    assert (row["status"], row["total"], row["task1"]) == ("error", "", "")
    assert row["message"] == "grading took more than 1 s and was stopped"
    assert json.loads((out / "students" / "ann" / "status.json").read_text())["seconds"] < 30
    assert not (out / "students" / "ann" / "results.json").exists()
    assert wait_for(lambda: not processes_mentioning(str(tmp_path)), timeout=10), \
        processes_mentioning(str(tmp_path))
    assert "| errors | 1 |" in (out / "report.md").read_text()


def slot_pool(tmp_path: Path) -> batch.SlotPool:
    import threading

    opts = batch.Options(submissions=tmp_path, out=tmp_path / "out", gpu="off", grading=REPO / "grading.yml")
    return batch.SlotPool(opts, tmp_path, threading.Lock())


@needs_strong_sandbox
def test_a_slot_that_dies_before_answering_is_reported_and_a_new_slot_grades(tmp_path):
    import signal
    import threading

    def sandboxes() -> set[int]:
        """The bubblewrap processes of this slot's sandboxes (they run in the sandbox's own
        folder, named after the slot: other tests' sandboxes may run meanwhile)."""
        found = set()
        for comm in Path("/proc").glob("[0-9]*/comm"):
            if _read(comm).strip() == "bwrap":
                with contextlib.suppress(OSError):
                    if os.readlink(comm.parent / "cwd").startswith(f"{tempfile.gettempdir()}/{owned}"):
                        found.add(int(comm.parent.name))
        return found

    pool = slot_pool(tmp_path)
    try:
        slot = pool.get()
        owned = f"autograder-sandbox-{slot.pid}-"
        threading.Timer(1.0, lambda: os.killpg(slot.pid, signal.SIGKILL)).start()
        argv = ["grade", str(REPO / "solutions"), "--gpu", "off"]
        assert slot.grade(argv, tmp_path / "stdout", tmp_path / "stderr", timeout=120) is None
        assert not slot.timed_out and not slot.alive()
        assert wait_for(lambda: not sandboxes(), timeout=10), "the dead slot's sandbox outlived it"
        # ... and so did nothing it kept on the host: its folder (runtime copy, inbox) and cgroups.
        dead = slot.pid
        assert not list(Path(tempfile.gettempdir()).glob(f"autograder-sandbox-{dead}-*"))
        assert not list(Path("/sys/fs/cgroup").glob(f"*/autograder/w{dead}-*"))
        fresh = pool.get()
        assert fresh is not slot and fresh.alive()
        assert fresh.grade(argv + ["--json", str(tmp_path / "r.json")], tmp_path / "stdout", tmp_path / "stderr",
                           timeout=300) == 0
        assert json.loads((tmp_path / "r.json").read_text())["score"] == reference_scores()[0]
    finally:
        pool.close()
    assert not fresh.alive() and not pool.parent.alive()


@needs_strong_sandbox
def test_slots_are_forked_from_one_warm_parent_that_never_holds_a_students_sandbox(tmp_path):
    import signal
    import threading

    def parent_of(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    pool = slot_pool(tmp_path)
    try:
        pool.start()
        slots = [pool.get()]
        other = threading.Thread(target=lambda: slots.append(pool.get()))  # (one slot per grading thread)
        other.start()
        other.join()
        warm = pool.parent.pid
        assert len({s.pid for s in slots}) == 2
        for s in slots:
            info = s.info()
            # A child of the warm parent, in a session of its own (the batch kills it as a group) ...
            assert parent_of(s.pid) == info["parent"] == info["warm_parent"] == warm and info["pid"] == s.pid
            assert os.getsid(s.pid) == s.pid
            # ... forked single-threaded, after the parent had imported everything and graded the
            # reference: the slot imported nothing itself, even to start its own sandbox.
            assert info["threads_at_fork"] == 1
            assert info["reference_graded"] is True and info["warm_modules"] is True
            assert info["imported_since_fork"] == []
        # The parent's warm-up sandbox is gone: it holds none while the slots grade students, and
        # its only children are the slots.
        assert not list(Path(tempfile.gettempdir()).glob(f"autograder-sandbox-{warm}-*"))
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if parent_of(int(stat.parent.name)) == warm:
                    children.add(int(stat.parent.name))
        assert children == {s.pid for s in slots}

        # A killed slot is replaced by a new child of the same parent, which grades at once.
        os.kill(slots[0].pid, signal.SIGKILL)
        assert wait_for(lambda: not slots[0].alive(), timeout=10)
        again = pool.get()
        assert again is not slots[0] and parent_of(again.pid) == warm
        out = tmp_path / "r.json"
        assert again.grade(["grade", str(REPO / "solutions"), "--gpu", "off", "--json", str(out)],
                           tmp_path / "stdout", tmp_path / "stderr", timeout=300) == 0
        assert json.loads(out.read_text())["score"] == reference_scores()[0]
        assert again.info()["imported_since_fork"] == []  # (the grading ran in a child of its own)
    finally:
        pool.close()
    assert not pool.parent.alive() and not any(s.alive() for s in slots)


@needs_strong_sandbox
def test_a_slot_grades_in_one_collected_session_what_a_grading_from_scratch_gives(tmp_path):
    """The slot configures pytest and collects the suites once, then forks each grading at the
    test loop: every test's outcome and message is the one `autograder grade` gives from the
    start, for a correct, a partly wrong, a broken and a missing submission, one after another;
    a job with other options than the batch's is graded from the start, and still right."""
    import re

    from autograder import examples
    from hwkit import record

    specs = examples.load()
    subs = {"reference": REPO / "solutions", "missing": tmp_path / "no-such-folder"}
    subs |= {name: examples.materialize(tmp_path / name, specs[name].get("modules"), name=name)
             for name in ("partial", "broken")}

    def outcomes(result) -> dict:
        # Each failure's message (its numbers masked: a timing's milliseconds differ from run to
        # run; the output's traceback names each sandbox's own folder).
        return {t.name: (t.status, t.score, t.cases_passed, [re.sub(r"\d+(\.\d+)?", "#", p) for p in t.problems])
                for t in result.tests}

    pool = slot_pool(tmp_path)
    try:
        slot = pool.get()
        for name, folder in subs.items():
            argv = ["grade", str(folder), "--gpu", "off", "--grading", str(REPO / "grading.yml"),
                    "--record", str(tmp_path / f"{name}.slot.json")]
            code = slot.grade(argv, tmp_path / f"{name}.out", tmp_path / f"{name}.err", timeout=300)
            assert code == (2 if name == "missing" else 0), _read(tmp_path / f"{name}.err")
            if name == "missing":  # the same message as `autograder grade`, from the grading process
                assert "cannot grade:" in _read(tmp_path / f"{name}.err") and "no such file" in \
                    _read(tmp_path / f"{name}.err")
                continue
            assert main(argv[:-1] + [str(tmp_path / f"{name}.fresh.json")]) == 0
            in_slot = record.load(tmp_path / f"{name}.slot.json")
            fresh = record.load(tmp_path / f"{name}.fresh.json")
            assert outcomes(in_slot) == outcomes(fresh) and in_slot.score == fresh.score, name
            assert in_slot.errors == fresh.errors
        assert slot.info()["graded_in_session"] == len(subs)
        # Other options than the batch's (the language): from the start, and in that language.
        argv = ["grade", str(subs["broken"]), "--gpu", "off", "--lang", "ru", "--record", str(tmp_path / "ru.json")]
        assert slot.grade(argv, tmp_path / "ru.out", tmp_path / "ru.err", timeout=300) == 0
        russian = record.load(tmp_path / "ru.json")
        assert russian.lang == "ru" and russian.score == record.load(tmp_path / "broken.fresh.json").score
        assert slot.info()["graded_in_session"] == len(subs)
        # A failure of the slot itself in its session's loop (here a job without argv) ends the
        # slot at once, its traceback in its log, instead of leaving the batch waiting for an answer.
        slot.kill()  # (this one has left its session: a new slot)
        slot = pool.get()
        started = time.monotonic()
        assert slot.ask({"stdout": str(tmp_path / "x.out"), "stderr": str(tmp_path / "x.err")}, 120) is None
        assert time.monotonic() - started < 60 and not slot.timed_out and "KeyError" in slot.log_tail()
    finally:
        pool.close()


@needs_strong_sandbox
def test_a_suite_that_does_not_collect_fails_each_grading_of_a_slot_with_the_reason(tmp_path):
    """The slot's session cannot collect: it grades nothing itself, and each grading, started
    from scratch, fails as `autograder grade` does, naming the broken file."""
    import shutil
    import threading

    from autograder.course import Course

    course = tmp_path / "course"
    course.mkdir()
    shutil.copy2(REPO / "grading.yml", course)
    for part in ("tests", "autograder/hidden", "solutions"):
        shutil.copytree(REPO / part, course / part, ignore=shutil.ignore_patterns("__pycache__"))
    (course / "tests" / "test_zz_broken.py").write_text("def test_(:\n", encoding="utf-8")
    opts = batch.Options(submissions=tmp_path, out=tmp_path / "out", gpu="off", grading=course / "grading.yml",
                         course=Course(course))
    pool = batch.SlotPool(opts, tmp_path, threading.Lock())
    try:
        slot = pool.get()
        for _ in range(2):
            argv = ["grade", str(REPO / "solutions"), "--gpu", "off", "--grading", str(course / "grading.yml"),
                    "--course", str(course), "--record", str(tmp_path / "r.json")]
            assert slot.grade(argv, tmp_path / "out.log", tmp_path / "err.log", timeout=300) == 2
            assert "could not run" in _read(tmp_path / "err.log") and "test_zz_broken.py" in _read(tmp_path / "err.log")
        assert "graded_in_session" not in slot.info()
    finally:
        pool.close()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


# -- real batches ----------------------------------------------------------------------------------
@needs_strong_sandbox
def test_batch_grades_folders_zips_and_git_repositories_at_the_deadline(tmp_path, capsys):
    subs, out = tmp_path / "submissions", tmp_path / "out"
    materialize(subs / "hw1-correct")
    materialize(subs / "hw1-partial", NOT_STARTED_AUTOGRAD)
    zip_folder(materialize(tmp_path / "carol", NOT_STARTED_PERFORMANCE), subs / "hw1-carol.zip", inside="hw1/")
    with zipfile.ZipFile(subs / "hw1-mallory.zip", "w") as z:
        z.writestr("../evil.py", "print('escaped')")
        for p in sorted(materialize(tmp_path / "mallory").iterdir()):
            z.write(p, p.name)
    (subs / "roster.txt").write_text("not a submission\n")

    alice = materialize(subs / "hw1-alice")  # the reference before the deadline, a broken one after
    git(alice, "init", "-q")
    good = commit_all(alice, BEFORE, "done")
    materialize(alice, NOT_STARTED_TENSORS)
    commit_all(alice, AFTER, "oops")
    (alice / "homework_autograd.py").write_text("raise SystemExit('uncommitted work in progress')\n")
    bob = materialize(subs / "hw1-bob")  # only commits after the deadline
    git(bob, "init", "-q")
    commit_all(bob, AFTER, "late")
    states = {r: repo_state(r) for r in (alice, bob)}

    args = ["batch", str(subs), "--out", str(out), "-j", "2", "--gpu", "off", "--deadline", DEADLINE]
    assert main(args) == 0
    output = capsys.readouterr()
    assert "ignored roster.txt" in output.err

    book = read_rows(out)
    assert list(book) == ["alice", "bob", "carol", "correct", "mallory", "partial"]
    assert {s: r["status"] for s, r in book.items()} == {
        "alice": "graded", "bob": "no-submission", "carol": "graded", "correct": "graded",
        "mallory": "invalid", "partial": "graded"}
    correct, partial, carol, alice_row = book["correct"], book["partial"], book["carol"], book["alice"]
    assert_reference(correct)
    assert_reference(alice_row)  # graded on the commit before the deadline, not the broken HEAD
    assert {k: alice_row[k] for k in TASK_AND_TOTAL} == {k: correct[k] for k in TASK_AND_TOTAL}
    assert (alice_row["commit"], alice_row["late"]) == (good, "yes")
    assert f(partial, "task2") == 0 and f(partial, "task1") == f(correct, "task1")
    assert f(partial, "total") == pytest.approx(f(correct, "total") - POINTS["task2"])
    assert f(carol, "task3") == 0 and f(carol, "pending_gpu") > 0  # GPU tests are pending whatever the code
    assert f(carol, "total") == pytest.approx(POINTS["task1"] + POINTS["task2"])
    assert (book["bob"]["total"], book["bob"]["late"], book["bob"]["commit"]) == ("0", "yes", "")
    assert "no commit at or before the deadline" in book["bob"]["message"]
    assert book["mallory"]["total"] == "0" and "'../evil.py'" in book["mallory"]["message"]
    assert correct["commit"] == correct["late"] == ""

    status = {s: json.loads(p.read_text()) for s, p in status_files(out).items()}
    assert set(status) == set(book)
    assert status["alice"] | {"seconds": 0} == {
        "id": "alice", "source": str(alice), "kind": "git", "commit": good, "commit_date": BEFORE, "late": True,
        "status": "graded", "message": "", "seconds": 0, "deadline": DEADLINE}
    assert (status["carol"]["kind"], status["mallory"]["kind"], status["correct"]["kind"]) == ("zip", "zip", "dir")
    for sid in ("alice", "carol", "correct", "partial"):
        results = json.loads((out / "students" / sid / "results.json").read_text())
        assert results["score"] == f(book[sid], "total") and results["tests"]
        assert (out / "students" / sid / "feedback.md").read_text().startswith("# Feedback")
    assert not (out / "students" / "bob" / "results.json").exists()
    for repo, state in states.items():
        assert repo_state(repo) == state, f"{repo.name}: the grader changed the student's repository"

    report = (out / "report.md").read_text()
    assert "| students | 6 (4 graded) |" in report and "| late | 2 |" in report
    assert (out / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert "Class summary" in output.out
    assert leftovers(out) == []

    # Run again: nothing is regraded and the gradebook is the same.
    mtimes = {s: p.stat().st_mtime_ns for s, p in status_files(out).items()}
    gradebook_before = (out / "gradebook.csv").read_bytes()
    assert main(args) == 0
    assert "0 to grade, 6 already done" in capsys.readouterr().out
    assert {s: p.stat().st_mtime_ns for s, p in status_files(out).items()} == mtimes
    assert (out / "gradebook.csv").read_bytes() == gradebook_before


TASK_AND_TOTAL = ("task1", "task2", "task3", "analysis", "total", "max", "pending_gpu")


SLOW_IMPORT_S = 30


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def wait_for(condition, timeout: float, step: float = 0.1):
    """Poll until `condition()` is truthy (returns it) or the timeout passes (returns the last value)."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > end:
            return value
        time.sleep(step)


# Killing a batch part-way and resuming it is tested on the red-team corpus (test_redteam.py).


def test_j_auto_takes_three_slots_per_core_unless_memory_is_short(capsys):
    from autograder import cli

    gib = lambda n: f"MemTotal: 99999999 kB\nMemAvailable: {n * 1024 * 1024} kB\n"  # noqa: E731
    assert batch.auto_jobs(8, gib(64)) == 24  # plenty of memory: the cores decide
    assert batch.auto_jobs(8, gib(2)) == 3  # (2048 - 512) MB / 450 MB per slot
    assert batch.auto_jobs(4, gib(0)) == 1  # never none
    assert batch.auto_jobs(3, "MemTotal: 1 kB\n") == 9  # no MemAvailable line (old kernels): the cores
    assert 1 <= batch.auto_jobs() <= 3 * (os.cpu_count() or 1)
    parser = cli.parser()
    assert parser.parse_args(["batch", "subs", "--out", "o"]).jobs == "auto"
    assert parser.parse_args(["batch", "subs", "--out", "o", "-j", "3"]).jobs == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["batch", "subs", "--out", "o", "-j", "many"])
    assert "'many': a number of parallel gradings, or auto" in capsys.readouterr().err

"""The red-team corpus, graded as one batch: each attack gets exactly its documented score.

One `autograder batch -j 2 --deadline ...` over every submission of ``redteam/corpus.py``
(folders, zips, links and git repositories), killed with SIGKILL part-way and run again to
the end. Then, for every attack: the batch row, the exact score, exactly the documented tests lost, a
bounded grading time; and for the whole batch: no process left, nothing written or sent
outside the sandbox, no secret or hidden test in any output, and no terminal escapes in
any report.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autograder.tests import REPO
from autograder.sandbox import isolation

from .conftest import needs_strong_sandbox
from .redteam.build import LIMITS, expected, full_marks_by_task, redteam_grading, write_corpus
from .redteam.corpus import ATTACKS, DEADLINE, Attack

pytestmark = needs_strong_sandbox
BY_NAME = {a.name: a for a in ATTACKS}
# A grading may take its tests' ordinary time plus a few timeouts and worker restarts.
# Four slots on two cores: many attacks hang until a timeout kills them, which costs wall time,
# not CPU, so more slots grade while the others wait.
JOBS = 4
GRADING_BUDGET_S = 90  # any one attack, hangs included (issue: "a hang costs seconds")
HIDDEN_LINE = "def test_format_table_layout_matches_reference"  # in autograder/hidden only


class Listener:
    """TCP and UDP on 127.0.0.1, and Unix sockets of the host (stream and datagram in a folder
    every uid can enter, and an abstract one), that record anything the sandbox manages to send."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-redteam-socket-"))
        os.chmod(self.folder, 0o777)
        self.unix_path = str(self.folder / "host.sock")
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(self.unix_path)
        self.unix.listen(4)
        self.unix_dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.unix_dgram.bind(self.unix_path + ".dgram")
        self.abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.abstract.bind("\0" + self.unix_path)
        self.abstract.listen(4)
        for path in (self.unix_path, self.unix_path + ".dgram"):
            os.chmod(path, 0o777)
        self.received: list[bytes] = []
        for s in (self.tcp, self.udp, self.unix, self.unix_dgram, self.abstract):
            s.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, server in (("tcp", self.tcp), ("unix", self.unix), ("abstract", self.abstract)):
                try:
                    conn, _ = server.accept()
                    conn.settimeout(0.5)
                    self.received.append(name.encode() + b" connection: " + conn.recv(1024))
                    conn.close()
                except OSError:
                    pass
            for name, server in (("udp", self.udp), ("unix datagram", self.unix_dgram)):
                try:
                    self.received.append(name.encode() + b": " + server.recv(1024))
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for s in (self.tcp, self.udp, self.unix, self.unix_dgram, self.abstract):
            s.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Run:
    root: Path
    out: Path
    mark: str
    canary: str
    proc: subprocess.CompletedProcess
    seconds: float
    listener: Listener
    leftovers: list[str] = field(default_factory=list)
    done_before_kill: dict[str, float] = field(default_factory=dict)  # student -> status.json mtime
    left_after_kill: list[str] = field(default_factory=list)
    protections: isolation.Protections | None = None
    started: float = 0.0  # time.time() when the batch began
    ipc_left: set = field(default_factory=set)  # System V objects on the host that the batch left

    def offers(self, need: str) -> bool:
        return getattr(self.protections, need)

    def results(self, name: str) -> dict:
        return json.loads((self.out / "students" / name / "results.json").read_text())

    def status(self, name: str) -> dict:
        return json.loads((self.out / "students" / name / "status.json").read_text())

    def rows(self) -> list[dict]:
        with open(self.out / "gradebook.csv", newline="") as f:
            return list(csv.DictReader(f))


def _sandbox_processes() -> list[str]:
    """Processes of any student sandbox: workers, their forks, and the corpus's sleepers."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "autograder-sandbox-" in cmdline or cmdline.strip() == "sleep 3137":
            found.append(f"{entry.name}: {cmdline[:120]}")
    return found


@pytest.fixture(scope="module", params=["bubblewrap", "landlock"])
def run(request, tmp_path_factory) -> Run:
    """The whole corpus graded in one tier (``--sandbox``); each tier this machine has runs."""
    tier = request.param
    try:
        protections = isolation.detect(tier)
    except isolation.SandboxUnavailable as exc:
        pytest.skip(f"no {tier} tier here: {exc}")
    assert not _sandbox_processes(), "sandbox processes were running before the corpus started"
    root = tmp_path_factory.mktemp(f"redteam-{tier}")
    listener = Listener()
    ipc_before = _host_sysv_ipc()
    mark, canary = f"PWNED-{uuid.uuid4().hex[:8]}", f"CANARY-{uuid.uuid4().hex}"
    write_corpus(root / "submissions", port=listener.port, canary=canary, mark=mark, unix_socket=listener.unix_path)
    grading = redteam_grading(root)
    # The grader's own environment and files hold secrets the attacks go looking for.
    (root / "secret.txt").write_text(canary)
    env = dict(os.environ, REDTEAM_CANARY=canary)
    wall_start = time.time()
    out = root / "out"
    command = [sys.executable, "-m", "autograder.cli", "batch", str(root / "submissions"), "--out", str(out),
               "-j", str(JOBS), "--gpu", "off", "--grading", str(grading), "--deadline", DEADLINE, "--sandbox", tier]
    started = time.monotonic()
    # First run: SIGKILL the batch once a quarter of the students are done ...
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while first.poll() is None and len(_done(out)) < len(ATTACKS) // 4:
        time.sleep(0.2)
    first.kill()
    first.wait()
    time.sleep(1.0)  # the graders die with the batch (PR_SET_PDEATHSIG), their sandboxes with them
    left_after_kill = _sandbox_processes() + _processes_mentioning(str(root))
    done_before_kill = _done(out)
    # ... then run it again to the end: it must grade only the others.
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - started
    time.sleep(0.5)  # killed processes take a moment to disappear from /proc
    result = Run(root, out, mark, canary, proc, seconds, listener, _sandbox_processes(),
                 done_before_kill, left_after_kill, protections=protections,
                 ipc_left=_host_sysv_ipc() - ipc_before, started=wall_start)
    yield result
    listener.close()


def test_the_batch_ends_with_one_gradebook_row_per_attack(run):
    assert run.proc.returncode == 0, run.proc.stderr[-3000:]
    students = [row["student"] for row in run.rows()]
    assert sorted(students) == sorted(BY_NAME), run.proc.stdout[-3000:]


def test_a_batch_killed_part_way_resumes_without_regrading(run):
    assert 0 < len(run.done_before_kill) < len(ATTACKS), "the kill should land in the middle of the batch"
    assert run.left_after_kill == [], "graders or sandboxes outlived the killed batch"
    after = _done(run.out)
    assert {s: after[s] for s in run.done_before_kill} == run.done_before_kill, "finished students were regraded"


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.packaging == "git"], ids=lambda a: a.name)
def test_git_repositories_are_graded_at_the_deadline(run, attack: Attack):
    status = run.status(attack.name)
    hashes = subprocess.run(["git", "-C", str(run.root / "submissions" / attack.name), "rev-list", "--reverse",
                             "HEAD"], capture_output=True, text=True, check=True).stdout.split()
    on_time = [h for h, (date, _) in zip(hashes, attack.commits) if date <= DEADLINE]
    assert status["commit"] == on_time[-1]
    assert status["late"] is attack.late
    row = next(r for r in run.rows() if r["student"] == attack.name)
    assert row["late"] == ("yes" if attack.late else "no") and row["commit"] == on_time[-1]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_scores_exactly_as_documented(run, attack: Attack):
    missing = [need for need in attack.needs if not run.offers(need)]
    if missing:
        pytest.skip(f"this tier has no {', '.join(missing)} here: the defence is not promised")
    status = run.status(attack.name)
    assert status["status"] == attack.status, status
    if attack.status != "graded":
        assert status.get("message"), "a submission that cannot be graded says why"
        row = next(r for r in run.rows() if r["student"] == attack.name)
        assert float(row["total"] or 0) == 0
        return
    results = run.results(attack.name)
    lost, kept_failing = [], []
    for test in results["tests"]:
        task, state = test["tags"][0], test["tags"][1]
        function = test["name"].split("::")[1]
        # (a pattern naming some cases, test_x[...], makes the whole test one that may lose)
        must_lose = task in attack.lost or any(fnmatch.fnmatch(function, p.partition("[")[0]) for p in attack.lost)
        # (lost: not every point; a passed test that waits for a failed one earns nothing)
        # (results.json shows a test waiting for a GPU as 0 of 0: its points are a question of their own)
        if must_lose and state != "pending_gpu" and test["score"] >= test["max_score"]:
            kept_failing.append(f"{test['name']} earned every point, but the attack must lose it")
        if not must_lose and state not in ("passed", "pending_gpu"):
            lost.append(f"{test['name']}: {state}: {test['output'][:300]}")
    assert not lost, "tests outside the attack's reach failed:\n" + "\n".join(lost)
    assert not kept_failing, "\n".join(kept_failing)
    assert results["score"] == pytest.approx(expected(attack), abs=1e-6)
    for task, points in full_marks_by_task().items():
        if task in attack.lost:
            assert results["extra_data"]["tasks"][task]["score"] == 0
        elif not any(not t.startswith("task") for t in attack.lost):
            assert results["extra_data"]["tasks"][task]["score"] == pytest.approx(points)
    assert status["seconds"] < GRADING_BUDGET_S, f"grading took {status['seconds']:.0f} s"


def test_no_process_of_any_submission_is_left_running(run):
    assert run.leftovers == []


def test_no_kernel_object_or_folder_outlives_the_batch(run):
    assert run.ipc_left == set(), "System V IPC objects of the host that the batch left behind"
    left = [p for p in Path(tempfile.gettempdir()).glob("autograder-sandbox-*")
            if isolation._owner_gone(p.name) and p.stat().st_uid == os.getuid() and p.stat().st_mtime >= run.started]
    assert not left, "sandbox folders of graders that died in this batch"


def test_nothing_left_the_sandbox(run):
    assert run.listener.received == [], "a submission reached the network"
    escaped = [str(p) for top in (REPO, run.root, Path("/tmp"), Path.home())
               for p in _walk(top) if run.mark in p.name]
    assert escaped == [], "files written outside the sandbox"
    # Only the grader's own outputs: the attacks' fake results.json files went nowhere.
    assert {p.name for p in (run.out / "students" / "fake_results").iterdir()} <= \
        {"record.json", "results.json", "feedback.md", "status.json"}
    assert run.results("fake_results")["score"] == expected(BY_NAME["fake_results"])


def test_no_secret_or_hidden_test_reaches_any_output(run):
    # (Solution lines are no secret here: the corpus is built from the reference itself.)
    texts = [run.proc.stdout, run.proc.stderr]
    texts += [p.read_text(errors="replace") for p in run.out.rglob("*") if p.suffix in (".json", ".md", ".csv")]
    for text in texts:
        assert run.canary not in text
        assert HIDDEN_LINE not in text


def test_reports_carry_no_terminal_escapes_and_cannot_fake_a_score(run):
    for path in run.out.rglob("*"):
        if path.suffix in (".json", ".md", ".csv"):
            assert "\x1b" not in path.read_text(errors="replace"), path
    feedback = (run.out / "students" / "exception_injection" / "feedback.md").read_text()
    # The student's fake heading sits inside a code block whose fence it cannot close.
    before_fake = feedback.split("## Automatic score: 90 / 90")[0]
    open_fences = [line for line in before_fake.splitlines() if line.startswith("````")]
    assert len(open_fences) % 2 == 1, "the fake score is outside a code block"


def test_most_attacks_ran_in_a_sandbox_an_earlier_attack_had_used(run):
    """The batch reuses a slot's sandbox after a verified reset, so the exact scores above also
    show that no attack reached the submission graded after it in the same sandbox."""
    if not run.offers("pid_namespace"):
        pytest.skip("without a PID namespace every student gets a new sandbox")
    graded = [run.results(name) for name in BY_NAME if run.status(name)["status"] == "graded"]
    reused = [r for r in graded if "zygote" in r["extra_data"]["sandbox"]]
    assert len(reused) >= len(graded) // 2, f"only {len(reused)} of {len(graded)} gradings reused a sandbox"


def test_the_whole_corpus_grades_within_its_budget(run):
    assert run.seconds < GRADING_BUDGET_S * len(ATTACKS) / 2


def _host_sysv_ipc() -> set[tuple[str, str]]:
    found = set()
    for kind in ("shm", "sem", "msg"):
        with open(f"/proc/sysvipc/{kind}") as table:
            found |= {(kind, row.split()[1]) for row in table.read().splitlines()[1:] if row.split()}
    return found


def _done(out: Path) -> dict[str, float]:
    """Students whose status.json exists (the batch writes it last), with its mtime."""
    return {p.parent.name: p.stat().st_mtime for p in (out / "students").glob("*/status.json")}


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline[:120]}")
    return found


def _walk(top: Path, depth: int = 4):
    """Files under `top`, a few levels deep, skipping the virtual environment."""
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in entries:
        yield Path(entry.path)
        if depth and entry.is_dir(follow_symlinks=False) and entry.name not in (".venv", ".git", "proc"):
            yield from _walk(Path(entry.path), depth - 1)


def test_docs_show_the_current_threat_table():
    from .redteam.build import threat_table

    docs = (REPO / "docs" / "grading.md").read_text(encoding="utf-8")
    assert threat_table() in docs, "docs/grading.md is stale: run `python -m autograder.tests.redteam.build`"

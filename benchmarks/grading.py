"""Wall times: grading one submission vs plain pytest, the public suite, batches of N, and what a
batch's slots pay before their first grading."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from .common import BIN, REPO, median, runs, sample

GRADE = [str(BIN / "autograder"), "grade", "solutions", "--gpu", "off"]
# In-process pytest over the same files; --noconftest -p loads the plugin once (tests/conftest.py
# would register it a second time next to -p and pytest refuses the duplicate hook).
PYTEST_ALL = [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest",
              "-p", "hwkit.plugin", "tests", "autograder/hidden", "--submission", "solutions"]
PUBLIC = [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", "--submission", "solutions"]


def grade_vs_pytest(n: int) -> dict:
    """(a) `autograder grade` vs the same tests in-process, interleaved so load hits both alike."""
    grade, plain = [], []
    for _ in range(n):
        grade += runs(GRADE, 1)
        plain += runs(PYTEST_ALL, 1)
    return {"grade": grade, "pytest": plain, "ratio": median(grade) / median(plain)}


def floor(n: int) -> dict:
    """The same suites run by plain pytest in one warm process, no sandbox (benchmarks.floor)."""
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        path = Path(tmp) / "floor.json"
        subprocess.run([str(BIN / "python"), "-m", "benchmarks.floor", "--runs", str(n), "--json", str(path)],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        return json.loads(path.read_text())


def public_suite(n: int) -> dict:
    """(c) The student's public suite."""
    return {"public": runs(PUBLIC, n)}


def batches(n_students: int, jobs: list[int]) -> dict:
    """(b) `autograder batch` of n correct submissions, once per -j value (one run each): wall
    time, CPU time of the whole process tree, gradebook rows, students graded in a reused
    sandbox, and the median / largest per-student seconds from status.json."""
    from autograder.examples import materialize

    out: dict = {"students": n_students}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        subs = Path(tmp) / "subs"
        for i in range(n_students):
            materialize(subs / f"student{i:03d}", {})
        for j in jobs:
            dest = Path(tmp) / f"out-j{j}"
            run = sample([str(BIN / "autograder"), "batch", str(subs), "--out", str(dest),
                          "-j", str(j), "--gpu", "off"])
            rows = (dest / "gradebook.csv").read_text(encoding="utf-8").strip().splitlines()
            per_student = [json.loads(p.read_text())["seconds"] for p in dest.glob("students/*/status.json")]
            reused = sum("zygote" in json.loads(p.read_text()).get("extra_data", {}).get("sandbox", {})
                         for p in dest.glob("students/*/results.json"))
            out[j] = {"wall": run["wall"], "cpu": run["cpu"], "rows": len(rows) - 1, "reused": reused,
                      "median_student": median(per_student), "max_student": max(per_student),
                      "roles": roles(run["processes"])}
            shutil.rmtree(dest, ignore_errors=True)
    return out


ROLES = {
    "batch": "the batch process (discovery, the pool, the gradebook after each student, the progress)",
    "parent": "the warm parent (imports, the reference graded once)",
    "slots": "the slots (forks of the warm parent: waiting, forking, resetting the sandbox)",
    "gradings": "the grading processes (the trusted side: pytest, the wire, the reports), one per student",
    "workers": "the sandboxes' workers (the student's modules, the wire's worker end), three per student",
    "zygotes": "bubblewrap and the zygotes (one sandbox per slot, and the warm parent's check)",
}


def roles(processes: dict[int, dict]) -> dict[str, float]:
    """A batch tree's CPU by role (see ROLES), from :func:`benchmarks.common.sample`'s processes.

    Inside a sandbox: a zygote is a process whose parent is bubblewrap; a worker is anything
    below a zygote. Outside: by depth under the batch (1 the warm parent, 2 a slot, 3 a grading)."""
    def chain(pid: int) -> list[int]:  # pid, its parent, ... up to the batch
        out = [pid]
        while processes.get(out[-1], {}).get("ppid") in processes:
            out.append(processes[out[-1]]["ppid"])
        return out

    totals = dict.fromkeys(ROLES, 0.0)
    for pid, p in processes.items():
        up = chain(pid)
        names = [processes[q]["comm"] for q in up]
        if "bwrap" in names:
            first_bwrap = names.index("bwrap")
            role = "workers" if first_bwrap >= 2 else "zygotes"  # (a zygote's parent is bubblewrap)
        else:
            role = ("batch", "parent", "slots")[len(up) - 1] if len(up) <= 3 else "gradings"
        totals[role] += p["cpu"]
    return totals


def slot_warm_up() -> dict:
    """What a batch pays before grading: the warm parent's check (its sandbox measured) and
    warm-up, once per batch; then, per slot, the fork, its own sandbox, and its first grading
    next to a later one. Seconds of wall time, one run."""
    import threading
    import time

    from autograder import batch
    from autograder.course import find

    from .common import REPO

    with tempfile.TemporaryDirectory(prefix="bench-slots-") as tmp:
        work = Path(tmp)
        opts = batch.Options(submissions=work, out=work / "out", gpu="off", grading=find(str(REPO)).grading)
        argv = ["grade", str(REPO / "solutions"), "--gpu", "off", "--json", str(work / "r.json")]

        def graded(slot) -> float:
            started = time.perf_counter()
            if slot.grade(argv, work / "stdout", work / "stderr", timeout=600) != 0:
                raise RuntimeError(f"a slot's grading failed: {(work / 'stderr').read_text()[-2000:]}")
            return time.perf_counter() - started

        started = time.perf_counter()
        pool = batch.SlotPool(opts, work, threading.Lock())
        try:
            pool.start()
            pool.parent.check()
            out = {"check": time.perf_counter() - started}
            first = pool.parent.slot(work)
            out["warm_up"] = time.perf_counter() - started
            first.info()
            out["first_slot_ready"] = time.perf_counter() - started
            out["first_slot_first"] = graded(first)
            out["later"] = graded(first)
            forked = time.perf_counter()
            second = pool.parent.slot(work)
            out["fork"] = time.perf_counter() - forked
            second.info()
            out["sandbox"] = time.perf_counter() - forked - out["fork"]
            out["second_slot_first"] = graded(second)
            for slot in (first, second):
                slot.close()
        finally:
            pool.close()
    return out

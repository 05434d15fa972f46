"""Wall times: grading one submission vs plain pytest, the public suite, batches of N."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from .common import BIN, median, runs, sample

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
                      "median_student": median(per_student), "max_student": max(per_student)}
            shutil.rmtree(dest, ignore_errors=True)
    return out

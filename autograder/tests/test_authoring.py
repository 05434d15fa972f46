"""docs/authoring.md, followed in a copy of the course: a new graded function, its public and
hidden tests and their points are checked, graded and released, and nothing else is edited.

The code the page shows is the code this test adds (read from the page), so the page cannot
drift from what works. Every command runs as a TA runs it, in its own process, in the copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from autograder.tests import REPO
from autograder.untested import untested
from hwkit.grading import load_grading

PAGE = REPO / "docs" / "authoring.md"
# What the page says a TA edits (the rest is generated: stubs and the compiled catalogue).
EDITED = ("solutions/", "tests/", "autograder/hidden/", "grading.yml", "hwkit/locale/ru/")
GENERATED = ("assignment/", "hwkit/locale/ru/LC_MESSAGES/")


def blocks() -> list[str]:
    """The page's fenced code blocks, dedented."""
    return [textwrap.dedent(b) for b in re.findall(r"^ *```[a-z]*\n(.*?)^ *```", PAGE.read_text("utf-8"),
                                                   re.M | re.S)]


def block(marker: str) -> str:
    found = [b for b in blocks() if marker in b]
    assert len(found) == 1, f"docs/authoring.md should show exactly one block with {marker!r}"
    return found[0]


def git(course: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=course, capture_output=True, text=True, check=True).stdout


def autograder(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AUTOGRADER_"))}
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A copy of the course (its tracked files) with its own git history, as a TA's clone."""
    root = tmp_path_factory.mktemp("authoring") / "course"
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for rel in filter(None, listed):
        if (REPO / rel).is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, root / rel)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=ta", "-c", "user.email=ta@example.org", "commit", "-qm", "the course")
    return root


def follow_the_page(course: Path) -> None:
    """Steps 1-6: the reference, a public and a hidden test, points, stubs and stored answers,
    a translation."""
    with open(course / "solutions" / "homework_tensors.py", "a", encoding="utf-8") as f:
        f.write("\n\n" + block("def triple(t"))
    with open(course / "tests" / "test_tensors.py", "a", encoding="utf-8") as f:
        f.write("\n\n" + block("def test_triple_values"))
    with open(course / "autograder" / "hidden" / "test_tensors_hidden.py", "a", encoding="utf-8") as f:
        f.write("\n\n" + block("def test_triple_matches_reference"))
    points = block("test_triple_matches_reference: ")
    text = (course / "grading.yml").read_text(encoding="utf-8")
    total = re.search(r"^total: (\d+)", points, re.M).group(1)
    task_points = re.search(r"^\s+points: (\d+)", points, re.M).group(1)
    text = re.sub(r"^total: \d+", f"total: {total}", text, count=1, flags=re.M)
    text = text.replace("    points: 20\n", f"    points: {task_points}\n", 1)
    listed = [line for line in points.splitlines() if "::test_triple" in line]
    anchor = "      tests/test_tensors.py::test_reshape_tensor_rejects_bad_input: 0.5\n"
    assert anchor in text
    text = text.replace(anchor, anchor + "".join(f"      {line.strip()}\n" for line in listed), 1)
    (course / "grading.yml").write_text(text, encoding="utf-8")
    stubs = autograder(course, "stubs")
    assert stubs.returncode == 0, stubs.stderr
    stored = autograder(course, "snapshots")
    assert stored.returncode == 0, stored.stdout[-3000:] + stored.stderr[-2000:]
    assert "triple[2x3]" in (course / "tests" / "snapshots" / "test_tensors.json").read_text(encoding="utf-8")
    with open(course / "hwkit" / "locale" / "ru" / "tensors.po", "a", encoding="utf-8") as f:
        f.write("\n" + block('msgid "triple(t)'))
    compiled = subprocess.run([sys.executable, "-m", "autograder.translations"], cwd=course, capture_output=True,
                              text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stderr


def test_a_new_function_is_checked_graded_and_released_touching_only_the_course(course, tmp_path):
    # Half-way (a function without its tests), `autograder check` names what is missing.
    with open(course / "solutions" / "homework_tensors.py", "a", encoding="utf-8") as f:
        f.write("\n\n" + block("def triple(t"))
    assert untested(course, load_grading(course / "grading.yml")) == [
        "homework_tensors.py: triple is written by students but no test in tests, autograder/hidden calls it"]
    git(course, "checkout", "--", "solutions")

    follow_the_page(course)
    checked = autograder(course, "check")
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-3000:]

    # Graded: the reference earns the new points, the stubs do not.
    grading = yaml.safe_load((course / "grading.yml").read_text(encoding="utf-8"))
    new = {t: p for t, p in grading["tasks"]["task1"]["tests"].items() if "test_triple" in t}
    assert len(new) == 2
    for folder, status in (("solutions", "passed"), ("assignment", "failed")):
        out = tmp_path / f"{folder}.json"
        graded = autograder(course, "grade", folder, "--gpu", "off", "--json", str(out))
        assert graded.returncode == 0, graded.stderr[-3000:]
        tests = {t["name"]: t for t in json.loads(out.read_text())["tests"]}
        for test_id, points in new.items():
            assert tests[test_id]["status"] == status and tests[test_id]["max_score"] == points
    assert "NotImplementedError" in (course / "assignment" / "homework_tensors.py").read_text()

    # Released: the stub and the public test ship, the hidden one and the answer do not.
    release = tmp_path / "release"
    built = autograder(course, "release", "--out", str(release))
    assert built.returncode == 0, built.stderr[-3000:]
    stub = (release / "homework_tensors.py").read_text(encoding="utf-8")
    assert "def triple(" in stub and "return t * 3" not in stub
    assert "def test_triple_values" in (release / "tests" / "test_tensors.py").read_text(encoding="utf-8")
    shipped = yaml.safe_load((release / "grading.yml").read_text(encoding="utf-8"))["tasks"]["task1"]
    assert "tests/test_tensors.py::test_triple_values" in shipped["tests"]
    assert not any("hidden" in p.as_posix() for p in release.rglob("*.py"))

    # Only what the page names was edited; the rest was generated from it.
    changed = [line[3:] for line in git(course, "status", "--porcelain", "--untracked-files=all").splitlines()]
    assert changed and all(path.startswith(EDITED + GENERATED) for path in changed), changed

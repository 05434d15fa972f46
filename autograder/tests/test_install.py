"""The grader installed like any package: a wheel in a fresh venv, no PYTHONPATH, no source tree.

A TA may `pip install` the grader anywhere; it must then grade the course folder it is run in
(or `--course DIR`), never a course next to where it was installed. The course folder here
holds only the course (grading.yml, tests/, autograder/hidden/, solutions/, examples/,
assignment/): had the command imported anything from a source tree, it would fail.

The interpreter is Debian's system Python when there is one (autograder.tests.venvs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import examples
from autograder.course import Course
from autograder.tests import REPO, automatic_points
from autograder.tests.venvs import interpreter, run
from hwkit.text import points

COURSE_PARTS = ("grading.yml", "tests", "solutions", "examples", "assignment", "autograder/hidden")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the grader's wheel (built from a copy of the tracked sources)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    built = run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                 "-w", str(tmp / "wheel"), str(src)], tmp)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp / "wheel").glob("autograder-*.whl"))
    venv = tmp / "venv"
    made = run([interpreter(), "-m", "venv", str(venv)], tmp)
    assert made.returncode == 0, made.stderr[-3000:]
    done = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                "-c", str(REPO / "constraints.txt"), str(wheel)], tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The course alone, without the engine's source (autograder/*.py, hwkit/)."""
    root = tmp_path_factory.mktemp("course") / "pytorch basics 2026"  # (a space: quoted for pytest)
    for part in COURSE_PARTS:
        (root / part).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy2
        copy(REPO / part, root / part, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                          if (REPO / part).is_dir() else {}))
    assert not (root / "hwkit").exists() and not (root / "autograder" / "cli.py").exists()
    return root


def test_the_wheel_carries_the_engine_and_kit_but_no_course(installed):
    site = run([str(installed / "bin" / "python"), "-c",
                "import autograder, hwkit, pathlib; print(pathlib.Path(autograder.__file__).parent.parent)"],
               Path("/")).stdout.strip()
    files = {p.relative_to(site).as_posix() for p in Path(site).glob("*/**/*") if p.is_file()}
    assert "autograder/templates/run_autograder" in files and "hwkit/locale/ru/LC_MESSAGES/homework.mo" in files
    assert not [f for f in files if f.startswith(("autograder/hidden", "autograder/tests", "solutions", "tests/"))]


def test_installed_command_grades_the_examples_of_the_course_it_runs_in(installed, course):
    graded = run([str(installed / "bin" / "autograder"), "grade-examples"], course)
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    expected = examples.expected_scores(examples.load(Course(REPO)), Course(REPO))
    for name, score in expected.items():
        assert re.search(rf"{name}\s*│\s*{points(score)} / {points(automatic_points())}\s*│\s*{points(score)}\b", graded.stdout), \
            (name, graded.stdout)
    # The engine came from the venv, not from the course folder it ran in.
    where = run([str(installed / "bin" / "python"), "-c", "import autograder; print(autograder.__file__)"],
                course).stdout
    assert str(installed) in where


def test_course_is_named_or_found_never_assumed(installed, course, tmp_path):
    elsewhere = run([str(installed / "bin" / "autograder"), "stubs", "--check"], tmp_path)
    assert elsewhere.returncode == 2
    assert f"no grading.yml in {tmp_path.resolve()} or any folder above it" in elsewhere.stderr
    assert "--course DIR" in elsewhere.stderr
    # (with the course found, `stubs` goes on to want the authoring tools this install lacks)
    found = "needs the course's authoring tools"
    named = run([str(installed / "bin" / "autograder"), "stubs", "--check", "--course", str(course)], tmp_path)
    assert named.returncode == 2 and found in named.stderr, named.stderr
    below = run([str(installed / "bin" / "autograder"), "stubs", "--check"], course / "tests")
    assert below.returncode == 2 and found in below.stderr, below.stderr  # found upwards, as git finds .git
    wrong = run([str(installed / "bin" / "autograder"), "--course", str(tmp_path), "stubs"], tmp_path)
    assert wrong.returncode == 2 and f"{tmp_path.resolve()} (from --course) is not a course folder" in wrong.stderr


def test_grading_installs_without_the_authoring_tools(installed, course, tmp_path):
    """The runtime alone (what the Gradescope image gets): no nbgrader or Jupyter, and an
    authoring command says what to install instead of a traceback."""
    python = str(installed / "bin" / "python")
    absent = run([python, "-c", "import importlib.util as u; print([m for m in ('nbgrader', 'nbformat', "
                          "'jupyter_server', 'notebook') if u.find_spec(m)])"], course)
    assert absent.stdout.strip() == "[]", absent.stdout + absent.stderr
    released = run([str(installed / "bin" / "autograder"), "release", "--out", str(tmp_path / "rel")], course)
    assert released.returncode == 2 and "pip install 'autograder[author]'" in released.stderr, \
        released.stdout[-2000:] + released.stderr[-2000:]

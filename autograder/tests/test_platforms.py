"""Gradescope: the autograder bundle (setup.sh, run_autograder), run here as the platform would."""

from __future__ import annotations

import json
import os
import shutil
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.tests import REPO, automatic_points, reference_scores
from autograder import cli, export_gradescope

from .conftest import needs_strong_sandbox


# --- Gradescope: the autograder zip ------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return export_gradescope.build_bundle(tmp_path_factory.mktemp("bundle") / "dist" / "autograder.zip")


def test_setup_sh_python_lines_run(tmp_path):
    """The Python one-liners setup.sh runs on the image (a stale name there fails the build)."""
    setup = (REPO / "autograder" / "templates" / "setup.sh").read_text(encoding="utf-8")
    lines = re.findall(r"\"\$VENV/bin/python\" -c '([^']*)'", setup)
    assert lines
    for code in lines:
        ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr


def test_bundle_members_and_modes(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as z:
        infos = {i.filename: i for i in z.infolist()}
        setup, run = z.read("setup.sh").decode(), z.read("run_autograder").decode()
    names = set(infos)
    for name in ("setup.sh", "run_autograder"):
        assert (infos[name].external_attr >> 16) & 0o777 == 0o755, name
    assert (infos["grading.yml"].external_attr >> 16) & 0o777 == 0o644
    for required in ("grading.yml", "pyproject.toml", "constraints.txt", "README.md", "autograder/cli.py",
                     "autograder/sandbox/worker.py", "autograder/report/gradescope.py",
                     "autograder/hidden/test_tensors_hidden.py", "solutions/homework_tensors.py",
                     "hwkit/plugin.py", "tests/test_tensors.py"):
        assert required in names, required
    forbidden = {".venv", ".git", "dist", "examples", "__pycache__", ".pytest_cache"}
    assert not [n for n in names if forbidden & set(n.split("/")[:-1]) or n.endswith(".pyc") or ".egg-info" in n]
    assert "torch==2.13.0" in zipfile.ZipFile(bundle).read("constraints.txt").decode().splitlines()
    assert setup.startswith("#!/usr/bin/env bash\n") and run.startswith("#!/usr/bin/env bash\n")
    assert "bubblewrap" in setup and "-m venv" in setup and 'install -c "$SRC/constraints.txt"' in setup
    assert "useradd" in setup and "runuser -u" in run and "--json" in run
    for script in ("setup.sh", "run_autograder"):
        (tmp_path / script).write_text(zipfile.ZipFile(bundle).read(script).decode())
        check = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    # Reproducible: the same tree gives the same bytes.
    again = export_gradescope.build_bundle(tmp_path / "again.zip")
    assert again.read_bytes() == bundle.read_bytes()


def test_export_command_arguments(tmp_path, capsys):
    assert cli.parser().parse_args(["export", "gradescope"]).out == "dist/autograder.zip"
    out = tmp_path / "x" / "autograder.zip"
    assert cli.main(["export", "gradescope", "--out", str(out)]) == 0
    assert zipfile.is_zipfile(out) and str(out) in capsys.readouterr().out


def _gradescope_root(bundle: Path, tmp: Path, modules: bool) -> Path:
    """/autograder as Gradescope lays it out: source/ from the zip, submission/, run_autograder."""
    root = tmp / "autograder"
    with zipfile.ZipFile(bundle) as z:  # extractall drops the modes; unzip keeps them
        for info in z.infolist():
            target = root / "source" / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
            target.chmod((info.external_attr >> 16) & 0o777)
    (root / "submission").mkdir()
    if modules:
        for f in sorted((REPO / "solutions").glob("homework_*.py")):
            shutil.copy(f, root / "submission" / f.name)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    return root


def _run_autograder(root: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AUTOGRADER_"))}
    full_env.update({"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable, **env})
    ran = subprocess.run([str(root / "run_autograder")], env=full_env, cwd=root, capture_output=True, text=True,
                         timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return ran, json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def _assert_gradescope_format(data: dict) -> None:
    assert isinstance(data["score"], (int, float)) and isinstance(data["tests"], list)
    for t in data["tests"]:
        assert {"name", "score", "max_score", "status", "visibility"} <= set(t), t
        assert t["status"] in ("passed", "failed")
        assert t["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    if data["tests"]:
        assert sum(t["score"] for t in data["tests"]) == pytest.approx(data["score"])


@needs_strong_sandbox
def test_run_autograder_grades_the_reference_in_the_sandbox(bundle, tmp_path):
    root = _gradescope_root(bundle, tmp_path, modules=True)
    as_root = os.geteuid() == 0 and shutil.which("runuser")
    # As root, the runuser branch runs (here as root itself: the `grader` user is setup.sh's job).
    ran, data = _run_autograder(root, **({"AUTOGRADER_USER": "root"} if as_root else {}))
    assert ("grading as user 'root'" if as_root else "not root; grading as") in ran.stderr
    _assert_gradescope_format(data)
    assert data["score"] == pytest.approx(reference_scores()[0])
    assert data["max_score"] == pytest.approx(automatic_points())
    assert {t["visibility"] for t in data["tests"]} == {"visible", "after_due_date"}
    assert data["extra_data"]["sandbox"]["filesystem"] != "NONE"
    pending = sum(t["max_score"] for t in data["extra_data"]["pending_gpu"])
    assert pending == pytest.approx(automatic_points() - reference_scores()[0])
    assert not list((root / "source").rglob("__pycache__")), "nothing written into the source folder"


@needs_strong_sandbox
def test_run_autograder_empty_submission_scores_zero_with_the_reason(bundle, tmp_path):
    root = _gradescope_root(bundle, tmp_path, modules=False)
    ran, data = _run_autograder(root, AUTOGRADER_USER="no-such-user-for-grading")
    if os.geteuid() == 0:
        assert "no user 'no-such-user-for-grading'" in ran.stderr and "grading as root" in ran.stderr
    _assert_gradescope_format(data)
    assert data["score"] == 0 and data["tests"]
    assert sorted(data["extra_data"]["errors"]) == [f"homework_{m}.py was not found in the submission"
                                                    for m in ("autograd", "performance", "tensors")]
    failed = [t for t in data["tests"] if "failed" in t["tags"]]  # the others wait for a GPU
    assert failed and all("was not found in the submission" in t["output"] for t in failed)
    assert "homework_tensors.py was not found in the submission" in data["output"]  # the headline says why


def test_run_autograder_writes_results_when_grading_cannot_run(bundle, tmp_path):
    root = _gradescope_root(bundle, tmp_path, modules=False)
    (root / "submission").rmdir()  # nothing uploaded: the grader exits 2
    ran, data = _run_autograder(root)
    assert "exit code 2" in ran.stderr
    assert data["score"] == 0 and data["tests"] == []
    assert "could not grade" in data["output"] and "no such file or folder" in data["output"]
    # No grader Python at all (setup.sh failed): still a results.json the student can read.
    ran, data = _run_autograder(root, AUTOGRADER_PYTHON=str(tmp_path / "missing-python"))
    assert data["score"] == 0 and "could not grade" in data["output"]
    if shutil.which("python3"):  # the fallback writer's Python; without one, a fixed message
        assert "setup.sh did not finish" in data["output"]

"""Gradescope: the autograder bundle (setup.sh, run_autograder) run here as the platform runs it,
and results.json as a student sees it.

As root (CI), setup.sh builds the image once for the whole module: the bundle unpacked as
/autograder is, a venv from the bundle's own files on Debian's Python (not the development one),
a grading user of the test's own; run_autograder, started as root, grades the reference as that
user, and the whole grading's peak memory is measured. What is shimmed, and why: autograder/tests/gradescope_image.py.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder import cli, export_gradescope
from autograder.expected import outcomes
from autograder.report import gradescope
from autograder.tests import REPO, automatic_points, collected, reference_scores
from hwkit import i18n
from hwkit.grading import load_grading
from hwkit.record import build
from hwkit.scoring import score
from hwkit.text import points

from . import gradescope_image as image_kit
from .conftest import needs_strong_sandbox

#: Gradescope's default container memory is 768 MB; the whole grading must stay well below it.
MEMORY_BUDGET_MB = 700


# --- Gradescope: the autograder zip ------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return export_gradescope.build_bundle(tmp_path_factory.mktemp("bundle") / "dist" / "autograder.zip")


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




def _submit(root: Path, modules: bool) -> None:
    """The student's upload: the reference's modules, or nothing."""
    shutil.rmtree(root / "submission", ignore_errors=True)
    (root / "submission").mkdir()
    if modules:
        for f in sorted((REPO / "solutions").glob("homework_*.py")):
            shutil.copy(f, root / "submission" / f.name)


def _results(root: Path) -> dict:
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def _run_autograder(root: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict]:
    """run_autograder with the development Python (no setup.sh): for what needs no image."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AUTOGRADER_"))}
    full_env.update({"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable, **env})
    ran = subprocess.run([str(root / "run_autograder")], env=full_env, cwd=root, capture_output=True, text=True,
                         timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return ran, _results(root)


def _assert_gradescope_format(data: dict) -> None:
    """Gradescope's results.json (gradescope-autograders.readthedocs.io/en/latest/specs/)."""
    assert isinstance(data["score"], (int, float)) and isinstance(data["tests"], list)
    assert data.get("output_format", "simple_format") in ("text", "html", "simple_format", "md", "ansi")
    for t in data["tests"]:
        assert {"name", "score", "max_score", "visibility"} <= set(t), t
        assert t.get("status", "passed") in ("passed", "failed")
        assert t.get("output_format", "text") in ("text", "html", "simple_format", "md", "ansi")
        assert t["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    if data["tests"]:
        assert sum(t["score"] for t in data["tests"]) == pytest.approx(data["score"])


# --- Gradescope's image: setup.sh and run_autograder for real -------------------------------------

@dataclass
class Image:
    root: Path
    env: dict[str, str]
    shims: Path
    setup: subprocess.CompletedProcess
    setup_s: float
    reference: subprocess.CompletedProcess  # run_autograder on the reference
    results: dict
    grading_s: float
    memory: image_kit.MemoryPeak
    source_changes: list[str]


@pytest.fixture(scope="module")
def image(bundle) -> Image:
    """setup.sh run once, as root, on a tree laid out as /autograder: the venv built from the
    bundle's own files on $AUTOGRADER_TEST_SETUP_PYTHON (default Debian's /usr/bin/python3.11,
    not the development venv's), TORCH_INDEX='' (no extra index: pip uses the package index and
    PIP_FIND_LINKS), and a grading user of the test's own, which setup.sh's own useradd creates
    and the test removes. Then run_autograder, as root, on the reference, its process tree's PSS
    sampled every 25 ms. Shimmed: only apt-get (it needs root's package database and the
    network; gradescope_image.py)."""
    if os.geteuid() != 0:
        pytest.skip("setup.sh and run_autograder run as root on Gradescope's image (useradd, runuser); "
                    "run this module as root to test them for real (CI does)")
    if not os.access(image_kit.SETUP_PYTHON, os.X_OK):
        pytest.skip(f"no {image_kit.SETUP_PYTHON} to build the image's venv with "
                    "(set AUTOGRADER_TEST_SETUP_PYTHON to another Python >= 3.11)")
    if not shutil.which("dpkg-query"):
        pytest.skip("the apt-get shim answers from dpkg's database: this needs Debian or Ubuntu, as the image is")
    image_kit.remove_user()  # (left by a run that was killed)
    base = image_kit.fresh_folder("autograder-gs-")
    try:
        root = _gradescope_root(bundle, base, modules=True)
        shims = image_kit.shims(base / "shims")
        env = image_kit.environment(root, shims, AUTOGRADER_SETUP_PYTHON=image_kit.SETUP_PYTHON, TORCH_INDEX="")
        started = time.perf_counter()
        setup = subprocess.run([str(root / "source" / "setup.sh")], cwd=root / "source", env=env,
                               capture_output=True, text=True, timeout=1500)
        setup_s = time.perf_counter() - started
        assert setup.returncode == 0, (setup.stdout[-3000:], setup.stderr[-5000:])
        before = image_kit.tree_snapshot(root / "source")
        reference, memory, grading_s = image_kit.run_measured([str(root / "run_autograder")], env=env, cwd=root,
                                                              timeout=600)
        after = image_kit.tree_snapshot(root / "source")
        assert reference.returncode == 0, reference.stderr[-3000:]
        changes = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        print(f"\nGradescope image: setup.sh {setup_s:.0f} s; run_autograder on the reference {grading_s:.1f} s, "
              f"peak PSS {memory.peak_mb:.0f} MB ({memory.samples} samples, up to {memory.most_processes} "
              "processes)")
        yield Image(root, env, shims, setup, setup_s, reference, _results(root), grading_s, memory, changes)
    finally:
        image_kit.remove_user()
        image_kit.remove_folder(base)
    assert not image_kit.user_exists(), f"the test user {image_kit.TEST_USER} was not removed"


def test_setup_sh_builds_the_venv_from_the_bundle_on_another_python(image):
    log = image.setup.stdout + image.setup.stderr
    venv = image.root / "source" / ".venv" / "bin" / "python"
    probe = subprocess.run([str(venv), "-c", "import sys, torch, autograder; print(sys.base_prefix, torch.__version__, "
                                             "autograder.__file__)"],
                           capture_output=True, text=True, timeout=120, env=image.env, cwd="/")
    base_prefix, torch_version, engine = probe.stdout.split()
    chosen = subprocess.run([image_kit.SETUP_PYTHON, "-c", "import sys; print(sys.base_prefix)"],
                            capture_output=True, text=True, timeout=60).stdout.strip()
    assert base_prefix == chosen and torch_version.startswith("2.13.0")  # on the Python asked for
    assert (image.root / "source" / ".venv" / "pyvenv.cfg").is_file()  # a venv of its own, from the bundle
    assert Path(engine).is_relative_to(image.root / "source"), "the grader is the bundle's own copy"
    assert f"using {image_kit.SETUP_PYTHON} (Python 3." in log
    assert "download.pytorch.org" not in log  # TORCH_INDEX='' means no extra index
    apt = (image.shims / "apt.log").read_text().splitlines()
    assert "apt-get update -y" in apt
    for package in ("bubblewrap", "libseccomp2"):
        assert any(line.startswith("apt-get install") and line.endswith(f" {package}") for line in apt), apt
    assert f"creating the user {image_kit.TEST_USER}" in log  # setup.sh's own useradd
    user = pwd.getpwnam(image_kit.TEST_USER)
    assert user.pw_uid != 0 and user.pw_shell.endswith("nologin")
    assert f"sandbox for user {image_kit.TEST_USER}" in log  # what the grading user gets, reported
    # Nothing of the authoring tools on the image (issue 16: they broke setup.sh there).
    for absent in ("nbgrader", "babel", "jupyter_server"):
        found = subprocess.run([str(venv), "-c", f"import importlib.util as u; print(u.find_spec({absent!r}))"],
                               capture_output=True, text=True, timeout=60, env=image.env, cwd="/")
        assert found.stdout.strip() == "None", absent


def test_run_autograder_grades_the_reference_as_an_unprivileged_user(image):
    """run_autograder runs as root, as on Gradescope; the grader runs as the test's user and
    its sandbox as that user's uid (seen from outside) in a user namespace, with no
    capabilities: a root grader would have shown its own sandbox uid instead."""
    data, uid = image.results, pwd.getpwnam(image_kit.TEST_USER).pw_uid
    assert f"grading as user '{image_kit.TEST_USER}' (uid {uid})" in image.reference.stderr
    # For the course staff only (Gradescope shows run_autograder's output to instructors): the sandbox.
    assert f"run_autograder: score {data['score']} of {data['max_score']} ; sandbox" in image.reference.stdout
    _assert_gradescope_format(data)
    assert data["score"] == pytest.approx(reference_scores()[0])
    assert data["max_score"] == pytest.approx(automatic_points())
    assert data["output_format"] == "md" and {t["visibility"] for t in data["tests"]} == {"visible", "after_due_date"}
    sandbox = data["extra_data"]["sandbox"]
    print("\nextra_data.sandbox:", json.dumps(sandbox, indent=2))
    assert sandbox["filesystem"] != "NONE" and sandbox["weak"] == []
    assert "grader is root" not in sandbox["user"]  # (the grader's own euid was not 0)
    measured = sandbox["measured"]
    assert measured["uids_outside"] == [uid], measured
    assert measured["no_new_privs"] == 1 and set(measured["capabilities"].values()) == {"0" * 16}
    if sandbox["tier"] == "bubblewrap":
        assert measured["uid"] == 65534  # "nobody" inside bubblewrap's user namespace
    pending = [t for t in data["tests"] if "pending_gpu" in t["tags"]]
    assert pending and all("status" not in t and t["max_score"] == t["score"] == 0 for t in pending)
    assert sum(t["max_score"] for t in data["extra_data"]["pending_gpu"]) == pytest.approx(
        automatic_points() - reference_scores()[0])
    assert image.source_changes == [], "the grading wrote into /autograder/source"


def test_the_whole_grading_fits_gradescopes_memory(image):
    """PSS of run_autograder's whole tree (runuser, the grader, the sandbox's zygote and
    workers), summed at each sample: shared pages (torch's libraries, forked workers) count once."""
    memory = image.memory
    assert memory.samples > 20 and memory.most_processes >= 4, "the sampler saw the grading"
    heaviest = sorted(memory.at_peak.items(), key=lambda kv: -kv[1])[:8]
    detail = ", ".join(f"{name}: {kb // 1024} MB" for name, kb in heaviest)
    print(f"\npeak PSS {memory.peak_mb:.0f} MB: {detail}")
    assert memory.peak_mb < MEMORY_BUDGET_MB, f"peak PSS {memory.peak_mb:.0f} MB > {MEMORY_BUDGET_MB} MB: {detail}"


@needs_strong_sandbox
def test_run_autograder_empty_submission_scores_zero_with_the_reason(image):
    root = image.root
    _submit(root, modules=False)
    try:
        env = dict(image.env, AUTOGRADER_USER="no-such-user-for-grading")
        ran = subprocess.run([str(root / "run_autograder")], env=env, cwd=root, capture_output=True, text=True,
                             timeout=600)
        assert ran.returncode == 0, ran.stderr[-3000:]
        data = _results(root)
    finally:
        _submit(root, modules=True)
    assert "no user 'no-such-user-for-grading'" in ran.stderr and "grading as root" in ran.stderr
    _assert_gradescope_format(data)
    assert data["score"] == 0 and data["tests"]
    assert sorted(data["extra_data"]["errors"]) == [f"homework_{m}.py was not found in the submission"
                                                    for m in ("autograd", "performance", "tensors")]
    failed = [t for t in data["tests"] if t.get("status") == "failed"]
    assert failed and all("was not found in the submission" in t["output"] for t in failed)
    assert all("pending_gpu" in t["tags"] for t in data["tests"] if "status" not in t)
    # The headline says why, in Markdown.
    assert r"homework\_tensors\.py was not found in the submission" in data["output"]


def test_run_autograder_writes_results_when_grading_cannot_run(bundle, tmp_path):
    root = _gradescope_root(bundle, tmp_path, modules=False)
    (root / "submission").rmdir()  # nothing uploaded: the grader exits 2
    ran, data = _run_autograder(root)
    assert "exit code 2" in ran.stderr
    assert data["score"] == 0 and data["tests"] == [] and data["output_format"] == "md"
    assert "could not grade" in data["output"] and "no such file or folder" in data["output"]
    reason = data["output"].split("```text\n", 1)[1]
    assert reason.endswith("\n```\n") and "```" not in reason[:-5], "the reason is one code block"
    # No grader Python at all (setup.sh failed): still a results.json the student can read.
    ran, data = _run_autograder(root, AUTOGRADER_PYTHON=str(tmp_path / "missing-python"))
    assert data["score"] == 0 and "could not grade" in data["output"] and data["output_format"] == "md"
    if shutil.which("python3"):  # the fallback writer's Python; without one, a fixed message
        assert "setup.sh did not finish" in data["output"]


# --- results.json as a student sees it -----------------------------------------------------------

def _partial_record(**changes):
    """The record of examples/examples.json's `partial` submission, made by hand (no grading):
    Task 1 right, Task 2 with two mistakes, Task 3 not started; failure messages that quote code."""
    grading = load_grading(REPO / "grading.yml")
    spec = json.loads((REPO / "examples" / "examples.json").read_text(encoding="utf-8"))["partial"]
    found = outcomes(grading, collected(), tuple(spec["loses"]), tuple(spec["keeps"]))
    for o in found:
        if o.status == "failed":
            o.message = f"AssertionError: f(*args, **kwargs) != x * y in {o.nodeid.split('::')[1]}; see __init__"
    return build(grading.assignment, "partial", score(grading, found), execution_time=3.5, sandbox={"tier": "test"},
                 worker_restarts=0, gpu="off", errors=["<notes_final>.txt is not a homework module"], **changes)


def _numbers(text: str) -> list[str]:
    """The figures in a Markdown text (its backslash escapes removed)."""
    return re.findall(r"\d+(?:\.\d+)?", text.replace("\\", ""))


def test_before_the_due_date_nothing_reveals_the_hidden_tests():
    """Every field a student can see before the due date: the top-level output, and each visible
    test's name, score, max_score, status, output and tags. Hidden tests are after_due_date; the
    top-level score is not shown then ("If test cases are hidden, students will not be able to
    see their total score"), and extra_data is "Optional extra data to be stored", not shown."""
    record = _partial_record()
    # A visible test whose message names a hidden one (as a `requires:` gate's would).
    hidden_ids = [t.name for t in record.tests if t.hidden]
    at = next(i for i, t in enumerate(record.tests) if not t.hidden and t.status == "failed")
    record.tests[at] = record.tests[at].model_copy(
        update={"output": f"counts once {hidden_ids[0].split('::')[1]} has passed"})
    data = gradescope.to_gradescope(record)
    _assert_gradescope_format(data)

    visible = [t for t in data["tests"] if t["visibility"] == "visible"]
    assert any(t["output"] == "counts once a hidden test has passed" for t in visible)
    assert {t["name"] for t in data["tests"] if t["visibility"] != "visible"} == set(hidden_ids)
    assert {t["visibility"] for t in data["tests"] if t["name"] in hidden_ids} == {"after_due_date"}
    assert "visibility" not in data  # (a top-level default would apply to every test without one)

    seen = [data["output"]]
    for t in visible:
        assert "hidden" not in t["tags"]
        seen += [t["name"], t["output"], t.get("status", ""), str(t["score"]), str(t["max_score"]), *t["tags"]]
    shown = "\n".join(seen)
    public_names = {t["name"].split("::")[1] for t in visible}
    for test_id in hidden_ids:
        function = test_id.split("::")[1]
        assert test_id not in shown
        if function not in public_names:
            assert not re.search(rf"\b{re.escape(function)}\b", shown), function

    # The top-level output: the visible tests' score, the number and worth of the others, and
    # nothing else; never the hidden tests' score or the total.
    scored = [t for t in record.tests if t.status != "pending_gpu"]
    pending = [t for t in record.tests if t.status == "pending_gpu"]
    shown_tests = [t for t in scored if not t.hidden]
    hidden_scored = [t for t in scored if t.hidden]
    manual = [t for t in record.tasks if t.manual]
    allowed = {points(sum(t.score for t in shown_tests)), points(sum(t.max_score for t in shown_tests)),
               str(len(hidden_scored)), points(sum(t.max_score for t in hidden_scored)),
               str(len(pending)), points(sum(t.max_score for t in pending)), "3.5",  # (Task 3.5's title)
               *(points(t.max_score) for t in manual)}
    secret = {points(sum(t.score for t in hidden_scored)), points(record.score),
              points(record.score + sum(t.max_score for t in manual))}
    assert not secret & allowed, "this record cannot tell a leak from an allowed figure"
    assert set(_numbers(data["output"])) <= allowed, data["output"]
    assert data["output"].startswith(f"**Visible tests: {points(sum(t.score for t in shown_tests))} / "
                                     f"{points(sum(t.max_score for t in shown_tests))} points.**")
    assert f"Hidden tests: {len(hidden_scored)}, worth {points(sum(t.max_score for t in hidden_scored))} points" \
        in data["output"]
    assert "“GPU tests”" in data["output"] and "graded by hand" in data["output"]
    # Markdown for our text, with the submission's own text escaped; the tests' messages verbatim.
    assert data["output_format"] == "md" and data["test_output_format"] == "text"
    assert r"&lt;notes\_final&gt;\.txt is not a homework module" in data["output"]
    assert all(t["output_format"] == "text" for t in data["tests"])
    assert any("f(*args, **kwargs) != x * y" in t["output"] and "__init__" in t["output"] for t in visible)

    # GPU tests never show as failed: no status, and max_score = score (0); their points are
    # the separate question's, so the autograder's maximum is the same for every submission.
    gpu = [t for t in data["tests"] if "pending_gpu" in t["tags"]]
    assert gpu and all("status" not in t and t["score"] == t["max_score"] == 0 for t in gpu)
    assert all("separate question “GPU tests”" in t["output"] for t in gpu)
    assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(reference_scores()[0])
    assert sum(t["max_score"] for t in data["extra_data"]["pending_gpu"]) == pytest.approx(
        automatic_points() - reference_scores()[0])
    # After the due date: everything, and the tests add up to the score.
    assert data["score"] == pytest.approx(record.score) and data["max_score"] == pytest.approx(record.max_score)


def test_the_student_view_in_russian(tmp_path, monkeypatch):
    """The same layout in Russian (the catalogue compiled from the .po files here, so a stale
    homework.mo cannot hide a missing message)."""
    from autograder import translations

    mo = tmp_path / "ru" / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo"
    mo.parent.mkdir(parents=True)
    mo.write_bytes(translations.compiled(translations.merged()))
    monkeypatch.setattr(i18n, "LOCALE", tmp_path)
    with i18n.using("ru"):
        record = _partial_record(lang="ru")
    data = gradescope.to_gradescope(record)
    assert data["output"].startswith("**Баллы за открытые тесты: ")
    assert "Скрытые тесты: " in data["output"] and "«GPU tests»" in data["output"]
    gpu = next(t for t in data["tests"] if "pending_gpu" in t["tags"] and t["name"].endswith("real_kernel"))
    assert gpu["output"].startswith("Здесь не проверялся") and "1 балл начислят" in gpu["output"]
    assert i18n.language() == "en"

"""The student template built by autograder/release/: complete, runnable, and leak-free.

Run from the repository root:  .venv/bin/python -m pytest -q -p no:cacheprovider autograder/tests/test_release.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml
from nbgrader.nbgraderformat import MetadataValidator
from packaging.requirements import Requirement

from autograder.tests import REPO, collected, reference_scores, venvs
from autograder import cli, release, stubgen, translations
from hwkit.grading import load_grading

SOLUTIONS = REPO / "solutions"
MODULES = tuple(m.file for m in load_grading(REPO / "grading.yml").modules.values())
PINS = ("torch", "numpy", "pytest", "pytest-timeout", "pydantic", "pydantic_core", "PyYAML")


def expected_files() -> set[str]:
    tests = {p.relative_to(REPO).as_posix() for p in
             [REPO / "tests" / "__init__.py", REPO / "tests" / "conftest.py",
              *(REPO / "tests").glob("test_*.py"), *(REPO / "tests" / "snapshots").glob("*.json"),
              *(REPO / "hwkit").glob("*.py")]}
    files = {*MODULES, "analysis.ipynb", "README.md", "grading.yml", "requirements.txt", "pytest.ini",
             ".gitignore", translations.MO_PATH, *tests}
    if (REPO / "autograder" / "templates" / "autograde.yml").is_file():
        files.add(".github/workflows/autograde.yml")
    return files


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(folder).parts}


def solution_cell_lines() -> list[str]:
    notebook = nbformat.read(str(SOLUTIONS / "analysis.ipynb"), as_version=4)
    return [line.strip() for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("solution")
            for line in cell.source.split("\n") if len(line.strip()) > 8]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One release, built over an earlier one inside a clone (its .git must survive)."""
    out = tmp_path_factory.mktemp("release-build") / "release"
    (out / "hwkit").mkdir(parents=True)
    (out / "hwkit" / "plugin.py").write_text("# earlier release\n")
    (out / "grading.yml").write_text("assignment: old\n")
    (out / "stale_file.py").write_text("x = 1\n")
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    problems = release.build_release(out)
    return out, problems


def run_pytest(folder: Path, *extra: str, columns: int = 400) -> subprocess.CompletedProcess:
    """Plain `pytest` in ``folder``, as a student runs it: in a fresh venv made from the
    release's own requirements.txt (autograder.tests.venvs), nothing of the course repo on the path."""
    python = venvs.student_python(folder)  # (400 columns: summary lines untruncated)
    return venvs.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", *extra], folder, timeout=300,
                     columns=columns)


def counts(output: str) -> dict[str, int]:
    last = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)][-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", last)}


# -- 1. the tree ----------------------------------------------------------------------------------

def test_build_is_clean_and_replaces_an_earlier_release_keeping_git(built):
    out, problems = built
    assert problems == []
    assert release.check_release(out) == []
    assert not (out / "stale_file.py").exists()
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["release"]  # no temp or old folder left


def test_tree_holds_exactly_the_student_files(built):
    out, _ = built
    files = tree(out)
    assert files == expected_files()
    for rel in files:
        parts = rel.split("/")
        assert parts[0] not in ("autograder", "solutions", "examples", "assignment") and "hidden" not in rel, rel
    assert not (out / "__init__.py").exists()  # the root must not be a package (pytest's rootdir)


def test_stubs_readme_requirements_and_pytest_ini(built):
    out, _ = built
    for name in MODULES:
        assert (out / name).read_text(encoding="utf-8") == stubgen.stub_module(SOLUTIONS / name)
        assert "NotImplementedError" in (out / name).read_text(encoding="utf-8")
    assert (out / "README.md").read_bytes() == (REPO / "docs" / "student-readme.md").read_bytes()
    for rel in tree(out):
        if rel.startswith(("tests/", "hwkit/")) and rel != translations.MO_PATH:
            assert (out / rel).read_bytes() == (REPO / rel).read_bytes(), rel
    # The Russian messages of the public tests only (see test_feedback.py for the hidden ones).
    assert (out / translations.MO_PATH).read_bytes() == translations.compiled_public()

    # Tested ranges (autograder/release/requirements.py; resolved per platform in test_requirements.py),
    # each holding the TA's pin from constraints.txt.
    lines = [line for line in (out / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    ranges = [Requirement(line) for line in lines]
    assert [r.name for r in ranges] == list(PINS) and "torch>=2.13,<2.14" in lines
    constraints = dict(line.split("#")[0].strip().split("==") for line in
                       (REPO / "constraints.txt").read_text().splitlines() if "==" in line)
    assert all(r.specifier.contains(constraints[r.name]) for r in ranges)

    ini = (out / "pytest.ini").read_text()
    assert "[pytest]" in ini and "testpaths = tests" in ini
    template = REPO / "autograder" / "templates" / "autograde.yml"
    if template.is_file():
        assert (out / ".github" / "workflows" / "autograde.yml").read_bytes() == template.read_bytes()


def test_notebook_is_nbgraders_student_version(built):
    out, _ = built
    text = (out / "analysis.ipynb").read_text(encoding="utf-8")
    notebook = nbformat.reads(text, as_version=4)
    MetadataValidator().validate_nb(notebook)
    source = nbformat.read(str(SOLUTIONS / "analysis.ipynb"), as_version=4)
    assert [c.metadata["nbgrader"]["grade_id"] for c in notebook.cells] == \
        [c.metadata["nbgrader"]["grade_id"] for c in source.cells]

    def manual_answers(nb):
        return [c for c in nb.cells if c.metadata["nbgrader"].get("grade") and c.metadata["nbgrader"].get("solution")]

    answers, expected = manual_answers(notebook), manual_answers(source)
    assert len(answers) == len(expected) == 4
    assert sum(c.metadata["nbgrader"]["points"] for c in answers) == 10
    for cell in notebook.cells:
        meta = cell.metadata["nbgrader"]
        assert "checksum" in meta  # written by generate_assignment, not by stubgen
        assert cell.get("outputs", []) == []
        if meta.get("solution"):
            assert meta["locked"] is False and cell.metadata.get("editable", True) is True
            assert cell.source in ("YOUR ANSWER HERE", stubgen.NOTEBOOK_CODE_STUB)
        else:
            assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False
    secret = solution_cell_lines()
    assert secret and not [line for line in secret if line in text or line.replace('"', '\\"') in text]


# -- 2. the public suite inside the release --------------------------------------------------------

def _released_points(out: Path) -> tuple[float, float]:
    """(hidden points, points waiting for a GPU) of the reference under the released grading.yml."""
    from autograder.expected import expected_tasks

    shipped = load_grading(out / "grading.yml")
    hidden = sum(t.hidden_points for t in shipped.automatic_tasks().values())
    tasks = expected_tasks(shipped, {k: v for k, v in collected().items() if k in shipped.all_tests()})
    gpu = sum(t.max_score for task in tasks for t in task.tests if t.status == "pending_gpu")
    return hidden, gpu


def with_reference(out: Path, tmp_path: Path) -> Path:
    """A copy of the release ``out`` with the reference modules in place of the stubs."""
    copy = tmp_path / "student"
    shutil.copytree(out, copy)
    for name in MODULES:
        shutil.copyfile(SOLUTIONS / name, copy / name)
    return copy


def test_public_suite_passes_in_the_release_with_the_reference_modules(built, tmp_path):
    out, _ = built
    proc = run_pytest(with_reference(out, tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    c = counts(proc.stdout)
    assert c.get("failed", 0) == 0 and "error" not in c and "errors" not in c and c["passed"] > 50
    lines = proc.stdout.strip().splitlines()
    assert len(lines) <= 20 and "what to fix" not in proc.stdout, proc.stdout
    # Full local points, green; the hidden and GPU points on lines of their own, in no denominator.
    public = f"{reference_scores()[1]:g}"
    assert re.search(rf"Tests run here\s+{public} / {public}$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^Task 1 — Tensors\s+8 / 8$", proc.stdout, re.M), proc.stdout
    hidden, gpu = _released_points(out)
    assert f"Hidden tests: {hidden:g} more points, checked when your work is graded." in proc.stdout
    assert f"GPU tests: {gpu:g} more points" in proc.stdout
    assert " 0 / " not in proc.stdout  # no passing test shown as earning nothing


def test_untouched_release_says_where_to_start_in_a_screenful(built):
    out, _ = built
    proc = run_pytest(out)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    c = counts(proc.stdout)
    assert c.get("passed", 0) == 0 and c["failed"] > 50 and "error" not in c and "errors" not in c
    lines = proc.stdout.strip().splitlines()
    assert len(lines) <= 60, f"{len(lines)} lines"
    assert "Not started yet:" in proc.stdout and "Start with create_tensors" in proc.stdout
    assert "Traceback" not in proc.stdout and "def create_tensors" not in proc.stdout
    # The points come last (only pytest's one-line count after them).
    assert lines.index(next(line for line in lines if "points per task" in line)) > \
        lines.index(next(line for line in lines if "what to fix" in line))
    assert lines[-1].startswith(f"{c['failed']} failed")


def test_the_student_readme_shows_what_pytest_really_prints(built):
    """The output pasted in the README (docs/student-readme.md) is the untouched release's, now."""
    out, _ = built
    shown = (out / "README.md").read_text(encoding="utf-8")
    pasted = shown[shown.index("```text\n") + len("```text\n"):]
    pasted = pasted[:pasted.index("```")]
    ran = run_pytest(out, columns=100).stdout
    assert re.sub(r" in [0-9.]+s$", "", ran, flags=re.M) == pasted, \
        "docs/student-readme.md is stale: paste the output of `pytest` in a fresh release (COLUMNS=100)"


# -- 3. the leak check ----------------------------------------------------------------------------

def _plant_solution_line(root: Path) -> str:
    line = sorted(s for s in release.secret_lines() if "=" in s)[0]
    with open(root / "homework_tensors.py", "a", encoding="utf-8") as f:
        f.write(f"\n# shortcut\n{line}\n")
    return "homework_tensors.py"


def _plant_hidden_name(root: Path) -> str:
    name = sorted(release.hidden_test_names())[0]
    with open(root / "tests" / "test_tensors.py", "a", encoding="utf-8") as f:
        f.write(f"\n# see also {name}\n")
    return "tests/test_tensors.py"


def _plant_solutions_import(root: Path) -> str:
    with open(root / "hwkit" / "seam.py", "a", encoding="utf-8") as f:
        f.write("\nfrom solutions.homework_tensors import index_tensor  # noqa\n")
    return "hwkit/seam.py"


def _plant_hidden_file(root: Path) -> str:
    (root / "autograder" / "hidden").mkdir(parents=True)
    shutil.copyfile(REPO / "autograder" / "hidden" / "test_tensors_hidden.py",
                    root / "autograder" / "hidden" / "test_tensors_hidden.py")
    return "autograder/hidden/test_tensors_hidden.py"


def _plant_hidden_test_in_grading(root: Path) -> str:
    path = root / "grading.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    hidden_id = next(t for t in yaml.safe_load((REPO / "grading.yml").read_text())["tasks"]["task1"]["tests"]
                     if not t.startswith("tests/"))
    data["tasks"]["task1"]["tests"][hidden_id] = 1.0
    data["tasks"]["task1"]["hidden_points"] -= 1.0
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return "grading.yml"


def _plant_notebook_answer(root: Path) -> str:
    path = root / "analysis.ipynb"
    notebook = nbformat.read(str(path), as_version=4)
    source = nbformat.read(str(SOLUTIONS / "analysis.ipynb"), as_version=4)
    answer = next(c for c in source.cells if c.metadata["nbgrader"]["grade_id"] == "answer_a")
    cell = next(c for c in notebook.cells if c.metadata["nbgrader"]["grade_id"] == "answer_a")
    cell.source = answer.source
    nbformat.write(notebook, str(path))
    return "analysis.ipynb"


@pytest.mark.parametrize("plant", [_plant_solution_line, _plant_hidden_name, _plant_solutions_import,
                                   _plant_hidden_file, _plant_hidden_test_in_grading, _plant_notebook_answer],
                         ids=lambda f: f.__name__.removeprefix("_plant_"))
def test_leak_check_catches_a_planted_leak(built, tmp_path, plant):
    out, _ = built
    copy = tmp_path / "release"
    shutil.copytree(out, copy)
    assert release.check_release(copy) == []
    where = plant(copy)
    problems = release.check_release(copy)
    assert problems and any(p.startswith(where) for p in problems), problems


# -- 4. the public grading.yml --------------------------------------------------------------------

def test_released_grading_yml_keeps_public_tests_and_hidden_totals(built):
    out, _ = built
    course = load_grading(REPO / "grading.yml")
    public = load_grading(out / "grading.yml")
    assert public.total == course.total and public.assignment == course.assignment
    assert public.limits == course.limits and public.feedback == course.feedback
    assert list(public.tasks) == list(course.tasks)
    for name, task in course.tasks.items():
        shipped = public.tasks[name]
        assert shipped.points == task.points and shipped.title == task.title and shipped.manual == task.manual
        if task.manual:
            continue
        assert shipped.tests == {t: p for t, p in task.tests.items() if t.startswith("tests/")}
        hidden = sum(p for t, p in task.tests.items() if not t.startswith("tests/"))
        assert shipped.hidden_points > 0 and abs(shipped.hidden_points - hidden) < 1e-9
        assert shipped.requires == {d: p for d, p in task.requires.items()
                                    if d.startswith("tests/") and p.startswith("tests/")}
    text = (out / "grading.yml").read_text(encoding="utf-8")
    assert text.startswith("# grading.yml") and "RELEASED version" in text.splitlines()[0]
    assert "autograder" not in text.replace("`autograder release`", "")
    assert "# gpu" in text  # the GPU tests keep their marker comment


# -- the command ----------------------------------------------------------------------------------

def fake_repo(tmp_path: Path) -> Path:
    """The inputs of a release (without a .git or the grader), to break one of them."""
    repo = tmp_path / "course"
    for rel in ("solutions", "tests", "hwkit", "autograder/hidden", "docs"):
        shutil.copytree(REPO / rel, repo / rel, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ("grading.yml", "constraints.txt"):
        shutil.copyfile(REPO / rel, repo / rel)
    return repo


@pytest.fixture
def quick_notebook(monkeypatch):
    """stubgen's notebook instead of a run of nbgrader (seconds): the command's own logic is tested."""
    monkeypatch.setattr("autograder.release.notebook.render_notebook",
                        lambda path, assignment: stubgen.stub_notebook(path))


def command(repo: Path, out: Path | None) -> int:
    """`autograder release` for the course folder `repo`."""
    return cli.main(["release", "--course", str(repo)] + ([] if out is None else ["--out", str(out)]))


def test_command_writes_the_release_and_defaults_to_dist(tmp_path, capsys, quick_notebook):
    repo = fake_repo(tmp_path)
    assert command(repo, None) == 0
    assert (repo / "dist" / "release" / "grading.yml").is_file()
    assert "leak check clean" in capsys.readouterr().out


def test_command_exits_1_listing_each_leak_and_keeps_out(tmp_path, monkeypatch, capsys, quick_notebook):
    repo = fake_repo(tmp_path)
    hidden = sorted(release.hidden_test_names(REPO))[0]
    with open(repo / "docs" / "student-readme.md", "a", encoding="utf-8") as f:
        f.write(f"\nThe hidden test {hidden} checks autograder/hidden/ inputs.\n")
    out = tmp_path / "out" / "release"
    assert command(repo, out) == 1
    err = capsys.readouterr().err
    assert "leak check failed" in err
    assert "README.md:" in err and hidden in err and "autograder/hidden" in err
    assert not out.exists() and (out.parent / "release.rejected" / "README.md").is_file()


def test_command_reports_a_missing_solutions_file_in_one_line(tmp_path, monkeypatch, capsys):
    repo = fake_repo(tmp_path)
    (repo / "solutions" / "homework_autograd.py").unlink()
    out = tmp_path / "out"
    assert command(repo, out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "homework_autograd.py" in err and err.startswith("release: error:")
    assert not out.exists()


def test_the_hidden_suites_come_from_grading_yml(tmp_path, quick_notebook):
    """A course that keeps its hidden suite elsewhere: the leak check looks for that folder."""
    repo = fake_repo(tmp_path)
    (repo / "grader").mkdir()
    shutil.move(repo / "autograder" / "hidden", repo / "grader" / "secret")
    grading = repo / "grading.yml"
    grading.write_text(grading.read_text(encoding="utf-8").replace("autograder/hidden", "grader/secret"),
                       encoding="utf-8")
    assert release.hidden_test_names(repo) == release.hidden_test_names(REPO)
    out = tmp_path / "out"
    assert release.build_release(out, repo) == []
    assert tree(out) == expected_files() - {".github/workflows/autograde.yml"}  # (no template here)
    with open(out / "README.md", "a", encoding="utf-8") as f:
        f.write("\nThe grader also runs grader/secret/test_x.py.\nIt imports grader.secret.helpers.\n")
    problems = release.check_release(out, repo)
    assert [p for p in problems if p.startswith("README.md:") and p.endswith("hidden suites (grader/secret)")]
    assert [p for p in problems if p.startswith("README.md:") and p.endswith("hidden suites (grader.secret)")]


def test_refuses_to_replace_a_folder_that_is_not_a_release(tmp_path):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    with pytest.raises(release.ReleaseError, match="not an earlier release"):
        release.build_release(precious)
    assert (precious / "thesis.txt").read_text() == "keep me"
    with pytest.raises(release.ReleaseError, match="course repository"):
        release.build_release(REPO)

"""Tests of the stub generator (autograder/stubgen.py) and of the committed assignment/.

Run from the repository root:  .venv/bin/python -m pytest -q autograder/tests/test_stubgen.py
"""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbgrader.nbgraderformat import MetadataValidator

from autograder import stubgen
from autograder.stubgen import StubGenError, check, find_regions, generate, main
from hwkit.grading import load_grading

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "solutions"
ASSIGNMENT = REPO / "assignment"
MODULES = ("homework_tensors", "homework_autograd", "homework_performance")
GENERATED = ("__init__.py", *(f"{m}.py" for m in MODULES), "analysis.ipynb")
#: The modules as the callers give them to stubgen: grading.yml's `modules:`.
DECLARED = stubgen.module_files(load_grading(REPO / "grading.yml"))
GRADING = ["--grading", str(REPO / "grading.yml")]

# The contract: every function a student writes, with its task number.
CONTRACT: dict[str, dict[str, str]] = {
    "homework_tensors": {
        "create_tensors": "1.1",
        "tensor_operations": "1.2",
        "index_tensor": "1.3",
        "reshape_tensor": "1.4",
    },
    "homework_autograd": {
        "simple_gradients": "2.1",
        "analytic_simple_gradients": "2.1",
        "mse": "2.2",
        "linear_mse_gradients": "2.2",
        "analytic_linear_mse_gradients": "2.2",
        "chain_rule_backward": "2.3",
        "chain_rule_autograd_grad": "2.3",
        "chain_rule_analytic": "2.3",
        "CustomReLU.forward": "2.4",
        "CustomReLU.backward": "2.4",
        "second_derivative": "2.5",
        "quadratic_form_hessian": "2.5",
        "accumulated_gradient": "2.6",
    },
    "homework_performance": {
        "make_tensors": "3.1",
        "measure_time": "3.2",
        "op_matmul": "3.3",
        "op_add": "3.3",
        "op_mul": "3.3",
        "op_transpose": "3.3",
        "op_sum": "3.3",
        "benchmark": "3.3",
        "speedup_table": "3.3",
        "format_table": "3.3",
        "transfer_overhead": "3.4",
    },
}
STUB_PACKAGE = "stubgen_generated_under_test"


# --------------------------------------------------------------------------------------
# helpers (deliberately independent of stubgen's own implementation)
# --------------------------------------------------------------------------------------

def region_lines(text: str) -> list[str]:
    """Lines strictly inside ### BEGIN SOLUTION / ### END SOLUTION pairs."""
    inside, found = False, []
    for line in text.splitlines():
        if line.strip() == "### BEGIN SOLUTION":
            inside = True
        elif line.strip() == "### END SOLUTION":
            inside = False
        elif inside:
            found.append(line)
    return found


def secret_lines() -> set[str]:
    """Solution lines that must never reach a student: regions and solution cells."""
    raw: list[str] = []
    for module in MODULES:
        raw += region_lines((SOLUTIONS / f"{module}.py").read_text(encoding="utf-8"))
    notebook = nbformat.read(SOLUTIONS / "analysis.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            raw += cell.source.splitlines()
    return {s for s in (line.strip() for line in raw) if len(s) > 8 and not s.startswith("#")}


def student_lines(directory: Path) -> dict[str, set[str]]:
    found = {}
    for module in MODULES:
        text = (directory / f"{module}.py").read_text(encoding="utf-8")
        found[module] = {line.strip() for line in text.splitlines()}
    notebook = nbformat.read(directory / "analysis.ipynb", as_version=4)
    found["analysis.ipynb"] = {
        line.strip() for cell in notebook.cells for line in cell.source.splitlines()
    }
    return found


def copy_solutions(tmp_path: Path) -> Path:
    target = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def line_number(path: Path, predicate) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if predicate(line):
            return number
    raise AssertionError(f"no matching line in {path}")


def remove_line(path: Path, number: int) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    del lines[number - 1]
    path.write_text("\n".join(lines), encoding="utf-8")


def resolve(module, qualname: str):
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    """The three stub modules freshly generated into a temporary package and imported."""
    root = tmp_path_factory.mktemp("generated")
    generate(SOLUTIONS, root / STUB_PACKAGE, DECLARED)
    sys.path.insert(0, str(root))
    try:
        yield {m: importlib.import_module(f"{STUB_PACKAGE}.{m}") for m in MODULES}
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == STUB_PACKAGE or n.startswith(STUB_PACKAGE + ".")]:
            del sys.modules[name]


# --------------------------------------------------------------------------------------
# the committed assignment/ is what the generator produces
# --------------------------------------------------------------------------------------

def test_committed_assignment_is_byte_identical_to_a_fresh_generation(tmp_path):
    written = generate(SOLUTIONS, tmp_path / "assignment", DECLARED)
    assert sorted(p.name for p in written) == sorted(GENERATED)
    committed = sorted(p.name for p in ASSIGNMENT.iterdir() if p.suffix in (".py", ".ipynb"))
    assert committed == sorted(GENERATED)
    for name in GENERATED:
        assert (tmp_path / "assignment" / name).read_bytes() == (ASSIGNMENT / name).read_bytes(), (
            f"assignment/{name} is stale: run  autograder stubs")


def test_generation_is_deterministic(tmp_path):
    first = generate(SOLUTIONS, tmp_path / "one", DECLARED)
    second = generate(SOLUTIONS, tmp_path / "two", DECLARED)
    generate(SOLUTIONS, tmp_path / "one", DECLARED)  # regenerating in place changes nothing either
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_check_passes_on_the_repository_and_cli_check_exits_0(capsys, monkeypatch):
    assert check(SOLUTIONS, ASSIGNMENT, DECLARED) == []
    monkeypatch.chdir(REPO)
    assert main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_reports_stale_missing_unexpected_and_leaked_files(tmp_path, capsys):
    out = tmp_path / "assignment"
    shutil.copytree(ASSIGNMENT, out, ignore=shutil.ignore_patterns("__pycache__"))
    stub = out / "homework_tensors.py"
    leaked = region_lines((SOLUTIONS / "homework_tensors.py").read_text(encoding="utf-8"))
    leaked_line = next(line for line in leaked if len(line.strip()) > 8 and "rand" in line)
    stub.write_text(stub.read_text(encoding="utf-8") + "\n" + leaked_line.strip() + "\n", encoding="utf-8")
    (out / "homework_autograd.py").unlink()
    (out / "homework_extra.py").write_text("x = 1\n", encoding="utf-8")

    problems = check(SOLUTIONS, out, DECLARED)
    text = "\n".join(problems)
    assert "stale" in text and "homework_tensors.py" in text
    assert "missing" in text and "homework_autograd.py" in text
    assert "unexpected" in text and "homework_extra.py" in text
    assert any("leaked" in p and leaked_line.strip() in p for p in problems)

    assert main(["--check", "--solutions", str(SOLUTIONS), "--out", str(out), *GRADING]) == 1
    printed = capsys.readouterr().out
    assert "homework_tensors.py" in printed and "autograder stubs" in printed


def test_cli_writes_and_reports(tmp_path, capsys):
    out = tmp_path / "student"
    assert main(["--solutions", str(SOLUTIONS), "--out", str(out), *GRADING]) == 0
    printed = capsys.readouterr().out
    for name in GENERATED:
        assert (out / name).is_file()
        assert name in printed


# --------------------------------------------------------------------------------------
# no solution leaks into the student files
# --------------------------------------------------------------------------------------

def test_no_solution_line_in_committed_assignment():
    secrets = secret_lines()
    assert len(secrets) > 50  # the helper really found the reference code
    for name, lines in student_lines(ASSIGNMENT).items():
        leaked = sorted(filter(None, (stubgen.leaked(line, secrets) for line in lines)))
        assert not leaked, f"{name} contains solution lines: {leaked}"


def test_stubs_contain_no_solution_markers_and_one_stub_per_region():
    for module in MODULES:
        text = (ASSIGNMENT / f"{module}.py").read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        solution = (SOLUTIONS / f"{module}.py").read_text(encoding="utf-8")
        regions = solution.count("### BEGIN SOLUTION")
        assert text.count("raise NotImplementedError(") == regions == len(CONTRACT[module])


def test_generate_refuses_to_write_stubs_that_would_leak(tmp_path):
    solutions = copy_solutions(tmp_path)
    path = solutions / "homework_tensors.py"
    secret = next(line.strip() for line in region_lines(path.read_text(encoding="utf-8"))
                  if len(line.strip()) > 8)
    path.write_text(path.read_text(encoding="utf-8") + f"\n# given:\n_GIVEN = '''\n{secret}\n'''\n",
                    encoding="utf-8")
    with pytest.raises(StubGenError, match="solution line"):
        generate(solutions, tmp_path / "out", DECLARED)
    assert not (tmp_path / "out").exists()


def test_generate_refuses_a_docstring_that_quotes_a_solution_line(tmp_path):
    solutions = copy_solutions(tmp_path)
    path = solutions / "homework_tensors.py"
    text = path.read_text(encoding="utf-8")
    secret = next(line.strip() for line in region_lines(text) if len(line.strip()) > 8)
    quoted = text.replace('"""Task 1.1 — ', f'"""Task 1.1 — (as in ``{secret}``) ', 1)
    assert quoted != text
    path.write_text(quoted, encoding="utf-8")
    with pytest.raises(StubGenError, match="solution line"):
        generate(solutions, tmp_path / "out", DECLARED)


# --------------------------------------------------------------------------------------
# the stubs: importable, with the contract's names, each raising a task-named error
# --------------------------------------------------------------------------------------

def test_regions_match_the_contract():
    for module, expected in CONTRACT.items():
        regions = find_regions(SOLUTIONS / f"{module}.py")
        assert {r.name: r.task for r in regions} == expected
        assert len(regions) == len(expected)


@pytest.mark.parametrize("module", MODULES)
def test_committed_stubs_import_cleanly_from_the_repo_root(module):
    result = subprocess.run(
        [sys.executable, "-c", f"import assignment.{module}"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "module, qualname, task",
    [(m, name, task) for m, names in CONTRACT.items() for name, task in names.items()],
)
def test_every_stub_raises_not_implemented_naming_its_task(stubs, module, qualname, task):
    func = resolve(stubs[module], qualname)
    params = inspect.signature(func).parameters.values()
    args = [
        None for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    message = f"Task {task}: {qualname} is not implemented yet"
    with pytest.raises(NotImplementedError, match=f"^{re.escape(message)}$"):
        func(*args)
    assert inspect.getdoc(func).splitlines()[0].startswith(f"Task {task} — ")


def test_stubs_keep_the_given_constants_and_structures(stubs):
    tensors, autograd, performance = (stubs[m] for m in MODULES)
    assert tensors.RESHAPE_TARGETS == [(2, 12), (3, 8), (4, 6), (2, 3, 4), (2, 2, 2, 3)]
    assert performance.DEFAULT_SHAPES == [(64, 1024, 1024), (128, 512, 512), (256, 256, 256)]
    assert list(performance.OPERATIONS) == ["matmul", "add", "mul", "transpose", "sum"]
    assert performance.OPERATIONS["transpose"] is performance.op_transpose
    import torch
    assert issubclass(autograd.CustomReLU, torch.autograd.Function)
    assert isinstance(inspect.getattr_static(autograd.CustomReLU, "forward"), staticmethod)
    assert isinstance(inspect.getattr_static(autograd.CustomReLU, "backward"), staticmethod)
    sig = inspect.signature(performance.measure_time)
    assert sig.parameters["device"].default == "cpu" and sig.parameters["repeat"].default == 10
    assert sig.parameters["warmup"].default == 1


def test_stub_module_docstrings_are_the_solution_docstrings(stubs):
    for module in MODULES:
        reference = importlib.import_module(f"solutions.{module}")
        assert inspect.getdoc(stubs[module]) == inspect.getdoc(reference)
        for qualname in CONTRACT[module]:
            assert inspect.getdoc(resolve(stubs[module], qualname)) == inspect.getdoc(
                resolve(reference, qualname))


# --------------------------------------------------------------------------------------
# broken solutions give a clear error naming file and line, not a traceback
# --------------------------------------------------------------------------------------

def test_begin_without_end_names_file_and_line(tmp_path, capsys):
    solutions = copy_solutions(tmp_path)
    path = solutions / "homework_tensors.py"
    begin = line_number(path, lambda line: line.strip() == "### BEGIN SOLUTION")
    end = line_number(path, lambda line: line.strip() == "### END SOLUTION")
    remove_line(path, end)
    with pytest.raises(StubGenError) as error:
        generate(solutions, tmp_path / "out", DECLARED)
    message = str(error.value)
    # The first BEGIN is now followed by the next one: reported there, naming the open one.
    assert "homework_tensors.py:" in message and "END SOLUTION" in message
    assert f"line {begin}" in message

    out = tmp_path / "out"
    assert main(["--solutions", str(solutions), "--out", str(out), *GRADING]) == 2
    captured = capsys.readouterr()
    assert "stubgen: error:" in captured.err and "homework_tensors.py" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists()


def test_last_region_without_end_reports_the_begin_line(tmp_path):
    solutions = copy_solutions(tmp_path)
    path = solutions / "homework_tensors.py"
    lines = path.read_text(encoding="utf-8").split("\n")
    last_begin = max(i for i, line in enumerate(lines, 1) if line.strip() == "### BEGIN SOLUTION")
    last_end = max(i for i, line in enumerate(lines, 1) if line.strip() == "### END SOLUTION")
    remove_line(path, last_end)
    with pytest.raises(StubGenError, match=rf"homework_tensors\.py:{last_begin}: .*no matching"):
        generate(solutions, tmp_path / "out", DECLARED)


def test_end_without_begin_is_reported(tmp_path):
    solutions = copy_solutions(tmp_path)
    path = solutions / "homework_autograd.py"
    begin = line_number(path, lambda line: line.strip() == "### BEGIN SOLUTION")
    remove_line(path, begin)
    # The region's first END now has no BEGIN.
    end = line_number(path, lambda line: line.strip() == "### END SOLUTION")
    with pytest.raises(StubGenError, match=rf"homework_autograd\.py:{end}: .*without a matching"):
        generate(solutions, tmp_path / "out", DECLARED)


def test_region_in_a_function_without_task_docstring_is_reported(tmp_path):
    solutions = copy_solutions(tmp_path)
    path = solutions / "homework_performance.py"
    path.write_text(
        path.read_text(encoding="utf-8")
        + '\n\ndef helper():\n    """No task here."""\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\n',
        encoding="utf-8",
    )
    with pytest.raises(StubGenError, match=r"homework_performance\.py:\d+: .*helper.*Task X\.Y"):
        generate(solutions, tmp_path / "out", DECLARED)


def test_missing_solutions_dir_or_file_is_a_clear_error(tmp_path, capsys):
    assert main(["--solutions", str(tmp_path / "nope"), "--out", str(tmp_path / "out"), *GRADING]) == 2
    assert "solutions directory not found" in capsys.readouterr().err

    solutions = copy_solutions(tmp_path)
    (solutions / "homework_autograd.py").unlink()
    assert main(["--solutions", str(solutions), "--out", str(tmp_path / "out"), *GRADING]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "homework_autograd.py" in err and "Traceback" not in err


def test_the_modules_are_those_grading_yml_declares(tmp_path, capsys):
    assert sorted(DECLARED) == sorted(f"{m}.py" for m in MODULES)
    solutions = copy_solutions(tmp_path)
    (solutions / "homework_extra.py").write_text('"""Not declared in grading.yml."""\n', encoding="utf-8")
    written = generate(solutions, tmp_path / "out", DECLARED)
    assert sorted(p.name for p in written) == sorted(GENERATED)  # the undeclared module is left out

    data = yaml.safe_load((REPO / "grading.yml").read_text(encoding="utf-8"))
    data["modules"]["more"] = {"file": "homework_more.py", "task": next(iter(data["tasks"]))}
    grading = tmp_path / "grading.yml"
    grading.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert main(["--solutions", str(solutions), "--out", str(tmp_path / "out2"), "--grading", str(grading)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stubgen: error: missing in ") and "homework_more.py" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------
# the analysis notebook
# --------------------------------------------------------------------------------------

def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_student_notebook_has_answer_cells_with_nbgrader_metadata_and_no_answers():
    student = nbformat.read(ASSIGNMENT / "analysis.ipynb", as_version=4)
    reference = nbformat.read(SOLUTIONS / "analysis.ipynb", as_version=4)
    MetadataValidator().validate_nb(student)
    nbformat.validate(student)

    answers = [c for c in student.cells if _nbgrader(c).get("grade") and _nbgrader(c).get("solution")]
    assert len(answers) == 4
    assert all(c.cell_type == "markdown" for c in answers)
    assert sum(_nbgrader(c)["points"] for c in answers) == 10
    assert all(c.source == "YOUR ANSWER HERE" for c in answers)
    assert all(_nbgrader(c)["schema_version"] == 3 and not _nbgrader(c)["locked"] for c in answers)

    ids = [_nbgrader(c)["grade_id"] for c in student.cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)) == len(student.cells)
    assert ids == [_nbgrader(c)["grade_id"] for c in reference.cells]
    assert [c.metadata for c in student.cells] == [c.metadata for c in reference.cells]

    # Questions stay, unchanged and locked.
    for s, r in zip(student.cells, reference.cells):
        if not _nbgrader(r).get("solution"):
            assert s.source == r.source and _nbgrader(s)["locked"]


def test_student_notebook_has_no_model_answer_plot_code_or_output():
    student = nbformat.read(ASSIGNMENT / "analysis.ipynb", as_version=4)
    reference = nbformat.read(SOLUTIONS / "analysis.ipynb", as_version=4)

    # The reference really has model answers and an embedded plot ...
    ref_answers = [c for c in reference.cells if _nbgrader(c).get("solution")]
    assert all(len(c.source) > 200 for c in ref_answers if c.cell_type == "markdown")
    ref_plot = next(c for c in reference.cells if c.cell_type == "code" and _nbgrader(c).get("solution"))
    assert any("image/png" in o.get("data", {}) for o in ref_plot.outputs)

    # ... and the student version has none of it.
    text = "\n".join(c.source for c in student.cells)
    for cell in ref_answers:
        for line in cell.source.splitlines():
            if len(line.strip()) > 8 and not line.strip().startswith("#"):
                assert line.strip() not in text
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    plot = next(c for c in student.cells if c.cell_type == "code" and _nbgrader(c).get("solution"))
    assert not _nbgrader(plot)["grade"]
    assert "NotImplementedError" in plot.source and "Task 3.5" in plot.source
    assert "plt." not in plot.source and "image/png" not in (ASSIGNMENT / "analysis.ipynb").read_text()


def test_notebook_region_delimiters_are_checked(tmp_path):
    solutions = copy_solutions(tmp_path)
    path = solutions / "analysis.ipynb"
    notebook = nbformat.read(path, as_version=4)
    plot = next(c for c in notebook.cells if c.cell_type == "code" and _nbgrader(c).get("solution"))
    plot.source = "### BEGIN SOLUTION\nx = 1\n"
    nbformat.write(notebook, path)
    with pytest.raises(StubGenError, match=r"analysis\.ipynb cell \d+ line 1: .*no matching"):
        generate(solutions, tmp_path / "out", DECLARED)


def test_module_constants_are_exposed():
    assert stubgen.STUB_TEMPLATE.format(task="1.3", name="index_tensor") == (
        'raise NotImplementedError("Task 1.3: index_tensor is not implemented yet")')

"""Baseline: `nbgrader autograde` of one notebook (the homework's functions + 25 test cells)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from autograder.examples import reference_module

from .common import BIN, wall

TESTS = [
    "t = create_tensors()\nassert set(t) == {'random_3x4', 'zeros_2x3x4', 'ones_5x5', 'range_4x4'}",
    "assert torch.equal(create_tensors()['range_4x4'][1], torch.tensor([4, 5, 6, 7]))",
    "t = create_tensors()\nassert t['zeros_2x3x4'].shape == (2, 3, 4) and t['ones_5x5'].dtype == torch.float32",
    "a, b = torch.rand(3, 3), torch.rand(3, 3)\nassert torch.allclose(tensor_operations(a, b)['matmul'], a @ b)",
    "a, b = torch.rand(3, 3), torch.rand(3, 3)\nassert torch.equal(tensor_operations(a, b)['transpose'], a.T)",
    "assert isinstance(index_tensor(torch.rand(3, 4, 5)), dict)",
    "r = reshape_tensor(torch.arange(24.))\nassert [tuple(v.shape) for v in r.values()] == RESHAPE_TARGETS",
    "r = reshape_tensor(torch.arange(24.))\nassert all(torch.equal(v.flatten(), torch.arange(24.)) for v in r.values())",
    "g = simple_gradients(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0))\n"
    "assert [float(g[k]) for k in ('f', 'df_dx', 'df_dy', 'df_dz')] == [26.0, 14.0, 10.0, 10.0]",
    "x, y, z = torch.tensor(1.5), torch.tensor(-2.0), torch.tensor(0.5)\n"
    "g, h = simple_gradients(x, y, z), analytic_simple_gradients(x, y, z)\n"
    "assert all(torch.allclose(g[k], h[k]) for k in ('df_dx', 'df_dy', 'df_dz'))",
    "assert float(mse(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))) == 2.0",
    "try:\n    mse(torch.rand(4, 1), torch.rand(4))\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError",
    "p = torch.rand(5, requires_grad=True)\nmse(p, torch.rand(5)).backward()\nassert p.grad is not None",
    "g = linear_mse_gradients(torch.tensor([[2.0]]), torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([5.0]))\n"
    "assert float(g['loss']) == 9.0 and float(g['dw'][0]) == -12.0 and float(g['db'][0]) == -6.0",
    "X, w, b, y = torch.rand(6, 3), torch.rand(3), torch.rand(1), torch.rand(6)\n"
    "g, h = linear_mse_gradients(X, w, b, y), analytic_linear_mse_gradients(X, w, b, y)\n"
    "assert torch.allclose(g['dw'], h['dw'], atol=1e-5)",
    "assert torch.allclose(chain_rule_backward(torch.tensor([2.0])), torch.tensor([1.1346]), atol=1e-4)",
    "x = torch.rand(4)\nassert torch.allclose(chain_rule_autograd_grad(x), chain_rule_backward(x), atol=1e-6)",
    "x = torch.rand(4)\nassert torch.allclose(chain_rule_analytic(x), chain_rule_backward(x), atol=1e-5)",
    "x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)\nCustomReLU.apply(x).sum().backward()\n"
    "assert torch.equal(x.grad, torch.tensor([0.0, 0.0, 1.0]))",
    "assert torch.allclose(second_derivative(lambda t: t**3, torch.tensor([1.0, 2.0])), torch.tensor([6.0, 12.0]))",
    "X, y, w = torch.rand(10, 3), torch.rand(10), torch.rand(3)\n"
    "assert torch.allclose(accumulated_gradient(X, y, w, 3), accumulated_gradient(X, y, w, 10), atol=1e-5)",
    "a, b = make_tensors([(2, 3), (4,)]), make_tensors([(2, 3), (4,)])\n"
    "assert [t.shape for t in a] == [(2, 3), (4,)] and all(torch.equal(x, y) for x, y in zip(a, b))",
    "import time\nassert 8.0 < measure_time(time.sleep, 0.01, repeat=3) < 30.0",
    "rows = benchmark([(2, 8, 8)], devices=['cpu'], repeat=1)\n"
    "assert [r['operation'] for r in rows] == ['matmul', 'add', 'mul', 'transpose', 'sum']",
    "t = speedup_table([{'operation': 'add', 'shape': (2, 2), 'device': 'cpu', 'ms': 3.0},\n"
    "                   {'operation': 'add', 'shape': (2, 2), 'device': 'cuda', 'ms': 1.5}])\n"
    "assert t[0]['speedup'] == 2.0 and format_table(t).splitlines()[2].startswith('add')",
]
MAIN = re.compile(r"\nif __name__ == .__main__.:\n.*", re.S)


def notebook() -> nbformat.NotebookNode:
    """Imports, the three reference modules as solution cells, then len(TESTS) graded test cells."""
    def cell(source: str, gid: str, grade: bool) -> nbformat.NotebookNode:
        meta = {"grade": grade, "solution": not grade, "locked": grade, "grade_id": gid, "schema_version": 3}
        if grade:
            meta["points"] = 1
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})

    cells = [nbformat.v4.new_code_cell("import torch", metadata={"nbgrader": {
        "grade": False, "solution": False, "locked": True, "grade_id": "imports", "schema_version": 3}})]
    for key in ("tensors", "autograd", "performance"):
        cells.append(cell(MAIN.sub("\n", reference_module(key)), f"homework_{key}", grade=False))
    cells += [cell(src, f"test_{i:02d}", grade=True) for i, src in enumerate(TESTS, 1)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def autograde(students: list[int]) -> dict:
    """Wall time of one `nbgrader autograde ps1` per entry of `students` (that many students each)."""
    nbgrader = str(BIN / "nbgrader")
    out: dict = {"tests": len(TESTS)}
    with tempfile.TemporaryDirectory(prefix="bench-nbgrader-") as tmp:
        course = Path(tmp)
        (course / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\nc.CourseDirectory.course_id = 'bench'\n")
        (course / "source" / "ps1").mkdir(parents=True)
        nbformat.write(notebook(), course / "source" / "ps1" / "ps1.ipynb")
        wall([nbgrader, "generate_assignment", "ps1", "--force"], cwd=course)
        for n in students:
            for d in ("submitted", "autograded"):
                shutil.rmtree(course / d, ignore_errors=True)
            for i in range(n):
                dest = course / "submitted" / f"s{n}_{i:02d}" / "ps1"
                dest.mkdir(parents=True)
                shutil.copy(course / "source" / "ps1" / "ps1.ipynb", dest / "ps1.ipynb")
            out[n] = wall([nbgrader, "autograde", "ps1", "--create", "--force"], cwd=course)
            graded = list((course / "autograded").glob("*/ps1/ps1.ipynb"))
            if len(graded) != n:
                raise RuntimeError(f"nbgrader autograded {len(graded)} of {n} notebooks")
            failed = [p for p in graded for c in nbformat.read(p, 4).cells
                      if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
            if failed:
                raise RuntimeError(f"a test cell failed in {failed[0]}")
    return out

"""Functions students write that no test reaches: ``autograder check`` names them.

A function (or class) counts as "written by students" when its body holds a ``### BEGIN
SOLUTION`` region in solutions/. A test reaches it by name: ``hw.tensors.index_tensor``, a
string (``getattr(hw.autograd, "chain_rule_analytic")``, ``hw.autograd_function("CustomReLU",
...)``), or through a module-level name the tests use (``hw.performance.OPERATIONS`` reaches
the ``op_*`` functions in that dict). Static and approximate by design: a miss here is a
reminder to write the test, not a proof that one exists.
"""

from __future__ import annotations

import ast
from pathlib import Path

from hwkit.grading import GradingConfig

SOLUTION_MARK = "### BEGIN SOLUTION"


def _parse(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return None  # (the grading of solutions/ that `check` runs reports why)


def _names_in_suites(root: Path, grading: GradingConfig) -> set[str]:
    names: set[str] = set()
    for folder in grading.suite_folders():
        for path in sorted((root / folder).glob("test_*.py")):
            for node in ast.walk(_parse(path) or ast.Module(body=[], type_ignores=[])):
                if isinstance(node, ast.Attribute):
                    names.add(node.attr)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names.add(node.value)
    return names


def untested(root: Path, grading: GradingConfig) -> list[str]:
    """'homework_x.py: name' for every student-written function no suite reaches."""
    used = _names_in_suites(root, grading)
    problems = []
    for module in grading.modules.values():
        path = root / "solutions" / module.file
        if not path.is_file():
            continue  # (stubgen reports a missing module)
        tree = _parse(path)
        if tree is None:
            continue  # (stubgen reports a module it cannot read)
        lines = path.read_text(encoding="utf-8").splitlines()
        reached = set(used)
        for node in tree.body:  # a module-level name the tests use reaches what its value names
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id in used for t in targets) and node.value is not None:
                    reached |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            body = lines[node.lineno - 1:node.end_lineno]
            if any(line.strip().startswith(SOLUTION_MARK) for line in body) and node.name not in reached:
                problems.append(f"{module.file}: {node.name} is written by students but no test in "
                                f"{', '.join(grading.suite_folders())} calls it")
    return problems

"""Calls a function must not make, found in the student's source without running it.

A task can rule out a shortcut (``torch.autograd.functional.hessian`` where the point is to
build the Hessian from ``torch.autograd.grad``); grading.yml declares the rule, a test checks
it with :func:`uses`. The source is read as text and parsed; it is never executed here, in the
grader or on a laptop. Import aliases (``import torch.autograd.functional as F``, ``from
torch.autograd.functional import hessian as h``), module-level names bound to a forbidden
function, helper functions the checked function calls, and dynamic access (``getattr`` with
the name as a string, ``__import__``, ``importlib``) are all followed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

DYNAMIC = {"getattr", "__import__", "import_module", "eval", "exec"}


@dataclass(frozen=True)
class Use:
    name: str  # the forbidden name reached, e.g. torch.autograd.functional.hessian
    line: int
    how: str = ""  # "" for a plain call or reference; else how it was reached (getattr, ...)


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the dotted name it stands for, from imports and module-level assignments."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    names[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in tree.body:  # _h = torch.autograd.functional.hessian
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            dotted = _dotted(node.value, names)
            if dotted:
                names[node.targets[0].id] = dotted
    return names


def _dotted(node: ast.AST, names: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str) and \
            (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) in ("import_module", "__import__"):
        return ".".join([node.args[0].value, *reversed(parts)])  # importlib.import_module("torch.func").hessian
    if not isinstance(node, ast.Name):
        return None
    return ".".join([names.get(node.id, node.id), *reversed(parts)])


def _bodies(tree: ast.Module, function: str) -> list[ast.AST]:
    """The function (a def or a class's method given as Class.method) and, transitively, the
    module-level functions it calls by name."""
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    owner, _, method = function.partition(".")
    if method and owner in classes:
        start = [n for n in classes[owner].body if isinstance(n, ast.FunctionDef) and n.name == method]
    else:
        start = [defs[function]] if function in defs else []
    seen, todo = [], list(start)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.append(node)
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in defs:
                todo.append(defs[call.func.id])
    return seen


def calls_any(source: str, function: str, wanted: list[str]) -> bool:
    """Whether `function` (or a helper it calls) reaches one of `wanted`: dotted names as for
    :func:`uses`, or ``.name`` for a method call on any object (``.backward``). An unreadable
    source counts as reaching them (other tests say it does not import)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True
    methods = {w[1:] for w in wanted if w.startswith(".")}
    dotted = [w for w in wanted if not w.startswith(".")]
    if dotted and uses(source, function, dotted):
        return True
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in methods
               for body in _bodies(tree, function) for node in ast.walk(body))


def uses(source: str, function: str, forbidden: list[str]) -> list[Use]:
    """Where `function` (or a helper it calls) reaches one of the `forbidden` dotted names."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # (the module does not import: other tests say so)
    names = _aliases(tree)
    leaves = {name.rsplit(".", 1)[-1] for name in forbidden}
    found: list[Use] = []
    for body in _bodies(tree, function):
        for node in ast.walk(body):
            if isinstance(node, (ast.Attribute, ast.Name)):
                dotted = _dotted(node, names)
                hit = next((f for f in forbidden if dotted and (dotted == f or dotted.startswith(f + "."))), None)
                if hit:
                    found.append(Use(hit, node.lineno))
            elif isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                strings = [a.value for a in ast.walk(node) if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                if called in DYNAMIC and any(s.rsplit(".", 1)[-1] in leaves or s in forbidden for s in strings):
                    found.append(Use(next(f for f in forbidden if f.rsplit(".", 1)[-1] in
                                          {s.rsplit(".", 1)[-1] for s in strings} or f in strings), node.lineno,
                                     called))
    unique = {(u.name, u.line, u.how): u for u in found}  # (an attribute chain is visited at each level)
    return sorted(unique.values(), key=lambda u: u.line)

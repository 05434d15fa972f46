"""Example submissions described as small edits on the reference, so they never go stale.

``examples/examples.json`` names each example, its documented score and, per module, where
the module comes from (``solutions`` by default, or ``assignment`` for "not started") and
which edits to apply: ``replace`` pairs that must each match exactly once, and ``append``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .course import Course, find as find_course

SPEC = Path("examples") / "examples.json"  # in the course folder
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION.*\n", re.M)


class ExampleError(Exception):
    """An example's edits no longer fit the reference; the message names the edit."""


def load(course: Course | None = None) -> dict:
    return json.loads(((course or find_course()).root / SPEC).read_text(encoding="utf-8"))


def reference_module(key: str, source: str = "solutions", course: Course | None = None) -> str:
    """The reference (solution markers removed) or the stub of one homework module."""
    root = (course or find_course()).root
    return MARKER.sub("", (root / source / f"homework_{key}.py").read_text(encoding="utf-8"))


def materialize(dest: Path, modules: dict | None = None, extra_files: dict[str, str] | None = None,
                name: str = "submission", course: Course | None = None) -> Path:
    """Write a submission folder: every module from the reference, with `modules` edits applied."""
    course = course or find_course()
    dest.mkdir(parents=True, exist_ok=True)
    for key in ("tensors", "autograd", "performance"):
        edit = (modules or {}).get(key, {})
        text = edit["source"] if "source" in edit else reference_module(key, edit.get("from", "solutions"), course)
        for old, new in edit.get("replace", []):
            if text.count(old) != 1:
                raise ExampleError(f"{name}: homework_{key}.py: {old!r} occurs {text.count(old)} times, "
                                   "expected exactly once (did the reference change?)")
            text = text.replace(old, new)
        if "append" in edit:
            text += "\n\n" + edit["append"] + "\n"
        (dest / f"homework_{key}.py").write_text(text, encoding="utf-8")
    for path, text in (extra_files or {}).items():
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_text(text, encoding="utf-8")
    return dest

"""Example submissions described as small edits on the reference, so they never go stale.

``examples/examples.json`` names each example, what it loses (``loses``: tests or cases that
fail, ``keeps``: cases among those that still pass; patterns as in :mod:`autograder.expected`)
and, per module, where the module comes from (``solutions`` by default, or ``assignment`` for
"not started") and which edits to apply: ``replace`` pairs that must each match exactly once,
and ``append``. Its score is computed from what it loses and grading.yml, never typed in.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hwkit.grading import load_grading

from .course import Course, find as find_course

SPEC = Path("examples") / "examples.json"  # in the course folder
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION.*\n", re.M)


class ExampleError(Exception):
    """An example's edits no longer fit the reference; the message names the edit."""


def load(course: Course | None = None) -> dict:
    path = (course or find_course()).root / SPEC
    try:
        specs = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExampleError(f"{path}: no examples in this course (see examples/README.md)") from None
    except (OSError, ValueError) as exc:
        raise ExampleError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(specs, dict):
        raise ExampleError(f"{path}: expected an object of examples by name")
    return specs


def expected_scores(specs: dict, course: Course | None = None) -> dict[str, float]:
    """name -> the score each example must get with ``--gpu off``."""
    from .collect import collect
    from .expected import PatternError, expected_score

    course = course or find_course()
    grading = load_grading(course.grading)
    collected = collect(course, grading)
    scores = {}
    for name, spec in specs.items():
        try:
            scores[name] = expected_score(grading, collected, tuple(spec.get("loses", ())),
                                          tuple(spec.get("keeps", ())))
        except PatternError as exc:
            raise ExampleError(f"{name}: {exc}") from None
    return scores


def _files(course: Course) -> dict[str, str]:
    """module key -> file name, as grading.yml declares them."""
    return {key: m.file for key, m in load_grading(course.grading).modules.items()}


def reference_module(key: str, source: str = "solutions", course: Course | None = None) -> str:
    """The reference (solution markers removed) or the stub of one homework module."""
    course = course or find_course()
    return MARKER.sub("", (course.root / source / _files(course)[key]).read_text(encoding="utf-8"))


def materialize(dest: Path, modules: dict | None = None, extra_files: dict[str, str] | None = None,
                name: str = "submission", course: Course | None = None) -> Path:
    """Write a submission folder: every module from the reference, with `modules` edits applied."""
    course = course or find_course()
    files = _files(course)
    unknown = sorted(set(modules or {}) - set(files))
    if unknown:
        raise ExampleError(f"{name}: {', '.join(unknown)}: not a module of grading.yml ({', '.join(files)})")
    dest.mkdir(parents=True, exist_ok=True)
    for key, file in files.items():
        edit = (modules or {}).get(key, {})
        text = edit["source"] if "source" in edit else reference_module(key, edit.get("from", "solutions"), course)
        for old, new in edit.get("replace", []):
            if text.count(old) != 1:
                raise ExampleError(f"{name}: {file}: {old!r} occurs {text.count(old)} times, "
                                   "expected exactly once (did the reference change?)")
            text = text.replace(old, new)
        if "append" in edit:
            text += "\n\n" + edit["append"] + "\n"
        (dest / file).write_text(text, encoding="utf-8")
    for path, text in (extra_files or {}).items():
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_text(text, encoding="utf-8")
    return dest

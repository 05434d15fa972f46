"""Mistakes students make in this homework, each as an edit of the reference and the message it earns.

Every entry is a fixture submission: the reference solutions with exactly one mistake, made
by ``replace`` edits (each must match the reference exactly once) and/or code appended to the
module (a redefinition of one function). ``autograder/tests/test_mistakes.py`` grades them all
and requires, for each, that the tests in ``catches`` fail (and no other test), and that the
first of them shows ``message`` (English) and ``message_ru`` (with ``--lang ru``). The table
in ``docs/mistakes.md`` is generated from here.

Per-module lists live in ``tensors.py``, ``autograd.py`` and ``performance.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from autograder.examples import materialize


@dataclass(frozen=True)
class Mistake:
    id: str  # unique, snake_case; the fixture folder's name
    module: str  # "tensors" | "autograd" | "performance"
    title: str  # the mistake in a few plain words (English)
    title_ru: str
    story: str  # what the student wrote, one sentence, for docs/mistakes.md
    catches: tuple[str, ...]  # test ids ("tests/test_x.py::test_name", no parameters) that must fail
    message: str  # a fragment of the first catching test's failure message (English)
    message_ru: str  # the same fragment with --lang ru
    replace: tuple[tuple[str, str], ...] = ()  # (old, new) edits of the reference module
    append: str = ""  # code appended to the reference module
    also_fails: tuple[str, ...] = field(default=())  # other tests this mistake legitimately fails
    # Tests that fail or not depending on the machine's speed (a timing the mistake skews by a
    # fraction of a millisecond): neither required nor forbidden to fail.
    may_fail: tuple[str, ...] = field(default=())

    def write(self, dest: Path) -> Path:
        edit: dict = {"replace": [list(pair) for pair in self.replace]}
        if self.append:
            edit["append"] = self.append
        return materialize(dest / self.id, {self.module: edit}, name=self.id)


def all_mistakes() -> list[Mistake]:
    from . import autograd, performance, tensors

    found = [*tensors.MISTAKES, *autograd.MISTAKES, *performance.MISTAKES]
    ids = [m.id for m in found]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"mistake ids used twice: {duplicates}")
    return found

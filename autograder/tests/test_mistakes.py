"""Every mistake in the catalogue is caught by the tests it names, and named in plain words.

The whole catalogue is graded in two batches (English and Russian messages); each mistake must
fail exactly the tests it lists, and the first of them must show the documented message.
``MISTAKES_MODULE=tensors`` (or autograd, performance) grades only that module's mistakes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.tests import REPO

from .conftest import needs_strong_sandbox
from .mistakes.build import DOC, mistakes_doc
from .mistakes.catalogue import Mistake, all_mistakes

ONLY = os.environ.get("MISTAKES_MODULE")
MISTAKES = [m for m in all_mistakes() if ONLY in (None, m.module)]


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mistakes")
    for mistake in MISTAKES:
        mistake.write(root / "submissions")
    # Both languages at once: much of a grading is waiting (timing probes sleep, timeouts), so
    # four slots on two cores finish sooner than two batches of two, one after the other.
    out, running = {}, {}
    for lang in ("en", "ru"):
        out[lang] = root / f"out-{lang}"
        running[lang] = subprocess.Popen([sys.executable, "-m", "autograder.cli", "batch", str(root / "submissions"),
                                          "--out", str(out[lang]), "-j", "2", "--gpu", "off", "--lang", lang],
                                         cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for lang, proc in running.items():
        _, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr[-3000:]
    return out


def _tests(out: Path, mistake: Mistake) -> dict[str, dict]:
    status = json.loads((out / "students" / mistake.id / "status.json").read_text())
    assert status["status"] == "graded", status["message"]
    results = json.loads((out / "students" / mistake.id / "results.json").read_text())
    return {t["name"]: t for t in results["tests"]}


@needs_strong_sandbox
@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.id)
def test_the_mistake_fails_exactly_its_tests(graded, mistake: Mistake):
    tests = _tests(graded["en"], mistake)
    unknown = [t for t in (*mistake.catches, *mistake.also_fails, *mistake.may_fail) if t not in tests]
    assert not unknown, f"no such tests: {unknown}"
    # (tags: task, status). Tests that only wait for a failing one (grading.yml `requires`) fail with it.
    failed = sorted(name for name, t in tests.items() if t["tags"][1] == "failed" and not t["output"].startswith(
        "this test counts only once your function gives a right answer"))
    assert [t for t in failed if t not in mistake.may_fail] == sorted({*mistake.catches, *mistake.also_fails})


@needs_strong_sandbox
@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.id)
def test_the_student_is_told_what_the_mistake_is(graded, mistake: Mistake, lang: str):
    expected = mistake.message if lang == "en" else mistake.message_ru
    tests = _tests(graded[lang], mistake)
    output = tests[mistake.catches[0]]["output"]
    assert expected in output
    # The grader's own exception classes (a too-long timing, a timeout) never prefix a message.
    assert not [name for name, t in tests.items() if t["output"].startswith(("hwkit.", "autograder."))]


@pytest.mark.skipif(ONLY is not None, reason="the catalogue is checked as a whole")
def test_the_catalogue_has_twenty_distinct_mistakes_in_every_module():
    mistakes = all_mistakes()
    assert len(mistakes) >= 20
    assert {m.module for m in mistakes} == {"tensors", "autograd", "performance"}
    assert len({m.message for m in mistakes}) == len(mistakes), "two mistakes share a message"
    for m in mistakes:
        assert m.catches and m.message and m.message_ru and m.title_ru and (m.replace or m.append), m.id


@pytest.mark.skipif(ONLY is not None, reason="the catalogue is checked as a whole")
def test_docs_show_the_current_catalogue():
    assert DOC.read_text(encoding="utf-8") == mistakes_doc(), \
        "docs/mistakes.md is stale: run `python -m autograder.tests.mistakes.build`"

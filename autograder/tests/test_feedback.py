"""Feedback that teaches: the most useful hint first, and every message in English or Russian."""

from __future__ import annotations

import gettext
import io
import re
import subprocess
import sys

import pytest

from autograder.tests import REPO
from autograder import translations
from autograder.report import feedback, gradescope
from hwkit.record import build
from hwkit import i18n
from hwkit.grading import load_grading
from hwkit.scoring import CaseOutcome, score

GRADING = """assignment: demo
total: 30
modules: {tensors: {file: homework_tensors.py, task: task1}}
suites: {public: [tests], hidden: [autograder/hidden]}
tasks:
  task1:
    title: Tensors
    titles: {ru: Тензоры}
    points: 30
    tests:
      tests/test_a.py::test_small: 2
      tests/test_a.py::test_big: 10
      tests/test_a.py::test_root: 3
      tests/test_a.py::test_waits: 9
      autograder/hidden/test_h.py::test_hidden: 6
    requires:
      tests/test_a.py::test_waits: tests/test_a.py::test_root
"""


def _tasks(tmp_path, outcomes):
    path = tmp_path / "grading.yml"
    path.write_text(GRADING, encoding="utf-8")
    return score(load_grading(path), [CaseOutcome(n, s, f"{n} went wrong") for n, s in outcomes])


def test_hints_start_with_what_unlocks_most_then_public_tests(tmp_path):
    tasks = _tasks(tmp_path, [("tests/test_a.py::test_small", "failed"), ("tests/test_a.py::test_big", "failed"),
                              ("tests/test_a.py::test_root", "failed"), ("tests/test_a.py::test_waits", "passed"),
                              ("autograder/hidden/test_h.py::test_hidden", "failed")])
    order = [t.test_id.split("::")[1] for t in tasks[0].hints()]
    # test_root is worth 3 but 9 more wait for it; hidden tests after public ones; the gated one last.
    assert order == ["test_root", "test_big", "test_small", "test_hidden", "test_waits"]


def test_feedback_and_gradescope_follow_the_hint_order_in_the_chosen_language(tmp_path):
    outcomes = [("tests/test_a.py::test_small", "failed"), ("tests/test_a.py::test_big", "failed"),
                ("tests/test_a.py::test_root", "passed"), ("tests/test_a.py::test_waits", "passed"),
                ("autograder/hidden/test_h.py::test_hidden", "passed")]
    with i18n.using("ru"):
        result = build("demo", "sub", _tasks(tmp_path, outcomes), execution_time=1, sandbox={},
                       worker_restarts=0, gpu="off", errors=[], lang="ru")
    text = feedback.render(result)
    assert "## Тензоры: что исправить" in text and "**Автоматическая оценка: 18 / 30**" in text
    assert text.index("test_big") < text.index("test_small")
    assert i18n.language() == "en"  # rendering in Russian does not leak into later messages
    summary = gradescope.to_gradescope(result)
    assert summary["output"].startswith("**Баллы за открытые тесты: 12 / 24.**") and summary["extra_data"]["lang"] == "ru"
    english = result.model_copy(update={"lang": "en"})
    assert ": what to fix" in feedback.render(english) and "Automatic score: 18 / 30" in feedback.render(english)


def test_a_message_is_translated_with_its_values():
    from hwkit import checks

    with i18n.using("ru"):
        with pytest.raises(pytest.fail.Exception) as info:
            checks.tensor(3.5, "mse(y_pred, y_true)")
    assert str(info.value).startswith("mse(y_pred, y_true) должен быть torch.Tensor, а это объект float (3.5)")
    with pytest.raises(ValueError, match="unknown language 'de'"):
        i18n.set_language("de")


def test_every_message_has_a_russian_translation_and_the_catalogue_is_compiled():
    assert translations.main(["--check"]) == 0, "run `make locale` and translate what it lists"


def test_the_students_catalogue_holds_no_hidden_test_message():
    public = translations.code_messages(translations.public_sources())
    hidden = [m for m in translations.code_messages(translations.hidden_sources()) if m not in public]
    # (a plural message is stored per form: (singular, 0), (singular, 1), (singular, 2))
    shipped = {key[0] if isinstance(key, tuple) else key
               for key in gettext.GNUTranslations(io.BytesIO(translations.compiled_public()))._catalog}
    assert hidden, "expected the hidden tests to have messages of their own"
    assert not [m for m in hidden if m in shipped]
    assert set(public) <= shipped


@pytest.mark.parametrize("how", ["--lang ru", "feedback.lang in grading.yml"])
def test_the_students_pytest_summary_speaks_russian(tmp_path, how):
    # (the release's pytest.ini options: see autograder/release/public_tests.py)
    args = [sys.executable, "-m", "pytest", "-q", "--tb=no", "-rN", "-p", "no:cacheprovider",
            "tests/test_tensors.py", "--submission", "assignment"]
    if how == "--lang ru":
        args += ["--lang", "ru"]
    else:
        grading = tmp_path / "grading.yml"
        grading.write_text((REPO / "grading.yml").read_text(encoding="utf-8").replace("lang: en", "lang: ru"),
                           encoding="utf-8")
        args += ["--grading", str(grading)]
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "баллы по заданиям (из grading.yml)" in proc.stdout
    assert "Задание 1 — тензоры" in proc.stdout and "Тесты, запущенные здесь" in proc.stdout
    assert "Ещё не начато:" in proc.stdout and "Начните с create_tensors" in proc.stdout
    summary = "\n".join(proc.stdout[proc.stdout.index("что исправить"):].splitlines()[:-1])  # (not pytest's count)
    # No English in the summary but names (functions, files, commands, the task titles' Latin words).
    names = {"grading", "yml", "autograd", "CPU", "CUDA", "GPU", "pytest", "Colab", "docstring", "raise",
             "NotImplementedError", "gpu"}  # (what is not English but a name)
    english = {w for w in re.findall(r"\b[A-Za-z]{3,}\b", summary)} - names
    assert not english, sorted(english)


def test_a_known_pytorch_error_is_explained_first():
    from hwkit.explain import explain

    raw = "RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn"
    assert explain(raw).startswith("PyTorch could not differentiate") and explain(raw).endswith(raw)
    with i18n.using("ru"):
        assert explain(raw).startswith("PyTorch не смог продифференцировать")
    assert explain("ValueError: something of the student's own") == "ValueError: something of the student's own"

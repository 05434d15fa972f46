"""The Russian release (`autograder release --lang ru`): README, task texts, notebook, grading.yml
and plain `pytest` in Russian; the task texts' catalogue (hwkit/locale/ru/tasks.po) and the
plural forms (1 балл, 2 балла, 5 баллов, 0.75 балла).

Run from the repository root:  .venv/bin/python -m pytest -q -p no:cacheprovider autograder/tests/test_release_ru.py
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from babel.messages.catalog import Catalog

from autograder import cli, release, stubgen, translations
from autograder.release import task_texts
from autograder.tests import REPO
from autograder.tests.test_release import (MODULES, SOLUTIONS, fake_repo, run_pytest, solution_cell_lines,
                                           with_reference)
from hwkit import i18n
from hwkit.grading import load_grading

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
#: Words that stay as they are in a Russian text: names of things, not English.
NAMES = {"GPU", "CPU", "CUDA", "NVIDIA", "Colab", "pytest", "gpu", "autograd", "docstring", "grading", "yml",
         "raise", "NotImplementedError", "tb", "short"}


@pytest.fixture(scope="module")
def built_ru(tmp_path_factory):
    """The course's Russian release (the task texts not translated yet stay English)."""
    out = tmp_path_factory.mktemp("release-ru") / "release"
    problems = release.build_release(out, lang="ru", allow_english=True)
    return out, problems


def english_words(text: str, names: set[str] = frozenset()) -> list[str]:
    """ASCII words of 3+ letters outside code: `...` spans, identifiers (with _ . ( or a digit),
    the homework's function names and the names in NAMES are not English prose."""
    text = re.sub(r"`[^`]*`", " ", text)
    words = []
    for token in re.findall(r"[\w.()\-/]+", text):
        if re.search(r"[_.(/]|\d", token) or not re.fullmatch(r"[A-Za-z\-]+", token):
            continue
        words += [w for w in token.split("-") if len(w) >= 3 and w not in NAMES and w not in names]
    return words


def homework_names() -> set[str]:
    names = set()
    for name in MODULES:
        for node in ast.walk(ast.parse((SOLUTIONS / name).read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


def code_only(text: str) -> str:
    """The module without its docstrings, as an AST dump."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node) is not None:
            node.body[0] = ast.Pass()
    return ast.dump(tree)


def summary(output: str) -> str:
    """What the plugin and pytest print after the progress dots."""
    lines = output.splitlines()
    return "\n".join(line for line in lines if not re.fullmatch(r"[.FEsx]+\s*\[\s*\d+%\]", line))


# -- 1. the release --------------------------------------------------------------------------------

def test_ru_release_is_clean_with_the_russian_readme_ini_and_grading(built_ru):
    out, problems = built_ru
    assert problems == [] and release.check_release(out) == []
    assert (out / "README.md").read_bytes() == (REPO / "docs" / "student-readme.ru.md").read_bytes()
    assert "[pytest]" in (out / "pytest.ini").read_text() and "Простой `pytest`" in (out / "pytest.ini").read_text()
    course, shipped = load_grading(REPO / "grading.yml"), load_grading(out / "grading.yml")
    assert shipped.feedback.lang == "ru"  # plain `pytest` in the release speaks Russian
    assert {n: t.tests for n, t in shipped.tasks.items()} == \
        {n: {k: v for k, v in t.tests.items() if k.startswith("tests/")} for n, t in course.tasks.items()}
    text = (out / "grading.yml").read_text(encoding="utf-8")
    assert text.startswith("# grading.yml — баллы") and "ВЫПУЩЕННАЯ версия" in text.splitlines()[0]


def test_ru_stubs_carry_the_russian_docstrings_and_the_same_code(built_ru):
    out, _ = built_ru
    russian = task_texts.status(REPO)[0]
    assert russian, "hwkit/locale/ru/tasks.po translates no task text"
    for name in MODULES:
        text = (out / name).read_text(encoding="utf-8")
        english = stubgen.stub_module(SOLUTIONS / name)
        assert text == task_texts.translate_module(english, name, russian)
        assert code_only(text) == code_only(english)  # only the docstrings differ
        for context, doc in task_texts.docstrings(text, name).items():
            if context in russian:
                assert doc == russian[context], context


def test_every_task_text_has_a_russian_translation():
    """Fails until every docstring of solutions/ and every notebook cell is translated in
    hwkit/locale/ru/tasks.po (`make locale` lists them; `autograder release --lang ru` refuses
    to build without them)."""
    assert task_texts.problems(REPO) == []


def test_ru_notebook_is_nbgraders_student_version_in_russian(built_ru):
    out, _ = built_ru
    text = (out / "analysis.ipynb").read_text(encoding="utf-8")
    notebook = nbformat.reads(text, as_version=4)
    source = nbformat.read(str(SOLUTIONS / "analysis.ipynb"), as_version=4)
    assert [c.metadata["nbgrader"]["grade_id"] for c in notebook.cells] == \
        [c.metadata["nbgrader"]["grade_id"] for c in source.cells]
    russian = task_texts.status(REPO)[0]
    for cell in notebook.cells:
        meta = cell.metadata["nbgrader"]
        assert "checksum" in meta and cell.get("outputs", []) == []
        if meta.get("solution"):
            assert cell.source in (task_texts.TEXT_STUB_RU, task_texts.CODE_STUB_RU)
        elif f"analysis.ipynb::{meta['grade_id']}" in russian:
            assert cell.source == russian[f"analysis.ipynb::{meta['grade_id']}"] and CYRILLIC.search(cell.source)
    secret = solution_cell_lines()
    assert secret and not [line for line in secret if line in text or line.replace('"', '\\"') in text]


# -- 2. plain pytest in the release ---------------------------------------------------------------

def test_plain_pytest_on_the_ru_stubs_prints_no_english(built_ru):
    out, _ = built_ru
    proc = run_pytest(out)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    shown = summary(proc.stdout)
    assert "Ещё не начато:" in shown and "Начните с create_tensors" in shown
    assert re.search(r"^Тесты, запущенные здесь\s+0 / ", shown, re.M), shown
    assert re.search(r"^\d+ тест\w* не пройден\w*, \d+ тест\w* пропущен\w* за [0-9.]+ с$", shown.splitlines()[-1])
    assert english_words(shown, homework_names()) == [], shown


def test_plain_pytest_on_the_reference_in_the_ru_release_passes_in_russian(built_ru, tmp_path):
    out, _ = built_ru
    proc = run_pytest(with_reference(out, tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    shown = summary(proc.stdout)
    assert "что исправить" not in shown and " 0 / " not in shown
    assert re.search(r"^Задание 1 — тензоры\s+8 / 8$", shown, re.M), shown
    assert re.search(r"^Скрытые тесты: ещё [0-9.]+ балл\w* — ", shown, re.M), shown
    assert re.search(r"^\d+ тест\w* пройден\w*(, \d+ тест\w* пропущен\w*)? за [0-9.]+ с$", shown.splitlines()[-1]), shown
    assert english_words(shown, homework_names()) == [], shown


def test_the_russian_readme_shows_what_pytest_really_prints(built_ru):
    """The output pasted in docs/student-readme.ru.md is the untouched Russian release's, now."""
    out, _ = built_ru
    shown = (out / "README.md").read_text(encoding="utf-8")
    pasted = shown[shown.index("```text\n") + len("```text\n"):]
    pasted = pasted[:pasted.index("```")]
    ran = run_pytest(out, columns=100).stdout
    assert re.sub(r" за [0-9.]+ с$", "", ran, flags=re.M) == pasted, \
        "docs/student-readme.ru.md is stale: paste the output of `pytest` in a fresh Russian release (COLUMNS=100)"


def test_the_english_check_finds_english():
    assert english_words("Задание 1: create_tensors, ещё 2 балла") == []
    assert english_words("Hidden tests: ещё 2 балла", {"create_tensors"}) == ["Hidden", "tests"]
    assert english_words("запустите `pytest -k test_index`; 3 failed") == ["failed"]


# -- 3. the task texts' catalogue -----------------------------------------------------------------

def _translated_course(tmp_path: Path) -> Path:
    """A copy of the course whose every task text has a (made-up) Russian translation."""
    repo = fake_repo(tmp_path)
    ctx = release.Context.of(repo)
    english = task_texts.english(ctx.solutions, ctx.modules)
    task_texts.translate(repo, {c: f"Перевод {c}.\n\nСтрока с \\ и \"\"\" внутри." if c.endswith("mse") else
                                f"Перевод {c}.\n\nВторая строка." for c in english})
    return repo


@pytest.fixture
def quick_notebook(monkeypatch):
    """stubgen's notebook instead of a run of nbgrader (seconds)."""
    monkeypatch.setattr("autograder.release.notebook.render_notebook",
                        lambda path, assignment, lang="en": stubgen.stub_notebook(path))


def test_a_fully_translated_course_releases_every_docstring_in_russian(tmp_path, quick_notebook):
    repo = _translated_course(tmp_path)
    assert task_texts.problems(repo) == []
    out = tmp_path / "out"
    assert release.build_release(out, repo, lang="ru") == []
    for name in MODULES:
        text = (out / name).read_text(encoding="utf-8")
        docs = task_texts.docstrings(text, name)
        assert docs and all(doc.startswith(f"Перевод {context}.") for context, doc in docs.items())
        assert "NotImplementedError" in text  # the code stays the stub's
    mse = task_texts.docstrings((out / "homework_autograd.py").read_text(encoding="utf-8"), "homework_autograd.py")
    assert mse["homework_autograd.py::mse"].endswith('Строка с \\ и """ внутри.')
    cells = nbformat.read(str(out / "analysis.ipynb"), as_version=4).cells
    assert cells[0].source.startswith("Перевод analysis.ipynb::")


def test_a_changed_english_text_is_stale_until_retranslated(tmp_path, quick_notebook, capsys):
    repo = _translated_course(tmp_path)
    path = repo / "solutions" / "homework_tensors.py"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"""Task 1.1 — ', '"""Task 1.1 — (changed) ', 1), encoding="utf-8")
    context = "homework_tensors.py::create_tensors"
    assert [p for p in task_texts.problems(repo) if context in p and "changed since" in p]
    with pytest.raises(release.ReleaseError, match=re.escape(f"{context}: stale")):
        release.build_release(tmp_path / "out", repo, lang="ru")
    # `make locale` merges like msgmerge: the new English in msgid, the old one kept, fuzzy.
    assert task_texts.update(repo) and not task_texts.update(repo)
    po = task_texts.catalogue_path(repo).read_text(encoding="utf-8")
    entry = po[po.index(f'msgctxt "{context}"') - 1500:po.index(f'msgctxt "{context}"')]
    assert "#, fuzzy" in entry and f"#. {task_texts.PREVIOUS}\n#. Task 1.1 — Create four" in entry
    assert [p for p in task_texts.problems(repo) if context in p]
    # the command: a clear error, or English in its place when the TA says so
    assert cli.main(["release", "--course", str(repo), "--out", str(tmp_path / "o1"), "--lang", "ru"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("release: error: 1 task texts have no up-to-date Russian translation") and context in err
    assert cli.main(["release", "--course", str(repo), "--out", str(tmp_path / "o2"), "--lang", "ru",
                     "--allow-english"]) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and context in captured.err and "(in Russian)" in captured.out
    released = task_texts.docstrings((tmp_path / "o2" / "homework_tensors.py").read_text(encoding="utf-8"),
                                     "homework_tensors.py")
    assert released[context].startswith("Task 1.1 — (changed)")  # left in English
    task_texts.translate(repo, {context: "Задание 1.1 — заново переведено."})
    assert task_texts.problems(repo) == []


def test_an_untranslated_course_refuses_a_russian_release_naming_every_text(tmp_path, quick_notebook):
    repo = fake_repo(tmp_path)
    task_texts.catalogue_path(repo).unlink(missing_ok=True)
    with pytest.raises(release.ReleaseError) as info:
        release.build_release(tmp_path / "out", repo, lang="ru")
    message = str(info.value)
    ctx = release.Context.of(repo)
    assert all(f"  {c}: no translation" in message for c in task_texts.english(ctx.solutions, ctx.modules))
    assert not (tmp_path / "out").exists()


# -- 4. plural forms ------------------------------------------------------------------------------

@pytest.mark.parametrize("points, shown", [(1, "1 балл"), (2, "2 балла"), (5, "5 баллов"), (0.75, "0.75 балла"),
                                           (21, "21 балл"), (11, "11 баллов"), (16.5, "16.5 балла"),
                                           (53.5, "53.5 балла"), (0.999, "1 балл"), (24, "24 балла")])
def test_points_take_the_right_russian_form(points, shown):
    with i18n.using("ru"):
        line = i18n.trp("{task}: {points} point, graded by hand.", "{task}: {points} points, graded by hand.",
                        points, task="Задание 3.5")
    assert line == f"Задание 3.5: {shown}, проверяется вручную."
    english = i18n.trp("{task}: {points} point, graded by hand.", "{task}: {points} points, graded by hand.",
                       points, task="Task 3.5")
    assert english.endswith(" point, graded by hand." if shown.split()[0] == "1" else " points, graded by hand.")


@pytest.mark.parametrize("n, shown", [(1, "1 тест не пройден"), (3, "3 теста не пройдены"),
                                      (5, "5 тестов не пройдено"), (11, "11 тестов не пройдено"),
                                      (22, "22 теста не пройдены"), (101, "101 тест не пройден")])
def test_counts_take_the_right_russian_form(n, shown):
    with i18n.using("ru"):
        assert i18n.trn("{n} failed", "{n} failed", n) == shown


def test_the_catalogue_states_the_russian_plural_rule_and_checks_plural_entries():
    import gettext
    import io

    mo = gettext.GNUTranslations(io.BytesIO(translations.compiled(translations.merged())))
    assert mo.info()["plural-forms"] == translations.PLURAL_FORMS
    singular = next(iter(translations.plural_messages()))
    catalog = Catalog(locale="ru")
    catalog.add(singular, "без множественных форм")
    assert [p for p in translations.problems(catalog) if repr(singular) in p and "plural message (trn)" in p]


def test_grade_lang_ru_prints_russian_table_headers():
    from rich.console import Console

    from autograder.report import console as table
    from hwkit.record import GradingResult, TaskResult, TestResult

    result = GradingResult(assignment="hw", submission="student_1", score=1.5, max_score=10, execution_time=1.0,
                           lang="ru", tasks=[TaskResult(name="t", title="Задание 1", score=1.5, max_score=10,
                                                        pending_gpu=2.5)],
                           tests=[TestResult(name=f"tests/a.py::t{i}", task="t", score=0, max_score=1,
                                             status="failed") for i in range(5)]
                           + [TestResult(name="tests/a.py::g", task="t", score=0, max_score=2.5,
                                         status="pending_gpu")])
    console = Console(record=True, width=200)
    table.print_result(result, console)
    shown = console.export_text()
    assert "Задание" in shown and "Баллы" in shown and "Не пройдены / ждут" in shown
    assert "5 тестов не пройдено" in shown and "1 ждёт GPU (2.5 балла)" in shown
    assert "2.5 балла ждут запуска на GPU" in shown and "песочница:" in shown
    assert english_words(shown.replace("filesystem", "").replace("network", "").replace("user", "")) == []
    assert i18n.language() == "en"

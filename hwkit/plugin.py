"""pytest plugin for the homework: its options, grading.yml, task markers and the ``hw`` seam.

Students get it through ``tests/conftest.py``; the grader loads it with ``-p`` (and no
conftest at all) and answers ``pytest_homework_open`` with its sandboxed proxy. Its other
jobs are small plugins of their own, registered at configure: ``outcomes`` (what each case
did), ``retry`` (timings tried again under load) and ``summary`` (the points of the run).
"""

from __future__ import annotations

import time

from pathlib import Path

import pytest

from . import i18n, outcomes, retry, seam, snapshots, summary
from .grading import GradingConfigError, load_grading
from .i18n import tr
from .outcomes import gpu_skip_message
from .scoring import test_id_of
from .stash import GPU_TESTS, GRADING, GRADING_ERROR, HOMEWORK, OUTCOMES, SNAPSHOTS, STARTED

GPU_SKIP = "needs a real CUDA GPU"
# The parts below are pytest plugins of their own, registered at configure.
PARTS = {"homework-retry": retry, "homework-summary": summary}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("homework")
    group.addoption("--submission", metavar="DIR", default=None,
                    help="folder holding homework_*.py to test (default: the folder above tests/, "
                         "or assignment/ in the course repository)")
    group.addoption("--grading", metavar="FILE", default=None,
                    help="grading.yml with the points per test (default: <rootdir>/grading.yml)")
    group.addoption("--lang", choices=i18n.LANGUAGES, default=None,
                    help="language of the messages and the points summary (default: grading.yml's "
                         "feedback.lang, else en)")
    group.addoption("--points-json", metavar="FILE", default=None,
                    help="at the end of the run, write the points per test and per task as JSON to FILE "
                         "(read by `python -m hwkit.classroom`)")
    snapshots.add_option(group)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(seam.hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"gpu: {GPU_SKIP}; skipped (or 'pending GPU' in the grader) without one")
    config.addinivalue_line("markers", "value: checks a function's answers (values, gradients, timings) against known "
                                       "numbers or the reference; a test of a property (views, no mutation, "
                                       "raises, gradcheck) instead waits for one of these (grading.yml requires:)")
    config.stash[OUTCOMES] = []
    config.stash[GPU_TESTS] = set()
    if config.getoption("--points-json", None):  # (a run that stops before writing one leaves no stale record)
        Path(config.getoption("--points-json")).unlink(missing_ok=True)
    config.stash[STARTED] = time.perf_counter()
    config.stash[SNAPSHOTS] = snapshots.Store(config.getoption("--snapshot-update"))
    config.pluginmanager.register(outcomes.Recorder(config.stash[OUTCOMES]), "homework-recorder")
    for name, part in PARTS.items():
        if not config.pluginmanager.has_plugin(name):
            config.pluginmanager.register(part, name)
    path = config.getoption("--grading") or Path(config.rootpath) / "grading.yml"
    try:
        config.stash[GRADING] = load_grading(path)
    except GradingConfigError as exc:
        config.stash[GRADING] = None
        config.stash[GRADING_ERROR] = str(exc)
    grading = config.stash[GRADING]
    for name, task in (grading.tasks.items() if grading else ()):
        config.addinivalue_line("markers", f"{name}: {task.title}")
    i18n.set_language(config.getoption("--lang") or (grading.feedback.lang if grading else "en"))


def submission_dir(config: pytest.Config) -> Path:
    option = config.getoption("--submission")
    if option:
        return Path(option)
    root = Path(config.rootpath)
    grading = config.stash.get(GRADING, None)
    files = [m.file for m in grading.modules.values()] if grading else []
    # In the student template the modules sit beside tests/; in the course repo, assignment/.
    return root if any((root / f).exists() for f in files) else root / "assignment"


def homework(config: pytest.Config) -> seam.Homework:
    if HOMEWORK not in config.stash:
        hw = config.hook.pytest_homework_open(config=config)
        if hw is None:
            grading = config.stash.get(GRADING, None)
            if grading is None:  # the modules to test are declared there
                pytest.fail(tr("grading.yml could not be read, so the tests cannot find your files: {why}",
                               why=config.stash.get(GRADING_ERROR, "")), pytrace=False)
            path = submission_dir(config)
            if not path.is_dir():
                raise pytest.UsageError(f"--submission {path}: no such folder")
            hw = seam.InProcessHomework(path, grading.module_names())
        config.stash[HOMEWORK] = hw
    return config.stash[HOMEWORK]


@pytest.fixture(scope="session")
def hw(request: pytest.FixtureRequest) -> seam.Homework:
    """The student's homework, reached only through the seam."""
    return homework(request.config)


@pytest.fixture(scope="session")
def grading(request: pytest.FixtureRequest):
    """This run's grading.yml (a GradingConfig): rules the tests check, such as forbidden calls."""
    config = request.config.stash.get(GRADING, None)
    if config is None:
        pytest.fail(request.config.stash.get(GRADING_ERROR, "grading.yml could not be read"), pytrace=False)
    return config


@pytest.fixture
def expected(request: pytest.FixtureRequest):
    """``expected(name, result)``: the reference's answer for this test's fixed input, stored
    in the suite's snapshots/ folder (see hwkit.snapshots)."""
    return snapshots.fixture(request)


def pytest_itemcollected(item: pytest.Item) -> None:
    # (before -m/-k deselect anything: the points a run can award do not depend on them)
    if item.get_closest_marker("gpu"):
        item.config.stash[GPU_TESTS].add(test_id_of(item.nodeid))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") and not homework(item.config).cuda_available():
        pytest.skip(gpu_skip_message())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On a student's laptop, note the student's own line where a failure was raised (the
    grader's sandbox reports it itself), so the message can name it without a traceback."""
    report = yield
    hw = item.config.stash.get(HOMEWORK, None)
    if report.failed and call.excinfo is not None and hw is not None and not hw.remote:
        grading = item.config.stash.get(GRADING, None)
        files = {m.file for m in grading.modules.values()} if grading else set()
        folder = submission_dir(item.config).resolve()
        for entry in reversed(call.excinfo.traceback):
            path = Path(str(entry.path))
            if path.name in files and path.parent.resolve() == folder:
                report.student_line = f"{path.name}, line {entry.lineno + 1}, in {entry.name}"
                break
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    store = session.config.stash.get(SNAPSHOTS, None)
    if store is not None and store.update:
        if exitstatus != 0:  # a partial or failing reference run must not replace good answers
            session.config.get_terminal_writer().line(
                "snapshots NOT written: the run did not pass (fix the reference or the tests first)", red=True)
            return
        for path in store.write():
            session.config.get_terminal_writer().line(f"snapshots written: {path}")


def pytest_unconfigure(config: pytest.Config) -> None:
    hw = config.stash.get(HOMEWORK, None)
    if hw is not None:
        hw.close()

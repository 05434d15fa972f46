"""pytest plugin for the homework: ``--submission``, task markers, the ``hw`` seam, points summary.

Students get it through ``tests/conftest.py``; the grader loads it with ``-p`` (and no
conftest at all) and answers ``pytest_homework_open`` with its sandboxed proxy.
"""

from __future__ import annotations

import re
import time

from pathlib import Path

import pytest

from . import checks, i18n, seam
from .explain import explain
from .grading import GradingConfig, GradingConfigError, load_grading
from .i18n import tr
from .scoring import CaseOutcome, score, short_name, test_id_of, unscored

GPU_SKIP = "needs a real CUDA GPU"
OUTCOMES = pytest.StashKey[list]()
HOMEWORK = pytest.StashKey[seam.Homework]()
GRADING = pytest.StashKey["GradingConfig | None"]()
GRADING_ERROR = pytest.StashKey[str]()


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


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(seam.hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"gpu: {GPU_SKIP}; skipped (or 'pending GPU' in the grader) without one")
    config.addinivalue_line("markers", "value: checks a function's answers (values, gradients, timings) against known "
                                       "numbers or the reference; a test of a property (views, no mutation, "
                                       "raises, gradcheck) instead waits for one of these (grading.yml requires:)")
    config.stash[OUTCOMES] = []
    config.pluginmanager.register(_Recorder(config.stash[OUTCOMES]), "homework-recorder")
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


def gpu_skip_message() -> str:
    return tr("needs a real CUDA GPU; none is available here")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") and not homework(item.config).cuda_available():
        pytest.skip(gpu_skip_message())


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool:
    """Call the test; again (up to TIMING_ATTEMPTS in all, after a short pause) if it failed only
    because a timing came out too long — on a loaded machine that passes, a real mistake does not."""
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    for attempt in range(1, TIMING_ATTEMPTS + 1):
        try:
            pyfuncitem.obj(**args)
            return True
        except checks.TooSlow:
            if attempt == TIMING_ATTEMPTS:
                raise
            time.sleep(0.2 * attempt)  # let a burst of load (another grading's import, say) pass
    return True


def pytest_unconfigure(config: pytest.Config) -> None:
    hw = config.stash.get(HOMEWORK, None)
    if hw is not None:
        hw.close()


class _Recorder:
    """Keeps one CaseOutcome per test case, in the order tests ran."""

    def __init__(self, outcomes: list[CaseOutcome]) -> None:
        self.outcomes = outcomes
        self._by_nodeid: dict[str, CaseOutcome] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.passed and report.when != "call":
            return
        status = "passed" if report.passed else "skipped" if report.skipped else "failed"
        message = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2]).removeprefix("Skipped: ")
            if message == gpu_skip_message():
                status = "pending_gpu"
        elif report.failed:
            message = failure_message(report)
        previous = self._by_nodeid.get(report.nodeid)
        if previous is None:
            outcome = CaseOutcome(report.nodeid, status, message, report.duration)
            self._by_nodeid[report.nodeid] = outcome
            self.outcomes.append(outcome)
        elif status == "failed" and previous.status != "failed":
            # An error in teardown turns a passed test into a failure.
            previous.status, previous.message = status, message


_GRADER_EXCEPTION = re.compile(r"^(?:autograder\.sandbox\.\w+\.(?:CallTimeout|WorkerDied|SandboxFault|StudentError)"
                               r"|tests\.harness\.checks\.TooSlow): ")
TIMING_ATTEMPTS = 4


def failure_message(report: pytest.TestReport) -> str:
    """The assertion message without pytest's code listing, when there is one; a known PyTorch
    error gets its plain-words explanation first."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = report.longreprtext if crash is None else crash.message
    # The grader's own exceptions (a timeout, a crashed process) say everything in their message.
    text = _GRADER_EXCEPTION.sub("", text.removeprefix("Failed: ").strip())
    return explain(text)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    grading: GradingConfig | None = config.stash.get(GRADING, None)
    out = terminalreporter
    if grading is None:
        out.write_sep("=", tr("points per task"))
        out.write_line(tr("no points summary: {why}", why=config.stash.get(GRADING_ERROR, "")), yellow=True)
        return
    outcomes: list[CaseOutcome] = config.stash[OUTCOMES]
    if not outcomes:
        return
    run_files = {test_id_of(o.nodeid).split("::")[0] for o in outcomes}
    tasks = score(grading, outcomes, run_files)
    out.write_sep("=", tr("points per task (from grading.yml)"))
    total = tr("Total (tests run here)")
    width = max(len(total), *(len(t.title) for t in tasks))
    earned = possible = 0.0
    for task in tasks:
        if task.manual:
            out.write_line(f"{task.title:<{width}}   " + tr("graded by hand ({points} points)",
                                                            points=f"{task.max_score:g}"))
            continue
        if not any(t.status != "not_run" for t in task.tests):
            continue
        earned += task.score
        possible += task.run_max
        extra = "  " + tr("(+{points} in tests not run here)", points=f"{task.hidden_points:g}") \
            if task.hidden_points else ""
        full = task.score >= task.run_max
        out.write_line(f"{task.title:<{width}}  {task.score:5.1f} / {task.run_max:<5g}{extra}",
                       green=full, red=not full, bold=True)
        for test in task.hints():  # the most useful hint first
            first_line = (test.message.strip().splitlines() or [""])[0][:160]
            out.write_line(f"    {test.score:4.1f}/{test.max_score:<3g} {short_name(test.test_id)}: {first_line}")
    out.write_line(f"{total:<{width}}  {earned:5.1f} / {possible:g}", bold=True)
    missing = unscored(grading, outcomes)
    if missing:
        out.write_line(tr("tests without points in grading.yml: {tests}", tests=", ".join(missing)), yellow=True)


# --points-json: the points above as data, for CI summaries (hwkit/classroom.py).

POINTS_JSON_VERSION = 1
MAX_MESSAGE_CHARS = 4000


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("--points-json", None)
    if path:
        write_points_json(session.config, Path(path), int(exitstatus))


def points_report(config: pytest.Config, exitstatus: int) -> dict:
    """The points of this run per task and per test (only tests that ran here are listed)."""
    grading: GradingConfig | None = config.stash.get(GRADING, None)
    outcomes: list[CaseOutcome] = config.stash.get(OUTCOMES, [])
    report: dict = {"version": POINTS_JSON_VERSION, "exitstatus": exitstatus, "error": None, "lang": i18n.language(),
                    "assignment": None, "score": 0.0, "max_score": 0.0, "pending_gpu": 0.0,
                    "hidden_points": 0.0, "manual_points": 0.0, "tasks": [], "tests": []}
    if grading is None:
        report["error"] = f"no points: {config.stash.get(GRADING_ERROR, 'grading.yml could not be read')}"
        return report
    report["assignment"] = grading.assignment
    run_files = {test_id_of(o.nodeid).split("::")[0] for o in outcomes}
    for task in score(grading, outcomes, run_files):
        ran = [t for t in task.tests if t.status != "not_run"]
        report["tasks"].append({
            "name": task.name, "title": task.title, "points": task.max_score, "manual": task.manual,
            "score": task.score, "max_score": task.run_max, "pending_gpu": task.pending_gpu,
            "hidden_points": task.hidden_points, "tests": len(ran)})
        if task.manual:
            report["manual_points"] += task.max_score
            continue
        report["score"] += task.score
        report["max_score"] += task.run_max
        report["pending_gpu"] += task.pending_gpu
        report["hidden_points"] += task.hidden_points
        ranks = task.hint_ranks()
        for t in ran:
            report["tests"].append({
                "id": t.test_id, "name": short_name(t.test_id), "task": task.name,
                "score": t.score, "max_score": t.max_score, "status": t.status,
                "message": t.message[:MAX_MESSAGE_CHARS], "cases": len(t.cases),
                "cases_passed": t.passed_cases, "duration": round(sum(c.duration for c in t.cases), 3),
                "hint_rank": ranks.get(t.test_id)})
    for key in ("score", "max_score", "pending_gpu", "hidden_points", "manual_points"):
        report[key] = round(report[key], 4)
    report["unscored"] = unscored(grading, outcomes)
    return report


def write_points_json(config: pytest.Config, path: Path, exitstatus: int) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(points_report(config, exitstatus), indent=2, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    tmp.replace(path)

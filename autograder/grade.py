"""Grade one submission: trusted pytest run over the public + hidden suites, student code sandboxed.

pytest runs in this (trusted) process with a configuration the grader writes itself: ``-c``
pointing at its own ini, ``--noconftest``, plugin autoload off, no cache, rootdir = the course
folder (:mod:`autograder.course`). Nothing from the submission is on ``sys.path`` here; only
the homework modules are copied into the worker's private folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

import pytest

from hwkit import i18n
from hwkit.grading import GradingConfig, load_grading
from hwkit.record import SIMULATED_GPU, GradingResult, build
from hwkit.scoring import score, unscored
from hwkit.stash import GPU_TESTS, OUTCOMES

from . import course as courses
from .sandbox import isolation
from .sandbox.client import RemoteHomework, keep_cuda_out_of_grader
from .sandbox.zygote import Sandbox, gpu_options
from .submission import open_submission

UNUSED_PLUGINS = ("logging", "unraisableexception", "threadexception", "faulthandler", "doctest", "junitxml",
                  "pastebin", "legacypath")


class GraderError(Exception):
    """The grader itself cannot run (bad configuration, broken test suite); says what to fix."""


class GraderPlugin:
    """Answers the seam hook with the sandboxed worker."""

    def __init__(self, files, problems, limits, gpu: str, sandbox: Sandbox) -> None:
        self.files, self.limits, self.problems = files, limits, problems
        self.gpu, self.sandbox = gpu, sandbox
        self.homework: RemoteHomework | None = None
        self.config: pytest.Config | None = None
        self.fatal: str | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl
    def pytest_homework_open(self, config: pytest.Config) -> RemoteHomework:
        try:
            self.homework = RemoteHomework(self.files, self.limits, problems=self.problems, gpu=self.gpu,
                                           sandbox=self.sandbox)
        except Exception as exc:  # noqa: BLE001 - the grader's own failure must never score as the student's
            self.fatal = f"{type(exc).__name__}: {exc}"
            pytest.exit(f"cannot grade: {self.fatal}", returncode=pytest.ExitCode.INTERRUPTED)
        return self.homework


def grade(submission: str | Path, *, grading_path: str | Path | None = None, gpu: str = "auto",
          allow_weak: bool = False, gpu_only: bool = False, verbose: bool = False,
          sandbox: Sandbox | None = None, lang: str | None = None,
          course: courses.Course | None = None) -> GradingResult:
    """Grade one folder or .zip. Raises GraderError / SubmissionError when grading cannot run.

    `gpu`: auto | require | simulate | off (``grade --gpu``); simulate runs only the GPU tests, on
    the simulated GPU (hwkit.simgpu), and the record says gpu="simulated": not a grade.
    `sandbox`: a started one to grade in (the CLI's, or a batch's warm one); the caller keeps
    it. Without it, one is started here and stopped at the end. `course`: default
    :func:`autograder.course.find` (``--course``, or the current folder).
    """
    keep_cuda_out_of_grader()
    course = course or courses.find()
    grading_path = Path(grading_path or course.grading)
    grading = load_grading(grading_path)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if sandbox is None:
            sandbox = Sandbox.started(grading.limits, modules=grading.module_names(), allow_weak=allow_weak,
                                      **gpu_options(gpu))
            stack.callback(sandbox.close)
        simulated = getattr(sandbox, "simulated_gpu", False)
        if simulated != (gpu == "simulate"):
            raise GraderError(f"--gpu {gpu} in a sandbox started {'with' if simulated else 'without'} the simulated "
                              "GPU: start the sandbox for the same mode")
        return _grade(submission, course, grading, grading_path, sandbox, gpu, gpu_only or gpu == "simulate",
                      verbose, started, lang)


def _grade(submission, course: courses.Course, grading: GradingConfig, grading_path: Path, sandbox: Sandbox,
           gpu: str, gpu_only: bool, verbose: bool, started: float, lang: str | None) -> GradingResult:
    with open_submission(submission, grading.module_names()) as sub, \
            tempfile.TemporaryDirectory(prefix="autograder-pytest-") as tmp:
        plug = GraderPlugin(sub.files, sub.problems, grading.limits, gpu, sandbox)
        args = pytest_args(course, Path(tmp), grading, grading_path, gpu_only, lang)
        output = io.StringIO()
        with trusted_environment(), contextlib.redirect_stdout(output):
            code = pytest.main(args, plugins=[plug])
        return finish(plug, code, output.getvalue(), submission, grading, grading_path, gpu, gpu_only, verbose,
                      started)


def finish(plug: GraderPlugin, code: int, output: str, submission, grading: GradingConfig, grading_path: Path,
           gpu: str, gpu_only: bool, verbose: bool, started: float) -> GradingResult:
    """The result of a pytest run with `plug` (its exit code and output); GraderError when the
    run itself failed. (Also how a batch slot's forked gradings end: autograder.slot.)"""
    if plug.fatal:
        raise GraderError(f"the sandbox could not be set up, so nothing was graded: {plug.fatal}")
    if plug.homework is not None and plug.homework.fatal:
        raise GraderError(f"the sandbox could not start, so nothing was graded: {plug.homework.fatal}")
    errors = [f"{plug.problems[k]}" for k in sorted(plug.problems)]
    config = plug.config
    if config is None or code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR,
                                  pytest.ExitCode.INTERRUPTED, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise GraderError(f"the test suites could not run (pytest exit code {int(code)}):\n" + output[-4000:])
    if verbose:
        print(output)
    outcomes = config.stash[OUTCOMES]
    _check_config(grading, outcomes, grading_path, gpu_only)
    homework = plug.homework
    described = homework.protections.summary(gpu=bool(homework.sandbox.gpu_devices)) if homework else {}
    if homework and homework.inside_protections:
        described["inside_worker"] = homework.inside_protections
    if homework and homework.sandbox.measured:
        described["measured"] = isolation.measured_summary(homework.sandbox.measured)
        described["weak"] = list(homework.sandbox.weaknesses)
    if homework and homework.sandbox.resets:
        described["zygote"] = f"reused after {homework.sandbox.resets} verified reset(s) (earlier students)"
    tasks = score(grading, outcomes, gpu_tests=config.stash.get(GPU_TESTS, set()))
    if gpu_only:
        for task in tasks:
            task.tests = [t for t in task.tests if t.status != "not_run"]
    return build(grading.assignment, str(submission), tasks,
                 execution_time=time.perf_counter() - started, sandbox=described,
                 worker_restarts=homework.restarts if homework else 0,
                 gpu=SIMULATED_GPU if gpu == "simulate" else gpu, errors=errors, lang=i18n.language())


def pytest_args(course: courses.Course, tmp: Path, grading: GradingConfig, grading_path: Path, gpu_only: bool,
                lang: str | None) -> list[str]:
    """The grader's pytest command line (its ini written into the folder `tmp`)."""
    test_timeout = int(grading.limits.import_timeout_s * 3 + grading.limits.call_timeout_s * 10)
    return [*course.pytest_args(tmp / "pytest.ini"), "-p", "hwkit.plugin", "-p", "pytest_timeout",
            f"--timeout={test_timeout}", "--grading", str(grading_path), "-p", "no:stepwise", "-q", "-rN",
            # pytest's own traceback rendering would double the time of a failing grading
            "--tb=native", "--import-mode=prepend",
            # Student code never runs in this process: nothing of its output or logging to
            # capture, and these plugins' per-test work is a third of the grader's own time.
            "-s", *(arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}")),
            *(["-m", "gpu"] if gpu_only else []), *(["--lang", lang] if lang else []),
            *(str(course.root / folder) for folder in grading.suite_folders())]


def _check_config(grading: GradingConfig, outcomes, grading_path: Path, gpu_only: bool) -> None:
    # (A test file that fails to import stops pytest as INTERRUPTED, reported before this.)
    extra = unscored(grading, outcomes)
    ran = {o.test_id for o in outcomes}
    missing = [] if gpu_only else [t for t in grading.all_tests() if t not in ran]
    problems = [f"{t}: runs but has no points in {grading_path}" for t in extra]
    problems += [f"{t}: has points in {grading_path} but no such test ran" for t in missing]
    if problems:
        raise GraderError("grading.yml does not match the test suites:\n  " + "\n  ".join(problems))


@contextlib.contextmanager
def trusted_environment():
    """No plugin autoload and no PYTEST_* options from the environment (put back afterwards)."""
    with mock.patch.dict(os.environ, {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}):
        os.environ.pop("PYTEST_ADDOPTS", None)
        os.environ.pop("PYTEST_PLUGINS", None)
        yield

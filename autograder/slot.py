"""Warm grading slots for `autograder batch`, all forked from one warm parent.

The batch starts one *warm parent* (``python -m autograder.slot --control FD``). It imports
torch, pytest and the test suites and grades the reference solutions once, in a sandbox of its
own that it closes afterwards: torch's and pytest's lazy set-up (half of a grading's CPU time
otherwise) is paid once per batch, not once per slot. It never grades a student and never
talks to a sandbox that ran student code. Then, on request, it forks a *slot*: a process with
its own session, which starts its own sandbox (a zygote that imports torch) and grades one
student after another.

For each student the slot forks a grading process, which grades in the slot's sandbox and
exits, so nothing of one student's grading stays in the trusted process for the next. The slot
has configured pytest and collected the suites once, and forks each grading at pytest's test
loop (:class:`StudentLoop`); a job with other options than the batch's runs ``autograder grade``
from the start instead. Then the slot resets the sandbox (see :meth:`Sandbox.recycle`), which
starts a new one whenever it cannot prove the old one clean.

The parent and every slot are single-threaded when they fork (numpy's OpenBLAS pool is kept
to one thread, torch's intra-op pool too, and the warm-up sandbox's reader threads end with
it), so no lock held by another thread is copied into a child.

Parent: a ``SOCK_SEQPACKET`` socket. It first says ``{"sandbox": null}`` once its warm-up sandbox
has started (the batch's check that a sandbox keeps its promises here), or ``{"sandbox": WHY}``.
Then ``{"op": "slot"}`` with the slot's stdin, stdout and stderr attached is answered
``{"pid": PID}`` with a pidfd of the slot attached. At the socket's end the parent exits, and its
slots die with it (PR_SET_PDEATHSIG).

Slot: one job per line on stdin, one answer line on stdout.
Job: ``{"argv": ["grade", SUBMISSION, "--json", ...], "stdout": FILE, "stderr": FILE}``.
Answer: ``{"code": EXIT_CODE}`` (the grading process's exit code; negative: killed by a signal).
Job ``{"info": true}``: answered with :data:`INFO` and the modules the slot has imported since
it was forked (how it was made; for tests).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import json
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from . import course as courses
from .sandbox import isolation
from .sandbox.zygote import BATCH_PRELOAD, Sandbox

WARM_MODULES = ("torch", "numpy", "pytest", "pytest_timeout", "hwkit.plugin", "autograder.grade", "autograder.cli",
                "autograder.report.console", "autograder.report.feedback", "autograder.report.gradescope")

# What a slot says about itself ({"info": true}): set by the parent before each fork, and in
# the slot (its pid, parent, and the modules it had when forked).
INFO: dict = {}
_AT_FORK: set[str] = set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.slot", description=__doc__.splitlines()[0])
    parser.add_argument("--control", type=int, required=True, help="the batch's end of the parent's socket")
    parser.add_argument("--course", required=True)
    parser.add_argument("--grading", required=True)
    parser.add_argument("--gpu", choices=("auto", "off"), default="auto")
    parser.add_argument("--allow-weak-sandbox", action="store_true")
    parser.add_argument("--lang", choices=("en", "ru"), default=None)
    args = parser.parse_args(argv)
    # Before numpy is imported (by torch): OpenBLAS would start a pool thread per core, and this
    # process forks. Sandboxes get an environment of their own, so students are unaffected.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    # Before anything could start CUDA here: the slots forked from this process run autograd
    # (see client.keep_cuda_out_of_grader).
    from .sandbox.client import keep_cuda_out_of_grader  # (imports torch: after OPENBLAS_NUM_THREADS)

    keep_cuda_out_of_grader()
    control = socket.socket(fileno=args.control)
    course = courses.find(args.course)
    os.environ[courses.COURSE_ENV] = str(course.root)  # for every grading a slot forks
    warmed = warm_up(course, args, say=lambda message: control.send(json.dumps(message).encode()))
    signal.signal(signal.SIGCHLD, _reap)  # slots end (killed by the batch): no zombies kept
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 12, 3)
        except OSError:
            break
        if not data:
            break  # the batch has gone or is done: the slots die with this process
        try:
            if len(fds) != 3 or json.loads(data).get("op") != "slot":
                control.send(json.dumps({"error": "expected op slot with three descriptors"}).encode())
                continue
            pid, pidfd = _fork_slot(fds, control, args, warmed)
            try:
                socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [pidfd])
            finally:
                os.close(pidfd)
        except Exception as exc:  # noqa: BLE001 - e.g. fork refused: say so, keep serving
            control.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]}).encode())
        finally:
            for fd in fds:
                os.close(fd)
    return 0


def warm_up(course: courses.Course, args: argparse.Namespace, say=lambda message: None) -> dict:
    """Import everything and grade the reference once in a sandbox of its own, closed
    afterwards; what was done (for :data:`INFO`). Once that sandbox has started (or failed to),
    `say` is given ``{"sandbox": None}`` or ``{"sandbox": WHY}``: the batch's check that a
    sandbox can keep its promises here, before any student."""
    why = None
    try:
        # (As the reference is graded: --gpu off, no GPU device files.) Its zygote imports torch
        # while this process does.
        sandbox = _sandbox(args, gpu=False)
        sandbox.launch()
    except Exception as exc:  # noqa: BLE001 - e.g. SandboxUnavailable: the batch stops with why
        sandbox = None
        say({"sandbox": _why(exc)})
    _import_warm_modules()
    if sandbox is not None:
        try:
            sandbox.ready()
        except Exception as exc:  # noqa: BLE001
            why = _why(exc)
            sandbox.close()
            sandbox = None
        say({"sandbox": why})
    graded = False
    try:
        if sandbox is not None:
            graded = _grade_reference(course, args.grading, sandbox)
    finally:
        if sandbox is not None:
            sandbox.close()
    return {"warm_parent": os.getpid(), "reference_graded": graded,
            "warm_modules": all(name in sys.modules for name in WARM_MODULES)}


def _why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, isolation.SandboxUnavailable) else f"{type(exc).__name__}: {exc}"


def _reap(signum, frame) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def _fork_slot(fds: list[int], control: socket.socket, args: argparse.Namespace, warmed: dict) -> tuple[int, int]:
    """Fork a slot on the three descriptors (its stdin, stdout, stderr); (its pid, a pidfd)."""
    parent = os.getpid()
    INFO.clear()
    INFO.update(warmed, threads_at_fork=_threads())
    sys.stdout.flush()
    sys.stderr.flush()
    # Until the pidfd is open: the SIGCHLD handler must not reap a slot that died at once.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # its own waits must see their children
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                os.setsid()  # killed by the batch as one group with its grading
                isolation.die_with_parent(parent)
                for target, fd in enumerate(fds):
                    os.dup2(fd, target)
                    os.close(fd)
                control.close()
                INFO.update(pid=os.getpid(), parent=parent)
                _AT_FORK.update(sys.modules)
                code = _serve(args)
            except BaseException:  # noqa: BLE001 - the traceback goes to the slot's log
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        return pid, os.pidfd_open(pid)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


def _serve(args: argparse.Namespace) -> int:
    """A slot: its own sandbox, then one student per line of stdin: in one collected pytest
    session as long as it can (:class:`StudentLoop`), then each in a grading process that runs
    ``autograder grade`` from the start."""
    sandbox = _ready(_started_sandbox(args))
    jobs: Iterator[dict] = (json.loads(line) for line in sys.stdin)
    me = os.getpid()
    try:
        if sandbox is not None:
            sandbox, left = _serve_collected(args, sandbox, jobs)
            jobs = itertools.chain(left, jobs)
        for job in jobs:
            if job.get("info"):
                _info()
                continue
            code = _grade_in_child(job, sandbox)
            _say({"code": code})
            if sandbox is not None:
                sandbox = _recycled(sandbox)
    finally:
        if sandbox is not None and os.getpid() == me:  # (never from a grading process)
            sandbox.close()
    return 0


def _say(answer: dict) -> None:
    """One answer line on the slot's stdout (the descriptor: sys.stdout may be pytest's buffer)."""
    os.write(1, (json.dumps(answer) + "\n").encode())


def _info() -> None:
    _say(dict(INFO, imported_since_fork=sorted(set(sys.modules) - _AT_FORK)))


def _serve_collected(args: argparse.Namespace, sandbox: Sandbox, jobs: Iterator[dict]) -> tuple[Sandbox | None,
                                                                                                   list[dict]]:
    """Grade `jobs` in one pytest session, configured and collected once: (the slot's sandbox
    now, the jobs left to grade the other way). See :class:`StudentLoop`."""
    import io

    import pytest

    from hwkit.grading import load_grading

    from . import grade

    course = courses.find(args.course)
    grading_path = Path(args.grading).resolve()
    grading = load_grading(grading_path)
    plug = grade.GraderPlugin({}, {}, grading.limits, args.gpu, sandbox)
    loop = StudentLoop(args, course, grading_path, plug, jobs, grading.module_names())
    output = io.StringIO()
    # (named like the slot's sandbox folders: removed with them if the batch kills the slot)
    with tempfile.TemporaryDirectory(prefix=f"autograder-sandbox-{isolation.owner_tag()}-pytest-") as tmp:
        pytest_args = grade.pytest_args(course, Path(tmp), grading, grading_path, False, args.lang)
        with grade.trusted_environment(), contextlib.redirect_stdout(output):
            try:
                code = pytest.main(pytest_args, plugins=[plug, loop])
            except BaseException as exc:  # (e.g. from a plugin's unconfigure): it ends the grading there
                if loop.student is not None:
                    loop.student.exit(exc)
                raise
        if loop.student is not None:  # a grading process forked at the test loop: its tests have run
            loop.student.finish(plug, code, output.getvalue(), grading)  # (exits)
    if loop.error is not None:
        raise loop.error  # the slot's own failure: it ends, and the batch reports its log
    return plug.sandbox, loop.left


class StudentLoop:
    """A pytest plugin that grades one student after another in a session collected once.

    The slot runs ``pytest.main`` once with it and the grader's :class:`GraderPlugin`, which has
    no student yet. pytest configures itself and collects the suites (about 0.08 CPU-s that a
    grading started from scratch pays each time); then, at ``pytest_runtestloop``, this hook
    forks a grading process per job and waits for it. In that process the hook gives the
    plugin the student's files and returns None, so pytest goes on to its own test loop, for
    that one student, and ``pytest.main`` returns there as it would in ``autograder grade``:
    :func:`_serve_collected` finishes the grading (:func:`autograder.grade.finish`, the files
    asked for) and the process exits. In the slot the hook returns True once the jobs end, or
    at the first one it cannot take (options other than those the session was collected with:
    that one and the rest are graded the other way), or when no sandbox is left to grade in.
    """

    def __init__(self, args: argparse.Namespace, course: courses.Course, grading_path: Path, plug,
                 jobs: Iterator[dict], modules: dict[str, str]) -> None:
        self.args, self.course, self.grading_path, self.plug = args, course, grading_path, plug
        self.jobs, self.modules = jobs, modules
        self.left: list[dict] = []  # the first job this session could not take
        self.student: _Student | None = None  # set in a grading process
        self.error: BaseException | None = None  # the slot's own failure in the loop
        self._parser = None

    def pytest_runtestloop(self, session) -> bool | None:
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            return None  # pytest stops on the collection errors; each grading then reports them
        try:
            return self._loop()
        except BaseException as exc:  # noqa: BLE001 - pytest would keep it as its own internal error
            if self.student is not None:
                raise
            self.error = exc  # (raised again after pytest.main: see _serve_collected)
            return True

    def _loop(self) -> bool | None:
        for job in self.jobs:
            if job.get("info"):
                _info()
                continue
            options = self._options(job)
            if options is None:
                self.left.append(job)
                break
            code = self._fork(job, options)
            if self.student is not None:
                return None  # the grading process: pytest's own loop runs the tests next
            _say({"code": code})
            INFO["graded_in_session"] = INFO.get("graded_in_session", 0) + 1
            self.plug.sandbox = _recycled(self.plug.sandbox)
            if self.plug.sandbox is None:
                break  # (the next gradings start their own sandbox and say why that fails)
        return True

    def _options(self, job: dict) -> argparse.Namespace | None:
        """The job's `grade` options, if they are those this session was collected for."""
        from . import cli

        self._parser = self._parser or cli.parser()
        try:
            options = self._parser.parse_args(job["argv"])
            course = courses.find(options.course)
        except (SystemExit, courses.CourseNotFound):
            return None
        options.grading = options.grading or str(course.grading)
        same = (options.command == "grade" and course.root == self.course.root
                and Path(options.grading).resolve() == self.grading_path
                and options.gpu == self.args.gpu and options.lang == self.args.lang
                and options.allow_weak_sandbox == self.args.allow_weak_sandbox and options.sandbox is None
                and not options.verbose)
        return options if same else None

    def _fork(self, job: dict, options: argparse.Namespace) -> int:
        """Fork the job's grading process; in the slot its exit code, in the process 0."""
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self.student = _Student(options, self.plug.sandbox)
            try:
                _to_job_files(job, parent)
                self.student.open(self.plug, self.modules)
            except BaseException as exc:  # noqa: BLE001 - e.g. a submission that cannot be read
                self.student.exit(exc)
            return 0
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)


class _Student:
    """A grading process of :class:`StudentLoop`: its options, its submission, its exit."""

    def __init__(self, options: argparse.Namespace, sandbox: Sandbox) -> None:
        self.options, self.sandbox, self.launches = options, sandbox, sandbox.launches
        self.grading_path = Path(options.grading)  # (as the job gave it: _options fills in the default)
        self.started = time.perf_counter()
        self.stack = contextlib.ExitStack()

    def open(self, plug, modules: dict[str, str]) -> None:
        from .submission import open_submission

        sub = self.stack.enter_context(open_submission(self.options.submission, modules))
        plug.files, plug.problems = dict(sub.files), dict(sub.problems)

    def finish(self, plug, code: int, output: str, grading) -> None:
        from . import grade
        from .commands import grade as grade_command

        try:
            result = grade.finish(plug, code, output, self.options.submission, grading, self.grading_path,
                                  self.options.gpu, False, False, self.started)
            grade_command.report(self.options, result)
        except BaseException as exc:  # noqa: BLE001 - the same exit codes and messages as `grade`
            self.exit(exc)
        self.exit(None)

    def exit(self, exc: BaseException | None) -> None:
        """End the process: 0, or what `autograder grade` says and returns for `exc`."""
        code = 70
        try:
            code = 0 if exc is None else _exit_code(exc)
            self.stack.close()
        finally:
            _end_grading(code, self.sandbox, self.launches)


def _to_job_files(job: dict, parent: int) -> None:
    """In a grading process: die with the slot; stdout and stderr to the job's files; no stdin."""
    isolation.die_with_parent(parent)
    for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    os.close(0)


def _sandbox(args: argparse.Namespace, gpu: bool) -> Sandbox:
    from hwkit.grading import load_grading

    grading = load_grading(Path(args.grading))
    return Sandbox(grading.limits, modules=grading.module_names(), gpu=gpu, allow_weak=args.allow_weak_sandbox,
                   preload=BATCH_PRELOAD)


def _started_sandbox(args: argparse.Namespace) -> Sandbox | None:
    """A started sandbox, or None when it cannot start (each grading then says why)."""
    try:
        sandbox = _sandbox(args, gpu=args.gpu != "off")
        sandbox.launch()
    except Exception:  # noqa: BLE001 - the grading process reports the same failure properly
        return None
    return sandbox


def _ready(sandbox: Sandbox | None) -> Sandbox | None:
    """The sandbox once its zygote has imported torch and been measured, or None."""
    if sandbox is not None:
        try:
            sandbox.ready()
        except Exception:  # noqa: BLE001 - the grading process reports the same failure properly
            sandbox.close()
            return None
    return sandbox


def _recycled(sandbox: Sandbox) -> Sandbox | None:
    """The sandbox reset for the next student, or None if no sandbox can start any more (each
    grading process then starts its own and reports why that fails)."""
    try:
        sandbox.recycle()
    except Exception:  # noqa: BLE001 - e.g. SandboxUnavailable, or a cgroup that cannot be made
        sandbox.close()
        return None
    return sandbox


def _import_warm_modules() -> None:
    import torch

    # The trusted side only computes small references; one thread keeps forks safe (no
    # OpenMP pool to inherit) and leaves the cores to the students' workers.
    torch.set_num_threads(1)
    for name in WARM_MODULES:
        importlib.import_module(name)


def _grade_reference(course: courses.Course, grading: str, sandbox: Sandbox) -> bool:
    """Grade the reference solutions in `sandbox` (ready) as a batch grades a student
    (``autograder grade ... --record``, printed to stdout), so that a process forked afterwards
    finds torch's, pytest's and the reports' lazy set-up done; whether it was graded."""
    from hwkit import simcuda

    from . import cli

    if not course.solutions.is_dir():
        return False  # (imports only)
    # Its timing tests' waits (about 2 s of sleeping probes and simulated kernels) would only
    # delay the first slot: what warms up is the code around them.
    with tempfile.TemporaryDirectory(prefix="autograder-warm-up-") as tmp, simcuda.instant_waits():
        try:
            code = cli.main(["grade", str(course.solutions), "--record", str(Path(tmp) / "record.json"), "--gpu",
                             "off", "--grading", grading, "--course", str(course.root)], sandbox=sandbox)
        except Exception:  # noqa: BLE001 - only a warm-up: the students' gradings report real problems
            return False
    return code == 0


def _grade_in_child(job: dict, sandbox: Sandbox | None) -> int:
    """Fork, run `autograder <argv>` in the child with the warm sandbox, return its exit code."""
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code, launches = 70, sandbox.launches if sandbox is not None else 0
        try:
            _to_job_files(job, parent)
            from . import cli

            code = cli.main(job["argv"], sandbox=sandbox)
        except BaseException as exc:  # noqa: BLE001 - its exit code, a crash's traceback on its stderr
            code = _exit_code(exc)
        finally:
            _end_grading(code, sandbox, launches)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _exit_code(exc: BaseException) -> int:
    """A grading process's exit code for `exc`: as `autograder grade` returns it (saying why on
    stderr), a SystemExit's own, or 70 with the traceback for a crash of the grader."""
    from . import cli

    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else 1
    code = cli.failure(exc, "grade") if isinstance(exc, Exception) else None
    if code is None:
        import traceback

        traceback.print_exception(exc)
        return 70
    return code


def _end_grading(code: int, sandbox: Sandbox | None, launches: int) -> None:
    """Exit a grading process with `code`; a sandbox it had to start for itself ends with it."""
    try:
        if sandbox is not None and sandbox.launches != launches:
            sandbox.stop()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main())

"""A warm grading slot for `autograder batch`: grades one student after another, fast.

The batch starts one slot per parallel job (``python -m autograder.slot``) and sends it one
job per line on stdin; the slot answers each with one line on stdout. A slot imports torch,
pytest and the test suites once, and keeps one sandbox warm (its zygote has imported torch
too), and grades the reference solutions once to warm everything up. For each student it
forks a grading process, which runs ``autograder grade`` in the
warm sandbox and exits, so nothing of one student's grading stays in the trusted process for
the next. Then the slot resets the sandbox (see :meth:`Sandbox.recycle`), which starts a new
one whenever it cannot prove the old one clean.

Job: ``{"argv": ["grade", SUBMISSION, "--json", ...], "stdout": FILE, "stderr": FILE}``.
Answer: ``{"code": EXIT_CODE}`` (the grading process's exit code; negative: killed by a signal).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path


from . import course as courses
from .sandbox import isolation
from .sandbox.zygote import Sandbox

WARM_MODULES = ("torch", "numpy", "pytest", "pytest_timeout", "hwkit.plugin", "autograder.grade",
                "autograder.report.console", "autograder.report.feedback", "autograder.report.gradescope")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.slot", description=__doc__.splitlines()[0])
    parser.add_argument("--course", required=True)
    parser.add_argument("--grading", required=True)
    parser.add_argument("--gpu", choices=("auto", "off"), default="auto")
    parser.add_argument("--allow-weak-sandbox", action="store_true")
    args = parser.parse_args(argv)
    course = courses.find(args.course)
    os.environ[courses.COURSE_ENV] = str(course.root)  # for every grading this slot forks
    sandbox = _started_sandbox(args)  # its zygote imports torch while this process does
    sandbox = _warm_up(course, args.grading, sandbox)
    try:
        for line in sys.stdin:
            job = json.loads(line)
            code = _grade_in_child(job, sandbox)
            print(json.dumps({"code": code}), flush=True)
            if sandbox is not None:
                sandbox = _recycled(sandbox)
    finally:
        if sandbox is not None:
            sandbox.close()
    return 0


def _started_sandbox(args: argparse.Namespace) -> Sandbox | None:
    """A started sandbox, or None when it cannot start (each grading then says why)."""
    from hwkit.grading import load_grading

    try:
        grading = load_grading(Path(args.grading))
        return Sandbox.started(grading.limits, modules=grading.module_names(), gpu=args.gpu != "off",
                               allow_weak=args.allow_weak_sandbox)
    except Exception:  # noqa: BLE001 - the grading process reports the same failure properly
        return None


def _recycled(sandbox: Sandbox) -> Sandbox | None:
    """The sandbox reset for the next student, or None if no sandbox can start any more (each
    grading process then starts its own and reports why that fails)."""
    try:
        sandbox.recycle()
    except Exception:  # noqa: BLE001 - e.g. SandboxUnavailable, or a cgroup that cannot be made
        sandbox.close()
        return None
    return sandbox


def _warm_up(course: courses.Course, grading: str, sandbox: Sandbox | None) -> Sandbox | None:
    """Import everything, then grade the reference solutions once: a forked grading process
    then finds torch's and pytest's lazy set-up done (half of its CPU time otherwise)."""
    import torch

    # The trusted side only computes small references; one thread keeps forks safe (no
    # OpenMP pool to inherit) and leaves the cores to the students' workers.
    torch.set_num_threads(1)
    for name in WARM_MODULES:
        importlib.import_module(name)
    from .grade import grade

    if sandbox is not None:
        try:
            sandbox.ready()
        except Exception:  # noqa: BLE001 - the grading process reports the same failure properly
            sandbox.close()
            sandbox = None
    if sandbox is None or not course.solutions.is_dir():
        return sandbox  # (no sandbox: every grading reports why; no reference: imports only)
    try:
        grade(course.solutions, grading_path=grading, gpu="off", sandbox=sandbox, course=course)
    except Exception:  # noqa: BLE001 - only a warm-up: the students' gradings report real problems
        pass
    return _recycled(sandbox)


def _grade_in_child(job: dict, sandbox: Sandbox | None) -> int:
    """Fork, run `autograder <argv>` in the child with the warm sandbox, return its exit code."""
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            isolation.die_with_parent(parent)
            for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
                target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(target, fd)
                os.close(target)
            os.close(0)
            from . import cli

            launches = sandbox.launches if sandbox is not None else 0
            code = cli.main(job["argv"], sandbox=sandbox)
            if sandbox is not None and sandbox.launches != launches:
                sandbox.stop()  # the grading had to start a sandbox of its own: it ends here
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - a crash of the grader: the traceback goes to its stderr
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())

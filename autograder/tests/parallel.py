"""`make test`: the course's tests as two pytest processes side by side.

Most of the sandbox tests' time is waiting (probes that sleep on purpose, timeouts, starting
sandboxes), so on 2 cores a second process of tests that never start a sandbox fits beside
them. Those tests must never start one: the sandbox tests look for leftover sandbox
processes anywhere on the machine. So the side group is an explicit list of files checked to
start none (releases, fresh venvs, the platforms' clients, a browser); every other file —
every new one too — runs in the sandbox group, in order, as before. Each group's output is
printed whole when it ends; the exit status is the first non-zero one.

    python -m autograder.tests.parallel [PYTEST ARGS...]
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.tests import REPO

TESTS = REPO / "autograder" / "tests"
# Files whose tests start no sandbox (no grading, no batch, no RemoteHomework).
WITHOUT_SANDBOX = ("test_release.py", "test_release_ru.py", "test_classroom.py", "test_requirements.py",
                   "test_formgrader.py", "test_stubgen.py", "test_export_nbgrader.py", "test_merge_gpu.py",
                   "test_feedback.py", "test_wire_and_config.py", "test_public_suite.py")
PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=8")


def groups() -> tuple[list[str], list[str]]:
    """(the sandbox group's files, the side group's files), relative to the repository."""
    files = sorted(p.name for p in TESTS.glob("test_*.py"))
    missing = sorted(set(WITHOUT_SANDBOX) - set(files))
    if missing:
        raise SystemExit(f"autograder/tests/parallel.py names test files that do not exist: {', '.join(missing)}")
    rel = lambda names: [str((TESTS / n).relative_to(REPO)) for n in names]  # noqa: E731
    return rel(f for f in files if f not in WITHOUT_SANDBOX), rel(f for f in files if f in WITHOUT_SANDBOX)


def main(argv: list[str] | None = None) -> int:
    extra = list(argv if argv is not None else sys.argv[1:])
    sandboxed, side = groups()
    commands = {
        "sandbox tests": [[*PYTEST, *extra, *sandboxed]],
        "other tests, then the public suite on the reference": [
            [*PYTEST, *extra, *side], [*PYTEST, "tests", "--submission", "solutions"]],
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="make-test-") as tmp:
        running = {}
        for name, steps in commands.items():
            log = open(Path(tmp) / f"{len(running)}.log", "w+", encoding="utf-8")
            # One shell per group: its steps run in order, the groups side by side.
            script = " && ".join(shlex.join(step) for step in steps)
            running[name] = (subprocess.Popen(script, shell=True, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), log)
        codes = {}
        while running:
            for name, (proc, log) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[name]
                log.seek(0)
                print(f"===== {name} (exit {proc.returncode}, {time.monotonic() - started:.0f} s) =====", flush=True)
                sys.stdout.write(log.read())
                sys.stdout.flush()
                log.close()
                codes[name] = proc.returncode
            time.sleep(0.5)
    failed = [name for name, code in codes.items() if code]
    print(f"===== make test: {'FAILED: ' + ', '.join(failed) if failed else 'all passed'} "
          f"in {time.monotonic() - started:.0f} s =====")
    return next((codes[name] for name in failed), 0)


if __name__ == "__main__":
    sys.exit(main())

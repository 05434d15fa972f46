"""`make test`: the course's tests in two lanes side by side, in three phases.

Most of the sandbox tests' time is waiting (probes that sleep on purpose, timeouts, starting
sandboxes), so on 2 cores two pytest processes fit. What may overlap:

* the red-team corpus looks for sandbox processes anywhere on the machine before and after its
  batches, so it runs first, and beside it only files checked to start no sandbox (releases,
  fresh venvs, the platforms' clients, a browser, the in-process public suite);
* then the other sandbox tests in two lanes: each test looks only at its own sandboxes;
* last, alone, the tests that start many processes at once (no timing test beside them).

Every file not named here (every new one too) runs in the first lane of the second phase.
Each lane's output is printed whole when it ends; the exit status is the first non-zero one.

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
RED_TEAM = ("test_redteam.py",)
# Files whose tests start no sandbox (no grading, no batch, no RemoteHomework).
WITHOUT_SANDBOX = ("test_release.py", "test_release_ru.py", "test_classroom.py",
                   "test_formgrader.py", "test_stubgen.py", "test_merge_gpu.py",
                   "test_feedback.py", "test_wire_and_config.py", "test_public_suite.py")
# Bursts of many processes at once (27 uv resolutions in parallel): alone, last, so that no
# timing test runs beside them.
ALONE = ("test_requirements.py",)
# The second phase's second lane (the first takes every other file); balanced by the
# durations `make test` prints (2 cores): about 6 minutes each.
SECOND_LANE = ("test_mistakes.py", "test_platforms.py", "test_authoring.py", "test_export_nbgrader.py")
PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=8")


def phases() -> list[dict[str, list[str]]]:
    """Each phase: lane name -> its files (relative to the repository), run side by side."""
    files = sorted(p.name for p in TESTS.glob("test_*.py"))
    named = (*RED_TEAM, *WITHOUT_SANDBOX, *SECOND_LANE, *ALONE)
    missing = sorted(set(named) - set(files))
    if missing:
        raise SystemExit(f"autograder/tests/parallel.py names test files that do not exist: {', '.join(missing)}")
    rel = lambda names: [str((TESTS / n).relative_to(REPO)) for n in names]  # noqa: E731
    return [{"red team": rel(RED_TEAM), "tests without a sandbox": rel(WITHOUT_SANDBOX)},
            {"sandbox tests": rel(f for f in files if f not in named), "sandbox tests, second lane": rel(SECOND_LANE)},
            {"tests that start many processes at once": rel(ALONE)}]


def main(argv: list[str] | None = None) -> int:
    extra = list(argv if argv is not None else sys.argv[1:])
    started = time.monotonic()
    codes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="make-test-") as tmp:
        for number, lanes in enumerate(phases(), 1):
            commands = {name: [[*PYTEST, *extra, *files]] for name, files in lanes.items()}
            if number == 1:  # (the public suite on the reference, in-process: no sandbox)
                commands["tests without a sandbox"].append([*PYTEST, "tests", "--submission", "solutions"])
            codes |= _run_side_by_side(commands, Path(tmp), started)
    failed = [name for name, code in codes.items() if code]
    print(f"===== make test: {'FAILED: ' + ', '.join(failed) if failed else 'all passed'} "
          f"in {time.monotonic() - started:.0f} s =====")
    return next((codes[name] for name in failed), 0)


def _run_side_by_side(commands: dict[str, list[list[str]]], tmp: Path, started: float) -> dict[str, int]:
    """Run each lane's commands in order, the lanes at the same time; print each lane's output
    when it ends; lane -> exit status."""
    running, codes = {}, {}
    for name, steps in commands.items():
        log = open(tmp / f"{name}.log", "w+", encoding="utf-8")
        script = " && ".join(shlex.join(step) for step in steps)
        running[name] = (subprocess.Popen(script, shell=True, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), log)
    while running:
        for name, (proc, log) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            log.seek(0)
            print(f"===== {name} (exit {proc.returncode}, at {time.monotonic() - started:.0f} s) =====", flush=True)
            sys.stdout.write(log.read())
            sys.stdout.flush()
            log.close()
            codes[name] = proc.returncode
        time.sleep(0.5)
    return codes


if __name__ == "__main__":
    sys.exit(main())

"""The CPU a grading could never go below: the same suites run by plain pytest in one warm
process, the reference imported in-process, no sandbox, no wire, no reports.

    .venv/bin/python -m benchmarks.floor [--runs N] [--json FILE]

Set up as a batch slot is (one torch thread, OpenBLAS single-threaded), it runs pytest once to
pay the lazy imports, then N more times, each run's CPU (user + system, ``getrusage``) measured.
Every figure a batch reports per student includes this much work for the tests themselves.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import sys
from pathlib import Path

from .common import REPO
from .grading import PYTEST_ALL


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.chdir(REPO)
    import pytest
    import torch

    from autograder.grade import UNUSED_PLUGINS

    # The tests `grade vs pytest` runs in-process, with the grader's own pytest settings (no
    # capture, native tracebacks, its unused plugins off: unraisableexception alone would add
    # about 0.2 CPU-s of gc.collect at the end of each run).
    command = [*PYTEST_ALL[3:], "-s", "--tb=native", *(a for name in UNUSED_PLUGINS for a in ("-p", f"no:{name}"))]
    torch.set_num_threads(1)
    cpu: list[float] = []
    for i in range(args.runs + 1):
        started = _cpu()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = pytest.main(list(command))
        if code != 0:
            sys.stderr.write(out.getvalue()[-3000:])
            raise SystemExit(f"plain pytest failed (exit code {int(code)})")
        if i:  # (the first run pays the lazy imports)
            cpu.append(_cpu() - started)
    figures = {"runs": cpu, "median": statistics.median(cpu), "command": "pytest " + " ".join(command)}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    print(f"plain pytest, warm, in one process: median {figures['median']:.3f} CPU-s per run "
          f"({', '.join(f'{c:.3f}' for c in cpu)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

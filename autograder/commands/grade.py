"""`autograder grade SUBMISSION`: grade one folder or .zip in the sandbox."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from ..sandbox.isolation import TIERS

HELP = "grade one submission (a folder or .zip with the three modules)"


def add_arguments(g: argparse.ArgumentParser) -> None:
    g.add_argument("submission")
    g.add_argument("--json", metavar="FILE", help="write Gradescope-format results.json here")
    g.add_argument("--feedback", metavar="FILE", help="write the student's feedback.md here")
    g.add_argument("--record", metavar="FILE", help="write the grading's record here (JSON, hwkit/record.py): "
                                                   "every report can be made again from it")
    g.add_argument("--gpu", choices=("auto", "require", "simulate", "off"), default="auto",
                   help="auto: GPU tests run if the worker sees CUDA, else pending; require: run only "
                        "the GPU tests and fail if there is no GPU; simulate: run only the GPU tests, on a "
                        "simulated GPU (to check the grader without one: the result is marked simulated "
                        "and is not a grade); off: GPU tests pending")
    g.add_argument("--grading", metavar="FILE", help="grading.yml to use (default: the course's)")
    g.add_argument("--allow-weak-sandbox", "--allow-weak", action="store_true",
                   help="grade even where the sandbox cannot keep a promise (privileges, network, the "
                        "filter, the file system); every result then says what is missing")
    g.add_argument("--sandbox", choices=TIERS, default=None,
                   help="auto (default): bubblewrap if it works here, else landlock; bubblewrap: only "
                        "bubblewrap; landlock: no bubblewrap (own namespaces where the kernel allows)")
    g.add_argument("--lang", choices=("en", "ru"), default=None,
                   help="language of the messages and feedback (default: grading.yml's feedback.lang)")
    g.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output")


def run(args: argparse.Namespace, sandbox=None) -> int:
    """`sandbox`: a warm one (a batch slot's), kept by the caller; else one is started here."""
    with contextlib.ExitStack() as stack:
        if sandbox is None:
            from hwkit.grading import load_grading

            from ..sandbox.zygote import Sandbox, gpu_options

            # Started before the imports below, so the sandbox imports torch while we do.
            grading = load_grading(Path(args.grading or args.course.grading))
            sandbox = Sandbox.started(grading.limits, modules=grading.module_names(),
                                      allow_weak=args.allow_weak_sandbox, **gpu_options(args.gpu))
            stack.callback(sandbox.close)
        return _grade_and_report(args, sandbox)


def _grade_and_report(args: argparse.Namespace, sandbox) -> int:
    from ..cli import err
    from ..grade import grade

    if args.gpu == "require":
        from ..sandbox.client import machine_has_gpu

        if not machine_has_gpu():  # (NVML: no CUDA context in the grader, see keep_cuda_out_of_grader)
            err.print("[red]cannot grade:[/] --gpu require needs a CUDA GPU, and torch sees none here")
            return 2
    result = grade(args.submission, grading_path=args.grading, gpu=args.gpu, allow_weak=args.allow_weak_sandbox,
                   gpu_only=args.gpu == "require", verbose=args.verbose, sandbox=sandbox,
                   lang=args.lang, course=args.course)
    report(args, result)
    return 0


def report(args: argparse.Namespace, result) -> None:
    """The files `args` asks for (--record, --json, --feedback), then the result on the console."""
    from hwkit import record

    from ..report import console, feedback, gradescope

    if args.record:
        record.save(result, Path(args.record))
    if args.json:
        gradescope.write(result, Path(args.json))
    if args.feedback:
        feedback.write(result, Path(args.feedback))
    console.print_result(result)

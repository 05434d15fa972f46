"""`autograder` command line: grade | check | stubs | grade-examples.

Exit codes: 0 when the command did its job (a low score is still a successful grading);
2 when the grader cannot run (bad configuration, unreadable path, no sandbox), with a
message saying what to fix; 1 when `check` or `grade-examples` found problems.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from rich.console import Console

from hwkit.grading import GradingConfigError
from hwkit.modules import MODULES

from . import REPO
from .sandbox.isolation import TIER_ENV, TIERS

err = Console(stderr=True, soft_wrap=True)  # a message stays one line, whatever the width


def main(argv: list[str] | None = None, *, sandbox=None) -> int:
    """Run one command. `sandbox`: a warm sandbox for `grade` (a batch slot's), kept by the caller."""
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="grade one submission (a folder or .zip with the three modules)")
    g.add_argument("submission")
    g.add_argument("--json", metavar="FILE", help="write Gradescope-format results.json here")
    g.add_argument("--feedback", metavar="FILE", help="write the student's feedback.md here")
    g.add_argument("--gpu", choices=("auto", "require", "off"), default="auto",
                   help="auto: GPU tests run if the worker sees CUDA, else pending; require: run only "
                        "the GPU tests and fail if there is no GPU; off: GPU tests pending")
    g.add_argument("--grading", metavar="FILE", help="grading.yml to use (default: the repository's)")
    g.add_argument("--allow-weak-sandbox", "--allow-weak", action="store_true",
                   help="grade even where the sandbox cannot keep a promise (privileges, network, the "
                        "filter, the file system); every result then says what is missing")
    g.add_argument("--sandbox", choices=TIERS, default=None,
                   help="auto (default): bubblewrap if it works here, else landlock; bubblewrap: only "
                        "bubblewrap; landlock: no bubblewrap (own namespaces where the kernel allows)")
    g.add_argument("--lang", choices=("en", "ru"), default=None,
                   help="language of the messages and feedback (default: grading.yml's feedback.lang)")
    g.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output")

    sub.add_parser("check", help="validate grading.yml against the suites (points, requires: gates), "
                                 "assignment/ against solutions/, every message's translation, and that "
                                 "the solutions score full marks")
    s = sub.add_parser("stubs", help="regenerate assignment/ from solutions/")
    s.add_argument("--check", action="store_true", help="only report whether assignment/ is stale")
    e = sub.add_parser("grade-examples", help="grade the bundled examples (examples/examples.json) and compare "
                                             "with their documented scores")
    e.add_argument("--keep", metavar="DIR", help="write the example submissions to DIR to look at them")

    b = sub.add_parser("batch", help="grade a folder of student submissions (folders, .zip files, git "
                                     "repositories) into a gradebook and a class report")
    b.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="one entry per student")
    b.add_argument("--out", metavar="OUT_DIR", required=True, help="results, gradebook.csv and report.md go here")
    b.add_argument("-j", "--jobs", type=int, default=None, help="students graded at once (default: CPUs)")
    b.add_argument("--deadline", metavar="ISO-8601", help="grade each git repository's last commit at or "
                                                         "before this time, e.g. 2026-11-30T23:59:00+01:00")
    b.add_argument("--force", action="store_true", help="regrade students that are already done")
    b.add_argument("--gpu", choices=("auto", "off"), default="auto", help="as for `grade`")
    b.add_argument("--grading", metavar="FILE", help="grading.yml to use (default: the repository's)")
    b.add_argument("--allow-weak-sandbox", "--allow-weak", action="store_true", help="as for `grade`")
    b.add_argument("--sandbox", choices=TIERS, default=None, help="as for `grade`")
    b.add_argument("--lang", choices=("en", "ru"), default=None, help="as for `grade`")
    b.add_argument("--strip-prefix", metavar="PREFIX",
                   help="strip PREFIX from entry names to get student ids (default: the common '<name>-' prefix)")
    b.add_argument("--student-timeout", type=float, default=None, metavar="SECONDS",
                   help="stop one student's grading after this long (default: 1800)")

    from . import export_gradescope, export_nbgrader, merge_gpu, release

    m = sub.add_parser("merge-gpu", help="fold `grade --gpu require` results from a GPU machine into a batch")
    merge_gpu.add_arguments(m)
    x = sub.add_parser("export", help="write a batch's scores for another tool").add_subparsers(
        dest="target", required=True)
    export_nbgrader.add_arguments(x.add_parser("nbgrader", help="into nbgrader's gradebook (then `nbgrader export`)"))
    export_gradescope.add_arguments(x.add_parser("gradescope", help="the Gradescope autograder .zip "
                                                                    "(setup.sh, run_autograder, the grader)"))
    release.add_arguments(sub.add_parser("release", help="build the student template repository "
                                                        "(stubs, public tests, notebook, workflow)"))

    args = parser.parse_args(argv)
    if getattr(args, "sandbox", None):
        import os

        os.environ[TIER_ENV] = args.sandbox  # read by isolation.detect(), here and in a batch's slots
    try:
        return cmd_grade(args, sandbox) if args.command == "grade" else COMMANDS[args.command](args)
    except (GradingConfigError,) as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        return 2
    except Exception as exc:  # noqa: BLE001 - turn known grader failures into a message, not a traceback
        from .examples import ExampleError
        from .grade import GraderError
        from .merge_gpu import MergeError
        from .sandbox.isolation import SandboxUnavailable
        from .submission import SubmissionError

        if isinstance(exc, (GraderError, SandboxUnavailable, SubmissionError, ExampleError, MergeError)):
            err.print(f"[red]cannot grade:[/] {exc}")
            return 2
        raise


def cmd_grade(args: argparse.Namespace, sandbox=None) -> int:
    with contextlib.ExitStack() as stack:
        if sandbox is None:
            from hwkit.grading import load_grading

            from .sandbox.zygote import Sandbox

            # Started before the imports below, so the sandbox imports torch while we do.
            limits = load_grading(Path(args.grading or REPO / "grading.yml")).limits
            sandbox = Sandbox.started(limits, modules=MODULES, gpu=args.gpu != "off",
                                      allow_weak=args.allow_weak_sandbox)
            stack.callback(sandbox.close)
        return _grade_and_report(args, sandbox)


def _grade_and_report(args: argparse.Namespace, sandbox) -> int:
    from .grade import grade
    from .report import console, feedback, gradescope

    if args.gpu == "require":
        import torch

        if not torch.cuda.is_available():
            err.print("[red]cannot grade:[/] --gpu require needs a CUDA GPU, and torch sees none here")
            return 2
    result = grade(args.submission, grading_path=args.grading, gpu=args.gpu, allow_weak=args.allow_weak_sandbox,
                   gpu_only=args.gpu == "require", verbose=args.verbose, sandbox=sandbox, lang=args.lang)
    if args.json:
        gradescope.write(result, Path(args.json))
    if args.feedback:
        feedback.write(result, Path(args.feedback))
    console.print_result(result)
    return 0


def cmd_stubs(args: argparse.Namespace) -> int:
    from . import stubgen

    argv = ["--solutions", str(REPO / "solutions"), "--out", str(REPO / "assignment")]
    return stubgen.main(argv + (["--check"] if args.check else []))


def cmd_check(args: argparse.Namespace) -> int:
    from hwkit.grading import load_grading

    from . import gates, stubgen, translations
    from .grade import GraderError, grade

    problems = [f"assignment/: {p}" for p in stubgen.check(REPO / "solutions", REPO / "assignment")]
    grading_path = REPO / "grading.yml"
    problems += gates.ungated(load_grading(grading_path), grading_path)
    problems += [f"translations: {p}" for p in translations.problems(translations.merged())]
    try:
        result = grade(REPO / "solutions", gpu="auto")
    except GraderError as exc:
        problems.append(str(exc))
    else:
        for t in result.tests:
            if t.status not in ("passed", "pending_gpu"):
                problems.append(f"solutions/ fail {t.name}: {t.output.splitlines()[0] if t.output else ''}")
        pending = sum(t.max_score for t in result.pending_gpu)
        Console().print(f"solutions/: {result.score:g} / {result.max_score:g} "
                        f"({pending:g} pending GPU) in {result.execution_time:.1f} s")
    for p in problems:
        err.print(f"[red]✗[/] {p}")
    if not problems:
        Console().print("[green]✓[/] grading.yml matches the suites, assignment/ is in sync, "
                        "solutions/ earn every point this machine can give")
        Console().print("[green]✓[/] every test of a property waits for a test of values (requires:)")
    return 1 if problems else 0


def cmd_grade_examples(args: argparse.Namespace) -> int:
    import tempfile

    from . import examples
    from .grade import grade
    from .report import console

    rows, wrong = [], []
    with tempfile.TemporaryDirectory(prefix="autograder-examples-") as tmp:
        if args.keep:
            tmp = args.keep
        for name, spec in examples.load().items():
            folder = examples.materialize(Path(tmp) / name, spec.get("modules"), name=name)
            result = grade(folder, gpu="off")
            result.submission = name
            rows.append((name, result, f"{spec['score']:g}"))
            if abs(result.score - spec["score"]) > 1e-6:
                wrong.append(f"{name}: scored {result.score:g}, documented {spec['score']:g}")
    console.print_summary(rows)
    for w in wrong:
        err.print(f"[red]✗[/] {w}")
    return 1 if wrong else 0


def cmd_batch(args: argparse.Namespace) -> int:
    import os

    from rich.markup import escape

    from . import batch

    try:
        opts = batch.Options(
            submissions=Path(args.submissions), out=Path(args.out),
            jobs=args.jobs if args.jobs is not None else os.cpu_count() or 1,
            deadline=batch.parse_deadline(args.deadline), force=args.force, gpu=args.gpu,
            grading=Path(args.grading) if args.grading else REPO / "grading.yml",
            allow_weak=args.allow_weak_sandbox, strip_prefix=args.strip_prefix, lang=args.lang,
            student_timeout=batch.DEFAULT_STUDENT_TIMEOUT_S if args.student_timeout is None
            else args.student_timeout)
        return batch.run(opts, err=err)
    except batch.BatchError as exc:
        err.print(f"[red]cannot start the batch:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2


def cmd_export(args: argparse.Namespace) -> int:
    from . import export_gradescope, export_nbgrader

    return {"nbgrader": export_nbgrader.main, "gradescope": export_gradescope.main}[args.target](args)


def cmd_release(args: argparse.Namespace) -> int:
    from . import release

    return release.main(args)


def cmd_merge_gpu(args: argparse.Namespace) -> int:
    from . import merge_gpu

    return merge_gpu.main(args)


COMMANDS = {"grade": cmd_grade, "check": cmd_check, "stubs": cmd_stubs, "grade-examples": cmd_grade_examples,
            "batch": cmd_batch, "merge-gpu": cmd_merge_gpu, "export": cmd_export,
            "release": cmd_release}

if __name__ == "__main__":
    sys.exit(main())

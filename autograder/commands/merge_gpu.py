"""`autograder merge-gpu BATCH_OUT GPU_RESULTS`: fold a later GPU run into a batch."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "fold `grade --gpu require` results from a GPU machine into a batch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("batch_out", help="the --out folder of an `autograder batch` run")
    parser.add_argument("gpu_results", help="folder of GPU runs (`grade --gpu require --record` or --json): "
                                            "<student>.json, <student>/record.json or <student>/results.json")
    parser.add_argument("--grading", metavar="FILE", help="grading.yml (default: the course's)")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from hwkit.grading import load_grading

    from ..merge_gpu import merge

    grading = load_grading(Path(args.grading or args.course.grading))
    merged, missing = merge(Path(args.batch_out), Path(args.gpu_results), grading)
    console = Console()
    console.print(f"merged GPU results of {len(merged)} student(s): " + ", ".join(merged))
    if missing:
        console.print(f"[yellow]still pending a GPU run ({len(missing)}):[/] " + ", ".join(missing))
    return 0

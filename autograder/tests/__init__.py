"""Tests of the autograder itself (stub generation, grading, sandbox)."""

from pathlib import Path

#: The course folder these tests run against: this repository.
REPO = Path(__file__).resolve().parents[2]

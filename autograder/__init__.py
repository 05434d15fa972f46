"""Sandboxed autograder for the PyTorch-basics homework."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The grader always runs from its course repository: the test harness it shares with the
# students (tests/harness) is imported from there as the package `tests`.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

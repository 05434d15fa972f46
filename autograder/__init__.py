"""Sandboxed autograder for the PyTorch-basics homework."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The grader runs from its course repository: the suites (`tests`, `autograder/hidden`) and the
# reference (`solutions`) are imported from there.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

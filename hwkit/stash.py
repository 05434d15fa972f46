"""What the homework plugin's parts share during one pytest run (``config.stash`` keys)."""

from __future__ import annotations

import pytest

OUTCOMES = pytest.StashKey[list]()  # CaseOutcome per case, in the order the cases ran
HOMEWORK = pytest.StashKey[object]()  # the seam.Homework the tests use
GRADING = pytest.StashKey[object]()  # the GradingConfig, or None when grading.yml cannot be read
GRADING_ERROR = pytest.StashKey[str]()  # why it cannot
STARTED = pytest.StashKey[float]()  # perf_counter() at configure
SNAPSHOTS = pytest.StashKey[object]()  # snapshots.Store: the public tests' stored answers
GPU_TESTS = pytest.StashKey[set]()  # ids of the collected tests marked `gpu` (they need a real GPU)

"""The batch's own exceptions: one that stops the whole batch before it starts, and one that
marks a student with nothing to grade."""

from __future__ import annotations


class BatchError(Exception):
    """The batch cannot start; the message says what to fix."""


class NoSubmission(Exception):
    """A git repository with no commit to grade (none at or before the deadline)."""

"""`make bench`: grader, batch, nbgrader, memory and timing-harness measurements (issue 6)."""

"""The test harness shared by students' pytest runs and the grader (seam, checks, probes)."""

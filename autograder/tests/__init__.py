"""Tests of the autograder itself (stub generation, grading, sandbox)."""

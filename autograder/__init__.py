"""Sandboxed autograder for the PyTorch-basics homework (the course it grades: autograder.course)."""

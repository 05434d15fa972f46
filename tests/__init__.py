"""Public tests for the PyTorch-basics homework (shipped to students)."""

"""Reference solutions for the PyTorch-basics homework (the single source of the student stubs)."""

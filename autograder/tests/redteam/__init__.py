"""The red-team corpus (corpus.py) and the code that writes it to disk (build.py)."""

"""Running untrusted student code in an isolated worker process (see docs/grading.md)."""

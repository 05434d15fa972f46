"""The version of the grading record's format (hwkit/record.py), in a module of its own so
that readers of plain JSON records import neither pydantic nor PyYAML: the GitHub points step
(`python -m hwkit.classroom`) must still explain a run whose install failed."""

#: Bumped when a field changes meaning or goes away (adding one does not).
RECORD_VERSION = 1

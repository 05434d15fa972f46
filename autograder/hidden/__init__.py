"""Hidden test suites: run only by the grader, never released to students.

Each suite mirrors a public test file on inputs the public tests do not use (seeded random
values, odd shapes, other dtypes, non-contiguous tensors, other argument values) and compares
the student's answers with the reference solutions in ``solutions/``. The reference is trusted
code and is imported directly; the student's code is reached only through the ``hw`` fixture,
exactly as in the public tests. Run locally with::

    python -m pytest -q autograder/hidden --submission solutions -p hwkit.plugin
"""

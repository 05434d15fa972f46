"""Build the student template repository from the course repository (`autograder release`).

The release is what students clone: the stubs, the notebook, the public tests and a public
``grading.yml``, nothing of the grader. It is a chain of steps (:data:`STEPS` in
:mod:`.build`, one module each, in the spirit of nbgrader's preprocessors): each takes the
course and its grading.yml (:class:`Context`) and returns {path in the release: content}. The
tree is built into a fresh folder next to OUT (default ``dist/release``), leak-checked
(:mod:`.leak_check`), and only then swapped in for OUT; a leaking build is left in
``OUT.rejected`` for inspection.

``--lang ru`` builds the Russian release (:mod:`.task_texts`: the docstrings and the notebook's
cells from ``hwkit/locale/ru/tasks.po``; the Russian README; ``feedback: {lang: ru}``).
"""

from .build import STEPS, build_release, render_release
from .context import Context, ReleaseError
from .grading_file import GRADING_HEADER, render_grading
from .leak_check import (FORBIDDEN_DIRS, KEEP, check_release, hidden_test_names, released_files,
                         secret_lines)
from .notebook import render_notebook
from .public_tests import GITIGNORE, PYTEST_INI, WORKFLOW, WORKFLOW_TEMPLATE, public_test_files
from .requirements import REQUIREMENTS, render_requirements
from .stubs import render_stubs
from . import task_texts

__all__ = [
    "ReleaseError", "Context", "STEPS", "build_release", "render_release", "released_files",
    "check_release", "secret_lines", "hidden_test_names", "public_test_files", "render_stubs",
    "render_notebook", "render_grading", "render_requirements", "KEEP", "FORBIDDEN_DIRS",
    "REQUIREMENTS", "WORKFLOW", "WORKFLOW_TEMPLATE", "GRADING_HEADER", "PYTEST_INI", "GITIGNORE", "task_texts",
]

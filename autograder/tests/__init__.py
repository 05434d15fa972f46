"""Tests of the autograder itself (stub generation, grading, sandbox)."""

import functools
from pathlib import Path

#: The course folder these tests run against: this repository.
REPO = Path(__file__).resolve().parents[2]


def _module_names() -> dict[str, str]:
    from hwkit.grading import load_grading

    return load_grading(REPO / "grading.yml").module_names()


#: The homework's modules as grading.yml declares them (key -> module name).
MODULES = _module_names()


@functools.cache
def collected() -> dict:
    """The course's suites, collected once per test process (cases and markers, nothing run)."""
    from autograder.collect import collect
    from autograder.course import Course
    from hwkit.grading import load_grading

    return collect(Course(REPO), load_grading(REPO / "grading.yml"))


def reference_tasks() -> list:
    """The automatic tasks as the reference scores them with --gpu off (autograder/expected.py)."""
    from autograder.expected import expected_tasks
    from hwkit.grading import load_grading

    return [t for t in expected_tasks(load_grading(REPO / "grading.yml"), collected()) if not t.manual]


def reference_scores() -> tuple[float, float]:
    """(CPU score, public-suite score) the reference earns: computed from grading.yml and the
    suites, as the examples' and the red-team corpus's scores are."""
    tasks = reference_tasks()
    return (round(sum(t.score for t in tasks), 4),
            round(sum(test.score for t in tasks for test in t.tests if test.public), 4))


def automatic_points() -> float:
    """The points grading.yml gives to automatic tests (all tasks but those graded by hand)."""
    from hwkit.grading import load_grading

    return sum(t.points for t in load_grading(REPO / "grading.yml").automatic_tasks().values())

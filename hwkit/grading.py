"""The `grading.yml` model: the homework's modules and suites, tasks, points per test, sandbox
limits, feedback settings — the homework declared once.

This is the one place the file is read and validated. Errors name the file, the key and
the line, e.g. ``grading.yml:14: tasks.task1.tests: points add up to 18 but task1.points is 20``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

TEST_ID = re.compile(r"^[\w./-]+\.py::\w+$")
SUITE = re.compile(r"^[\w.-]+(/[\w.-]+)*$")
MODULE_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
#: Names the seam's Homework (on a laptop or in the grader) already uses; a module key cannot
#: shadow them (``hw.<key>``). The grader's RemoteHomework checks its own names again.
RESERVED_KEYS = frozenset({"module", "modules", "close", "remote", "autograd_function", "simulated_cuda",
                           "cuda_available", "global_random", "submission", "call", "getattr", "worker",
                           "workers", "restarts", "limits", "sandbox", "strikes", "protections", "deadline",
                           "fatal", "faults", "gpu_mode", "inside_protections", "machine_gpu"})


class GradingConfigError(Exception):
    """`grading.yml` is missing, unreadable or invalid; the message says what to fix."""


class Forbidden(BaseModel):
    """Calls a function must not make, and calls it must make (checked in its source, never
    run: hwkit/forbidden.py)."""

    model_config = ConfigDict(extra="forbid")

    module: str  # the key under modules:
    calls: list[str] = Field(min_length=1)  # dotted names, e.g. torch.autograd.functional.hessian
    # At least one of these must be reached: dotted names, or ".name" for a method of any object
    # (".backward"): a closed formula typed in is then not the exercise either.
    must_call: list[str] = Field(default_factory=list)
    why: str  # shown to the student with the verdict
    why_ru: str = ""


class Task(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    # The title in other languages (feedback.lang / --lang), e.g. {ru: "Задание 1 — тензоры"}.
    titles: dict[Literal["ru"], str] = Field(default_factory=dict)
    points: float = Field(ge=0)
    manual: bool = False
    # Points of tests that exist but are not listed here (the released, public grading.yml
    # lists only public tests and keeps the hidden total).
    hidden_points: float = Field(default=0, ge=0)
    tests: dict[str, float] = Field(default_factory=dict)
    # test -> the test it depends on. A test of an error or a side effect ("rejects bad shapes",
    # "does not modify its input") only counts once its function gives a right answer at least
    # once; otherwise a function that raises for every input, or does nothing, would earn them.
    requires: dict[str, str] = Field(default_factory=dict)
    # function -> the calls it must not make (a test of the task checks it).
    forbidden: dict[str, Forbidden] = Field(default_factory=dict)

    @field_validator("tests")
    @classmethod
    def _test_ids(cls, tests: dict[str, float]) -> dict[str, float]:
        for test_id, points in tests.items():
            if not TEST_ID.match(test_id):
                raise ValueError(
                    f"{test_id!r} is not a test id; write 'path/to/test_file.py::test_function'"
                )
            if points is None or points <= 0:
                raise ValueError(f"{test_id}: points must be a positive number, got {points!r}")
        return tests

    @model_validator(mode="after")
    def _points_add_up(self) -> "Task":
        if self.manual:
            if self.tests:
                raise ValueError("a manual task has no automatic tests; remove 'tests'")
            return self
        for dependent, prerequisite in self.requires.items():
            for test_id in (dependent, prerequisite):
                if test_id not in self.tests:
                    raise ValueError(f"requires: {test_id} is not one of this task's tests")
            if dependent == prerequisite:
                raise ValueError(f"requires: {dependent} cannot require itself")
            if prerequisite in self.requires:
                raise ValueError(f"requires: {prerequisite} itself requires another test; "
                                 f"point {dependent} at that one directly")
        listed = sum(self.tests.values())
        if abs(listed + self.hidden_points - self.points) > 1e-9:
            raise ValueError(
                f"test points add up to {listed:g}"
                + (f" (+ {self.hidden_points:g} hidden)" if self.hidden_points else "")
                + f" but the task is worth {self.points:g}"
            )
        return self


class Module(BaseModel):
    """One file the student writes (``file``), and the task whose tests check it."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(pattern=r"^[A-Za-z_]\w*\.py$")
    task: str

    @property
    def name(self) -> str:
        """The module's import name: ``homework_tensors`` for ``homework_tensors.py``."""
        return self.file.removesuffix(".py")


class Suites(BaseModel):
    """Folders of test files, relative to the course folder. Public suites ship to students;
    hidden ones never do (the released grading.yml has none)."""

    model_config = ConfigDict(extra="forbid")

    public: list[str] = Field(default_factory=lambda: ["tests"], min_length=1)
    hidden: list[str] = Field(default_factory=list)

    @field_validator("public", "hidden")
    @classmethod
    def _relative(cls, folders: list[str]) -> list[str]:
        for folder in folders:
            if not SUITE.match(folder) or ".." in folder.split("/"):
                raise ValueError(f"{folder!r} is not a folder inside the course; write e.g. 'tests'")
        return folders


class Limits(BaseModel):
    """What one student's worker process may use. See docs/grading.md."""

    model_config = ConfigDict(extra="forbid")

    call_timeout_s: float = Field(default=10, gt=0)
    import_timeout_s: float = Field(default=60, gt=0)
    # Everything one grading may spend in the student's code; the tests left when it is spent
    # fail with the reason (results are still written).
    grading_timeout_s: float = Field(default=300, gt=0)
    cpu_time_s: int = Field(default=300, gt=0)
    memory_mb: int = Field(default=4096, ge=512)
    processes: int = Field(default=64, ge=4)
    output_kb: int = Field(default=256, ge=1)
    file_size_mb: int = Field(default=64, ge=1)
    disk_mb: int = Field(default=256, ge=16)  # the whole work folder (a tmpfs inside the sandbox)
    message_mb: int = Field(default=256, ge=1)
    # The most elements a tensor from the worker may have, a view counted in full (four bytes
    # could otherwise be a 30000 × 30000 zero-stride view that the grader expands to 3.6 GB).
    max_elements: int = Field(default=2**24, ge=1024)


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lang: str = Field(default="en", pattern="^(en|ru)$")


class GradingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignment: str
    total: float = Field(gt=0)
    # key (``hw.<key>`` in the tests) -> the file students write and its task.
    modules: dict[str, Module] = Field(min_length=1)
    suites: Suites = Field(default_factory=Suites)
    tasks: dict[str, Task]
    limits: Limits = Field(default_factory=Limits)
    feedback: Feedback = Field(default_factory=Feedback)

    @field_validator("modules")
    @classmethod
    def _module_keys(cls, modules: dict[str, Module]) -> dict[str, Module]:
        files: dict[str, str] = {}
        for key, module in modules.items():
            if not MODULE_KEY.match(key) or key in RESERVED_KEYS:
                raise ValueError(f"{key!r} cannot name a module: use lower-case letters, digits and _, not "
                                 f"one of {', '.join(sorted(RESERVED_KEYS))}")
            if module.file in files:
                raise ValueError(f"{module.file} is declared twice ({files[module.file]} and {key})")
            files[module.file] = key
        return modules

    @model_validator(mode="after")
    def _total(self) -> "GradingConfig":
        for name, task in self.tasks.items():
            for function, rule in task.forbidden.items():
                if rule.module not in self.modules:
                    raise ValueError(f"tasks.{name}.forbidden.{function}.module: {rule.module!r} is not one of the "
                                     f"modules ({', '.join(self.modules)})")
        for key, module in self.modules.items():
            if module.task not in self.tasks:
                raise ValueError(f"modules.{key}.task: {module.task!r} is not one of the tasks "
                                 f"({', '.join(self.tasks)})")
        overlap = set(self.suites.public) & set(self.suites.hidden)
        if overlap:
            raise ValueError(f"suites: {', '.join(sorted(overlap))} is both public and hidden")
        tasks_sum = sum(t.points for t in self.tasks.values())
        if abs(tasks_sum - self.total) > 1e-9:
            raise ValueError(f"tasks add up to {tasks_sum:g} points but total is {self.total:g}")
        seen: dict[str, str] = {}
        for name, task in self.tasks.items():
            for test_id in task.tests:
                if test_id in seen:
                    raise ValueError(f"{test_id} is listed in both {seen[test_id]} and {name}")
                seen[test_id] = name
        return self

    # -- queries -------------------------------------------------------------------------
    def points_for(self, test_id: str) -> tuple[str, float] | None:
        """(task name, points) for a test id ``path::function``, or None if it has no points."""
        for name, task in self.tasks.items():
            if test_id in task.tests:
                return name, task.tests[test_id]
        return None

    def all_tests(self) -> dict[str, tuple[str, float]]:
        return {tid: (name, pts) for name, t in self.tasks.items() for tid, pts in t.tests.items()}

    def automatic_tasks(self) -> dict[str, Task]:
        return {name: t for name, t in self.tasks.items() if not t.manual}

    def module_names(self) -> dict[str, str]:
        """key -> import name, e.g. {"tensors": "homework_tensors"}."""
        return {key: m.name for key, m in self.modules.items()}

    def suite_folders(self) -> list[str]:
        """Every suite, public first (the order pytest runs them in)."""
        return [*self.suites.public, *self.suites.hidden]

    def is_public(self, test_id: str) -> bool:
        """Whether a test (id or node id) lies in a public suite, i.e. students have it."""
        return any(test_id.startswith(folder.rstrip("/") + "/") for folder in self.suites.public)


# libyaml's parser when PyYAML has it (its wheels do): every grading reads this file.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_grading(path: str | Path) -> GradingConfig:
    """Read and validate a grading file; raise GradingConfigError naming file, key and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GradingConfigError(f"{path}: file not found (it holds the points per test)") from None
    except OSError as exc:
        raise GradingConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise GradingConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise GradingConfigError(f"{path}: expected a mapping with 'assignment', 'total', 'modules' and 'tasks'")
    try:
        return GradingConfig.model_validate(data)
    except ValidationError as exc:
        node = yaml.compose(text, Loader=_LOADER)  # (only now: the lines of the keys at fault)
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_of(node, loc)
            where = f"{path}:{line}" if line else str(path)
            key = ".".join(str(p) for p in loc) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if loc == ("modules",) and err["type"] == "missing":
                msg = ("missing — declare the files students write and their tasks, e.g.\n"
                       "modules:\n  tensors: {file: homework_tensors.py, task: task1}")
            lines.append(f"{where}: {key}: {msg}")
        raise GradingConfigError("\n".join(lines)) from None


def _line_of(node: Any, loc: tuple) -> int | None:
    """1-based line of the deepest YAML node found along a pydantic error location."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                node, line = value_node, key_node.start_mark.line + 1
                break
        else:
            break
    return line

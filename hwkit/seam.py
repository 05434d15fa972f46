"""The one seam between tests and the student's code.

Tests never import ``homework_*.py``. They take the ``hw`` fixture and call
``hw.tensors.index_tensor(t)``, ``hw.autograd_function("CustomReLU", "autograd")(x)`` and so
on; the keys (``tensors``) and files are the ``modules:`` of grading.yml.

* On a student's laptop ``hw`` is an :class:`InProcessHomework`: the modules are imported
  into the pytest process from ``--submission DIR`` and errors show as plain tracebacks.
* In the grader a plugin answers the ``pytest_homework_open`` hook with a proxy whose calls
  run in a sandboxed worker process (``autograder.sandbox``). The tests are the same.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest
import torch

from . import simcuda
from .i18n import tr


class hookspecs:
    @staticmethod
    @pytest.hookspec(firstresult=True)
    def pytest_homework_open(config: pytest.Config) -> "Homework | None":
        """Return the Homework the tests should use (the grader's sandboxed proxy)."""


class ModuleUnavailable(Exception):
    """A homework module could not be found or imported."""


class Homework:
    """What every test sees. Subclasses decide where the student's code runs.

    ``hw.<key>`` is the student's module declared under that key (grading.yml ``modules:``).
    """

    remote = False
    modules: dict[str, str] = {}  # key -> module name, e.g. {"tensors": "homework_tensors"}

    def __getattr__(self, key: str) -> Any:
        # (only called for names the class does not have: the declared module keys)
        if key in self.__dict__.get("modules", {}):
            return self.module(key)
        raise AttributeError(f"{type(self).__name__} has no {key!r}: the modules in grading.yml are "
                             f"{', '.join(self.modules) or 'none'}")

    def module(self, key: str) -> Any:
        raise NotImplementedError

    def source(self, key: str) -> str:
        """The text of module `key` as the student wrote it: read, never run (a rule on which
        calls a function may make is checked on it; see hwkit/forbidden.py)."""
        raise NotImplementedError

    def autograd_function(self, name: str, module: str) -> Callable[..., torch.Tensor]:
        """``Cls.apply`` of a student's ``torch.autograd.Function``, usable under autograd."""
        raise NotImplementedError

    def simulated_cuda(self) -> contextlib.AbstractContextManager:
        """While active, student code sees the simulated asynchronous CUDA device."""
        raise NotImplementedError

    def cuda_available(self) -> bool:
        """Whether a real CUDA device is available where the student's code runs."""
        raise NotImplementedError

    def global_random(self, key: str) -> torch.Tensor:
        """Four numbers from torch's global generator where module `key` runs (checks seeding)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def _import_error(exc: BaseException, path: Path) -> str:
    """One line naming the error and where it is in the student's file (the summary shows it)."""
    if isinstance(exc, SyntaxError):  # (IndentationError too) the line is the exception's own
        return f"{type(exc).__name__}: {exc.msg} ({path.name}, line {exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).name == path.name]
    where = f" ({path.name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


class InProcessHomework(Homework):
    """Imports the student's modules into this process (the student's own `pytest` run)."""

    def __init__(self, submission: Path, modules: dict[str, str]) -> None:
        self.submission = Path(submission)
        self.modules = dict(modules)
        self._modules: dict[str, ModuleType | ModuleUnavailable] = {}

    def module(self, key: str) -> ModuleType:
        if key not in self._modules:
            self._modules[key] = self._import(key)
        mod = self._modules[key]
        if isinstance(mod, ModuleUnavailable):
            pytest.fail(str(mod), pytrace=False)
        return mod

    def _import(self, key: str) -> ModuleType | ModuleUnavailable:
        name = self.modules[key]
        path = self.submission / f"{name}.py"
        if not path.is_file():
            return ModuleUnavailable(tr("{module}.py was not found in {folder}", module=name,
                                        folder=self.submission.resolve()))
        # Student modules may import each other by their plain names.
        if str(self.submission.resolve()) not in sys.path:
            sys.path.insert(0, str(self.submission.resolve()))
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:  # noqa: BLE001 - any failure at import is the student's
            sys.modules.pop(name, None)
            if isinstance(exc, KeyboardInterrupt):
                raise
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
            return ModuleUnavailable(tr("{module}.py could not be imported: {error}", module=name,
                                        error=_import_error(exc, path)) + "\n" + tb)
        return module

    def source(self, key: str) -> str:
        path = self.submission / f"{self.modules[key]}.py"
        if not path.is_file():
            pytest.fail(tr("{module}.py was not found in {folder}", module=self.modules[key],
                           folder=self.submission.resolve()), pytrace=False)
        return path.read_text(encoding="utf-8", errors="replace")

    def autograd_function(self, name: str, module: str) -> Callable[..., torch.Tensor]:
        cls = getattr(self.module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
            pytest.fail(tr("{name} must be a class that subclasses torch.autograd.Function", name=name),
                        pytrace=False)
        return cls.apply

    @contextlib.contextmanager
    def simulated_cuda(self) -> Iterator[simcuda.SimulatedCuda]:
        with simcuda.SimulatedCuda().installed() as device:
            yield device

    def cuda_available(self) -> bool:
        return torch.cuda.is_available()

    def global_random(self, key: str) -> torch.Tensor:
        return torch.rand(4)

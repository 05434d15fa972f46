"""The trusted side of the sandbox as the tests see it: the seam, backed by sandboxed workers.

:class:`~autograder.sandbox.zygote.Sandbox` starts the sandbox and forks workers in it;
:class:`~autograder.sandbox.transport.WorkerProcess` is the pipe to one of them.
:class:`RemoteHomework` implements the test seam on top, so the public and hidden tests call
student code exactly as they would in-process, and validates every reply.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from hwkit import checks, probes, simcuda
from hwkit.i18n import tr, trn
from hwkit.grading import Limits
from hwkit.seam import Homework

from . import isolation, wire
from .transport import WorkerProcess
from .zygote import CallTimeout, Sandbox, SandboxFault, WorkerDied, gpu_options


@functools.cache
def machine_has_gpu() -> bool:
    """Whether this machine has a CUDA GPU: the grader's own finding, asked of NVML (no CUDA
    context in the trusted process), once per process and before :func:`keep_cuda_out_of_grader`."""
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    return torch.cuda.is_available()


def keep_cuda_out_of_grader() -> None:
    """The grading process never uses the GPU itself (tensors from the sandbox are rebuilt on the
    CPU), so it hides the GPU from its own CUDA runtime. Beyond the memory a context would take:
    once autograd runs a backward pass in a process where CUDA counts a device, it starts a
    thread per device and marks every later fork of that process unable to run autograd
    ("Unable to handle autograd's threading in combination with fork-based multiprocessing"),
    and the batch forks its slots from a parent that has graded the reference. Seen on an H200
    (docs/gpu.md). Sandboxes get an environment of their own, so nothing changes inside them."""
    machine_has_gpu()
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

__all__ = ["CallTimeout", "RemoteHomework", "RemoteObject", "SandboxFault", "StudentError", "WorkerDied"]


STRIKES = 2  # timeouts or crashes after which a function is not called again in one grading


class StudentError(Exception):
    """An exception of a type that only exists in the student's code."""


# -- the seam -----------------------------------------------------------------------------
class RemoteHomework(Homework):
    """The test seam backed by sandboxed workers: one per homework module.

    Each module gets its own worker, so whatever one module does at import (patching torch,
    changing the default dtype, exhausting memory) cannot touch the grading of the others.
    """

    remote = True

    def __init__(self, files: dict[str, Path], limits: Limits, *, problems: dict[str, str] | None = None,
                 gpu: str = "auto", allow_weak: bool = False, sandbox: Sandbox | None = None,
                 modules: dict[str, str] | None = None) -> None:
        """`sandbox`: one already started (and kept after close()), else a new one is made for
        `modules` (key -> module name); the homework's modules are the sandbox's."""
        self.limits = limits
        self.gpu_mode = gpu
        self._owns_sandbox = sandbox is None
        if sandbox is None and modules is None:
            raise TypeError("RemoteHomework needs a started sandbox or the modules to start one for")
        self.sandbox = sandbox or Sandbox(limits, modules=modules, allow_weak=allow_weak, **gpu_options(gpu))
        self.modules = dict(self.sandbox.modules)
        self.sandbox.use(files)
        self.files = dict(files)  # key -> the submission's file, read here as text only (source())
        self.protections = self.sandbox.protections
        self.workers: dict[str, WorkerProcess] = {}
        # Modules that are missing or unusable, or whose import failed, with the reason.
        self._unavailable: dict[str, str] = dict(problems or {})
        self._imported: dict[str, int] = {}  # module key -> the worker start it was imported in
        # (module key, attribute name) -> (worker start, the function or class found there): see getattr
        self._looked_up: dict[tuple[str, str], tuple[int, RemoteObject]] = {}
        self._simcuda: simcuda.SimulatedCuda | None = None  # the device a test is simulating
        self._worker_info: dict = {}
        self._machine_gpu: bool | None = None
        self.faults = 0
        self.fatal: str | None = None  # why the sandbox could not run at all
        # A hang costs seconds, not hours: the whole grading has a budget, and a function that
        # timed out or killed its worker twice is not called again (see _request).
        self.deadline = time.monotonic() + limits.grading_timeout_s
        self.strikes: dict[str, int] = {}
        clash = sorted(k for k in self.modules if k in vars(self) or hasattr(type(self), k))
        if clash:  # hw.<key> would reach the proxy's own attribute, not the student's module
            raise ValueError(f"grading.yml modules: {', '.join(clash)} is a name the grader's seam uses "
                             "itself; choose another key")

    def worker(self, key: str) -> WorkerProcess:
        if key not in self.workers:
            self.workers[key] = WorkerProcess(self.sandbox, self.limits)
        return self.workers[key]

    @property
    def restarts(self) -> int:
        return sum(max(w.starts - 1, 0) for w in self.workers.values())

    @property
    def inside_protections(self) -> dict:
        """What the zygote reported it enabled inside the sandbox (Landlock)."""
        found = self.sandbox.info.get("protections")
        return found if type(found) is dict else {}

    def module(self, key: str) -> "RemoteObject":
        if key in self._unavailable:
            pytest.fail(self._unavailable[key], pytrace=False)
        name = self.modules[key]
        worker = self.worker(key)
        if self._imported.get(key) != worker.starts or not worker.alive():
            try:
                self._request(key, {"op": "import", "module": key}, timeout=self.limits.import_timeout_s)
            except pytest.exit.Exception:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever the import did, the module is unusable
                self._unavailable[key] = tr("{module}.py could not be imported: {error}", module=name,
                                            error=f"{type(exc).__name__}: {exc}")
                pytest.fail(self._unavailable[key], pytrace=False)
            self._imported[key] = worker.starts
        return RemoteObject(self, key, {"module": key}, name, name)

    def source(self, key: str) -> str:
        if key in self._unavailable or key not in self.files:
            pytest.fail(self._unavailable.get(key, f"{self.modules[key]}.py was not submitted"), pytrace=False)
        return Path(self.files[key]).read_text(encoding="utf-8", errors="replace")  # (never executed here)

    def autograd_function(self, name: str, module: str):
        self.module(module)
        target = {"module": module, "path": [name, "apply"]}
        homework = self

        class RemoteFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, *inputs):
                ctx.save_for_backward(*inputs)
                out = homework.call(module, target, [i.detach() for i in inputs], {})
                if type(out) is not torch.Tensor:
                    raise TypeError(tr("{name}.apply returned {what}, not a torch.Tensor", name=name,
                                       what=checks.describe(out)))
                if torch._debug_has_internal_overlap(out) == 1:  # (clone() would expand it in full)
                    raise TypeError(tr("{name}.forward returned a broadcast view (e.g. from .expand()) whose "
                                       "elements share memory — return a tensor of its own", name=name))
                return out.clone()

            @staticmethod
            def backward(ctx, grad_output):
                inputs = list(ctx.saved_tensors)
                grads = homework._request(module, {"op": "vjp", "target": target}, what=f"{name}(...)",
                                          args=[i.detach() for i in inputs],
                                          kwargs={"grad_output": grad_output.detach()})["value"]
                if type(grads) is not list or len(grads) != len(inputs):
                    raise TypeError(tr("{name}.backward returned the wrong number of gradients (one per "
                                       "input of forward)", name=name))
                for g, x in zip(grads, inputs):
                    if g is not None and (type(g) is not torch.Tensor or g.shape != x.shape):
                        raise TypeError(tr("{name}.backward returned {what} for an input of shape {shape}",
                                           name=name, what=checks.describe(g), shape=tuple(x.shape)))
                return tuple(None if g is None else g.clone() for g in grads)

        RemoteFunction.__name__ = name
        return RemoteFunction.apply

    @contextlib.contextmanager
    def simulated_cuda(self) -> Iterator[simcuda.SimulatedCuda]:
        """The simulated GPU lives here, in the grader; the worker's torch.cuda asks it."""
        self._simcuda = simcuda.SimulatedCuda()
        try:
            with self._simcuda.activated():
                yield self._simcuda
        finally:
            self._simcuda = None

    @property
    def machine_gpu(self) -> bool:
        """Whether the sandbox has a CUDA GPU: the grader's own finding (NVML, no CUDA context in
        the trusted process) or its own choice of the simulated one (`--gpu simulate`), never a
        reply of the student's code."""
        if self._machine_gpu is None:
            if self.gpu_mode == "simulate":
                self._machine_gpu = self.sandbox.simulated_gpu
            else:
                self._machine_gpu = self.gpu_mode != "off" and bool(self.sandbox.gpu_devices) and machine_has_gpu()
        return self._machine_gpu

    def cuda_available(self) -> bool:
        if not self.machine_gpu:
            return False  # whatever the student's code claims (it can patch torch.cuda.is_available)
        if "cuda" not in self._worker_info:
            # Asked of a fresh worker that has imported no student module: none could have patched
            # torch.cuda to hide the GPU (and turn its failed GPU tests into "pending").
            fresh = WorkerProcess(self.sandbox, self.limits)
            try:
                reply, _ = fresh.request({"op": "hello"}, [], self.limits.call_timeout_s)
            except isolation.SandboxUnavailable as exc:
                self.fatal = str(exc)
                _cannot_grade(exc)
            except SandboxFault:
                return False
            finally:
                fresh.close()
            info = reply.get("info")
            self._worker_info = info if type(info) is dict else {}
        return self._worker_info.get("cuda") is True

    def global_random(self, key: str) -> torch.Tensor:
        self.module(key)
        value = self._request(key, {"op": "global_random"})["value"]
        if type(value) is not torch.Tensor or value.shape != (4,):
            raise SandboxFault("the worker sent something other than four random numbers")
        return value

    def close(self) -> None:
        for w in self.workers.values():
            w.close()
        if self._owns_sandbox:
            self.sandbox.close()

    # -- calls ------------------------------------------------------------------------------
    def call(self, key: str, target: dict, args: list, kwargs: dict, label: str = "") -> Any:
        # No homework function may change the tensors it is given. Checked here for every call,
        # so that a reference a test computes from its inputs after the call is never computed
        # from inputs the student's code overwrote (which could make a wrong answer "match").
        given = [(t, t.detach().clone()) for t in _tensors(args) + _tensors(list(kwargs.values()))]
        what = self._name(key, target, label)
        reply = self._request(key, {"op": "call", "target": target, "simcuda": self._simcuda is not None},
                              args=args, kwargs=kwargs, what=what)
        for tensor, before in given:
            if not _same_values(tensor.detach(), before):
                checks.fail(tr("{function} changed the values of a tensor it was given — a function must not "
                               "modify its inputs in place (avoid `+=`, `.add_()`, `.zero_()`, `.clamp_()` on "
                               "arguments); work on a copy instead", function=what))
        return reply["value"]

    def _name(self, key: str, target: dict, label: str = "") -> str:
        """What the test calls, as the student knows it: 'index_tensor(...)', 'CustomReLU(...)'."""
        path = [p for p in target.get("path", []) if p != "apply"]
        return (label or ".".join(path) or self.modules[key]) + "(...)"

    def getattr(self, key: str, target: dict) -> Any:
        what = ".".join(target.get("path", [])) or self.modules[key]
        # A module's function or class, looked up again by the next test, is the same object in
        # the same worker (its handle lives as long as the worker): one round trip per name and
        # worker instead of one per lookup, about 40 % of a grading's calls into the sandbox.
        # Only module attributes that are objects in the worker; data is sent again every time.
        path = target.get("path", [])
        cache = (key, path[0]) if "module" in target and len(path) == 1 and type(path[0]) is str else None
        worker = self.workers.get(key)
        if cache in self._looked_up and worker is not None and worker.alive() \
                and self._looked_up[cache][0] == worker.starts:
            return self._looked_up[cache][1]
        value = self._request(key, {"op": "getattr", "target": target}, what=what)["value"]
        if isinstance(value, RemoteObject):
            value._label = what  # (its handle number changes with every lookup; its name does not)
            if cache is not None:
                self._looked_up[cache] = (self.workers[key].starts, value)
        return value

    def _request(self, key: str, header: dict, args: list | None = None, kwargs: dict | None = None,
                 timeout: float | None = None, what: str = "") -> dict:
        """One request to module `key`'s worker. `what` names the function called (strikes
        are counted per function); by default the module itself."""
        args, kwargs = list(args or []), dict(kwargs or {})
        what = what or f"{self.modules[key]}.py"
        timeout = min(timeout or self.limits.call_timeout_s, self._time_left())
        if self.strikes.get(what, 0) >= STRIKES:
            raise CallTimeout(trn("{function} was not called: it already timed out or crashed its process {n} time "
                                  "in this grading",
                                  "{function} was not called: it already timed out or crashed its process {n} times "
                                  "in this grading", self.strikes[what], function=what))
        worker = self.worker(key)
        encoder = wire.Encoder(lambda obj: self._ref(obj, key), probes.REGISTRY, probes.TORCH_FUNCTIONS)
        header = dict(header, args=encoder.encode(args), kwargs=encoder.encode(kwargs))
        header["storages"] = encoder.storages
        try:
            reply, blobs = worker.request(header, encoder.blobs, timeout,
                                          lambda frame, blobs: self._answer(key, frame, blobs, encoder.probe_objects))
        except isolation.SandboxUnavailable as exc:
            self.fatal = str(exc)
            _cannot_grade(exc)
        except SandboxFault as exc:  # a timeout, a death, a reply out of protocol: the process is gone
            self._strike(what)
            if isinstance(exc, CallTimeout) and time.monotonic() >= self.deadline:
                raise CallTimeout(self._budget_spent()) from None
            raise
        if "error" in reply:
            raise _student_exception(reply["error"])
        try:
            decoder = wire.Decoder(reply.get("storages", []), blobs, handle=lambda node: self._handle(node, key),
                                   probes={}, torch_functions=probes.TORCH_FUNCTIONS,
                                   known=encoder.storage_objects, mark_remote=True, gpu=self.machine_gpu,
                                   max_elements=self.limits.max_elements)
            ok = reply.get("ok")
            if type(ok) is not dict:
                raise wire.ProtocolError("reply without a value")
            out = {k: decoder.decode(v) for k, v in ok.items()}
        except (wire.ProtocolError, TypeError, ValueError, RuntimeError, OverflowError) as exc:
            worker.stop()
            self._strike(what)
            raise SandboxFault(tr("your code's process sent an invalid reply ({why})", why=exc)) from None
        if "args" in out:
            _sync_back(args, out["args"])
            _sync_back(kwargs, out["kwargs"])
        return out

    def _answer(self, key: str, frame: dict, blobs: list, sent: list) -> tuple[dict, list]:
        """Serve the worker's request for a probe the test passed (`sent`, by number) or for
        the simulated GPU: run here, where the student's code cannot change what it counts."""
        body = frame["callback"]
        if type(body) is not dict:
            raise wire.ProtocolError("bad probe request")
        decoder = wire.Decoder(frame.get("storages", []), blobs, handle=lambda node: self._handle(node, key),
                               probes={}, torch_functions=probes.TORCH_FUNCTIONS, gpu=self.machine_gpu,
                               max_elements=self.limits.max_elements)
        args, kwargs = decoder.decode(body.get("args")), decoder.decode(body.get("kwargs"))
        if type(args) is not list or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
            raise wire.ProtocolError("bad probe request")
        number, device_call = body.get("probe"), body.get("sim")
        try:
            if type(number) is int and 0 <= number < len(sent):
                probe = sent[number]
                if body.get("count") is True and type(probe).RUNS_IN == "worker" and not args and not kwargs:
                    probe.calls += 1
                    value = None
                elif "count" not in body and type(probe).RUNS_IN == "grader":
                    value = probe(*args, **kwargs)
                else:
                    raise wire.ProtocolError("a probe asked for the wrong way")
            elif device_call in simcuda.CALLS and self._simcuda is not None and not kwargs \
                    and all(type(a) is int for a in args):
                value = getattr(self._simcuda, device_call)(*args)
            else:
                raise wire.ProtocolError("a request for a probe or device the test never gave")
        except (wire.ProtocolError, simcuda.OutOfTime):
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. CUDA's "device not ready": the student's to handle
            kind = type(exc).__name__ if getattr(builtins, type(exc).__name__, None) is type(exc) else "RuntimeError"
            return {"error": {"type": kind, "message": str(exc)[:2000]}}, []
        encoder = wire.Encoder(lambda obj: self._ref(obj, key), {}, probes.TORCH_FUNCTIONS)
        return {"value": encoder.encode(value), "storages": encoder.storages}, encoder.blobs

    def _strike(self, what: str) -> None:
        """`what` timed out, killed its process or broke the protocol once more."""
        self.faults += 1
        self.strikes[what] = self.strikes.get(what, 0) + 1

    def _time_left(self) -> float:
        """Seconds left of this grading's budget; none left fails the test that asks."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CallTimeout(self._budget_spent())
        return left

    def _budget_spent(self) -> str:
        return tr("not run: this grading's time budget of {seconds} s (limits.grading_timeout_s) is spent — "
                  "earlier calls into your code took that long", seconds=f"{self.limits.grading_timeout_s:g}")

    def _ref(self, obj: Any, key: str) -> dict:
        if isinstance(obj, RemoteObject) and obj._homework is self and obj._key == key and "handle" in obj._target:
            return {"$ref": obj._target["handle"]}
        raise TypeError(f"tests cannot pass {type(obj).__name__} to student code across the sandbox; "
                        "use tensors, plain data, probes or objects the same module returned")

    def _handle(self, node: dict, key: str) -> "RemoteObject":
        hid = node.get("$handle")
        if type(hid) is not int:
            raise wire.ProtocolError("bad handle")
        kind, text = str(node.get("type", "object"))[:200], str(node.get("repr", ""))[:200]
        return RemoteObject(self, key, {"handle": hid}, kind, text)


class RemoteObject:
    """An object living in the worker: a function, a class, a module, any non-data value.

    It can be called and its attributes read (each a call into the sandbox). It equals only
    itself and is never a tensor, whatever the student's object claims.
    """

    __slots__ = ("_homework", "_key", "_target", "remote_type", "_repr", "_label")

    def __init__(self, homework: RemoteHomework, key: str, target: dict, kind: str, text: str) -> None:
        self._homework, self._key, self._target = homework, key, target
        self.remote_type, self._repr = kind, text
        self._label = ""  # the name the test looked it up by, e.g. "index_tensor"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        target = dict(self._target, path=[*self._target.get("path", []), name])
        return self._homework.getattr(self._key, target)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._homework.call(self._key, self._target, list(args), kwargs, self._label)

    def __repr__(self) -> str:
        return f"<student object {self.remote_type}: {self._repr}>"

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


def _cannot_grade(exc: Exception) -> None:
    """The sandbox itself is broken: stop the whole run instead of failing every test."""
    pytest.exit(f"cannot grade: {exc}", returncode=pytest.ExitCode.INTERRUPTED)


def _student_exception(error: Any) -> BaseException:
    """Re-create a student's exception as a trusted builtin exception type (never their class)."""
    if type(error) is not dict:
        return SandboxFault("the student's process sent an invalid error")
    mro = [str(n) for n in error.get("mro", [])] if type(error.get("mro")) is list else []
    message = str(error.get("message", ""))[:4000]
    kind = str(error.get("type", "Exception"))[:100]
    tb = str(error.get("traceback", ""))[-6000:]
    where = _student_location(tb)
    text = message + (f"  [{where}]" if where else "")
    if kind == "SystemExit":
        exc: BaseException = StudentError(tr("your code called sys.exit({code}) — return a value instead",
                                             code=message))
    else:
        for name in mro:
            cls = getattr(builtins, name, None)
            if isinstance(cls, type) and issubclass(cls, Exception) and cls is not Exception:
                try:
                    exc = cls(text) if name == kind else cls(f"{kind}: {text}")
                except Exception:  # noqa: BLE001 - exotic constructors (e.g. UnicodeError subclasses)
                    continue
                break
        else:
            exc = StudentError(f"{kind}: {text}")
    exc.add_note("Traceback in your code:\n" + tb)
    return exc


def _student_location(tb: str) -> str:
    """'homework_x.py, line 12, in f' of the innermost frame of the student's own files."""
    for line in reversed(tb.splitlines()):
        line = line.strip()
        if line.startswith("File ") and "homework_" in line:
            return line.removeprefix("File ").replace('"', "").rsplit("/", 1)[-1]
    return ""


def _same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-for-bit the same values (NaN equal to NaN)."""
    if a.shape != b.shape:
        return False
    return torch.equal(a, b) or (a.is_floating_point()
                                 and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True))


def _tensors(values: list, depth: int = 0) -> list[torch.Tensor]:
    """The plain tensors among call arguments (also inside lists, tuples and dicts)."""
    found = []
    for v in values:
        if type(v) is torch.Tensor:
            found.append(v)
        elif type(v) in (list, tuple) and depth < 3:
            found += _tensors(list(v), depth + 1)
        elif type(v) is dict and depth < 3:
            found += _tensors(list(v.values()), depth + 1)
    return found


def _sync_back(original: Any, after: Any, depth: int = 0) -> None:
    """Reflect what the call did to the caller's arguments: .grad and requires_grad. (A probe's
    state is never copied back: the grader ran or counted every call itself.)"""
    if depth > wire.MAX_DEPTH:
        return
    if type(original) is torch.Tensor and type(after) is torch.Tensor:
        meta = getattr(after, wire.REMOTE_META, {})
        if original.is_leaf:
            if original.dtype.is_floating_point and bool(meta.get("requires_grad")) != original.requires_grad:
                original.requires_grad_(bool(meta.get("requires_grad")))
            grad = meta.get("grad")
            if grad is None or (grad.shape == original.shape and grad.dtype == original.dtype):
                original.grad = grad
    elif type(original) in (list, tuple) and type(after) in (list, tuple) and len(original) == len(after):
        for o, a in zip(original, after):
            _sync_back(o, a, depth + 1)
    elif type(original) is dict and type(after) is dict:
        for k, v in original.items():
            if k in after:
                _sync_back(v, after[k], depth + 1)

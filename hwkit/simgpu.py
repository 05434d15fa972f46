"""A whole simulated GPU on a CPU-only machine: CUDA tensors whose kernels take a real card's time.

Inside ``with installed():`` (in the grader's sandbox: for the whole worker, when the grader
itself chose ``autograder grade --gpu simulate``) this process sees one CUDA device:

* ``torch.cuda.is_available()`` is True, ``device_count()`` 1, ``get_device_name()`` names the
  card; ``Event``, ``synchronize`` and the streams are :mod:`hwkit.simcuda`'s stand-ins, driven
  by this device's timeline; ``torch.cuda._sleep(cycles)`` launches a kernel of
  ``cycles / CARD.cycles_per_ms`` ms, so ``hwkit.probes.calibrate_cuda_sleep`` works.
* Tensors on ``'cuda'`` (``device='cuda'`` in a factory, ``.to('cuda')``, ``.cuda()``) are
  :class:`SimulatedTensor`: their device is ``cuda:0``, their numbers a CPU tensor inside.
  Every operation on them computes the answer on the CPU at once and queues a kernel on the
  timeline whose duration follows a roofline model of :data:`CARD` (:func:`kernel_ms`); copies
  between host and device take PCIe time (:func:`copy_ms`). What reads a value on the host
  (``.cpu()``, ``.item()``, ``float()``, printing) waits for the queue first, as CUDA does;
  nothing else waits, so a host clock around an operation measures almost nothing.
* The device's clock leaves out what the simulation costs the host (the CPU's maths, the Python
  around it) and counts :data:`HOST_LAUNCH_MS` per kernel instead, as eager PyTorch costs on a
  real card: events measure the model, whatever the load of the machine. The host's own clock
  (``time.perf_counter``) still sees the maths; :func:`timer` is the device's, synchronized.

What it does not do: autograd on the device (refused with a RuntimeError, not simulated),
CUDA generators and streams other than the default one, and threads (the routing of
``'cuda'`` is per thread, like every torch function mode).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from typing import Any, Iterator

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

from . import simcuda

aten = torch.ops.aten
DEVICE = torch.device("cuda", 0)


@dataclasses.dataclass(frozen=True)
class Card:
    """The figures the simulated device's kernels are timed with (a datasheet's, not measured)."""

    name: str
    memory_bandwidth: float  # bytes per second, device memory
    flops: float  # FP32 (non-tensor-core) operations per second, used for every dtype
    pcie_bandwidth: float  # bytes per second, host <-> device
    launch_ms: float  # what every kernel and copy takes on top of its bytes or FLOPs
    cycles_per_ms: float  # clock of torch.cuda._sleep
    total_memory: int
    capability: tuple[int, int]


CARD = Card(name="simulated GPU (H100 SXM figures)", memory_bandwidth=3.35e12, flops=67e12,
            pcie_bandwidth=25e9, launch_ms=0.004, cycles_per_ms=1.98e6, total_memory=80 * 2**30,
            capability=(9, 0))
#: What queuing one kernel costs the host, on the device's clock (PyTorch's eager dispatch).
HOST_LAUNCH_MS = 0.005

NO_AUTOGRAD = ("the simulated GPU does not run autograd: keep tensors that need gradients on the CPU "
               "(a limit of the simulation, not of CUDA)")
# Operations that only relabel memory (no kernel), besides the views torch marks as such.
_FREE = {aten._unsafe_view.default, aten.lift_fresh.default, aten.detach.default, aten.alias.default}
# Operations that take CPU index tensors next to CUDA data, as real CUDA allows.
_INDEXING = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default, aten._index_put_impl_.default}
# Matrix products: the position of the left operand; FLOPs = 2 x output elements x its last dimension.
_MATMUL = {aten.mm: 0, aten.bmm: 0, aten.addmm: 1, aten.baddbmm: 1, aten.mv: 0, aten.addmv: 1, aten.dot: 0,
           aten.vdot: 0}
# Factories that copy host data to the device (H2D) rather than fill device memory.
_FROM_HOST = {torch.tensor, torch.as_tensor, torch.asarray, torch.Tensor.new_tensor}
_ALLOCATE_ONLY = {torch.empty, torch.empty_like, torch.empty_strided, torch.Tensor.new_empty}

_device: simcuda.SimulatedCuda | None = None
_clock: "_Clock | None" = None
_permanent: Any = None  # the installed() context of install(), kept open for the process


def kernel_ms(nbytes: float, flops: float = 0.0, card: Card = CARD) -> float:
    """How long a kernel that moves `nbytes` of device memory and does `flops` operations runs:
    the slower of the two at the card's peak (the roofline), plus the launch latency."""
    return max(nbytes / card.memory_bandwidth, flops / card.flops) * 1000.0 + card.launch_ms


def copy_ms(nbytes: float, card: Card = CARD) -> float:
    """How long copying `nbytes` between host and device takes over PCIe."""
    return nbytes / card.pcie_bandwidth * 1000.0 + card.launch_ms


def active() -> simcuda.SimulatedCuda | None:
    """The simulated GPU installed in this process, if any."""
    return _device


def timer() -> float:
    """Seconds on the device's clock once its queue is empty: what torch.utils.benchmark's timer
    does on a CUDA build (synchronize, then read the clock), for ``Timer(..., timer=simgpu.timer)``."""
    _require_device().synchronize()
    return _running().now()


class _Clock:
    """The device's time: the host's, less what the simulation costs the host.

    Inside :meth:`unseen` (an operation on device tensors) the clock stands still where the
    operation began; only the host's waits for the device and its launch costs move it on.
    """

    def __init__(self) -> None:
        self.hidden = 0.0  # host seconds the device has not seen
        self._depth = 0
        self._began = 0.0  # perf_counter at the outermost unseen block's start, plus the waits in it

    def now(self) -> float:
        return (self._began if self._depth else time.perf_counter()) - self.hidden

    def sleep_until(self, at: float) -> None:
        wait = at - self.now()
        if not wait > 0:
            return
        simcuda.sleep_until(time.perf_counter() + wait)
        if self._depth:
            self._began += wait  # (the device saw the host wait; waking up late is the simulation's cost)

    @contextlib.contextmanager
    def unseen(self) -> Iterator[None]:
        if not self._depth:
            self._began = time.perf_counter()
        self._depth += 1
        try:
            yield None
        finally:
            self._depth -= 1
            if not self._depth:
                self.hidden += time.perf_counter() - self._began


def _require_device() -> simcuda.SimulatedCuda:
    if _device is None:
        raise RuntimeError("a tensor of the simulated GPU was used after the simulation ended")
    return _device


def _running() -> _Clock:
    """The installed device's clock."""
    _require_device()
    return _clock


def _unseen(method):
    """A method of device tensors, on the device's clock as a single operation."""

    @functools.wraps(method)
    def run(*args, **kwargs):
        with _running().unseen():
            return method(*args, **kwargs)

    return run


def _launch(ms: float, wait: bool = False) -> None:
    device = _require_device()
    device.launch(ms)
    if wait:
        device.synchronize()


def _host_read(nbytes: int) -> None:
    """The host reads device memory: everything queued finishes, then the bytes cross PCIe."""
    _require_device().synchronize()
    _launch(copy_ms(nbytes), wait=True)


class SimulatedTensor(torch.Tensor):
    """A tensor on the simulated GPU: device ``cuda:0`` outside, a CPU tensor (``_data``) inside."""

    _data: torch.Tensor
    __torch_function__ = torch._C._disabled_torch_function_impl  # (the mode routes; dispatch times)

    @staticmethod
    def __new__(cls, data: torch.Tensor) -> "SimulatedTensor":
        # Never requires grad: autograd would look for a CUDA device guard, which a CPU build has not
        # (torch aborts the process instead of raising).
        wrapper = torch.Tensor._make_wrapper_subclass(cls, data.shape, strides=data.stride(),
                                                      storage_offset=data.storage_offset(), dtype=data.dtype,
                                                      layout=data.layout, device=DEVICE, requires_grad=False)
        wrapper._data = data.detach()
        return wrapper

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        with _running().unseen():
            return _dispatch(func, args, kwargs or {})

    def __repr__(self, *, tensor_contents: str | None = None) -> str:
        _host_read(_nbytes(self._data))
        contents = tensor_contents or (torch._tensor_str._tensor_str(self._data, len("tensor("))
                                       if self._data.numel() else "[]")
        text = torch._tensor_str._str(self, tensor_contents=contents)
        return "tensor(" + text[len(type(self).__name__) + 1:]  # as torch prints a CUDA tensor

    def __format__(self, spec: str) -> str:
        return self.item().__format__(spec) if self.dim() == 0 else object.__format__(self, spec)

    # torch's own indexing and conversions look for a CUDA device guard, which a CPU build has not:
    # they work on the numbers inside, then the device does its part.
    @_unseen
    def __getitem__(self, index: Any) -> "SimulatedTensor":
        data = self._data[tree_map(_unwrap, index)]
        if data.untyped_storage().data_ptr() != self._data.untyped_storage().data_ptr():
            _launch(kernel_ms(2 * _nbytes(data), data.numel()))  # (advanced indexing gathers into new memory)
        return SimulatedTensor(data)

    @_unseen
    def __setitem__(self, index: Any, value: Any) -> None:
        index = tree_map(_unwrap, index)
        self._data[index] = _unwrap(value)
        nbytes = _nbytes(self._data[index])
        if isinstance(value, torch.Tensor) and type(value) is not SimulatedTensor and value.dim() > 0:
            _launch(copy_ms(nbytes), wait=True)
        else:
            _launch(kernel_ms(2 * nbytes))

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        return self.item().__index__()

    def __complex__(self) -> complex:
        return complex(self.item())

    def tolist(self) -> Any:
        _host_read(_nbytes(self._data))
        return self._data.tolist()

    def numpy(self, *, force: bool = False) -> Any:
        raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                        "to host memory first.")


def _nbytes(t: torch.Tensor) -> int:
    """Bytes a kernel touches for `t`: its elements, counted once (a broadcast view is not its full shape)."""
    if t.numel() == 0:
        return 0
    span = 1 + sum((n - 1) * abs(s) for n, s in zip(t.shape, t.stride()))
    return min(t.numel(), span) * t.element_size()


def _distinct(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The tensors a kernel reads, each once (``t + t`` and ``t @ t`` read t once)."""
    seen = {}
    for t in tensors:
        seen.setdefault((t.data_ptr(), t.dtype, tuple(t.shape), t.stride()), t)
    return list(seen.values())


def _is_cuda(device: Any) -> bool:
    return device is not None and torch.device(device).type == "cuda"


def _on_host(kwargs: dict) -> bool:
    """An aten call told to put its result on the host (``device='cpu'``)."""
    return kwargs.get("device") is not None and not _is_cuda(kwargs["device"])


def _check_index(device: Any) -> None:
    index = torch.device(device).index
    if index not in (None, 0):
        raise RuntimeError("CUDA error: invalid device ordinal")


def _unwrap(x: Any) -> Any:
    return x._data if isinstance(x, SimulatedTensor) else x


def _dispatch(func, args: tuple, kwargs: dict) -> Any:
    """One aten operation on device tensors: the answer now, and the kernel that makes it queued."""
    tensors = [x for x in tree_flatten((args, kwargs))[0] if isinstance(x, torch.Tensor)]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        raise RuntimeError(NO_AUTOGRAD)
    if func is aten._to_copy.default and _on_host(kwargs):
        out = func(_unwrap(args[0]), **kwargs)
        _host_read(_nbytes(out))
        return out
    if func is aten.copy_.default:
        return _copy(*args, **kwargs)
    if func not in _INDEXING and any(type(t) is not SimulatedTensor and t.dim() > 0 for t in tensors):
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, cuda:0 "
                           "and cpu!")
    host = _on_host(kwargs)
    if _is_cuda(kwargs.get("device")):
        _check_index(kwargs["device"])
        kwargs = dict(kwargs, device=torch.device("cpu"))
    own = {id(t._data): t for t in tensors if type(t) is SimulatedTensor}
    out = func(*tree_map(_unwrap, args), **tree_map(_unwrap, kwargs))
    outputs = [x for x in tree_flatten(out)[0] if isinstance(x, torch.Tensor)]
    if not outputs:  # a value for the host (aten._local_scalar_dense: .item(), float(), bool())
        _host_read(8)
        return out
    if not (func.is_view or func in _FREE):
        inputs = _distinct([t._data for t in tensors if type(t) is SimulatedTensor])
        moved = sum(map(_nbytes, inputs)) + sum(map(_nbytes, outputs))
        left = _MATMUL.get(func.overloadpacket)
        flops = 2.0 * outputs[0].numel() * _unwrap(args[left]).shape[-1] if left is not None \
            else float(max(t.numel() for t in inputs + outputs))
        _launch(kernel_ms(moved, flops))
    if host:
        return out

    def wrapped(x: Any) -> Any:
        if type(x) is not torch.Tensor:
            return x
        # An in-place or out= result is the caller's own tensor: its own wrapper, not a new one.
        return own[id(x)] if id(x) in own else SimulatedTensor(x)

    return tree_map(wrapped, out)


def _copy(dst: torch.Tensor, src: torch.Tensor, non_blocking: bool = False) -> torch.Tensor:
    """``dst.copy_(src)`` between any two of host and device."""
    to_device, from_device = type(dst) is SimulatedTensor, type(src) is SimulatedTensor
    _unwrap(dst).copy_(_unwrap(src))
    nbytes = _nbytes(_unwrap(dst))
    if to_device and from_device:
        _launch(kernel_ms(2 * nbytes))
    elif from_device:
        _host_read(nbytes)
    else:
        _launch(copy_ms(nbytes), wait=not non_blocking)
    return dst


def _to_device(t: torch.Tensor, dtype: torch.dtype | None, non_blocking: bool, copy: bool,
               memory_format: torch.memory_format | None) -> torch.Tensor:
    """``t.to('cuda', ...)``: a copy of a host tensor, or the device tensor itself."""
    options = {"memory_format": memory_format} if memory_format is not None else {}
    if type(t) is SimulatedTensor:
        if (dtype is None or dtype == t.dtype) and not copy:
            return t
        return torch.Tensor.to(t, dtype=dtype or t.dtype, copy=copy, **options)  # (on the device)
    if torch.is_grad_enabled() and t.requires_grad:
        raise RuntimeError(NO_AUTOGRAD)
    data = t.to(dtype=dtype or t.dtype, copy=True, **options)
    _launch(copy_ms(_nbytes(data)), wait=not non_blocking)
    return SimulatedTensor(data)


def _factory(func, args: tuple, kwargs: dict) -> Any:
    """A tensor made on the device: made on the host, then filled in (or copied over) on the device."""
    _check_index(kwargs["device"])
    generator = kwargs.get("generator")
    if generator is not None and generator.device.type != "cuda":
        raise RuntimeError(f"Expected a 'cuda' device type for generator but found '{generator.device.type}'")
    if kwargs.get("requires_grad"):
        raise RuntimeError(NO_AUTOGRAD)
    out = func(*tree_map(_unwrap, args), **dict(tree_map(_unwrap, kwargs), device=torch.device("cpu")))
    if type(out) is not torch.Tensor:
        return out
    if func in _FROM_HOST:
        _launch(copy_ms(_nbytes(out)), wait=True)
    elif func not in _ALLOCATE_ONLY:
        _launch(kernel_ms(_nbytes(out)))
    return SimulatedTensor(out)


def _new_tensor(func, args: tuple, kwargs: dict) -> torch.Tensor:
    return _factory(func, args, {"dtype": args[0].dtype, **kwargs, "device": DEVICE})


def _contiguous(func, args: tuple, kwargs: dict) -> torch.Tensor:
    t, memory_format = args[0], kwargs.get("memory_format", torch.contiguous_format)
    return t if t.is_contiguous(memory_format=memory_format) else t.clone(memory_format=memory_format)


def _nonzero(func, args: tuple, kwargs: dict) -> Any:
    """As on CUDA, the host waits: the result's size is known only once the kernel has run."""
    out = func(*tree_map(_unwrap, args), **kwargs)
    _launch(kernel_ms(_nbytes(args[0]._data) + sum(map(_nbytes, tree_flatten(out)[0]))))
    _host_read(8)
    return tree_map(lambda x: SimulatedTensor(x) if type(x) is torch.Tensor else x, out)


# Methods whose C++ binding looks for a CUDA device guard before any dispatch: done here instead.
_BY_HAND = {torch.Tensor.new_tensor: _new_tensor, torch.Tensor.contiguous: _contiguous, torch.nonzero: _nonzero,
            torch.Tensor.nonzero: _nonzero}


def _on_device(args: tuple, kwargs: dict) -> bool:
    """Whether a call involves the device: a device tensor among its arguments (or in a list of
    them, as torch.cat takes), or ``device='cuda'``."""
    for value in (*args, *kwargs.values()):
        if type(value) is SimulatedTensor or (type(value) in (list, tuple) and SimulatedTensor in map(type, value)):
            return True
    return _is_cuda(kwargs.get("device"))


class _Routing(TorchFunctionMode):
    """Sends what asks for ``'cuda'`` to the simulated GPU; everything else passes untouched."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.pin_memory:
            return args[0].clone()  # (a CPU build cannot pin; the copy stands for the pinned buffer)
        if func is torch.Tensor.to or func is torch.Tensor.cuda:
            device, dtype, non_blocking, memory_format = _target(func, args, kwargs)
            if _is_cuda(device):
                _check_index(device)
                with _running().unseen():
                    return _to_device(args[0], dtype, non_blocking, bool(kwargs.get("copy", False)), memory_format)
        if _on_device(args, kwargs):
            with _running().unseen():
                return _route(func, args, kwargs)
        return func(*args, **kwargs)


def _target(func, args: tuple, kwargs: dict) -> tuple:
    """(device, dtype, non_blocking, memory_format) of a ``.to(...)`` or ``.cuda(...)`` call."""
    if func is torch.Tensor.to:
        return torch._C._nn._parse_to(*args[1:], **{k: v for k, v in kwargs.items() if k != "copy"})
    device = kwargs.get("device", args[1] if len(args) > 1 else None)
    device = DEVICE if device is None else torch.device("cuda", device) if type(device) is int else torch.device(device)
    return device, None, kwargs.get("non_blocking", args[2] if len(args) > 2 else False), kwargs.get("memory_format")


def _route(func, args: tuple, kwargs: dict) -> Any:
    if func is torch.Tensor.requires_grad_ or _is_requires_grad_setter(func):
        if type(args[0]) is SimulatedTensor and (args[1:] or [kwargs.get("requires_grad", True)])[0]:
            raise RuntimeError(NO_AUTOGRAD)
    elif _is_cuda(kwargs.get("device")):
        return _factory(func, args, kwargs)
    elif func is torch.Tensor.copy_:  # (torch's copy_ into a CUDA tensor looks for a device guard)
        return _copy(*args, **kwargs)
    elif args and type(args[0]) is SimulatedTensor and func in _BY_HAND:
        return _BY_HAND[func](func, args, kwargs)
    elif func is torch.where or func is torch.Tensor.where:
        # (a Python number next to device tensors would be made into a CUDA tensor in C++: a 0-dim
        # host tensor promotes like the number and is allowed beside device tensors)
        args = tuple(torch.tensor(a) if isinstance(a, (bool, int, float)) else a for a in args)
    return func(*args, **kwargs)


def _is_requires_grad_setter(func) -> bool:
    return getattr(func, "__name__", "") == "__set__" and getattr(func, "__self__", None) is torch.Tensor.requires_grad


class _DeviceContext:
    """``with torch.cuda.device(0):`` on the one device there is."""

    def __init__(self, device: Any) -> None:
        _check_index(torch.device("cuda", device) if type(device) is int else device)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        pass


@dataclasses.dataclass(frozen=True)
class _Properties:
    name: str
    total_memory: int
    major: int
    minor: int
    multi_processor_count: int


def _cuda_api(device: simcuda.SimulatedCuda) -> dict[str, Any]:
    """torch.cuda's functions as this card answers them."""

    def properties(index=None) -> _Properties:
        major, minor = CARD.capability
        return _Properties(name=CARD.name, total_memory=CARD.total_memory, major=major, minor=minor,
                           multi_processor_count=132)

    def set_device(index) -> None:
        _check_index(torch.device("cuda", index) if type(index) is int else index)

    return {
        **simcuda.frontend(device),
        "get_device_name": lambda index=None: CARD.name,
        "get_device_properties": properties,
        "get_device_capability": lambda index=None: CARD.capability,
        "current_device": lambda: 0,
        "device": _DeviceContext,
        "set_device": set_device,
        "_sleep": _unseen(lambda cycles: device.launch(int(cycles) / CARD.cycles_per_ms)),
    }


@contextlib.contextmanager
def installed() -> Iterator[simcuda.SimulatedCuda]:
    """This process sees the simulated GPU inside the block; torch.cuda is put back after it."""
    global _device, _clock
    if _device is not None:
        raise RuntimeError("the simulated GPU is already installed in this process")
    clock = _Clock()
    device = simcuda.SimulatedCuda(launch_overhead_ms=HOST_LAUNCH_MS, clock=clock)
    api = _cuda_api(device)
    saved = {name: getattr(torch.cuda, name) for name in api}

    def put_back() -> None:
        for name, value in saved.items():
            setattr(torch.cuda, name, value)

    with contextlib.ExitStack() as stack:
        stack.enter_context(device.activated())
        stack.callback(put_back)
        for name, value in api.items():
            setattr(torch.cuda, name, value)
        stack.enter_context(_Routing())
        _device, _clock = device, clock
        try:
            # torch imports hundreds of modules at the first operation on a tensor subclass: now,
            # not inside the first call a test times.
            (torch.zeros(1, device="cuda") + 1).cpu()
            yield device
        finally:
            _device = _clock = None


def install() -> simcuda.SimulatedCuda:
    """The simulated GPU for the rest of this process (the sandbox's worker, before any student
    module is imported)."""
    global _permanent
    context = installed()
    device = context.__enter__()
    _permanent = context
    return device

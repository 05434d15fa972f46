"""The wire format between the trusted grader and the sandboxed worker. No pickle, ever.

A message is one frame: ``u64 length | u32 json_length | json | blob0 | blob1 ...``. The JSON
holds a tree of tagged values; tensor bytes travel as blobs, one per *storage*, so views
stay views: a result that is a view of an argument comes back as a view of the caller's
tensor, and an argument the student mutated is mutated in the caller too.

Decoding on the trusted side treats every message as hostile: dtypes from an allow-list,
every view checked against its storage's bounds, nesting depth and sizes limited. Anything
that is not plain data (a function, a class, a Tensor subclass, an object with a rigged
``__eq__``) never becomes a real object in the trusted process: it stays a *handle*, which
is equal only to itself and is never a ``torch.Tensor``.

This module runs on both sides (the worker imports a copy of it), so it depends on nothing
but the standard library, torch and the harness's probe registry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import struct
from typing import Any, Callable

import torch

DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64,
              torch.complex128, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8,
              torch.bool)
}
MAX_DEPTH = 32
MAX_NODES = 200_000
MAX_STORAGES = 10_000  # storages (and blobs) in one message
REMOTE_META = "_homework_remote_meta"  # same attribute name as hwkit.checks


class ProtocolError(Exception):
    """The other side sent something that is not a valid message."""


# -- framing ------------------------------------------------------------------------------
def pack(header: dict, blobs: list[bytes]) -> bytes:
    header = dict(header, blobs=[len(b) for b in blobs])
    js = json.dumps(header, separators=(",", ":")).encode()
    body = struct.pack("<I", len(js)) + js + b"".join(blobs)
    return struct.pack("<Q", len(body)) + body


def unpack(body: bytes) -> tuple[dict, list[memoryview]]:
    if len(body) < 4:
        raise ProtocolError("truncated frame")
    (js_len,) = struct.unpack_from("<I", body)
    if 4 + js_len > len(body):
        raise ProtocolError("JSON part longer than the frame")
    try:
        header = json.loads(bytes(body[4:4 + js_len]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("JSON nested too deeply") from None
    if type(header) is not dict or type(header.get("blobs")) is not list:
        raise ProtocolError("frame header is not an object with a blob list")
    blobs, pos, view = [], 4 + js_len, memoryview(body)
    for n in header["blobs"]:
        if type(n) is not int or n < 0 or pos + n > len(body):
            raise ProtocolError("blob lengths do not match the frame")
        blobs.append(view[pos:pos + n])
        pos += n
    if pos != len(body):
        raise ProtocolError("trailing bytes after the last blob")
    return header, blobs


def write_frame(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- encoding -----------------------------------------------------------------------------
class Encoder:
    """Turns a value into JSON-able tags plus storage blobs.

    ``fallback(obj)`` decides what to do with anything that is not plain data: the worker
    turns it into a handle; the trusted side raises.
    """

    def __init__(self, fallback: Callable[[Any], dict], probes: dict[str, type],
                 torch_functions: dict[str, Any],
                 known_storages: dict[int, int] | None = None,
                 known_digests: dict[int, bytes] | None = None,
                 device_tensors: tuple[type, ...] = ()) -> None:
        """`device_tensors`: Tensor subclasses that stand for tensors on a device (the worker's
        simulated GPU): sent as tensors on that device, never as handles."""
        self.fallback = fallback
        self.device_tensors = device_tensors
        self.probes = probes
        self.torch_function_names = {id(f): name for name, f in torch_functions.items()}
        self.blobs: list[bytes] = []
        self.storages: list[dict] = []
        self.storage_objects: list[torch.UntypedStorage] = []
        self.probe_objects: list[Any] = []  # the probes sent, by their number on the wire
        self._storage_ids: dict[int, int] = {}
        # data_ptr -> id of a storage the other side already holds (arguments of this call)
        self.known_storages = known_storages or {}
        self.known_digests = known_digests or {}

    def encode(self, value: Any) -> Any:
        t = type(value)
        if value is None or t in (bool, int, str):
            return value
        if t is float:
            return {"$float": repr(value)}  # keeps nan/inf exact and floats distinct from ints
        if t is list:
            return {"$list": [self.encode(v) for v in value]}
        if t is tuple:
            return {"$tuple": [self.encode(v) for v in value]}
        if t is dict:
            return {"$dict": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if t is torch.Size:
            return {"$size": [int(s) for s in value]}
        if t is torch.dtype:
            return {"$dtype": str(value).removeprefix("torch.")}
        if t is torch.device:
            return {"$device": str(value)}
        if t is torch.Tensor or t in self.device_tensors:
            return self._tensor(value)
        if t.__name__ in self.probes and self.probes[t.__name__] is t:
            # A probe the grader runs crosses as a number only; one the worker runs, with its fields.
            self.probe_objects.append(value)
            state = None if t.RUNS_IN == "grader" else self.encode(
                {f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
            return {"$probe": t.__name__, "id": len(self.probe_objects) - 1, "state": state}
        if id(value) in self.torch_function_names:
            return {"$torchfn": self.torch_function_names[id(value)]}
        return self.fallback(value)

    def _tensor(self, t: torch.Tensor) -> dict:
        device = str(t.device)
        if t.device.type != "cpu":
            t = t.detach().cpu()
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self._storage_ids:
            sid = len(self.storages)
            self._storage_ids[ptr] = sid
            entry: dict = {"nbytes": storage.nbytes()}
            data = storage_bytes(storage)
            if ptr in self.known_storages:
                entry["same_as"] = self.known_storages[ptr]
                if self.known_digests.get(ptr) == hashlib.sha256(data).digest():
                    data = None  # unchanged: no need to send it back
            if data is not None:
                entry["blob"] = len(self.blobs)
                self.blobs.append(data)
            self.storages.append(entry)
            self.storage_objects.append(storage)
        grad = t.grad if t.is_leaf else None
        return {"$tensor": {
            "dtype": str(t.dtype).removeprefix("torch."),
            "shape": list(t.shape), "stride": list(t.stride()), "offset": t.storage_offset(),
            "storage": self._storage_ids[ptr], "device": device,
            "requires_grad": bool(t.requires_grad), "is_leaf": bool(t.is_leaf),
            "grad_fn": type(t.grad_fn).__name__ if t.grad_fn is not None else None,
            "grad": self._tensor(grad) if type(grad) is torch.Tensor else None,
        }}


# -- decoding -----------------------------------------------------------------------------
class Decoder:
    """Rebuilds values. ``handle(tag)`` builds handles; ``ref(id)`` resolves them (worker);
    ``make_probe(cls, number, fields)`` builds the worker's side of a probe (fields None for a
    probe the grader runs). Without ``make_probe`` (the trusted side) a probe is refused."""

    def __init__(self, storages: list, blobs: list[memoryview], *, handle: Callable[[dict], Any],
                 probes: dict[str, type], torch_functions: dict[str, Any],
                 make_probe: Callable[[type, int, dict | None], Any] | None = None,
                 ref: Callable[[int], Any] | None = None,
                 known: list[torch.UntypedStorage] | None = None,
                 mark_remote: bool = False, gpu: bool = True, max_elements: int | None = None) -> None:
        """`gpu`: whether a value may be on a CUDA device (the grader's own finding, never the
        worker's); `max_elements`: the largest tensor accepted, counted by its shape."""
        self.handle, self.ref = handle, ref
        self.gpu, self.max_elements = gpu, max_elements
        self.probes, self.torch_functions, self.make_probe = probes, torch_functions, make_probe
        self.known = known or []
        self.mark_remote = mark_remote
        self.nodes = 0
        if type(storages) is not list or len(storages) > MAX_STORAGES or len(blobs) > MAX_STORAGES:
            raise ProtocolError("storage table is not a list of at most MAX_STORAGES entries")
        self.storages = [self._storage(s, blobs) for s in storages]

    def _storage(self, entry: Any, blobs: list[memoryview]) -> torch.UntypedStorage:
        if type(entry) is not dict or type(entry.get("nbytes")) is not int or entry["nbytes"] < 0:
            raise ProtocolError("bad storage entry")
        same_as, blob = entry.get("same_as"), entry.get("blob")
        if same_as is not None:
            if type(same_as) is not int or not 0 <= same_as < len(self.known):
                raise ProtocolError("storage refers to an unknown argument")
            target = self.known[same_as]
            if target.nbytes() != entry["nbytes"]:
                raise ProtocolError("an argument's storage changed size (resized in place)")
            if blob is not None:
                data = self._blob(blob, blobs, entry["nbytes"])
                if data:
                    _as_bytes_tensor(target).copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
            return target
        data = self._blob(blob, blobs, entry["nbytes"])
        storage = torch.UntypedStorage(len(data))
        if data:
            _as_bytes_tensor(storage).copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        return storage

    @staticmethod
    def _blob(index: Any, blobs: list[memoryview], nbytes: int) -> memoryview:
        if type(index) is not int or not 0 <= index < len(blobs) or len(blobs[index]) != nbytes:
            raise ProtocolError("storage blob missing or of the wrong size")
        return blobs[index]

    def decode(self, node: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise ProtocolError("value nested too deeply or too large")
        if node is None or type(node) in (bool, int, str):
            return node
        if type(node) is not dict or len(node) < 1:
            raise ProtocolError(f"unexpected JSON value of type {type(node).__name__}")
        tag = next(iter(node))
        body = node[tag]
        d = depth + 1
        if tag == "$float":
            if type(body) is not str:
                raise ProtocolError("bad float")
            try:
                return float(body)
            except ValueError:
                raise ProtocolError("bad float") from None
        if tag in ("$list", "$tuple", "$size"):
            if type(body) is not list:
                raise ProtocolError(f"bad {tag}")
            items = [self.decode(v, d) for v in body]
            if tag == "$size":
                if not all(type(i) is int for i in items):
                    raise ProtocolError("bad torch.Size")
                return torch.Size(items)
            return items if tag == "$list" else tuple(items)
        if tag == "$dict":
            if type(body) is not list or not all(type(p) is list and len(p) == 2 for p in body):
                raise ProtocolError("bad $dict")
            out = {}
            for k, v in body:
                key = self.decode(k, d)
                if type(key) not in (str, int, bool, tuple, float) and key is not None:
                    raise ProtocolError("dict key is not plain data")
                try:
                    hash(key)
                except TypeError:
                    raise ProtocolError("dict key is not hashable") from None
                out[key] = self.decode(v, d)
            return out
        if tag == "$dtype":
            if body not in DTYPES:
                raise ProtocolError("unknown dtype")
            return DTYPES[body]
        if tag == "$device":
            try:
                device = torch.device(str(body))
            except (RuntimeError, TypeError):
                raise ProtocolError("bad device") from None
            self._check_device(device.type)
            return device
        if tag == "$tensor":
            return self._tensor(body, d)
        if tag == "$probe":
            cls = self.probes.get(body) if type(body) is str else None
            if self.make_probe is None or cls is None or type(node.get("id")) is not int:
                raise ProtocolError("a probe where none may be")
            state = self.decode(node.get("state"), d)
            if state is not None:
                if type(state) is not dict:
                    raise ProtocolError("bad probe")
                names = {f.name for f in dataclasses.fields(cls)}
                state = {k: v for k, v in state.items() if k in names}
            return self.make_probe(cls, node["id"], state)
        if tag == "$torchfn":
            if body not in self.torch_functions:
                raise ProtocolError("unknown torch function")
            return self.torch_functions[body]
        if tag == "$handle":
            return self.handle(node)
        if tag == "$ref" and self.ref is not None:
            return self.ref(body)
        raise ProtocolError(f"unknown tag {tag!r}")

    def _check_device(self, kind: str) -> None:
        if kind != "cpu" and not self.gpu:
            raise ProtocolError(f"a value on a {kind!r} device, but the grader found no GPU on this machine")

    def _tensor(self, spec: Any, depth: int) -> torch.Tensor:
        if type(spec) is not dict:
            raise ProtocolError("bad tensor")
        dtype = DTYPES.get(spec.get("dtype"))
        shape, stride, offset, sid = (spec.get(k) for k in ("shape", "stride", "offset", "storage"))
        ints = lambda xs: type(xs) is list and all(type(x) is int and x >= 0 for x in xs)  # noqa: E731
        if (dtype is None or not ints(shape) or not ints(stride) or len(shape) != len(stride)
                or type(offset) is not int or offset < 0 or type(sid) is not int
                or not 0 <= sid < len(self.storages) or len(shape) > 64):
            raise ProtocolError("bad tensor description")
        if self.max_elements is not None and math.prod(shape) > self.max_elements:
            raise ProtocolError(f"a tensor of shape {tuple(shape)} has {math.prod(shape)} elements, more than "
                                f"limits.max_elements ({self.max_elements})")
        device = spec.get("device", "cpu")
        if type(device) is not str:
            raise ProtocolError("bad tensor description")
        self._check_device(device.partition(":")[0])
        storage = self.storages[sid]
        itemsize = torch.empty((), dtype=dtype).element_size()
        if 0 not in shape:
            extent = offset + sum((n - 1) * s for n, s in zip(shape, stride)) + 1
            if extent * itemsize > storage.nbytes():
                raise ProtocolError("tensor view reaches outside its storage")
        t = torch.empty(0, dtype=dtype).set_(storage, offset, shape, stride)
        grad = spec.get("grad")
        if grad is not None:
            grad = self.decode(grad, depth)
            if type(grad) is not torch.Tensor or grad.shape != t.shape or grad.dtype != t.dtype:
                raise ProtocolError("bad .grad")
        meta = {k: spec.get(k) for k in ("requires_grad", "is_leaf", "grad_fn", "device")}
        if self.mark_remote:
            setattr(t, REMOTE_META, dict(meta, grad=grad))
        else:
            if spec.get("requires_grad") and (dtype.is_floating_point or dtype.is_complex):
                t.requires_grad_(True)
            if grad is not None:
                t.grad = grad  # the caller's existing .grad travels with the tensor
        return t


def _as_bytes_tensor(storage: torch.UntypedStorage) -> torch.Tensor:
    return torch.empty(0, dtype=torch.uint8).set_(storage, 0, (storage.nbytes(),), (1,))


def storage_digests(storages: list[torch.UntypedStorage]) -> dict[int, bytes]:
    """sha256 of each storage's bytes, keyed by data pointer (to skip sending back unchanged ones)."""
    return {s.data_ptr(): hashlib.sha256(storage_bytes(s)).digest() for s in storages}


def storage_bytes(storage: torch.UntypedStorage) -> bytes:
    """A storage's raw bytes in one copy (``bytes(storage)`` walks it byte by byte in Python)."""
    if not storage.nbytes():
        return b""
    return _as_bytes_tensor(storage).cpu().numpy().tobytes()

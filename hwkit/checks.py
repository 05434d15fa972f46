"""Assertions that explain themselves to a first-year student.

Each check fails with one plain sentence saying what is wrong and how to fix it, followed by
the numbers (``torch.testing.assert_close``'s report) where values differ. All checks are
exact about types: a Tensor subclass or an object that claims to be equal is a wrong answer.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import pytest
import torch

from .i18n import tr, trn
from .text import STUB_MESSAGE

# The grader's wire sets this attribute on tensors that came back from the student's process,
# recording what autograd looked like there (a tensor's autograd graph cannot cross processes).
REMOTE_META = "_homework_remote_meta"


def fail(message: str) -> None:
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


class TooSlow(pytest.fail.Exception):
    """A timing came out longer than allowed. The plugin runs such a test once more: a busy
    machine only ever makes a timing longer, while a real mistake (the total instead of the
    mean, a timed warm-up) gives the same wrong number again."""


def too_slow(message: str) -> None:
    __tracebackhide__ = True
    raise TooSlow(message, pytrace=False)


def describe(value: Any) -> str:
    if type(value) is torch.Tensor:
        return tr("a {dtype} tensor of shape {shape}", dtype=value.dtype, shape=tuple(value.shape))
    name = getattr(value, "remote_type", None) or type(value).__name__
    return tr("a {type}", type=name) + (f" ({value!r})" if isinstance(value, (int, float, bool, str)) else "")


def tensor(value: Any, name: str, *, shape: tuple | None = None, dtype: torch.dtype | None = None,
           device: str | None = None) -> torch.Tensor:
    """Check that `value` is exactly a torch.Tensor (with this shape/dtype) and return it."""
    __tracebackhide__ = True
    if type(value) is not torch.Tensor:
        hint = ""
        if isinstance(value, (int, float)):
            hint = tr(" — you returned a Python number; keep it a tensor (e.g. `a.sum()`, not `a.sum().item()`)")
        elif isinstance(value, torch.Tensor):
            hint = tr(" — a subclass of Tensor is not accepted; return a plain torch.Tensor")
        fail(tr("{name} should be a torch.Tensor, but it is {what}", name=name, what=describe(value)) + hint)
    if shape is not None and tuple(value.shape) != tuple(shape):
        hint = ""
        if len(shape) == 2 and tuple(value.shape) == tuple(reversed(shape)) and shape[0] != shape[1]:
            hint = tr(" — that is the transposed shape; check the order of your operands or dimensions")
        elif value.numel() == _numel(shape):
            hint = tr(" — same number of elements, wrong arrangement")
        fail(tr("{name} should have shape {expected}, but it has shape {actual}", name=name, expected=tuple(shape),
                actual=tuple(value.shape)) + hint)
    if dtype is not None and value.dtype != dtype:
        hint = ""
        if dtype == torch.int64 and value.dtype.is_floating_point:
            hint = tr(" — torch.arange(16) gives int64; a float argument like 16.0 gives float32")
        fail(tr("{name} should have dtype {expected}, but it has dtype {actual}", name=name, expected=dtype,
                actual=value.dtype) + hint)
    if device is not None and value.device.type != device:
        fail(tr("{name} should be on {expected}, but it is on {actual}", name=name, expected=device,
                actual=value.device))
    return value


def close(actual: Any, expected: torch.Tensor, name: str, *, rtol: float | None = None,
          atol: float | None = None, hint: str = "", mistakes: dict[str, torch.Tensor] | None = None) -> None:
    """Exact type and shape, then values by ``torch.testing.assert_close`` (stated tolerances).

    `mistakes` maps a sentence naming a known mistake to the result that mistake produces; an
    answer equal to one of them fails with that sentence first.
    """
    __tracebackhide__ = True
    named = next((sentence for sentence, wrong in (mistakes or {}).items()
                  if _difference(actual, wrong, rtol, atol) is None), None)
    difference = _difference(actual, expected, rtol, atol)
    if named is not None and difference is not None:
        fail(tr("{name} is wrong: {mistake}", name=name, mistake=named) + difference)
    tensor(actual, name, shape=tuple(expected.shape), dtype=expected.dtype)
    if difference is not None:
        fail(tr("{name} has wrong values", name=name) + (f" — {hint}" if hint else "") + "." + difference)


def _difference(actual: Any, expected: torch.Tensor, rtol: float | None, atol: float | None) -> str | None:
    """None if `actual` is a tensor equal to `expected` (shape, dtype, values within tolerance);
    else what differs: assert_close's numbers, the shapes, or nothing to show for a non-tensor."""
    if type(actual) is not torch.Tensor:
        return ""
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return "\n" + tr("expected shape {expected} ({dtype}), got {actual} ({actual_dtype})",
                         expected=tuple(expected.shape), dtype=expected.dtype, actual=tuple(actual.shape),
                         actual_dtype=actual.dtype)
    try:
        torch.testing.assert_close(actual.detach(), expected.detach(), rtol=rtol, atol=atol, check_device=False)
    except AssertionError as exc:
        return f"\n{exc}"
    return None


def number(actual: Any, name: str, *, finite: bool = True) -> float:
    """A real Python float/int (not bool, not a tensor); finite unless `finite=False` (a NaN
    would pass every ``abs(got - want) > tol`` comparison)."""
    __tracebackhide__ = True
    if type(actual) not in (float, int):
        hint = tr(" — convert with float(...) or .item()") if type(actual) is torch.Tensor else ""
        fail(tr("{name} should be a Python float, but it is {what}", name=name, what=describe(actual)) + hint)
    value = float(actual)
    if finite and not math.isfinite(value):
        fail(tr("{name} is {value}, not a finite number — look for a division by zero or a measurement "
                "that never happened", name=name, value=repr(value)))
    return value


class Entries:
    """Check several entries of one result and fail once, naming every wrong entry::

        wrong = checks.Entries("tensor_operations(a, b)")
        with wrong.entry("transpose"):
            checks.close(result["transpose"], ...)
        with wrong.entry("matmul"):
            checks.close(result["matmul"], ...)
        wrong.report()
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: list[tuple[str, str]] = []  # (entry, message)

    @contextlib.contextmanager
    def entry(self, key: Any) -> Iterator[None]:
        try:
            yield
        except TooSlow:
            raise  # (a timing is retried as a whole)
        except pytest.fail.Exception as exc:
            self.failures.append((f'"{key}"' if isinstance(key, str) else repr(key), str(exc.msg)))

    def report(self) -> None:
        __tracebackhide__ = True
        if len(self.failures) == 1:
            fail(self.failures[0][1])
        if self.failures:
            keys = ", ".join(key for key, _ in self.failures)
            fail(trn("{name}: {n} entry is wrong: {keys}", "{name}: {n} entries are wrong: {keys}",
                     len(self.failures), name=self.name, keys=keys)
                 + "".join(f"\n- {message}" for _, message in self.failures))


def mapping(actual: Any, name: str, keys: list) -> dict:
    """Exactly a dict holding at least these keys."""
    __tracebackhide__ = True
    if type(actual) is not dict:
        fail(tr("{name} should return a dict, but it returned {what}", name=name, what=describe(actual)))
    missing = [k for k in keys if k not in actual]
    if missing:
        fail(tr("{name} is missing the key(s) {missing}; it has {keys}", name=name, missing=missing,
                keys=sorted(actual, key=repr)))
    return actual


def shares_memory(result: torch.Tensor, base: torch.Tensor) -> bool:
    return result.untyped_storage().data_ptr() == base.untyped_storage().data_ptr()


def view_of(result: Any, base: torch.Tensor, name: str) -> None:
    """`result` must be a view: the same memory as `base`, not a copy."""
    __tracebackhide__ = True
    tensor(result, name)
    if not shares_memory(result, base):
        fail(tr("{name} must be a view of the input (sharing its memory), but it is a copy — use slicing / "
                ".view(), not .clone(), .contiguous(), torch.tensor(...) or fancy indexing", name=name))


def not_a_view(result: Any, base: torch.Tensor, name: str) -> None:
    __tracebackhide__ = True
    tensor(result, name)
    if shares_memory(result, base):
        fail(tr("{name} must be a new tensor (a real copy), but it shares memory with the input — a transpose "
                "is only a view until you call .contiguous() (or use torch.transpose_copy)", name=name))


def snapshot(*tensors: torch.Tensor) -> list[tuple]:
    """Values, requires_grad and .grad of the caller's tensors, to compare after a call."""
    return [(t.detach().clone(), t.requires_grad, None if t.grad is None else t.grad.clone())
            for t in tensors]


def unchanged(tensors: tuple, before: list[tuple], names: tuple[str, ...]) -> None:
    """The call left the caller's tensors exactly as they were (values, requires_grad, .grad)."""
    __tracebackhide__ = True
    for t, (values, requires_grad, grad), name in zip(tensors, before, names):
        if not torch.equal(t.detach(), values):
            fail(tr("your function changed the caller's tensor `{name}` in place — work on a copy (avoid "
                    "in-place ops like `+=`, `.add_()`, `.clamp_()` on inputs)", name=name))
        if t.requires_grad != requires_grad:
            fail(tr("your function changed `{name}.requires_grad` of the caller's tensor — use "
                    "`{name}.detach().clone().requires_grad_(True)` instead of modifying it", name=name))
        if (t.grad is None) != (grad is None) or (grad is not None and not torch.equal(t.grad, grad)):
            fail(tr("your function left a gradient in the caller's `{name}.grad` — compute gradients on a "
                    "detached copy, or use torch.autograd.grad, so the input stays untouched", name=name))


def detached(value: torch.Tensor, name: str) -> None:
    """The result carries no autograd history."""
    __tracebackhide__ = True
    meta = getattr(value, REMOTE_META, None)
    grad_fn = meta.get("grad_fn") if meta else (type(value.grad_fn).__name__ if value.grad_fn else None)
    requires_grad = meta.get("requires_grad") if meta else value.requires_grad
    if grad_fn or requires_grad:
        fail(tr("{name} should be a plain result without autograd history (requires_grad=False), but it "
                "still has requires_grad=True{grad_fn} — return `.detach()`-ed tensors", name=name,
                grad_fn=f" ({grad_fn})" if grad_fn else ""))


def has_grad_fn(value: torch.Tensor, name: str) -> None:
    """The result keeps its autograd graph (e.g. a loss you can call .backward() on)."""
    __tracebackhide__ = True
    meta = getattr(value, REMOTE_META, None)
    grad_fn = meta.get("grad_fn") if meta else value.grad_fn
    if not grad_fn:
        fail(tr("{name} must stay connected to the autograd graph (so .backward() works), but it has no "
                "grad_fn — don't call .detach(), .item() or torch.tensor(...) on it", name=name))


def not_written(exc: BaseException) -> bool:
    """Whether `exc` is a stub's "not implemented yet" (not PyTorch's own NotImplementedError)."""
    return isinstance(exc, NotImplementedError) and bool(STUB_MESSAGE.match(str(exc)))


def raises(kind: type[Exception], call: str, function, *args, **kwargs) -> None:
    """`function(*args, **kwargs)` must raise `kind`; otherwise fail saying what happened instead."""
    __tracebackhide__ = True
    try:
        function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any other error is a wrong answer; say which
        if not_written(exc):
            raise  # show the stub's own message
        if isinstance(exc, kind):
            return
        fail(tr("{call} should raise {expected}, but it raised {actual}", call=call, expected=kind.__name__,
                actual=f"{type(exc).__name__}: {exc}"))
    fail(tr("{call} should raise {expected}, but it returned normally", call=call, expected=kind.__name__))



def _numel(shape: tuple) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def makes_no_forbidden_call(hw, task, function: str) -> None:
    """`function` (in its module's source, never run) makes none of the calls grading.yml's
    ``forbidden:`` rules out for it in `task`, and one of those its ``must_call`` asks for; the
    message says where and why."""
    __tracebackhide__ = True
    from . import forbidden, i18n

    rule = task.forbidden[function]
    source = hw.source(rule.module)
    why = rule.why_ru if i18n.language() == "ru" and rule.why_ru else rule.why
    found = forbidden.uses(source, function, rule.calls)
    if found:
        use = found[0]
        how = f" ({use.how})" if use.how else ""
        fail(tr("{function} uses {call}{how} (line {line}), which this task does not allow: {why}",
                function=function, call=use.name, how=how, line=use.line, why=why))
    if rule.must_call and not forbidden.calls_any(source, function, rule.must_call):
        fail(tr("{function} never calls {calls} — {why}", function=function,
                calls=tr(" or ").join(rule.must_call), why=why))

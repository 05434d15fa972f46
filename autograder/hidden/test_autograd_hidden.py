"""Hidden tests for Task 2 — autograd: the student's answers against the reference solution.

Inputs differ from the public tests: seeded random float64 values, 0-dim and higher-rank
tensors for the element-wise functions, non-contiguous inputs, inputs that already carry a
``.grad``, a 2-D weight matrix for the linear model, batch sizes that do not divide N.
Expected values come from the reference (``solutions/``) and, where there is one, from the
closed-form formula too.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd.gradcheck import GradcheckError

from solutions import homework_autograd as ref
from hwkit import checks, probes
from hwkit.i18n import tr
from tests.test_autograd import (SIMPLE_HINTS, _linear_hint, accumulation_mistakes, relu_gradcheck,
                                 second_derivative_call)

pytestmark = pytest.mark.task2

F64 = {"rtol": 1e-9, "atol": 1e-10}
F32 = {"rtol": 1e-5, "atol": 1e-6}
TOL = {torch.float64: F64, torch.float32: F32}


def _randn(shape: tuple, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _leaf(t: torch.Tensor, grad: torch.Tensor | None = None) -> torch.Tensor:
    """A leaf copy that requires grad, optionally with a .grad already there (left by the caller)."""
    leaf = t.detach().clone().requires_grad_(True)
    if grad is not None:
        leaf.grad = grad.clone()
    return leaf


def _seed(case: str) -> int:
    return sum(map(ord, case))


def _compare(result: dict, expected: dict, name: str, tol: dict, hint, where: str = "") -> None:
    """Every entry against the reference; one failure names every wrong entry."""
    __tracebackhide__ = True
    result = checks.mapping(result, name, list(expected))
    wrong = checks.Entries(name + where)
    for key, value in expected.items():
        with wrong.entry(key):
            checks.close(result[key], value.detach(), f'{name}["{key}"]{where}', **tol, hint=hint(key))
            checks.detached(result[key], f'{name}["{key}"]')
    wrong.report()


# -- 2.1 simple gradients ------------------------------------------------------------------------------

SIMPLE_CASES = {
    # name: (shape, dtype, inputs require grad and carry a .grad, non-contiguous)
    "0-dim-float64": ((), torch.float64, False, False),
    "vector-float64": ((5,), torch.float64, False, False),
    "2x3-float32": ((2, 3), torch.float32, False, False),
    "grad-already-set": ((4,), torch.float64, True, False),
    "transposed-3x2": ((2, 3), torch.float64, False, True),
}


def _simple_inputs(case: str):
    shape, dtype, with_grad, transposed = SIMPLE_CASES[case]
    seed = _seed(case)
    xyz = [_randn(shape, seed + i, dtype) for i in range(3)]
    if transposed:
        xyz = [v.T for v in xyz]
    if with_grad:
        xyz = [_leaf(v, torch.full_like(v, 0.5)) for v in xyz]
    return xyz


@pytest.mark.value
@pytest.mark.parametrize("function", ["simple_gradients", "analytic_simple_gradients"])
@pytest.mark.parametrize("case", list(SIMPLE_CASES))
def test_simple_gradients_match_reference(hw, case, function):
    x, y, z = _simple_inputs(case)
    before = checks.snapshot(x, y, z)
    result = getattr(hw.autograd, function)(x, y, z)
    checks.unchanged((x, y, z), before, ("x", "y", "z"))
    expected = ref.analytic_simple_gradients(x.detach(), y.detach(), z.detach())
    _compare(result, expected, f"{function}(x, y, z)", TOL[x.dtype], SIMPLE_HINTS.get,
             tr(" for inputs of shape {shape} and dtype {dtype}", shape=tuple(x.shape), dtype=x.dtype))


# -- 2.2 loss function -----------------------------------------------------------------------------

MSE_CASES = {
    "3x4x2-float64": lambda: (_randn((3, 4, 2), 1), _randn((3, 4, 2), 2)),
    "0-dim": lambda: (torch.tensor(1.5, dtype=torch.float64), torch.tensor(-0.5, dtype=torch.float64)),
    "y_true-requires-grad": lambda: (_randn((6,), 3), _leaf(_randn((6,), 4))),
    "both-require-grad": lambda: (_leaf(_randn((2, 5), 5)), _leaf(_randn((2, 5), 6))),
}


@pytest.mark.value
@pytest.mark.parametrize("case", list(MSE_CASES))
def test_mse_matches_reference(hw, case):
    y_pred, y_true = MSE_CASES[case]()
    before = checks.snapshot(y_pred, y_true)
    loss = hw.autograd.mse(y_pred, y_true)
    checks.unchanged((y_pred, y_true), before, ("y_pred", "y_true"))
    checks.close(loss, ref.mse(y_pred.detach(), y_true.detach()), "mse(y_pred, y_true)", **F64)
    if y_pred.requires_grad or y_true.requires_grad:
        checks.has_grad_fn(loss, "mse(y_pred, y_true) when an input requires grad")


@pytest.mark.parametrize("shapes", [((3,), (1, 3)), ((2, 3), (3, 2)), ((5, 1), (5,))],
                         ids=["3-vs-1x3", "2x3-vs-3x2", "5x1-vs-5"])
def test_mse_rejects_mismatched_shapes_hidden(hw, shapes):
    checks.raises(ValueError, tr("mse(y_pred, y_true) for shapes {a} and {b}", a=shapes[0], b=shapes[1]),
                 hw.autograd.mse, torch.zeros(shapes[0]), torch.zeros(shapes[1]))


LINEAR_CASES = {
    # name: (N, D, K or None for a vector w, b's shape, inputs require grad)
    "vector-w-0dim-b": (7, 4, None, (), False),
    "matrix-w-K-bias": (7, 4, 3, (3,), False),
    "matrix-w-1-bias": (5, 2, 4, (1,), False),
    "matrix-w-0dim-bias": (6, 3, 2, (), False),
    "N=1": (1, 5, None, (1,), False),
    "requires-grad-with-grad": (8, 3, 2, (2,), True),
}


def _linear_inputs(case: str):
    n, d, k, b_shape, requires_grad = LINEAR_CASES[case]
    seed = _seed(case)
    out_shape = (n,) if k is None else (n, k)
    x = _randn((n, d), seed)
    w = _randn((d,) if k is None else (d, k), seed + 1)
    b = _randn(b_shape, seed + 2)
    y_true = _randn(out_shape, seed + 3)
    if requires_grad:
        w, b = _leaf(w, torch.ones_like(w)), _leaf(b, torch.ones_like(b))
        x = _leaf(x)
    return x, w, b, y_true


@pytest.mark.value
@pytest.mark.parametrize("function", ["linear_mse_gradients", "analytic_linear_mse_gradients"])
@pytest.mark.parametrize("case", list(LINEAR_CASES))
def test_linear_mse_gradients_match_reference(hw, case, function):
    x, w, b, y_true = _linear_inputs(case)
    before = checks.snapshot(x, w, b, y_true)
    result = getattr(hw.autograd, function)(x, w, b, y_true)
    checks.unchanged((x, w, b, y_true), before, ("x", "w", "b", "y_true"))
    expected = ref.linear_mse_gradients(*(t.detach().clone() for t in (x, w, b, y_true)))
    _compare(result, expected, f"{function}(x, w, b, y_true)", F64, _linear_hint,
             tr(" for w of shape {w} and b of shape {b}", w=tuple(w.shape), b=tuple(b.shape)))


# -- 2.3 chain rule ------------------------------------------------------------------------------------

CHAIN_CASES = {
    "0-dim-float64": lambda: _randn((), 11),
    "7-float64": lambda: _randn((7,), 12),
    "2x3x4-float32": lambda: _randn((2, 3, 4), 13, torch.float32),
    "transposed": lambda: _randn((4, 3), 14).T,
    "grad-already-set": lambda: _leaf(_randn((5,), 15), torch.arange(5.0, dtype=torch.float64)),
    "requires-grad": lambda: _leaf(_randn((2, 2), 16)),
}


@pytest.mark.value
@pytest.mark.parametrize("function", ["chain_rule_backward", "chain_rule_autograd_grad", "chain_rule_analytic"])
@pytest.mark.parametrize("case", list(CHAIN_CASES))
def test_chain_rule_matches_reference(hw, case, function):
    x = CHAIN_CASES[case]()
    before = checks.snapshot(x)
    result = getattr(hw.autograd, function)(x)
    checks.unchanged((x,), before, ("x",))
    expected = ref.chain_rule_analytic(x.detach())
    name = tr("{function}(x) for x of shape {shape} and dtype {dtype}", function=function, shape=tuple(x.shape),
              dtype=x.dtype)
    checks.close(result, expected, name, **TOL[x.dtype],
                 hint=tr("d/dx sin(x**2 + 1) = cos(x**2 + 1) * 2x, element by element"))
    checks.detached(result, name)


# -- 2.4 CustomReLU -----------------------------------------------------------------------------------

def _away_from_zero(shape: tuple, seed: int) -> torch.Tensor:
    """float64 values with |v| >= 0.2, so finite differences never straddle the kink."""
    t = _randn(shape, seed)
    return torch.where(t >= 0, t + 0.2, t - 0.2)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2), ()], ids=["3x4", "2x3x2", "0-dim"])
def test_custom_relu_gradcheck_hidden(hw, shape):
    relu = hw.autograd_function("CustomReLU", "autograd")
    x = _away_from_zero(shape, _seed(str(shape))).requires_grad_(True)
    try:
        relu_gradcheck(relu, x)
    except GradcheckError as exc:
        checks.fail(tr("torch.autograd.gradcheck disagrees with CustomReLU.backward: return "
                       "grad_output * (input > 0).") + f"\n{exc}")


@pytest.mark.value
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_custom_relu_matches_torch_relu_hidden(hw, dtype):
    relu = hw.autograd_function("CustomReLU", "autograd")
    values = _randn((4, 5), 21, dtype)
    values[0, :3] = 0.0  # exact zeros: the gradient there must be 0, like torch.relu
    grad_out = _randn((4, 5), 22, dtype)
    x = _leaf(values)
    y = relu(x)
    checks.close(y, torch.relu(values), "CustomReLU.apply(x)", rtol=0.0, atol=0.0)
    wrong = {tr("it passes the gradient through at input == 0 (`input >= 0`) — like torch.relu, use 0 there: "
                "input > 0"): grad_out * (values >= 0)}
    y.backward(grad_out)
    x_ref = _leaf(values)
    torch.relu(x_ref).backward(grad_out)
    checks.close(x.grad, x_ref.grad, tr("the gradient of CustomReLU"), rtol=0.0, atol=0.0,
                 hint=tr("grad_output where input > 0, and 0 where input <= 0 (0 at input == 0 too)"), mistakes=wrong)
    checks.close(x.detach(), values, tr("x after CustomReLU.apply(x)"), rtol=0.0, atol=0.0,
                 hint=tr("forward must not modify its input in place — return input.clamp(min=0)"))


@pytest.mark.value
def test_custom_relu_inside_a_bigger_graph(hw):
    relu = hw.autograd_function("CustomReLU", "autograd")
    values = _randn((6,), 23)
    x = _leaf(values)
    (relu(x * 2 - 0.5) * torch.arange(1.0, 7.0, dtype=torch.float64)).sum().backward()
    x_ref = _leaf(values)
    (torch.relu(x_ref * 2 - 0.5) * torch.arange(1.0, 7.0, dtype=torch.float64)).sum().backward()
    checks.close(x.grad, x_ref.grad, "the gradient through CustomReLU inside a larger expression", **F64)


@pytest.mark.value
def test_custom_relu_non_contiguous_input(hw):
    relu = hw.autograd_function("CustomReLU", "autograd")
    x = _randn((3, 4), 24).T
    before = checks.snapshot(x)
    y = relu(x)
    checks.unchanged((x,), before, ("x",))
    checks.close(y, torch.relu(x), "CustomReLU.apply(x) for a transposed x", rtol=0.0, atol=0.0)


# -- 2.5 second derivatives ----------------------------------------------------------------------

def _second(name: str, x: torch.Tensor) -> torch.Tensor:
    """f''(x) worked out by hand (the same formulas as the public tests)."""
    x = x.detach()
    u = x**2 + 1
    t = torch.tanh(x)
    return {
        "cube": lambda: 6 * x,
        "sin": lambda: -torch.sin(x),
        "exp": lambda: torch.exp(x),
        "sin_of_square": lambda: 2 * torch.cos(u) - 4 * x**2 * torch.sin(u),
        "tanh": lambda: -2 * t * (1 - t**2),
        "log1p_square": lambda: (2 - 2 * x**2) / (1 + x**2) ** 2,
    }[name]()


SECOND_INPUTS = {
    "0-dim": lambda: torch.tensor(0.7, dtype=torch.float64),
    "2x3": lambda: _randn((2, 3), 31),
    "grad-already-set": lambda: _leaf(_randn((4,), 32), torch.ones(4, dtype=torch.float64)),
}


@pytest.mark.value
@pytest.mark.parametrize("inputs", list(SECOND_INPUTS))
@pytest.mark.parametrize("name", list(probes.ELEMENTWISE))
def test_second_derivative_matches_reference(hw, name, inputs):
    x = SECOND_INPUTS[inputs]()
    before = checks.snapshot(x)
    result = second_derivative_call(hw.autograd.second_derivative, "second_derivative(f, x)",
                                    probes.Elementwise(name), x)
    checks.unchanged((x,), before, ("x",))
    call = tr("second_derivative(f, x) for f = {name} and x of shape {shape}", name=name, shape=tuple(x.shape))
    checks.close(result, _second(name, x), call, rtol=1e-8, atol=1e-10,
                 hint=tr("call torch.autograd.grad twice; the first call needs create_graph=True"),
                 mistakes={tr("it is all zeros — the first derivative was taken without create_graph=True, "
                              "so it has no graph to differentiate a second time"): torch.zeros_like(x.detach())})
    checks.close(result, ref.second_derivative(probes.ELEMENTWISE[name], x.detach()), call, rtol=1e-8, atol=1e-10)
    checks.detached(result, call)


HESSIAN_CASES = {
    "5x4": lambda: (_randn((5, 4), 41), _randn((4,), 42)),
    "2x6-wide": lambda: (_randn((2, 6), 43), _randn((6,), 44)),
    "1x1": lambda: (_randn((1, 1), 45), _randn((1,), 46)),
    "w-requires-grad": lambda: (_randn((3, 3), 47), _leaf(_randn((3,), 48), torch.ones(3, dtype=torch.float64))),
}


@pytest.mark.value
@pytest.mark.parametrize("case", list(HESSIAN_CASES))
def test_quadratic_form_hessian_matches_reference(hw, case):
    X, w = HESSIAN_CASES[case]()
    before = checks.snapshot(X, w)
    result = second_derivative_call(hw.autograd.quadratic_form_hessian, "quadratic_form_hessian(X, w)", X, w)
    checks.unchanged((X, w), before, ("X", "w"))
    name = tr("quadratic_form_hessian(X, w) for X of shape {shape}", shape=tuple(X.shape))
    checks.close(result, 2 * X.T @ X, name, **F64, hint=tr("the Hessian of w @ X.T @ X @ w is 2 * X.T @ X"))
    checks.close(result, ref.quadratic_form_hessian(X.detach(), w.detach()), name, **F64)
    checks.detached(result, name)


@pytest.mark.parametrize("X_shape, w_shape", [((5, 4), (5,)), ((5, 4), ()), ((2, 3, 4), (4,))],
                         ids=["w-length-N", "w-0-dim", "X-3-D"])
def test_quadratic_form_hessian_rejects_bad_shapes_hidden(hw, X_shape, w_shape):
    checks.raises(ValueError, tr("quadratic_form_hessian(X, w) for X of shape {X_shape} and w of shape {w_shape} "
                                 "(X must be (N, D) and w (D,))", X_shape=X_shape, w_shape=w_shape),
                  hw.autograd.quadratic_form_hessian, torch.ones(X_shape), torch.ones(w_shape))


# -- 2.6 gradient accumulation ---------------------------------------------------------------------

ACCUMULATION_CASES = {
    # name: (N, D, batch_size)
    "N=13,b=1": (13, 4, 1),
    "N=13,b=5": (13, 4, 5),       # batches of 5, 5, 3
    "N=13,b=6": (13, 4, 6),       # batches of 6, 6, 1
    "N=13,b=13": (13, 4, 13),
    "N=13,b=20": (13, 4, 20),
    "N=7,b=3": (7, 2, 3),
    "N=1,b=4": (1, 3, 4),
}


@pytest.mark.value
@pytest.mark.parametrize("case", list(ACCUMULATION_CASES))
def test_accumulated_gradient_matches_reference(hw, case):
    n, d, batch_size = ACCUMULATION_CASES[case]
    seed = _seed(case)
    X, y, w = _randn((n, d), seed), _randn((n,), seed + 1), _randn((d,), seed + 2)
    before = checks.snapshot(X, y, w)
    result = hw.autograd.accumulated_gradient(X, y, w, batch_size)
    checks.unchanged((X, y, w), before, ("X", "y", "w"))
    name = tr("accumulated_gradient(X, y, w, batch_size={batch_size}) with N={rows} rows", batch_size=batch_size,
              rows=n)
    full = 2.0 / n * X.T @ (X @ w - y)
    checks.close(result, full, name, **F64,
                 hint=tr("weight each mini-batch's mean loss by (rows in the batch / N) before calling "
                         ".backward(), so that the accumulated sum equals the full-batch gradient"),
                 mistakes=accumulation_mistakes(X, y, w, batch_size) if batch_size < n else {})
    checks.close(result, ref.accumulated_gradient(X, y, w, batch_size), name, **F64)
    checks.detached(result, name)


def test_accumulated_gradient_leaves_existing_grad_alone(hw):
    X, y = _randn((9, 3), 51), _randn((9,), 52)
    w = _leaf(_randn((3,), 53), torch.full((3,), 7.0, dtype=torch.float64))
    before = checks.snapshot(X, y, w)
    result = hw.autograd.accumulated_gradient(X, y, w, 4)
    checks.unchanged((X, y, w), before, ("X", "y", "w"))
    checks.close(result, ref.accumulated_gradient(X, y, w.detach(), 4),
                 tr("accumulated_gradient(X, y, w, 4) for a w that already has a .grad"), **F64,
                 hint=tr("weight each mini-batch's mean loss by (rows in the batch / N) before .backward(), "
                         "and accumulate into a private leaf copy of w, never into the caller's w.grad"))


@pytest.mark.parametrize("batch_size", [0, -1, -100])
def test_accumulated_gradient_rejects_bad_batch_size_hidden(hw, batch_size):
    X, y, w = _randn((5, 2), 61), _randn((5,), 62), _randn((2,), 63)
    checks.raises(ValueError, tr("accumulated_gradient(X, y, w, batch_size={batch_size})", batch_size=batch_size),
                 hw.autograd.accumulated_gradient, X, y, w, batch_size)

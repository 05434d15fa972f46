"""Public tests for Task 2 — autograd (homework_autograd.py).

Run them with ``pytest -m task2``. The expected answers for the tests' inputs are stored in
``tests/snapshots/test_autograd.json`` (read through the ``expected`` fixture), a few are
worked examples written out here, and some are properties that need no answer at all (the
gradient of ``CustomReLU`` against ``torch.relu`` and ``torch.autograd.gradcheck``). Besides
the values, the tests check the general rules of the task: your functions never change the
caller's tensors (values, ``requires_grad``, ``.grad``) and return detached results — except
``mse``, which is a loss and keeps its autograd history.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd.gradcheck import GradcheckError

from hwkit import checks, probes
from hwkit.i18n import tr

pytestmark = pytest.mark.task2

# float32 results of the same formula computed in a different order differ by a few ulps.
F32 = {"rtol": 1e-5, "atol": 1e-6}
# sums over mini-batches / second derivatives in float32 collect a little more rounding.
F32_LOOSE = {"rtol": 1e-4, "atol": 1e-5}


def _leaves(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Copies of the caller's tensors that require grad (what a student may pass in too)."""
    return tuple(t.detach().clone().requires_grad_(True) for t in tensors)


# -- 2.1 simple gradients --------------------------------------------------------------------------

def _xyz(case: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if case == "vectors":
        return (torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.5, 0.25, -2.0]),
                torch.tensor([-0.5, 3.0, 1.0]))
    x, y, z = torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0)
    return _leaves(x, y, z) if case == "requires_grad" else (x, y, z)


SIMPLE_HINTS = {  # formulas: the same in every language
    "f": "f = x**2 + y**2 + z**2 + 2*x*y*z",
    "df_dx": "df/dx = 2x + 2yz",
    "df_dy": "df/dy = 2y + 2xz",
    "df_dz": "df/dz = 2z + 2xy",
}
SIMPLE_CASES = ["scalars", "vectors", "requires_grad"]


def _check_entries(result: dict, want: dict[str, torch.Tensor], name: str, hints, mistakes=None) -> None:
    """Every entry of a dict result against its expected value, detached; one failure names every
    wrong entry."""
    __tracebackhide__ = True
    wrong = checks.Entries(name)
    for key, value in want.items():
        with wrong.entry(key):
            checks.close(result[key], value, f'{name}["{key}"]', **F32, hint=hints(key),
                         mistakes=mistakes(key) if mistakes else None)
            checks.detached(result[key], f'{name}["{key}"]')
    wrong.report()


def _check_simple(hw, function: str, case: str, expected) -> None:
    __tracebackhide__ = True
    x, y, z = _xyz(case)
    before = checks.snapshot(x, y, z)
    name = f"{function}(x, y, z)"
    result = checks.mapping(getattr(hw.autograd, function)(x, y, z), name, list(SIMPLE_HINTS))
    checks.unchanged((x, y, z), before, ("x", "y", "z"))
    want = expected(f"{function}[{case}]", {key: result[key] for key in SIMPLE_HINTS})
    _check_entries(result, want, name, SIMPLE_HINTS.get)


@pytest.mark.value
@pytest.mark.parametrize("case", SIMPLE_CASES)
def test_simple_gradients(hw, expected, case):
    _check_simple(hw, "simple_gradients", case, expected)


@pytest.mark.value
@pytest.mark.parametrize("case", SIMPLE_CASES)
def test_analytic_simple_gradients(hw, expected, case):
    _check_simple(hw, "analytic_simple_gradients", case, expected)


@pytest.mark.value
def test_simple_gradients_known_values(hw):
    # The worked example: at (1, 2, 3), f = 26 and the gradient is (14, 10, 10).
    name = "simple_gradients(1, 2, 3)"
    result = checks.mapping(
        hw.autograd.simple_gradients(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0)), name,
        list(SIMPLE_HINTS))
    want = {"f": torch.tensor(26.0), "df_dx": torch.tensor(14.0), "df_dy": torch.tensor(10.0),
            "df_dz": torch.tensor(10.0)}
    _check_entries(result, want, name, SIMPLE_HINTS.get)


# -- 2.2 loss function -------------------------------------------------------------------------------

@pytest.mark.value
def test_mse_value(hw):
    y_pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    y_true = torch.tensor([[1.0, 4.0], [2.0, 0.0]])
    checks.close(hw.autograd.mse(y_pred, y_true), torch.tensor(5.25), "mse(y_pred, y_true)", **F32,
                 hint=tr("the MEAN over all elements of (y_pred - y_true) ** 2"),
                 mistakes={tr("it is the SUM of the squared errors — the mean squared error divides by the "
                              "number of elements: ((y_pred - y_true) ** 2).mean()"): torch.tensor(21.0),
                           tr("it is the mean of the absolute errors — square the differences: "
                              "(y_pred - y_true) ** 2"): torch.tensor(1.75)})


def test_mse_keeps_autograd_history(hw):
    (y_pred,) = _leaves(torch.tensor([0.5, -1.0, 2.0]))
    y_true = torch.tensor([1.0, 1.0, 1.0])
    before = checks.snapshot(y_pred, y_true)
    loss = hw.autograd.mse(y_pred, y_true)
    checks.unchanged((y_pred, y_true), before, ("y_pred", "y_true"))
    # (0.25 + 4 + 1) / 3 = 1.75
    checks.close(loss, torch.tensor(1.75), "mse(y_pred, y_true)", **F32)
    checks.has_grad_fn(loss, "mse(y_pred, y_true) with y_pred.requires_grad=True")


def test_mse_rejects_mismatched_shapes(hw):
    # (4, 1) against (4,) would broadcast to a 4 x 4 comparison: a classic silent bug.
    checks.raises(ValueError, tr("mse(y_pred, y_true) for shapes (4, 1) and (4,)"),
                 hw.autograd.mse, torch.zeros(4, 1), torch.zeros(4))


LINEAR_CASES = {
    # name: a function building fresh (x, w, b, y_true) for every test
    "notebook": lambda: (torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([0.5, 0.5]),
                         torch.tensor([1.0]), torch.tensor([4.0, 1.0])),
    "0-dim-bias": lambda: (torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 2.0], [3.0, 1.0, -1.0]]),
                           torch.tensor([0.25, -0.5, 1.0]), torch.tensor(0.5),
                           torch.tensor([1.0, 2.0, -1.0])),
    "two-outputs": lambda: (torch.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]),
                            torch.tensor([[1.0, -1.0], [0.5, 2.0]]), torch.tensor([0.1, -0.2]),
                            torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, -2.0]])),
    "requires_grad": lambda: (torch.tensor([[2.0], [-1.0]]),
                              *_leaves(torch.tensor([1.0]), torch.tensor([0.0])),
                              torch.tensor([5.0, 0.5])),
}


LINEAR_KEYS = ["loss", "dw", "db"]


def _linear_hint(key: str) -> str:
    return {"loss": tr("the mean of (x @ w + b - y_true) ** 2 over all elements"),
            "dw": tr("dLoss/dw = x.T @ (2 * r / r.numel()) with r = x @ w + b - y_true; it has w's shape"),
            "db": tr("dLoss/db = 2 * r / r.numel() summed down to b's shape (e.g. r.sum_to_size(b.shape))")}[key]


def _linear_mistakes(want: dict[str, torch.Tensor]):
    """key -> the known wrong answers for that entry (computed from the right ones)."""
    def mistakes(key: str) -> dict[str, torch.Tensor]:
        if key in ("dw", "db"):
            return {tr("it is half the gradient — the derivative of r ** 2 is 2 * r: "
                       "grad_pred = 2 * r / r.numel()"): want[key] / 2}
        return {}
    return mistakes


def _check_linear(hw, function: str, case: str, expected) -> None:
    __tracebackhide__ = True
    x, w, b, y_true = LINEAR_CASES[case]()
    before = checks.snapshot(x, w, b, y_true)
    name = f"{function}(x, w, b, y_true)"
    result = checks.mapping(getattr(hw.autograd, function)(x, w, b, y_true), name, LINEAR_KEYS)
    checks.unchanged((x, w, b, y_true), before, ("x", "w", "b", "y_true"))
    want = expected(f"{function}[{case}]", {key: result[key] for key in LINEAR_KEYS})
    _check_entries(result, want, name, _linear_hint, _linear_mistakes(want))


@pytest.mark.value
@pytest.mark.parametrize("case", list(LINEAR_CASES))
def test_linear_mse_gradients(hw, expected, case):
    _check_linear(hw, "linear_mse_gradients", case, expected)


@pytest.mark.value
@pytest.mark.parametrize("case", list(LINEAR_CASES))
def test_analytic_linear_mse_gradients(hw, expected, case):
    _check_linear(hw, "analytic_linear_mse_gradients", case, expected)


@pytest.mark.value
def test_linear_mse_gradients_known_values(hw):
    # The notebook's example: loss = 7.25, dw = [9, 11], db = [2].
    x, w, b, y_true = LINEAR_CASES["notebook"]()
    name = "linear_mse_gradients(x, w, b, y_true)"
    result = checks.mapping(hw.autograd.linear_mse_gradients(x, w, b, y_true), name, LINEAR_KEYS)
    want = {"loss": torch.tensor(7.25), "dw": torch.tensor([9.0, 11.0]), "db": torch.tensor([2.0])}
    _check_entries(result, want, name, _linear_hint, _linear_mistakes(want))


# -- 2.3 chain rule ---------------------------------------------------------------------------------

CHAIN_INPUTS = {
    "x=[2]": lambda: torch.tensor([2.0]),
    "0-dim": lambda: torch.tensor(-0.75),
    "2x3": lambda: torch.tensor([[0.0, 0.5, -1.0], [1.5, -2.0, 0.25]]),
    "requires_grad": lambda: torch.tensor([0.3, -1.2, 2.5]).requires_grad_(True),
}
CHAIN_FUNCTIONS = ["chain_rule_backward", "chain_rule_autograd_grad", "chain_rule_analytic"]


@pytest.mark.value
@pytest.mark.parametrize("function", CHAIN_FUNCTIONS)
@pytest.mark.parametrize("case", list(CHAIN_INPUTS))
def test_chain_rule(hw, expected, function, case):
    x = CHAIN_INPUTS[case]()
    before = checks.snapshot(x)
    result = getattr(hw.autograd, function)(x)
    checks.unchanged((x,), before, ("x",))
    name = f"{function}(x)"
    checks.close(result, expected(f"{function}[{case}]", result), name, **F32,
                 hint=tr("d/dx sin(x**2 + 1) = cos(x**2 + 1) * 2x, element by element"),
                 mistakes={tr("it is cos(x**2 + 1) without the inner derivative — the chain rule multiplies "
                              "by d/dx (x**2 + 1) = 2x"): torch.cos(x.detach() ** 2 + 1)})
    checks.detached(result, name)


@pytest.mark.value
def test_chain_rule_known_value(hw):
    # The notebook's example: at x = 2 the derivative is cos(5) * 4 = 1.13465.
    result = hw.autograd.chain_rule_backward(torch.tensor([2.0]))
    checks.close(result, torch.tensor([1.1346487998962402]), "chain_rule_backward(tensor([2.]))", **F32)


# -- 2.4 CustomReLU ----------------------------------------------------------------------------------

@pytest.mark.value
def test_custom_relu_forward_matches_torch_relu(hw):
    relu = hw.autograd_function("CustomReLU", "autograd")
    x = torch.tensor([[-2.0, -0.5, 0.0], [0.5, 3.0, -1e-3]])
    before = checks.snapshot(x)
    y = relu(x)
    checks.unchanged((x,), before, ("x",))
    checks.close(y, torch.relu(x), "CustomReLU.apply(x)", rtol=0.0, atol=0.0,
                 hint=tr("forward must return max(input, 0) element-wise, e.g. input.clamp(min=0)"))


@pytest.mark.value
def test_custom_relu_backward_matches_torch_relu(hw):
    relu = hw.autograd_function("CustomReLU", "autograd")
    values = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0])
    grad_out = torch.tensor([1.0, -2.0, 3.0, -4.0, 5.0])  # signs vary: a mask from grad_output shows
    (x,) = _leaves(values)
    relu(x).backward(grad_out)
    (x_ref,) = _leaves(values)
    torch.relu(x_ref).backward(grad_out)
    checks.close(x.grad, x_ref.grad, tr("the gradient of CustomReLU"), rtol=0.0, atol=0.0,
                 hint=tr("backward must return grad_output where the input was > 0 and 0 elsewhere "
                         "(also 0 at input == 0, like torch.relu)"), mistakes=_relu_mistakes(values, grad_out))


def _relu_mistakes(values: torch.Tensor, grad_out: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        tr("it is relu(grad_output) — backward masked the gradient by its own sign; the mask comes from "
           "the forward INPUT: grad_output * (input > 0)"): grad_out.clamp(min=0),
        tr("it passes the gradient through at input == 0 (`input >= 0`) — like torch.relu, use 0 there: "
           "input > 0"): grad_out * (values >= 0),
        tr("it is grad_output unchanged — backward must zero it where the input was <= 0"): grad_out,
        tr("it is grad_output * relu(input) — multiply by the mask (input > 0), not by the forward's "
           "output"): grad_out * values.clamp(min=0),
    }


def relu_gradcheck(relu, x: torch.Tensor) -> None:
    """torch.autograd.gradcheck of an elementwise function, once one call has the input's shape
    and dtype: gradcheck builds Jacobians of (input size x output size) numbers."""
    __tracebackhide__ = True
    checks.tensor(relu(x.detach()), "CustomReLU.apply(x)", shape=tuple(x.shape), dtype=x.dtype)
    torch.autograd.gradcheck(relu, (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_custom_relu_gradcheck(hw):
    relu = hw.autograd_function("CustomReLU", "autograd")
    # float64 and every input at least 0.1 away from the kink at 0, where relu is not differentiable.
    x = torch.tensor([[-1.5, -0.7, -0.2], [0.3, 0.9, 1.7]], dtype=torch.float64, requires_grad=True)
    try:
        relu_gradcheck(relu, x)
    except GradcheckError as exc:
        checks.fail(tr("torch.autograd.gradcheck disagrees with CustomReLU.backward: the gradient you return "
                       "is not the derivative of your forward — it must be grad_output * (input > 0)")
                    + f".\n{exc}")


# -- 2.5 second derivatives ------------------------------------------------------------------------

# What PyTorch says when a tensor to differentiate has no autograd graph.
NO_GRAPH = "does not require grad and does not have a grad_fn"


def second_derivative_call(function, call: str, *args) -> torch.Tensor:
    """`function(*args)` for a Task 2.5 function. PyTorch's "does not require grad" there is most
    often a first derivative computed without create_graph=True, which the second differentiation
    finds without a graph: the failure says so first, instead of the general explanation of that
    error (hwkit/explain.py), which is about the inputs."""
    __tracebackhide__ = True
    try:
        return function(*args)
    except RuntimeError as exc:
        if NO_GRAPH not in str(exc):
            raise
    checks.fail(tr("{call}: the first derivative must itself be differentiable — compute it with create_graph=True, "
                   "from a tensor that requires grad (PyTorch found no autograd graph to differentiate a second "
                   "time)", call=call))


def _second(name: str, at: torch.Tensor) -> torch.Tensor:
    """f''(x) worked out by hand for the probes' named functions."""
    x = at.detach()
    if name == "cube":
        return 6 * x
    if name == "sin":
        return -torch.sin(x)
    if name == "exp":
        return torch.exp(x)
    if name == "sin_of_square":
        u = x**2 + 1
        return 2 * torch.cos(u) - 4 * x**2 * torch.sin(u)
    if name == "tanh":
        t = torch.tanh(x)
        return -2 * t * (1 - t**2)
    if name == "log1p_square":
        return (2 - 2 * x**2) / (1 + x**2) ** 2
    raise KeyError(name)


SECOND_FORMULAS = {
    "cube": "t**3", "sin": "sin(t)", "exp": "exp(t)", "sin_of_square": "sin(t**2 + 1)",
    "tanh": "tanh(t)", "log1p_square": "log(1 + t**2)",
}


@pytest.mark.value
@pytest.mark.parametrize("name", ["cube", "sin", "sin_of_square", "tanh"])
def test_second_derivative(hw, name):
    x = torch.tensor([-1.5, -0.5, 0.0, 0.75, 2.0])
    before = checks.snapshot(x)
    result = second_derivative_call(hw.autograd.second_derivative, "second_derivative(f, x)",
                                    probes.Elementwise(name), x)
    checks.unchanged((x,), before, ("x",))
    call = f"second_derivative(f, x) for f(t) = {SECOND_FORMULAS[name]}"
    checks.close(result, _second(name, x), call, **F32_LOOSE,
                 hint=tr("differentiate twice with torch.autograd.grad; the first call needs create_graph=True"),
                 mistakes={tr("it is all zeros — the first derivative was taken without create_graph=True, "
                              "so it has no graph to differentiate a second time"): torch.zeros_like(x)})
    checks.detached(result, call)


def test_second_derivative_leaves_input_alone(hw):
    x = torch.tensor([0.5, 1.0, -2.0], requires_grad=True)
    before = checks.snapshot(x)
    result = second_derivative_call(hw.autograd.second_derivative, "second_derivative(f, x)",
                                    probes.Elementwise("cube"), x)
    checks.unchanged((x,), before, ("x",))
    checks.close(result, 6 * x.detach(), "second_derivative(f, x) for f(t) = t**3", **F32_LOOSE)
    checks.detached(result, "second_derivative(f, x)")


@pytest.mark.value
def test_quadratic_form_hessian(hw, expected):
    X = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [2.0, 0.0, -1.0], [1.0, 1.0, 1.0]])
    (w,) = _leaves(torch.tensor([0.5, -1.0, 2.0]))
    before = checks.snapshot(X, w)
    result = second_derivative_call(hw.autograd.quadratic_form_hessian, "quadratic_form_hessian(X, w)", X, w)
    checks.unchanged((X, w), before, ("X", "w"))
    checks.close(result, expected("quadratic_form_hessian[4x3]", result), "quadratic_form_hessian(X, w)", **F32,
                 hint=tr("the Hessian of w @ X.T @ X @ w is 2 * X.T @ X: differentiate the gradient "
                         "(computed with create_graph=True) once more, one row per component"),
                 mistakes={tr("it is X.T @ X, half the Hessian — the gradient of w @ A @ w is 2 * A @ w"): X.T @ X,
                           tr("it is all zeros — the gradient was computed without create_graph=True, so it "
                              "cannot be differentiated again"): torch.zeros(3, 3)})
    checks.detached(result, "quadratic_form_hessian(X, w)")


@pytest.mark.parametrize("X_shape, w_shape", [((4, 3), (4,)), ((4, 3), (3, 1)), ((12,), (3,))],
                         ids=["w-too-long", "w-2-D", "X-1-D"])
def test_quadratic_form_hessian_rejects_bad_shapes(hw, X_shape, w_shape):
    checks.raises(ValueError, tr("quadratic_form_hessian(X, w) for X of shape {X_shape} and w of shape {w_shape} "
                                 "(X must be (N, D) and w (D,))", X_shape=X_shape, w_shape=w_shape),
                  hw.autograd.quadratic_form_hessian, torch.ones(X_shape), torch.ones(w_shape))


def test_quadratic_form_hessian_builds_the_hessian_itself(hw, grading):
    # (written at all: a stub fails here)
    second_derivative_call(hw.autograd.quadratic_form_hessian, "quadratic_form_hessian(X, w)", torch.eye(2),
                           torch.ones(2))
    # grading.yml `forbidden:` names the ready-made Hessian functions this task rules out; the
    # source is read, not run.
    checks.makes_no_forbidden_call(hw, grading.tasks["task2"], "quadratic_form_hessian")


# -- 2.6 gradient accumulation ---------------------------------------------------------------------

def _regression(n: int = 10, d: int = 3):
    g = torch.Generator().manual_seed(2024)
    X = torch.randn(n, d, generator=g)
    y = torch.randn(n, generator=g)
    w = torch.randn(d, generator=g)
    return X, y, w


def accumulation_mistakes(X, y, w, batch_size: int) -> dict[str, torch.Tensor]:
    """What the usual slips of gradient accumulation give (wrong answers, computed from the
    closed form d/dw mean((Xb @ w - yb)**2) = 2/n * Xb.T @ (Xb @ w - yb) of one batch's gradient)."""
    batches = [(X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]
    unweighted = sum(2.0 / Xb.shape[0] * Xb.T @ (Xb @ w - yb) for Xb, yb in batches)
    return {
        tr("it is the SUM of the batches' mean-loss gradients — weight each batch's mean loss by "
           "(rows in the batch / N) before .backward()"): unweighted,
        tr("it is the average of the batches' gradients — a smaller last batch must count less: weight "
           "by (rows in the batch / N), not 1 / number of batches"): unweighted / len(batches),
    }


@pytest.mark.value
@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 10, 16],
                         ids=lambda b: f"batch_size={b}")
def test_accumulated_gradient_equals_full_batch(hw, expected, batch_size):
    X, y, w = _regression()
    before = checks.snapshot(X, y, w)
    result = hw.autograd.accumulated_gradient(X, y, w, batch_size)
    checks.unchanged((X, y, w), before, ("X", "y", "w"))
    name = tr("accumulated_gradient(X, y, w, batch_size={batch_size}) with N={rows} rows", batch_size=batch_size,
              rows=X.shape[0])
    hint = tr("the accumulated gradient must equal the full-batch gradient: weight each batch's mean loss by "
              "(rows in the batch / N) before .backward() — a smaller last batch counts less")
    mistakes = accumulation_mistakes(X, y, w, batch_size) if batch_size < X.shape[0] else {}
    checks.close(result, expected(f"accumulated_gradient[N=10,batch_size={batch_size}]", result), name,
                 **F32_LOOSE, hint=hint, mistakes=mistakes)
    checks.detached(result, name)


def test_accumulated_gradient_leaves_w_alone(hw, expected):
    X, y, w = _regression()
    (w,) = _leaves(w)
    before = checks.snapshot(X, y, w)
    result = hw.autograd.accumulated_gradient(X, y, w, 4)
    checks.unchanged((X, y, w), before, ("X", "y", "w"))
    # The same inputs as test_accumulated_gradient_equals_full_batch[batch_size=4], w requiring grad.
    checks.close(result, expected("accumulated_gradient[N=10,batch_size=4]", result),
                 "accumulated_gradient(X, y, w, 4)", **F32_LOOSE)


@pytest.mark.parametrize("batch_size", [0, -3])
def test_accumulated_gradient_rejects_bad_batch_size(hw, batch_size):
    X, y, w = _regression()
    checks.raises(ValueError, tr("accumulated_gradient(X, y, w, batch_size={batch_size})", batch_size=batch_size),
                 hw.autograd.accumulated_gradient, X, y, w, batch_size)

"""Task 2 — Automatic differentiation (autograd).

Fill in the body of every function below (each one currently raises
``NotImplementedError``).

General rules for EVERY function in this file (the tests check them):

1. Never modify the caller's tensors: no in-place operations on the
   arguments, and do not change their ``requires_grad`` flag.
2. Never leave anything in the caller's ``.grad``: after your function
   returns, ``x.grad`` of every argument ``x`` must be exactly what it was
   before (usually ``None``).
3. Returned tensors carry no autograd history — they are detached
   (``result.requires_grad`` is ``False``) — unless the docstring says
   otherwise (only ``mse`` keeps its history: it is a loss function).

The standard way to follow these rules is to differentiate with respect to
a private *leaf copy* of an argument instead of the argument itself::

    x_leaf = x.detach().clone().requires_grad_(True)
    y = some_function(x_leaf)
    y.sum().backward()          # the gradient lands in x_leaf.grad, not x.grad
    gradient = x_leaf.grad      # already detached

``.detach()`` cuts the copy off from the caller's graph, ``.clone()`` gives
it its own memory, and ``.requires_grad_(True)`` makes it a leaf whose
``.grad`` autograd fills in.
"""

from __future__ import annotations

from typing import Callable

import torch


# ----------------------------------------------------------------------------
# 2.1 Simple gradients
# ----------------------------------------------------------------------------

def simple_gradients(
    x: torch.Tensor, y: torch.Tensor, z: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Task 2.1 — Gradients of f = x^2 + y^2 + z^2 + 2xyz computed by autograd.

    Args:
        x, y, z: floating-point tensors of the same shape (often 0-dim, e.g.
            ``torch.tensor(1.0)``). ``f`` is applied element by element.

    Returns:
        A dict with the keys:

        * ``"f"``: the values of f, same shape as ``x``;
        * ``"df_dx"``, ``"df_dy"``, ``"df_dz"``: the partial derivatives of f
          at every element, each with the shape of ``x``.

        Compute the derivatives with ``.backward()`` on leaf copies of
        ``x``, ``y`` and ``z`` (see the module docstring). ``.backward()``
        needs a scalar, so call it on ``f.sum()`` when f is not 0-dim —
        because every element of f depends only on the elements of x, y and
        z at the same position, the gradient of the sum is exactly the
        element-wise derivative. All results are detached.

    Example:
        >>> g = simple_gradients(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0))
        >>> g["f"], g["df_dx"], g["df_dy"], g["df_dz"]
        (tensor(26.), tensor(14.), tensor(10.), tensor(10.))
    """
    xs, ys, zs = (v.detach().clone().requires_grad_(True) for v in (x, y, z))
    f = xs**2 + ys**2 + zs**2 + 2 * xs * ys * zs
    f.sum().backward()
    return {"f": f.detach(), "df_dx": xs.grad, "df_dy": ys.grad, "df_dz": zs.grad}


def analytic_simple_gradients(
    x: torch.Tensor, y: torch.Tensor, z: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Task 2.1 — The same four values as ``simple_gradients``, from formulas.

    Work out the partial derivatives of f = x^2 + y^2 + z^2 + 2xyz by hand
    (for example df/dx = 2x + 2yz) and evaluate them with ordinary tensor
    arithmetic — no autograd.

    Args:
        x, y, z: floating-point tensors of the same shape.

    Returns:
        A dict with the keys ``"f"``, ``"df_dx"``, ``"df_dy"`` and
        ``"df_dz"``, each a detached tensor with the shape of ``x``.
    """
    x, y, z = x.detach(), y.detach(), z.detach()
    return {
        "f": x**2 + y**2 + z**2 + 2 * x * y * z,
        "df_dx": 2 * x + 2 * y * z,
        "df_dy": 2 * y + 2 * x * z,
        "df_dz": 2 * z + 2 * x * y,
    }


# ----------------------------------------------------------------------------
# 2.2 Gradient of a loss function
# ----------------------------------------------------------------------------

def mse(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Task 2.2 — Mean squared error between predictions and targets.

    Args:
        y_pred: predictions, a floating-point tensor of any shape.
        y_true: targets, a tensor with exactly the same shape as ``y_pred``.

    Returns:
        The mean of ``(y_pred - y_true) ** 2`` over all elements, as a 0-dim
        tensor. This is a loss function, so it KEEPS its autograd history:
        do not detach the result (calling ``.backward()`` on it must reach
        ``y_pred``).

    Raises:
        ValueError: if the shapes differ. (Broadcasting, e.g. an (N, 1)
            prediction against an (N,) target, would silently compare every
            prediction with every target — a classic bug.)

    Example:
        >>> mse(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
        tensor(2.)
    """
    if y_pred.shape != y_true.shape:
        raise ValueError(
            f"y_pred and y_true must have the same shape, got {tuple(y_pred.shape)} "
            f"and {tuple(y_true.shape)}"
        )
    return ((y_pred - y_true) ** 2).mean()


def linear_mse_gradients(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, y_true: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Task 2.2 — Loss and gradients of a linear model, by autograd.

    The model is ``y_pred = x @ w + b`` and the loss is ``mse(y_pred, y_true)``.

    Args:
        x: inputs, shape (N, D).
        w: weights, shape (D,) (one output per row, ``y_pred`` has shape
           (N,)) or (D, K) (K outputs per row, ``y_pred`` has shape (N, K)).
        b: bias, broadcastable to ``y_pred``: shape (), (1,) or (K,).
        y_true: targets with the same shape as ``y_pred``.

    Returns:
        A dict with the keys:

        * ``"loss"``: the 0-dim loss;
        * ``"dw"``: dLoss/dw, with the shape of ``w``;
        * ``"db"``: dLoss/db, with the shape of ``b``.

        Compute them with ``.backward()`` on leaf copies of ``w`` and ``b``
        (see the module docstring); all three results are detached.

    Example:
        >>> x = torch.tensor([[2.0]])
        >>> g = linear_mse_gradients(x, torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([5.0]))
        >>> g["loss"], g["dw"], g["db"]
        (tensor(9.), tensor([-12.]), tensor([-6.]))
    """
    x, y_true = x.detach(), y_true.detach()
    w_leaf = w.detach().clone().requires_grad_(True)
    b_leaf = b.detach().clone().requires_grad_(True)
    loss = mse(x @ w_leaf + b_leaf, y_true)
    loss.backward()
    return {"loss": loss.detach(), "dw": w_leaf.grad, "db": b_leaf.grad}


def analytic_linear_mse_gradients(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, y_true: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Task 2.2 — The same loss and gradients as ``linear_mse_gradients``, by formula.

    With the residual ``r = y_pred - y_true`` and ``M = r.numel()`` (the
    number of elements the mean divides by), the loss is ``sum(r**2) / M``
    and its gradient with respect to ``y_pred`` is ``2 * r / M``. The chain
    rule then gives

    * ``dw = x.T @ (2 * r / M)`` — this works for both a (D,) and a (D, K) ``w``;
    * ``db`` = ``2 * r / M`` summed over every axis along which ``b`` was
      broadcast, so that it gets ``b``'s shape back (look at
      ``Tensor.sum_to_size``; careful with a 0-dim ``b``).

    No autograd: use plain tensor arithmetic.

    Args:
        x, w, b, y_true: as in ``linear_mse_gradients``.

    Returns:
        A dict with the keys ``"loss"`` (0-dim), ``"dw"`` (shape of ``w``) and
        ``"db"`` (shape of ``b``), all detached.
    """
    x, w, b, y_true = x.detach(), w.detach(), b.detach(), y_true.detach()
    residual = x @ w + b - y_true
    grad_pred = 2 * residual / residual.numel()
    return {
        "loss": (residual**2).mean(),
        "dw": x.T @ grad_pred,
        "db": grad_pred.sum_to_size(b.shape),
    }


# ----------------------------------------------------------------------------
# 2.3 The chain rule: d/dx sin(x^2 + 1)
# ----------------------------------------------------------------------------

def chain_rule_backward(x: torch.Tensor) -> torch.Tensor:
    """Task 2.3 — d/dx sin(x^2 + 1) element-wise, with ``.backward()``.

    Args:
        x: a floating-point tensor of any shape.

    Returns:
        A detached tensor shaped like ``x`` holding the derivative of
        sin(x^2 + 1) at every element. Use ``.backward()`` on a leaf copy of
        ``x``; ``x`` and ``x.grad`` must not change.

    Example:
        >>> chain_rule_backward(torch.tensor([2.0]))
        tensor([1.1346])
    """
    x_copy = x.detach().clone().requires_grad_(True)
    torch.sin(x_copy**2 + 1).sum().backward()
    return x_copy.grad


def chain_rule_autograd_grad(x: torch.Tensor) -> torch.Tensor:
    """Task 2.3 — The same derivative, with ``torch.autograd.grad``.

    ``torch.autograd.grad(outputs, inputs)`` RETURNS the gradients (as a
    tuple) instead of accumulating them into ``.grad``.

    Args:
        x: a floating-point tensor of any shape.

    Returns:
        A detached tensor shaped like ``x``; ``x.grad`` stays untouched.
    """
    x_copy = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.sin(x_copy**2 + 1).sum(), x_copy)
    return grad.detach()


def chain_rule_analytic(x: torch.Tensor) -> torch.Tensor:
    """Task 2.3 — The same derivative from the formula cos(x^2 + 1) * 2x.

    Args:
        x: a floating-point tensor of any shape.

    Returns:
        A detached tensor shaped like ``x`` (no autograd).
    """
    x = x.detach()
    return torch.cos(x**2 + 1) * 2 * x


# ----------------------------------------------------------------------------
# 2.4 A custom autograd Function
# ----------------------------------------------------------------------------

class CustomReLU(torch.autograd.Function):
    """Task 2.4 — ReLU written as a custom ``torch.autograd.Function``.

    ``relu(x) = max(x, 0)`` element-wise. Use it as ``CustomReLU.apply(x)``
    (never call ``forward`` directly); it must give the same values and the
    same gradients as ``torch.relu``, including gradient 0 at ``x == 0``.

    Example:
        >>> x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
        >>> CustomReLU.apply(x).sum().backward()
        >>> x.grad
        tensor([0., 0., 1.])
    """

    @staticmethod
    def forward(ctx, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (the PyTorch name)
        """Task 2.4 — Forward pass: return max(input, 0) element-wise.

        Save the INPUT for the backward pass with ``ctx.save_for_backward``
        and return a NEW tensor (for example ``input.clamp(min=0)``); never
        modify ``input`` in place.
        """
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        """Task 2.4 — Backward pass: the gradient with respect to ``input``.

        Read the saved input from ``ctx.saved_tensors``. The derivative of
        relu is 1 where ``input > 0`` and 0 where ``input <= 0``, so return
        ``grad_output`` where the input was positive and 0 elsewhere (same
        shape and dtype as ``grad_output``).
        """
        (saved_input,) = ctx.saved_tensors
        return grad_output.masked_fill(saved_input <= 0, 0)


# ----------------------------------------------------------------------------
# 2.5 Second derivatives
# ----------------------------------------------------------------------------

def second_derivative(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """Task 2.5 — The second derivative d^2f/dx^2 of an element-wise function.

    Args:
        f: a Python function that maps a tensor to a tensor of the SAME
           shape, element by element, for example ``torch.sin`` or
           ``lambda t: t**3``.
        x: a floating-point tensor of any shape.

    Returns:
        A detached tensor shaped like ``x`` with f''(x) at every element.
        Call ``torch.autograd.grad`` twice: the first call with
        ``create_graph=True`` so that the first derivative is itself part of
        a graph that can be differentiated again. (If f is linear or
        constant, its derivative may not depend on ``x`` at all; the answer
        is then zero.)

    Example:
        >>> second_derivative(lambda t: t**3, torch.tensor([1.0, 2.0]))
        tensor([ 6., 12.])
    """
    x_copy = x.detach().clone().requires_grad_(True)
    y = f(x_copy)
    if not y.requires_grad:
        return torch.zeros_like(x_copy).detach()
    (first,) = torch.autograd.grad(y.sum(), x_copy, create_graph=True)
    if not first.requires_grad:
        return torch.zeros_like(x_copy).detach()
    (second,) = torch.autograd.grad(first.sum(), x_copy)
    return second.detach()


def quadratic_form_hessian(X: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Task 2.5 — The Hessian of S(w) = w @ X.T @ X @ w, by autograd.

    Args:
        X: a matrix of shape (N, D).
        w: a vector of shape (D,).

    Returns:
        The (D, D) matrix of second derivatives H[i, j] = d^2 S / (dw_i dw_j),
        detached. Compute the gradient g = dS/dw with
        ``torch.autograd.grad(..., create_graph=True)``, then differentiate
        it once more: either one ``torch.autograd.grad`` call per component
        g[i] (pass ``retain_graph=True`` so the graph survives the repeated
        calls), or a single call with ``grad_outputs=torch.eye(D)`` and
        ``is_grads_batched=True``. ``torch.autograd.functional.hessian`` is
        NOT allowed here. (Check yourself: the answer equals 2 * X.T @ X.)

    Raises:
        ValueError: if X is not 2-D or w is not a vector of length X.shape[1].
    """
    if X.dim() != 2 or w.dim() != 1 or w.shape[0] != X.shape[1]:
        raise ValueError(
            f"X must be (N, D) and w must be (D,), got X.shape={tuple(X.shape)} "
            f"and w.shape={tuple(w.shape)}"
        )
    X = X.detach()
    w_leaf = w.detach().clone().requires_grad_(True)
    S = w_leaf @ X.T @ X @ w_leaf
    (grad,) = torch.autograd.grad(S, w_leaf, create_graph=True)
    rows = [
        torch.autograd.grad(grad[i], w_leaf, retain_graph=True)[0]
        for i in range(w_leaf.shape[0])
    ]
    return torch.stack(rows).detach()


# ----------------------------------------------------------------------------
# 2.6 Gradient accumulation
# ----------------------------------------------------------------------------

def accumulated_gradient(
    X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """Task 2.6 — The full-batch gradient, accumulated over mini-batches.

    The loss is L(w) = mean over all N rows of (X @ w - y)^2.

    Args:
        X: inputs, shape (N, D).
        y: targets, shape (N,).
        w: weights, shape (D,).
        batch_size: how many consecutive rows go into one mini-batch (an
            int >= 1); the last mini-batch may be smaller.

    Returns:
        dL/dw, detached, with the shape of ``w``. Compute it like this:
        make a leaf copy of ``w``; for each mini-batch of rows, compute that
        batch's mean squared error, multiply it by (rows in the batch / N),
        and call ``.backward()`` on it — once per batch, WITHOUT zeroing the
        gradient in between, so the gradients accumulate (add up) in the
        copy's ``.grad``. The weighting makes the sum equal to the gradient
        of the full-batch loss, which is how training with a large
        effective batch works when a whole batch does not fit in memory.

    Raises:
        ValueError: if ``batch_size < 1``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    X, y = X.detach(), y.detach()
    w_leaf = w.detach().clone().requires_grad_(True)
    n_rows = X.shape[0]
    for start in range(0, n_rows, batch_size):
        X_batch = X[start:start + batch_size]
        y_batch = y[start:start + batch_size]
        batch_loss = ((X_batch @ w_leaf - y_batch) ** 2).mean()
        (batch_loss * (X_batch.shape[0] / n_rows)).backward()
    if w_leaf.grad is None:  # no rows at all
        return torch.zeros_like(w_leaf).detach()
    return w_leaf.grad.detach()

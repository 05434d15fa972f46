"""Task 2 — Automatic differentiation (autograd).

Fill in the body of every function below (each one currently raises
``NotImplementedError``).

The tasks practise autograd as the lecture notes teach it: «PyTorch Basics:
Тензоры и Autograd» (sections «Продвинутый уровень: Autograd в действии» and
«Экспертный уровень: Динамические графы») and «Занятие 04. Введение в
PyTorch» (sections «Второе ключевое отличие — Autograd», «Аккумулирование
градиентов», «Копирование тензоров», «Продвинутое дифференцирование»).

General rules for EVERY function in this file (the tests check them):

1. The caller's tensors stay as they were: the same values (no in-place
   operations on the arguments) and the same ``requires_grad`` flag.
2. The caller's ``.grad`` stays as it was: after your function returns,
   ``x.grad`` of every argument ``x`` is exactly what it was before
   (usually ``None``) — also when ``x`` requires grad.
3. Returned tensors carry no autograd history (``result.requires_grad`` is
   ``False``) unless the docstring says otherwise (only ``mse`` keeps its
   history: it is a loss function).

How to differentiate while keeping to these rules is part of the exercise:
see «Копирование тензоров» and ``.detach()`` in the notes. When a rule is
broken, the failing test says which one and for which argument.
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

    Practises: ``.backward()`` and ``.grad`` — autograd computing partial
    derivatives (lecture «PyTorch Basics», §2.1 «Как работает
    автоматическое дифференцирование», §2.2 «Вычисление градиентов для
    сложных функций»).

    Args:
        x, y, z: floating-point tensors of the same shape (often 0-dim, e.g.
            ``torch.tensor(1.0)``), which may require grad. ``f`` is applied
            element by element.

    Returns:
        A dict with the keys:

        * ``"f"``: the values of f, same shape as ``x``;
        * ``"df_dx"``, ``"df_dy"``, ``"df_dz"``: the partial derivatives of f
          at every element, each with the shape of ``x``.

        The derivatives come from autograd, not from formulas (those are
        ``analytic_simple_gradients``). All four results are detached;
        ``x``, ``y``, ``z`` and their ``.grad`` stay as they were.

    Example:
        >>> g = simple_gradients(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0))
        >>> g["f"], g["df_dx"], g["df_dy"], g["df_dz"]
        (tensor(26.), tensor(14.), tensor(10.), tensor(10.))
    """
    raise NotImplementedError("Task 2.1: simple_gradients is not implemented yet")


def analytic_simple_gradients(
    x: torch.Tensor, y: torch.Tensor, z: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Task 2.1 — The same four values as ``simple_gradients``, from formulas.

    Practises: partial derivatives worked out by hand, the check on what
    autograd computes (lecture «PyTorch Basics», §2.2 «Вычисление
    градиентов для сложных функций»). Only ordinary tensor arithmetic on
    your formulas — no autograd.

    Args:
        x, y, z: floating-point tensors of the same shape.

    Returns:
        A dict with the keys ``"f"``, ``"df_dx"``, ``"df_dy"`` and
        ``"df_dz"``, each a detached tensor with the shape of ``x``, equal
        to what ``simple_gradients`` returns.
    """
    raise NotImplementedError("Task 2.1: analytic_simple_gradients is not implemented yet")


# ----------------------------------------------------------------------------
# 2.2 Gradient of a loss function
# ----------------------------------------------------------------------------

def mse(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Task 2.2 — Mean squared error between predictions and targets.

    Practises: a loss function as the end of the autograd graph (lecture
    «PyTorch Basics», «Практический пример: Линейная регрессия»).

    Args:
        y_pred: predictions, a floating-point tensor of any shape.
        y_true: targets, a tensor with exactly the same shape as ``y_pred``.

    Returns:
        The mean of ``(y_pred - y_true) ** 2`` over all elements, as a 0-dim
        tensor. This is a loss function, so it KEEPS its autograd history:
        when ``y_pred`` requires grad, ``.backward()`` on the result reaches
        ``y_pred``.

    Raises:
        ValueError: if the shapes differ. (Broadcasting, e.g. an (N, 1)
            prediction against an (N,) target, would silently compare every
            prediction with every target — a classic bug.)

    Example:
        >>> mse(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
        tensor(2.)
    """
    raise NotImplementedError("Task 2.2: mse is not implemented yet")


def linear_mse_gradients(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, y_true: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Task 2.2 — Loss and gradients of a linear model, by autograd.

    Practises: the gradients of a loss with respect to a model's parameters,
    the step of every training loop (lecture «PyTorch Basics», «Практический
    пример: Линейная регрессия»; «Занятие 04», «Второе ключевое отличие —
    Autograd»).

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

        The gradients come from autograd. All three results are detached;
        the arguments and their ``.grad`` stay as they were (also when
        ``w`` and ``b`` require grad).

    Example:
        >>> x = torch.tensor([[2.0]])
        >>> g = linear_mse_gradients(x, torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([5.0]))
        >>> g["loss"], g["dw"], g["db"]
        (tensor(9.), tensor([-12.]), tensor([-6.]))
    """
    raise NotImplementedError("Task 2.2: linear_mse_gradients is not implemented yet")


def analytic_linear_mse_gradients(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, y_true: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Task 2.2 — The same loss and gradients as ``linear_mse_gradients``, by formula.

    Practises: the chain rule by hand, the work autograd does for you
    («Занятие 04», «Зачем тогда уметь писать backward руками?»). Derive
    dLoss/dw and dLoss/db yourself and evaluate them with plain tensor
    arithmetic — no autograd.

    Args:
        x, w, b, y_true: as in ``linear_mse_gradients``, with every shape
            it accepts: a (D,) or (D, K) ``w``, and a ``b`` of shape (),
            (1,) or (K,) that is broadcast to ``y_pred``.

    Returns:
        A dict with the keys ``"loss"`` (0-dim), ``"dw"`` (shape of ``w``) and
        ``"db"`` (shape of ``b``), all detached, equal to what
        ``linear_mse_gradients`` returns.
    """
    raise NotImplementedError("Task 2.2: analytic_linear_mse_gradients is not implemented yet")


# ----------------------------------------------------------------------------
# 2.3 The chain rule: d/dx sin(x^2 + 1)
# ----------------------------------------------------------------------------

def chain_rule_backward(x: torch.Tensor) -> torch.Tensor:
    """Task 2.3 — d/dx sin(x^2 + 1) element-wise, with ``.backward()``.

    Practises: the chain rule as autograd applies it, and ``.backward()``
    for a function of a whole tensor («Занятие 04», «Второе ключевое
    отличие — Autograd»; lecture «PyTorch Basics», §2.2).

    Args:
        x: a floating-point tensor of any shape, which may require grad.

    Returns:
        A detached tensor shaped like ``x`` holding the derivative of
        sin(x^2 + 1) at every element. ``x`` and ``x.grad`` stay as they
        were.

    Example:
        >>> chain_rule_backward(torch.tensor([2.0]))
        tensor([1.1346])
    """
    raise NotImplementedError("Task 2.3: chain_rule_backward is not implemented yet")


def chain_rule_autograd_grad(x: torch.Tensor) -> torch.Tensor:
    """Task 2.3 — The same derivative, with ``torch.autograd.grad``.

    Practises: ``torch.autograd.grad``, which returns the gradients instead
    of accumulating them into ``.grad`` («Занятие 04», «Продвинутое
    дифференцирование»).

    Args:
        x: a floating-point tensor of any shape, which may require grad.

    Returns:
        A detached tensor shaped like ``x``, equal to
        ``chain_rule_backward(x)``. ``x`` and ``x.grad`` stay as they were.
    """
    raise NotImplementedError("Task 2.3: chain_rule_autograd_grad is not implemented yet")


def chain_rule_analytic(x: torch.Tensor) -> torch.Tensor:
    """Task 2.3 — The same derivative, from a formula you derive by hand.

    Practises: the chain rule on paper, (g(h(x)))' = g'(h(x)) * h'(x), to
    check autograd's answer. Ordinary tensor arithmetic — no autograd.

    Args:
        x: a floating-point tensor of any shape.

    Returns:
        A detached tensor shaped like ``x``, equal to
        ``chain_rule_backward(x)``.
    """
    raise NotImplementedError("Task 2.3: chain_rule_analytic is not implemented yet")


# ----------------------------------------------------------------------------
# 2.4 A custom autograd Function
# ----------------------------------------------------------------------------

class CustomReLU(torch.autograd.Function):
    """Task 2.4 — ReLU written as a custom ``torch.autograd.Function``.

    Practises: a function with a hand-written backward pass (lecture
    «PyTorch Basics», §3.1 «Пользовательские функции с autograd»; «Занятие
    04», «Зачем тогда уметь писать backward руками?»).

    ``relu(x) = max(x, 0)`` element-wise. It is used as ``CustomReLU.apply(x)``
    (``forward`` is never called directly) and gives the same values and the
    same gradients as ``torch.relu``, including gradient 0 at ``x == 0``.

    Example:
        >>> x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
        >>> CustomReLU.apply(x).sum().backward()
        >>> x.grad
        tensor([0., 0., 1.])
    """

    @staticmethod
    def forward(ctx, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (the PyTorch name)
        """Task 2.4 — Forward pass: max(input, 0) element-wise.

        Returns a new tensor with the shape and dtype of ``input``; ``input``
        itself stays unchanged. ``ctx`` is where the forward pass keeps what
        ``backward`` will need.
        """
        raise NotImplementedError("Task 2.4: CustomReLU.forward is not implemented yet")

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        """Task 2.4 — Backward pass: the gradient with respect to ``input``.

        Given ``grad_output`` (the gradient of the final result with respect
        to this function's output), returns the gradient with respect to
        ``input``: the shape and dtype of ``grad_output``, and the same values
        as autograd gives for ``torch.relu`` (relu's derivative is taken as 0
        at ``input == 0``).
        """
        raise NotImplementedError("Task 2.4: CustomReLU.backward is not implemented yet")


# ----------------------------------------------------------------------------
# 2.5 Second derivatives
# ----------------------------------------------------------------------------

def second_derivative(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """Task 2.5 — The second derivative d^2f/dx^2 of an element-wise function.

    Practises: higher-order derivatives — differentiating a derivative
    (lecture «PyTorch Basics», §3.2 «Градиенты второго порядка»; «Занятие
    04», «Продвинутое дифференцирование»).

    Args:
        f: a Python function that maps a tensor to a tensor of the SAME
           shape, element by element, for example ``torch.sin`` or
           ``lambda t: t**3``; never a linear one (its f'' is not zero
           everywhere).
        x: a floating-point tensor of any shape, which may require grad.

    Returns:
        A detached tensor shaped like ``x`` with f''(x) at every element,
        computed by autograd. ``x`` and ``x.grad`` stay as they were.

    Example:
        >>> second_derivative(lambda t: t**3, torch.tensor([1.0, 2.0]))
        tensor([ 6., 12.])
    """
    raise NotImplementedError("Task 2.5: second_derivative is not implemented yet")


def quadratic_form_hessian(X: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Task 2.5 — The Hessian of S(w) = w @ X.T @ X @ w, by autograd.

    Practises: second derivatives of a function of a vector — every
    component of the gradient differentiated again (lecture «PyTorch
    Basics», §3.2 «Градиенты второго порядка»; «Занятие 04», «Продвинутое
    дифференцирование»).

    Args:
        X: a matrix of shape (N, D).
        w: a vector of shape (D,), which may require grad.

    Returns:
        The (D, D) matrix of second derivatives H[i, j] = d^2 S / (dw_i dw_j),
        detached, found by autograd. Ready-made Hessians
        and Jacobians (``torch.autograd.functional.hessian`` or ``jacobian``,
        ``torch.func.hessian``, ``jacrev``, ``jacfwd``) are NOT allowed here:
        a test reads your source for them. ``X``, ``w`` and ``w.grad`` stay
        as they were.

    Raises:
        ValueError: if X is not 2-D or w is not a vector of length X.shape[1].
    """
    raise NotImplementedError("Task 2.5: quadratic_form_hessian is not implemented yet")


# ----------------------------------------------------------------------------
# 2.6 Gradient accumulation
# ----------------------------------------------------------------------------

def accumulated_gradient(
    X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """Task 2.6 — The full-batch gradient, accumulated over mini-batches.

    Practises: gradient accumulation — ``.backward()`` adds to ``.grad``
    instead of overwriting it («Занятие 04», «Аккумулирование
    градиентов»), the way a model is trained on a batch too large for
    memory at once.

    The loss is L(w) = mean over all N rows of (X @ w - y)^2.

    Args:
        X: inputs, shape (N, D).
        y: targets, shape (N,).
        w: weights, shape (D,).
        batch_size: how many consecutive rows go into one mini-batch (an
            int >= 1); the last mini-batch may be smaller.

    Returns:
        dL/dw, detached, with the shape of ``w``: the gradient of the mean
        loss over all N rows, computed batch by batch (one backward pass per
        mini-batch, each seeing only its own rows) and equal to the
        gradient of the full-batch loss for every batch size. ``X``, ``y``,
        ``w`` and ``w.grad`` stay as they were.

    Raises:
        ValueError: if ``batch_size < 1``.
    """
    raise NotImplementedError("Task 2.6: accumulated_gradient is not implemented yet")

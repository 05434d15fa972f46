"""Mistakes in homework_autograd.py (see catalogue.py for the fields)."""

from __future__ import annotations

from .catalogue import Mistake

PUBLIC = "tests/test_autograd.py::"
HIDDEN = "autograder/hidden/test_autograd_hidden.py::"

MISTAKES: list[Mistake] = [
    Mistake(
        id="mse_sum_instead_of_mean", module="autograd",
        title="The total instead of the mean", title_ru="Сумма вместо среднего",
        story="`.sum()` of the squared errors: the loss (and every gradient built on it) is N times too big.",
        replace=(("return ((y_pred - y_true) ** 2).mean()", "return ((y_pred - y_true) ** 2).sum()"),),
        catches=(PUBLIC + "test_mse_value", PUBLIC + "test_mse_keeps_autograd_history",
                 PUBLIC + "test_linear_mse_gradients", PUBLIC + "test_linear_mse_gradients_known_values",
                 HIDDEN + "test_mse_matches_reference", HIDDEN + "test_linear_mse_gradients_match_reference"),
        message="it is the SUM of the squared errors — the mean squared error divides by the number of elements",
        message_ru="это СУММА квадратов ошибок — среднеквадратичная ошибка делится на число элементов"),
    Mistake(
        id="loss_as_python_number", module="autograd",
        title="`.item()` on the loss", title_ru="`.item()` у функции потерь",
        story="`mse` returns `loss.item()`: a float has no autograd graph, so `.backward()` is impossible.",
        replace=(("return ((y_pred - y_true) ** 2).mean()", "return ((y_pred - y_true) ** 2).mean().item()"),),
        catches=(PUBLIC + "test_mse_value", PUBLIC + "test_mse_keeps_autograd_history",
                 PUBLIC + "test_linear_mse_gradients", PUBLIC + "test_linear_mse_gradients_known_values",
                 HIDDEN + "test_mse_matches_reference", HIDDEN + "test_linear_mse_gradients_match_reference"),
        message="mse(y_pred, y_true) should be a torch.Tensor, but it is a float",
        message_ru="mse(y_pred, y_true) должен быть torch.Tensor, а это объект float"),
    Mistake(
        id="gradients_on_the_callers_tensors", module="autograd",
        title="`requires_grad_` and `.backward()` on the caller's tensors",
        title_ru="`requires_grad_` и `.backward()` на тензорах вызывающего",
        story="`x.requires_grad_(True)` on the arguments themselves: the caller's tensors change and keep a `.grad`.",
        replace=(("xs, ys, zs = (v.detach().clone().requires_grad_(True) for v in (x, y, z))",
                  "xs, ys, zs = (v.requires_grad_(True) for v in (x, y, z))"),),
        catches=(PUBLIC + "test_simple_gradients", HIDDEN + "test_simple_gradients_match_reference"),
        message="your function changed `x.requires_grad` of the caller's tensor",
        message_ru="ваша функция изменила `x.requires_grad` у переданного ей тензора"),
    Mistake(
        id="forgot_requires_grad", module="autograd",
        title="Forgetting `requires_grad`", title_ru="Забыли `requires_grad`",
        story="Copies of x, y, z without `.requires_grad_(True)`: `.backward()` has nothing to differentiate.",
        replace=(("xs, ys, zs = (v.detach().clone().requires_grad_(True) for v in (x, y, z))",
                  "xs, ys, zs = (v.detach().clone() for v in (x, y, z))"),),
        catches=(PUBLIC + "test_simple_gradients", PUBLIC + "test_simple_gradients_known_values",
                 HIDDEN + "test_simple_gradients_match_reference"),
        message="PyTorch could not differentiate: the tensor you called .backward() (or torch.autograd.grad) on "
                "does not depend on any tensor with requires_grad=True",
        message_ru="PyTorch не смог продифференцировать: тензор, у которого вы вызвали .backward() (или "
                   "torch.autograd.grad), не зависит ни от одного тензора с requires_grad=True"),
    Mistake(
        id="missing_factor_two_in_mse_gradient", module="autograd",
        title="The derivative of r² without its 2", title_ru="Производная r² без множителя 2",
        story="`grad_pred = r / r.numel()` in the hand-written gradient: every gradient is half the right one.",
        replace=(("grad_pred = 2 * residual / residual.numel()", "grad_pred = residual / residual.numel()"),),
        catches=(PUBLIC + "test_analytic_linear_mse_gradients", HIDDEN + "test_linear_mse_gradients_match_reference"),
        message="it is half the gradient — the derivative of r ** 2 is 2 * r",
        message_ru="это половина градиента — производная r ** 2 равна 2 * r"),
    Mistake(
        id="relu_backward_masks_the_gradient", module="autograd",
        title="ReLU's mask taken from the gradient, not the input",
        title_ru="Маска ReLU взята из градиента, а не из входа",
        story="`return grad_output.clamp(min=0)` in `CustomReLU.backward`.",
        replace=(("return grad_output.masked_fill(saved_input <= 0, 0)", "return grad_output.clamp(min=0)"),),
        catches=(PUBLIC + "test_custom_relu_backward_matches_torch_relu", PUBLIC + "test_custom_relu_gradcheck",
                 HIDDEN + "test_custom_relu_gradcheck_hidden", HIDDEN + "test_custom_relu_matches_torch_relu_hidden",
                 HIDDEN + "test_custom_relu_inside_a_bigger_graph"),
        message="it is relu(grad_output) — backward masked the gradient by its own sign",
        message_ru="это relu(grad_output) — backward обнулил градиент по его собственному знаку"),
    Mistake(
        id="relu_gradient_at_zero", module="autograd",
        title="A gradient of 1 at input 0", title_ru="Градиент 1 в точке 0",
        story="`saved_input < 0` as the mask: at exactly 0 the gradient passes, unlike `torch.relu`.",
        replace=(("grad_output.masked_fill(saved_input <= 0, 0)", "grad_output.masked_fill(saved_input < 0, 0)"),),
        catches=(PUBLIC + "test_custom_relu_backward_matches_torch_relu",
                 HIDDEN + "test_custom_relu_matches_torch_relu_hidden"),
        message="it passes the gradient through at input == 0 (`input >= 0`) — like torch.relu, use 0 there",
        message_ru="он пропускает градиент при input == 0 (`input >= 0`) — как в torch.relu, там должен быть 0"),
    Mistake(
        id="second_derivative_without_create_graph", module="autograd",
        title="A second derivative without `create_graph=True`",
        title_ru="Вторая производная без `create_graph=True`",
        story="The first `torch.autograd.grad` call without `create_graph=True`: the result has no graph, "
              "and the code falls back to zeros.",
        replace=(("(first,) = torch.autograd.grad(y.sum(), x_copy, create_graph=True)",
                  "(first,) = torch.autograd.grad(y.sum(), x_copy)"),),
        catches=(PUBLIC + "test_second_derivative", PUBLIC + "test_second_derivative_leaves_input_alone",
                 HIDDEN + "test_second_derivative_matches_reference"),
        message="it is all zeros — the first derivative was taken without create_graph=True",
        message_ru="это одни нули — первая производная взята без create_graph=True"),
    Mistake(
        id="second_derivative_graph_not_kept", module="autograd",
        title="Differentiating a derivative that has no graph",
        title_ru="Дифференцирование производной, у которой нет графа",
        story="The first `torch.autograd.grad` call without `create_graph=True`, then a second call on its "
              "result (no fallback to zeros): PyTorch raises \"element 0 of tensors does not require grad\", "
              "although the inputs are fine.",
        replace=(("(first,) = torch.autograd.grad(y.sum(), x_copy, create_graph=True)\n"
                  "    if not first.requires_grad:\n        return torch.zeros_like(x_copy).detach()\n",
                  "(first,) = torch.autograd.grad(y.sum(), x_copy)\n"),),
        catches=(PUBLIC + "test_second_derivative", PUBLIC + "test_second_derivative_leaves_input_alone",
                 HIDDEN + "test_second_derivative_matches_reference"),
        message="second_derivative(f, x): the first derivative must itself be differentiable — compute it with "
                "create_graph=True",
        message_ru="second_derivative(f, x): первая производная сама должна быть дифференцируемой — вычисляйте её "
                   "с create_graph=True"),
    Mistake(
        id="accumulation_without_weights", module="autograd",
        title="Mini-batch losses not weighted by their size",
        title_ru="Потери мини-батчей не взвешены по их размеру",
        story="`batch_loss.backward()` for each mini-batch's mean loss: the gradients add up to about "
              "(number of batches) times the full-batch gradient.",
        replace=(("(batch_loss * (X_batch.shape[0] / n_rows)).backward()", "batch_loss.backward()"),),
        catches=(PUBLIC + "test_accumulated_gradient_equals_full_batch", PUBLIC + "test_accumulated_gradient_leaves_w_alone",
                 HIDDEN + "test_accumulated_gradient_matches_reference",
                 HIDDEN + "test_accumulated_gradient_leaves_existing_grad_alone"),
        message="it is the SUM of the batches' mean-loss gradients — weight each batch's mean loss by "
                "(rows in the batch / N)",
        message_ru="это СУММА градиентов средних потерь батчей — умножьте среднюю потерю каждого батча на "
                   "(строк в батче / N)"),
    Mistake(
        id="hessian_helper", module="autograd",
        title="A ready-made Hessian where the task asks to build it",
        title_ru="Готовая функция для гессиана там, где его надо построить самому",
        story="`torch.autograd.functional.hessian(...)` in `quadratic_form_hessian`, which the task "
              "rules out: the answer is right, the exercise is skipped.",
        replace=(("    S = w_leaf @ X.T @ X @ w_leaf\n    (grad,) = torch.autograd.grad(S, w_leaf, create_graph=True)\n"
                  "    rows = [\n        torch.autograd.grad(grad[i], w_leaf, retain_graph=True)[0]\n"
                  "        for i in range(w_leaf.shape[0])\n    ]\n    return torch.stack(rows).detach()",
                  "    H = torch.autograd.functional.hessian(lambda v: v @ X.T @ X @ v, w_leaf)\n"
                  "    return H.detach()"),),
        catches=(PUBLIC + "test_quadratic_form_hessian_builds_the_hessian_itself",),
        message="quadratic_form_hessian uses torch.autograd.functional.hessian (line",
        message_ru="quadratic_form_hessian использует torch.autograd.functional.hessian (строка"),
    Mistake(
        id="hessian_closed_form", module="autograd",
        title="The Hessian typed in as a formula", title_ru="Гессиан, записанный готовой формулой",
        story="`2 * X.T @ X` returned directly: the right numbers, but no derivative taken — the "
              "task is practice in differentiating twice with autograd.",
        replace=(("    S = w_leaf @ X.T @ X @ w_leaf\n    (grad,) = torch.autograd.grad(S, w_leaf, create_graph=True)\n"
                  "    rows = [\n        torch.autograd.grad(grad[i], w_leaf, retain_graph=True)[0]\n"
                  "        for i in range(w_leaf.shape[0])\n    ]\n    return torch.stack(rows).detach()",
                  "    return 2 * X.T @ X"),),
        catches=(PUBLIC + "test_quadratic_form_hessian_builds_the_hessian_itself",),
        message="quadratic_form_hessian never calls torch.autograd.grad or torch.autograd.backward or .backward",
        message_ru="quadratic_form_hessian ни разу не вызывает torch.autograd.grad или torch.autograd.backward "
                   "или .backward"),
]

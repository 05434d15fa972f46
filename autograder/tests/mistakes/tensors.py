"""Mistakes in homework_tensors.py (see catalogue.py for the fields)."""

from __future__ import annotations

from .catalogue import Mistake

PUBLIC = "tests/test_tensors.py::"
HIDDEN = "autograder/hidden/test_tensors_hidden.py::"

MISTAKES: list[Mistake] = [
    Mistake(
        id="matmul_operands_swapped", module="tensors",
        title="Swapped matrix-product operands", title_ru="Множители матричного произведения переставлены",
        story="`b @ a` instead of `a @ b`: an (m x m) product came out (n x n).",
        replace=(('"matmul": a @ b,', '"matmul": b @ a,'),),
        catches=(PUBLIC + "test_tensor_operations_values", HIDDEN + "test_tensor_operations_matches_reference"),
        message="it is b @ a — the operands of the matrix product are swapped",
        message_ru="это b @ a — множители матричного произведения переставлены"),
    Mistake(
        id="elementwise_instead_of_matmul", module="tensors",
        title="Element-wise product where the matrix product is asked",
        title_ru="Поэлементное произведение вместо матричного",
        story="`a * b.T` (element by element) as the matrix product.",
        replace=(('"matmul": a @ b,', '"matmul": a * b.T,'),),
        catches=(PUBLIC + "test_tensor_operations_values", HIDDEN + "test_tensor_operations_matches_reference"),
        message="it is the element-wise product a * b.T — the matrix product is a @ b",
        message_ru="это поэлементное произведение a * b.T — матричное произведение — это a @ b"),
    Mistake(
        id="sum_as_python_number", module="tensors",
        title="A Python number where a 0-dim tensor is asked", title_ru="Число Python вместо 0-мерного тензора",
        story="`a.sum().item()`: the sum left torch as a float.",
        replace=(('"sum": a.sum(),', '"sum": a.sum().item(),'),),
        catches=(PUBLIC + "test_tensor_operations_sum_is_a_0dim_tensor",
                 HIDDEN + "test_tensor_operations_matches_reference"),
        message="you returned a Python number; keep it a tensor (e.g. `a.sum()`, not `a.sum().item()`)",
        message_ru="вы вернули число Python; оставьте результат тензором (например, `a.sum()`, а не "
                   "`a.sum().item()`)"),
    Mistake(
        id="shape_check_missing", module="tensors",
        title="No shape check: PyTorch's own error instead of a ValueError",
        title_ru="Нет проверки форм: вместо ValueError — ошибка самого PyTorch",
        story="No check of the shapes at all: for a bad `b`, `a @ b` fails inside PyTorch with a RuntimeError "
              "(and 1-D inputs go through), where the function must raise ValueError itself.",
        append='def tensor_operations(a, b):\n'
               '    return {"transpose": a.T, "matmul": a @ b, "elementwise": a * b.T, "sum": a.sum()}\n',
        catches=(PUBLIC + "test_tensor_operations_rejects_bad_shapes",
                 HIDDEN + "test_tensor_operations_rejects_bad_shapes_hidden"),
        message="should raise ValueError, but it raised RuntimeError — check the shapes yourself at the start "
                "of the function",
        message_ru="должна выбрасывать ValueError, а выбросила RuntimeError — проверьте формы сами в начале "
                   "функции"),
    Mistake(
        id="shape_error_without_shapes", module="tensors",
        title="A ValueError that does not say which shapes it got",
        title_ru="ValueError не сообщает, какие формы пришли на вход",
        story='`raise ValueError("a and b must both be 2-D matrices")`: the right error, but the message leaves '
              "out the shapes the docstring asks for.",
        replace=(('f"a and b must both be 2-D matrices, got a.shape={tuple(a.shape)} "\n'
                  '            f"and b.shape={tuple(b.shape)}"', '"a and b must both be 2-D matrices"'),
                 ('f"b must have shape {(n, m)} (the transpose of a.shape={(m, n)}), "\n'
                  '            f"got b.shape={tuple(b.shape)}"', '"b must have the transposed shape of a"')),
        catches=(PUBLIC + "test_tensor_operations_rejects_bad_shapes",
                 HIDDEN + "test_tensor_operations_rejects_bad_shapes_hidden"),
        message="the ValueError's message must say which shapes were received, but it says "
                "'b must have the transposed shape of a'",
        message_ru="в сообщении ValueError должно быть сказано, какие формы пришли на вход, а в нём написано "
                   "'b must have the transposed shape of a'"),
    Mistake(
        id="arange_of_floats", module="tensors",
        title="A float range where integers are asked", title_ru="Диапазон вещественных чисел вместо целых",
        story="`torch.arange(16.0)`: the 4x4 range came out float32 instead of int64.",
        replace=(("torch.arange(16).reshape(4, 4)", "torch.arange(16.0).reshape(4, 4)"),),
        catches=(PUBLIC + "test_create_tensors_shapes_and_dtypes", PUBLIC + "test_create_tensors_values",
                 HIDDEN + "test_create_tensors_matches_reference"),
        message='holds floats (torch.float32) — a float argument such as torch.arange(16.0) makes float numbers',
        message_ru="содержит вещественные числа (torch.float32) — вещественный аргумент, например "
                   "torch.arange(16.0), даёт вещественные числа"),
    Mistake(
        id="randn_instead_of_rand", module="tensors",
        title="Normal instead of uniform random numbers", title_ru="Нормальное распределение вместо равномерного",
        story="`torch.randn(3, 4)` where `torch.rand(3, 4)` (uniform on [0, 1)) is asked.",
        replace=(("torch.rand(3, 4, dtype=torch.float32)", "torch.randn(3, 4, dtype=torch.float32)"),),
        catches=(PUBLIC + "test_create_tensors_values", HIDDEN + "test_create_tensors_matches_reference"),
        message="must hold numbers from [0, 1) — use torch.rand (uniform), not torch.randn (normal)",
        message_ru="должен содержать числа из [0, 1) — используйте torch.rand (равномерное распределение), "
                   "а не torch.randn (нормальное)"),
    Mistake(
        id="center_block_off_by_one", module="tensors",
        title="The central block starts one row/column too far",
        title_ru="Центральный блок сдвинут на одну строку/столбец",
        story="`r = height // 2` instead of `(height - 2) // 2`.",
        replace=(("r = (height - 2) // 2", "r = height // 2"), ("c = (width - 2) // 2", "c = width // 2")),
        catches=(PUBLIC + "test_index_tensor_values", HIDDEN + "test_index_tensor_matches_reference"),
        message="it starts at row H//2 and column W//2 — the 2x2 centre starts at r = (H-2)//2",
        message_ru="он начинается со строки H//2 и столбца W//2 — центр 2x2 начинается с r = (H-2)//2"),
    Mistake(
        id="last_column_keeps_size_1_axis", module="tensors",
        title="A slice `-1:` that keeps a size-1 axis", title_ru="Срез `-1:` оставляет ось размера 1",
        story="`t[:, :, -1:]` has shape (D, H, 1) instead of (D, H).",
        replace=(('"last_column": t[:, :, -1],', '"last_column": t[:, :, -1:],'),),
        catches=(PUBLIC + "test_index_tensor_values", HIDDEN + "test_index_tensor_matches_reference"),
        message="`t[:, :, -1:]` keeps a size-1 axis — index with -1, not with the slice -1:",
        message_ru="`t[:, :, -1:]` оставляет ось размера 1 — индексируйте числом -1, а не срезом -1:"),
    Mistake(
        id="index_result_cloned", module="tensors",
        title="A copy where a view is asked", title_ru="Копия вместо представления (view)",
        story="`.clone()` on the central block, so it no longer shares memory with `t`.",
        replace=(('"center_2x2": t[:, r:r + 2, c:c + 2],', '"center_2x2": t[:, r:r + 2, c:c + 2].clone(),'),),
        catches=(PUBLIC + "test_index_tensor_returns_views", HIDDEN + "test_index_tensor_matches_reference"),
        message='index_tensor(t)["center_2x2"] must be a view of the input (sharing its memory), but it is a copy',
        message_ru='index_tensor(t)["center_2x2"] должен быть представлением (view) входного тензора, то есть '
                   "делить с ним память, а это копия"),
    Mistake(
        id="contiguous_before_view", module="tensors",
        title="`.contiguous()` before `.view` copies a strided input",
        title_ru="`.contiguous()` перед `.view` копирует тензор с шагом",
        story="`t.contiguous().view(shape)`: fine for `torch.arange(24)`, a copy for a strided view.",
        replace=(("t.view(shape) for shape in RESHAPE_TARGETS", "t.contiguous().view(shape) for shape in RESHAPE_TARGETS"),),
        catches=(HIDDEN + "test_reshape_tensor_matches_reference",),
        message="is a copy: this input is a strided (non-contiguous) view, and `.contiguous()` or `.clone()` "
                "before `.view` copies it",
        message_ru="это копия: этот вход — представление с шагом (не непрерывное), и `.contiguous()` или "
                   "`.clone()` перед `.view` его копирует"),
]

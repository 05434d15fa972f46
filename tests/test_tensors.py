"""Public tests for Task 1 — tensors (homework_tensors.py).

Run them with ``pytest -m task1``. Every test reaches your code through the ``hw`` fixture
(``hw.tensors.create_tensors()`` …), so the very same tests run in the grader.
"""

from __future__ import annotations

import pytest
import torch

from tests.harness import checks

pytestmark = pytest.mark.task1

EXACT = {"rtol": 0.0, "atol": 0.0}  # slicing and reshaping move no numbers: results are exact
FLOAT32 = {"rtol": 1e-5, "atol": 1e-6}  # float32 matmul / products: a few ulps of rounding


# -- 1.1 create_tensors -----------------------------------------------------------------------

CREATED = {
    # key: (shape, dtype)
    "random_3x4": ((3, 4), torch.float32),
    "zeros_2x3x4": ((2, 3, 4), torch.float32),
    "ones_5x5": ((5, 5), torch.float32),
    "range_4x4": ((4, 4), torch.int64),
}


@pytest.mark.parametrize("key", list(CREATED))
def test_create_tensors_shapes_and_dtypes(hw, key):
    result = checks.mapping(hw.tensors.create_tensors(), "create_tensors()", list(CREATED))
    shape, dtype = CREATED[key]
    checks.tensor(result[key], f'create_tensors()["{key}"]', shape=shape, dtype=dtype)


def test_create_tensors_values(hw):
    result = checks.mapping(hw.tensors.create_tensors(), "create_tensors()", list(CREATED))
    checks.close(result["zeros_2x3x4"], torch.zeros(2, 3, 4), 'create_tensors()["zeros_2x3x4"]', **EXACT)
    checks.close(result["ones_5x5"], torch.ones(5, 5), 'create_tensors()["ones_5x5"]', **EXACT)
    checks.close(result["range_4x4"], torch.arange(16).reshape(4, 4), 'create_tensors()["range_4x4"]',
                 **EXACT, hint="row i must hold 4*i, 4*i+1, 4*i+2, 4*i+3 (torch.arange(16).reshape(4, 4))")
    rand = checks.tensor(result["random_3x4"], 'create_tensors()["random_3x4"]', shape=(3, 4),
                         dtype=torch.float32)
    if not bool(((rand >= 0) & (rand < 1)).all()):
        checks.fail('create_tensors()["random_3x4"] must hold numbers from [0, 1) — use torch.rand '
                    f"(uniform), not torch.randn (normal); got min {rand.min().item():.3f}, "
                    f"max {rand.max().item():.3f}")
    if torch.unique(rand).numel() < 6:
        checks.fail('create_tensors()["random_3x4"] should hold 12 random numbers, but most of them '
                    "are equal — draw them with torch.rand(3, 4)")


# -- 1.2 tensor_operations ----------------------------------------------------------------------

def _matrices() -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])        # 2 x 3
    b = torch.tensor([[0.5, -1.0], [2.0, 0.0], [-3.0, 1.5]])   # 3 x 2
    return a, b


def test_tensor_operations_values(hw):
    a, b = _matrices()
    result = checks.mapping(hw.tensors.tensor_operations(a, b), "tensor_operations(a, b)",
                            ["transpose", "matmul", "elementwise", "sum"])
    checks.close(result["transpose"], a.T, 'tensor_operations(a, b)["transpose"]', **EXACT,
                 hint="the transpose swaps rows and columns: a.T")
    checks.close(result["matmul"], a @ b, 'tensor_operations(a, b)["matmul"]', **FLOAT32,
                 hint="the matrix product a @ b (not the element-wise product)")
    checks.close(result["elementwise"], a * b.T, 'tensor_operations(a, b)["elementwise"]', **FLOAT32,
                 hint="multiply a element by element with the TRANSPOSE of b: a * b.T")


def test_tensor_operations_sum_is_a_0dim_tensor(hw):
    a, b = _matrices()
    result = checks.mapping(hw.tensors.tensor_operations(a, b), "tensor_operations(a, b)", ["sum"])
    checks.close(result["sum"], a.sum(), 'tensor_operations(a, b)["sum"]', **FLOAT32,
                 hint="the sum of ALL elements of a")


def test_tensor_operations_does_not_modify_inputs(hw):
    a, b = _matrices()
    before = checks.snapshot(a, b)
    hw.tensors.tensor_operations(a, b)
    checks.unchanged((a, b), before, ("a", "b"))


@pytest.mark.parametrize("a_shape, b_shape", [
    ((2, 3), (2, 3)),       # b has a's shape, not the transposed one
    ((2, 3), (3, 3)),       # inner sizes fit but b is not n x m
    ((6,), (6,)),           # not matrices
    ((2, 3, 4), (4, 3, 2)),  # 3-D
], ids=["same-shape", "wrong-rows", "1-D", "3-D"])
def test_tensor_operations_rejects_bad_shapes(hw, a_shape, b_shape):
    a, b = torch.ones(a_shape), torch.ones(b_shape)
    checks.raises(ValueError, f"tensor_operations(a, b) with a of shape {a_shape} and b of shape {b_shape} "
                 "(b must be 2-D with the transposed shape of a)", hw.tensors.tensor_operations, a, b)


# -- 1.3 index_tensor -----------------------------------------------------------------------------

def _expected_index(t: torch.Tensor) -> dict[str, torch.Tensor]:
    _, h, w = t.shape
    r, c = (h - 2) // 2, (w - 2) // 2
    return {
        "first_row": t[0, 0, :],
        "last_column": t[:, :, -1],
        "center_2x2": t[:, r:r + 2, c:c + 2],
        "even_indices": t[::2, ::2, ::2],
    }


INDEX_HINTS = {
    "first_row": "the first row of the first matrix: t[0, 0, :]",
    "last_column": "the last column of every matrix, without a size-1 axis: t[:, :, -1]",
    "center_2x2": "rows r, r+1 and columns c, c+1 of every matrix, r = (H-2)//2 and c = (W-2)//2",
    "even_indices": "every second element along every axis: t[::2, ::2, ::2]",
}


@pytest.mark.parametrize("shape", [(5, 5, 5), (2, 4, 6)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("key", list(INDEX_HINTS))
def test_index_tensor_values(hw, key, shape):
    t = torch.arange(torch.Size(shape).numel()).reshape(shape)
    result = checks.mapping(hw.tensors.index_tensor(t), f"index_tensor(t) for t of shape {shape}",
                            list(INDEX_HINTS))
    checks.close(result[key], _expected_index(t)[key], f'index_tensor(t)["{key}"] for t of shape {shape}',
                 **EXACT, hint=INDEX_HINTS[key])


@pytest.mark.parametrize("key", list(INDEX_HINTS))
def test_index_tensor_returns_views(hw, key):
    t = torch.rand(4, 5, 6, generator=torch.Generator().manual_seed(13))
    result = checks.mapping(hw.tensors.index_tensor(t), "index_tensor(t)", list(INDEX_HINTS))
    checks.view_of(result[key], t, f'index_tensor(t)["{key}"]')


def test_index_tensor_does_not_modify_input(hw):
    t = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(1))
    before = checks.snapshot(t)
    hw.tensors.index_tensor(t)
    checks.unchanged((t,), before, ("t",))


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 4, 5), (1, 4, 4), (4, 1, 4), (4, 4, 1)],
                         ids=["2-D", "4-D", "D=1", "H=1", "W=1"])
def test_index_tensor_rejects_bad_shapes(hw, shape):
    checks.raises(ValueError, f"index_tensor(t) for t of shape {shape} (it needs 3 dimensions, each >= 2)",
                 hw.tensors.index_tensor, torch.zeros(shape))


# -- 1.4 reshape_tensor --------------------------------------------------------------------------

TARGETS = [(2, 12), (3, 8), (4, 6), (2, 3, 4), (2, 2, 2, 3)]


@pytest.mark.parametrize("shape", TARGETS, ids=lambda s: "x".join(map(str, s)))
def test_reshape_tensor_values_and_views(hw, shape):
    t = torch.arange(24)
    result = checks.mapping(hw.tensors.reshape_tensor(t), "reshape_tensor(t)", TARGETS)
    name = f"reshape_tensor(t)[{shape}]"
    checks.close(result[shape], t.view(shape), name, **EXACT,
                 hint=f"the 24 numbers in their original order, arranged as {shape}: t.view{shape}")
    checks.view_of(result[shape], t, name)


def test_reshape_tensor_does_not_modify_input(hw):
    t = torch.arange(24.0)
    before = checks.snapshot(t)
    hw.tensors.reshape_tensor(t)
    checks.unchanged((t,), before, ("t",))


@pytest.mark.parametrize("shape", [(23,), (25,), (4, 6)], ids=["23-elements", "25-elements", "2-D"])
def test_reshape_tensor_rejects_bad_input(hw, shape):
    checks.raises(ValueError, f"reshape_tensor(t) for t of shape {shape} (it needs a 1-D tensor of 24 elements)",
                 hw.tensors.reshape_tensor, torch.zeros(shape))

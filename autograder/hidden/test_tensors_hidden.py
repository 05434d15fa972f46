"""Hidden tests for Task 1 — tensors: the student's answers against the reference solution.

Inputs differ from the public tests: odd shapes (3x5x7, 2x2x2, 4x9x6, 1x7, 5x3), float64 and
int64 tensors, seeded random values and non-contiguous inputs (transposed / strided views).
"""

from __future__ import annotations

import pytest
import torch

from solutions import homework_tensors as ref
from hwkit import checks
from hwkit.i18n import tr
from tests.test_tensors import _index_hint, _index_mistakes, rejects

pytestmark = pytest.mark.task1

EXACT = {"rtol": 0.0, "atol": 0.0}
# Matrix products may sum in a different order than the reference: allow a few ulps.
TOL = {torch.float32: {"rtol": 1e-5, "atol": 1e-6}, torch.float64: {"rtol": 1e-12, "atol": 1e-12},
       torch.int64: EXACT}


def _random(shape: tuple, dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g, dtype=dtype)
    return torch.randint(-9, 10, shape, generator=g, dtype=dtype)


def _name(shape: tuple) -> str:
    return "x".join(map(str, shape)) or "0-dim"


# -- 1.1 create_tensors ------------------------------------------------------------------------------

@pytest.mark.value
@pytest.mark.parametrize("key", ["random_3x4", "zeros_2x3x4", "ones_5x5", "range_4x4"])
def test_create_tensors_matches_reference(hw, key):
    expected = ref.create_tensors()[key]
    result = checks.mapping(hw.tensors.create_tensors(), "create_tensors()", [key])
    name = f'create_tensors()["{key}"]'
    actual = checks.tensor(result[key], name, shape=tuple(expected.shape), dtype=expected.dtype)
    if key == "random_3x4":
        if not bool(((actual >= 0) & (actual < 1)).all()):
            checks.fail(tr("{name} must hold uniform random numbers from [0, 1): use torch.rand(3, 4)", name=name))
        if torch.unique(actual).numel() < 6:
            checks.fail(tr("{name} should hold 12 random numbers, but most of them are equal", name=name))
    else:
        checks.close(actual, expected, name, **EXACT)


# -- 1.2 tensor_operations -----------------------------------------------------------------------------

OPERATION_CASES = {
    # name: (m, n, dtype, make the inputs non-contiguous)
    "1x7-float32": (1, 7, torch.float32, False),
    "5x3-float64": (5, 3, torch.float64, False),
    "4x4-square": (4, 4, torch.float32, False),      # a * b would broadcast too: it must be a * b.T
    "3x2-int64": (3, 2, torch.int64, False),
    "6x3-transposed-inputs": (6, 3, torch.float64, True),
}


def _operation_inputs(case: str) -> tuple[torch.Tensor, torch.Tensor]:
    m, n, dtype, strided = OPERATION_CASES[case]
    seed = sum(map(ord, case))
    if strided:  # a and b are transposed views of other matrices
        return _random((n, m), dtype, seed).T, _random((m, n), dtype, seed + 1).T
    return _random((m, n), dtype, seed), _random((n, m), dtype, seed + 1)


OPERATION_KEYS = ["transpose", "matmul", "elementwise", "sum"]


def _operation_hint(key: str) -> str:
    return {"transpose": "a.T", "matmul": tr("the matrix product a @ b"),
            "elementwise": tr("a times the TRANSPOSE of b, element by element: a * b.T (even when a is square)"),
            "sum": tr("the sum of all elements of a, as a 0-dim tensor of a's dtype: a.sum()")}[key]


def _operation_mistakes(a: torch.Tensor, b: torch.Tensor, key: str) -> dict[str, torch.Tensor]:
    if key == "matmul":
        return {tr("it is b @ a — the operands of the matrix product are swapped; "
                   "a (m x n) @ b (n x m) gives m x m"): b @ a,
                tr("it is a @ b transposed — compute a @ b, not (a @ b).T or b.T @ a.T"): (a @ b).T}
    if key == "elementwise" and a.shape[0] == a.shape[1]:
        return {tr("it is a * b — multiply by the TRANSPOSE of b: a * b.T (a square a hides this "
                   "mistake in the public test)"): a * b}
    return {}


@pytest.mark.value
@pytest.mark.parametrize("key", OPERATION_KEYS)
@pytest.mark.parametrize("case", list(OPERATION_CASES))
def test_tensor_operations_matches_reference(hw, case, key):
    a, b = _operation_inputs(case)
    before = checks.snapshot(a, b)
    result = checks.mapping(hw.tensors.tensor_operations(a, b), "tensor_operations(a, b)", [key])
    checks.unchanged((a, b), before, ("a", "b"))
    expected = ref.tensor_operations(a.clone(), b.clone())[key]
    m, n, dtype, _ = OPERATION_CASES[case]
    checks.close(result[key], expected, tr('tensor_operations(a, b)["{key}"] for a {m}x{n} {dtype} matrix a',
                                           key=key, m=m, n=n, dtype=dtype),
                 **TOL[dtype], hint=_operation_hint(key), mistakes=_operation_mistakes(a, b, key))


@pytest.mark.parametrize("a_shape, b_shape", [
    ((1, 7), (1, 7)), ((5, 3), (3, 4)), ((4, 4), (4, 4, 1)), ((), ()), ((2, 3, 1), (3, 2)),
], ids=["1x7-1x7", "5x3-3x4", "b-3-D", "0-dim", "a-3-D"])
def test_tensor_operations_rejects_bad_shapes_hidden(hw, a_shape, b_shape):
    rejects(tr("tensor_operations(a, b) with a.shape={a_shape}, b.shape={b_shape}", a_shape=a_shape, b_shape=b_shape),
            tr("a and b must be 2-D, b with the transposed shape of a"),
            hw.tensors.tensor_operations, torch.ones(a_shape), torch.ones(b_shape),
            shapes={"a": a_shape, "b": b_shape})


# -- 1.3 index_tensor ------------------------------------------------------------------------------------

INDEX_CASES = {
    "3x5x7-float32": ((3, 5, 7), torch.float32, False),
    "2x2x2-int64": ((2, 2, 2), torch.int64, False),
    "4x9x6-float64": ((4, 9, 6), torch.float64, False),
    "6x3x2-float32": ((6, 3, 2), torch.float32, False),
    "5x4x3-permuted": ((5, 4, 3), torch.float64, True),
}


def _index_input(case: str) -> torch.Tensor:
    shape, dtype, permuted = INDEX_CASES[case]
    seed = sum(map(ord, case))
    if permuted:  # a non-contiguous view with the right shape
        d, h, w = shape
        return _random((w, d, h), dtype, seed).permute(1, 2, 0)
    return _random(shape, dtype, seed)


@pytest.mark.value
@pytest.mark.parametrize("key", ["first_row", "last_column", "center_2x2", "even_indices"])
@pytest.mark.parametrize("case", list(INDEX_CASES))
def test_index_tensor_matches_reference(hw, case, key):
    t = _index_input(case)
    before = checks.snapshot(t)
    result = checks.mapping(hw.tensors.index_tensor(t), "index_tensor(t)", [key])
    checks.unchanged((t,), before, ("t",))
    name = tr('index_tensor(t)["{key}"] for t of shape {shape}', key=key, shape=tuple(t.shape))
    checks.close(result[key], ref.index_tensor(t)[key], name, **EXACT, hint=_index_hint(key),
                 mistakes=_index_mistakes(t, key))
    checks.view_of(result[key], t, name)


@pytest.mark.parametrize("shape", [(), (8,), (2, 2, 1), (1, 1, 1), (2, 2, 2, 2), (3, 1, 5)],
                         ids=["0-dim", "1-D", "W=1", "1x1x1", "4-D", "H=1"])
def test_index_tensor_rejects_bad_shapes_hidden(hw, shape):
    rejects(tr("index_tensor(t) with t.shape={shape}", shape=shape), tr("t must be 3-D, each dimension >= 2"),
            hw.tensors.index_tensor, torch.zeros(shape))


# -- 1.4 reshape_tensor ----------------------------------------------------------------------------------

RESHAPE_CASES = {
    "int64": lambda: torch.arange(100, 124),
    "float64-random": lambda: _random((24,), torch.float64, 3),
    "strided": lambda: torch.arange(48.0)[::2],          # a non-contiguous 1-D view
    "int32": lambda: torch.arange(24, dtype=torch.int32).flip(0),
}


@pytest.mark.value
@pytest.mark.parametrize("case", list(RESHAPE_CASES))
def test_reshape_tensor_matches_reference(hw, case):
    t = RESHAPE_CASES[case]()
    before = checks.snapshot(t)
    expected = ref.reshape_tensor(t)
    result = checks.mapping(hw.tensors.reshape_tensor(t), "reshape_tensor(t)", list(expected))
    checks.unchanged((t,), before, ("t",))
    wrong = checks.Entries(tr("reshape_tensor(t) for a {case} input", case=case))
    for shape, value in expected.items():
        with wrong.entry(shape):
            name = tr("reshape_tensor(t)[{shape}] for a {case} input", shape=shape, case=case)
            checks.close(result[shape], value, name, **EXACT,
                         hint=tr("the 24 numbers in their original order, arranged as {shape}: t.view{shape}",
                                 shape=shape))
            if not t.is_contiguous() and type(result[shape]) is torch.Tensor \
                    and not checks.shares_memory(result[shape], t):
                checks.fail(tr("{name} is a copy: this input is a strided (non-contiguous) view, and "
                               "`.contiguous()` or `.clone()` before `.view` copies it — `t.view(shape)` works on "
                               "it directly (a 1-D view with any stride can be viewed as {shape})", name=name,
                               shape=shape))
            checks.view_of(result[shape], t, name)
    wrong.report()


@pytest.mark.parametrize("shape", [(), (24, 1), (2, 12), (0,), (48,)],
                         ids=["0-dim", "24x1", "2x12", "empty", "48-elements"])
def test_reshape_tensor_rejects_bad_input_hidden(hw, shape):
    rejects(tr("reshape_tensor(t) with t.shape={shape}", shape=shape), tr("t must be 1-D with 24 elements"),
            hw.tensors.reshape_tensor, torch.zeros(shape))

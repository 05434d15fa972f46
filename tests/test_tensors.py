"""Public tests for Task 1 — tensors (homework_tensors.py).

Run them with ``pytest -m task1``. Every test reaches your code through the ``hw`` fixture
(``hw.tensors.create_tensors()`` …), so the very same tests run in the grader. The expected
answers for the fixed inputs below are stored in ``snapshots/test_tensors.json`` (the
``expected`` fixture), or follow from a property every right answer has.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from hwkit import checks
from hwkit.i18n import tr

pytestmark = pytest.mark.task1

EXACT = {"rtol": 0.0, "atol": 0.0}  # slicing and reshaping move no numbers: results are exact
FLOAT32 = {"rtol": 1e-5, "atol": 1e-6}  # float32 matmul / products: a few ulps of rounding


# -- bad input: the function's own ValueError ------------------------------------------------------

_SANDBOX_LINE = re.compile(r"\[(homework_\w+\.py, line \d+, in [\w.<>]+)\]")


def _where(exc: BaseException) -> str:
    """'homework_x.py, line 12, in f': the student's line that raised `exc`, when known."""
    found = _SANDBOX_LINE.search(str(exc))  # (the grader's sandbox writes it into the message)
    if found:
        return found.group(1)
    where, tb = "", exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if Path(code.co_filename).name.startswith("homework_"):
            where = f"{Path(code.co_filename).name}, line {tb.tb_lineno}, in {code.co_name}"
        tb = tb.tb_next
    return where


def _names_shape(message: str, shape: tuple) -> bool:
    """Whether `message` writes `shape`'s sizes one after another, in any notation: (2, 3),
    torch.Size([2, 3]), [2, 3], 2x3."""
    numbers = [int(n) for n in re.findall(r"\d+", message)]
    return any(numbers[i:i + len(shape)] == list(shape) for i in range(len(numbers) - len(shape) + 1))


def rejects(call: str, why: str, function, *args, shapes: dict[str, tuple] | None = None) -> None:
    """`function(*args)` must raise ValueError itself, because `why` does not hold (an error that
    PyTorch raises on the way is a missing check); with `shapes` (name -> shape), the error's
    message must say each of them."""
    __tracebackhide__ = True
    try:
        function(*args)
    except ValueError as exc:
        said = _SANDBOX_LINE.sub("", str(exc)).strip()  # (not the line number the grader adds)
        if any(not _names_shape(said, shape) for shape in (shapes or {}).values()):
            checks.fail(tr("{call}: the ValueError's message must say which shapes were received, but it says "
                           "{message}", call=call, message=repr(said.split("\n")[0][:200])))
        return
    except Exception as exc:  # noqa: BLE001 - any other error means a missing check; say where it came from
        if checks.not_written(exc):
            raise  # show the stub's own message
        where = _where(exc)
        checks.fail(tr("{call} should raise ValueError, but it raised {error} — check the shapes yourself at the "
                       "start of the function ({why}) and raise ValueError; an error from inside PyTorch does not "
                       "count", call=call, error=type(exc).__name__, why=why)
                    + (f"  [{where}]" if where else ""))
    checks.fail(tr("{call} should raise ValueError ({why}), but it returned normally", call=call, why=why))


# -- 1.1 create_tensors -----------------------------------------------------------------------

CREATED = {
    # key: (shape, dtype)
    "random_3x4": ((3, 4), torch.float32),
    "zeros_2x3x4": ((2, 3, 4), torch.float32),
    "ones_5x5": ((5, 5), torch.float32),
    "range_4x4": ((4, 4), torch.int64),
}


@pytest.mark.value
@pytest.mark.parametrize("key", list(CREATED))
def test_create_tensors_shapes_and_dtypes(hw, key):
    result = checks.mapping(hw.tensors.create_tensors(), "create_tensors()", list(CREATED))
    shape, dtype = CREATED[key]
    if key == "range_4x4" and type(result[key]) is torch.Tensor and result[key].dtype.is_floating_point:
        checks.fail(tr('create_tensors()["range_4x4"] holds floats ({dtype}) — a float argument such as '
                       "torch.arange(16.0) makes float numbers; torch.arange(16) gives the integers (int64) "
                       "asked for", dtype=result[key].dtype))
    checks.tensor(result[key], f'create_tensors()["{key}"]', shape=shape, dtype=dtype)


def _create_hint(key: str) -> str:
    # (each text written out so that it is found for translation)
    return {"zeros_2x3x4": tr("every element must be 0.0"),
            "ones_5x5": tr("every element must be 1.0"),
            "range_4x4": tr("row i must hold 4*i, 4*i+1, 4*i+2, 4*i+3 (torch.arange(16).reshape(4, 4))")}[key]


@pytest.mark.value
def test_create_tensors_values(hw, expected):
    result = checks.mapping(hw.tensors.create_tensors(), "create_tensors()", list(CREATED))
    wrong = checks.Entries("create_tensors()")
    for key in ("zeros_2x3x4", "ones_5x5", "range_4x4"):
        with wrong.entry(key):
            want = expected(f"create_tensors[{key}]", result[key])
            checks.close(result[key], want, f'create_tensors()["{key}"]', **EXACT, hint=_create_hint(key))
    with wrong.entry("random_3x4"):  # random: only its properties can be checked
        rand = checks.tensor(result["random_3x4"], 'create_tensors()["random_3x4"]', shape=(3, 4),
                             dtype=torch.float32)
        if not bool(((rand >= 0) & (rand < 1)).all()):
            checks.fail(tr('create_tensors()["random_3x4"] must hold numbers from [0, 1) — use torch.rand '
                           "(uniform), not torch.randn (normal); got min {low}, max {high}",
                           low=f"{rand.min().item():.3f}", high=f"{rand.max().item():.3f}"))
        if torch.unique(rand).numel() < 6:
            checks.fail(tr('create_tensors()["random_3x4"] should hold 12 random numbers, but most of them '
                           "are equal — draw them with torch.rand(3, 4)"))
    wrong.report()


# -- 1.2 tensor_operations ----------------------------------------------------------------------

def _matrices() -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])        # 2 x 3
    b = torch.tensor([[0.5, -1.0], [2.0, 0.0], [-3.0, 1.5]])   # 3 x 2
    return a, b


def _operations_mistakes(a: torch.Tensor, b: torch.Tensor, key: str) -> dict[str, torch.Tensor]:
    """What common slips give for `key` (wrong answers, to name the slip)."""
    if key == "matmul":
        return {tr("it is b @ a — the operands of the matrix product are swapped; "
                   "a (m x n) @ b (n x m) gives m x m"): b @ a,
                tr("it is a @ b transposed — compute a @ b, not (a @ b).T or b.T @ a.T"): (a @ b).T,
                tr("it is the element-wise product a * b.T — the matrix product is a @ b "
                   "(or torch.matmul(a, b))"): a * b.T}
    if key == "elementwise":
        return {tr("it is the matrix product a @ b — the element-wise product is a * b.T"): a @ b}
    return {}


@pytest.mark.value
def test_tensor_operations_values(hw, expected):
    a, b = _matrices()
    result = checks.mapping(hw.tensors.tensor_operations(a, b), "tensor_operations(a, b)",
                            ["transpose", "matmul", "elementwise", "sum"])
    hints = {"transpose": tr("the transpose swaps rows and columns: a.T"),
             "matmul": tr("the matrix product a @ b (not the element-wise product)"),
             "elementwise": tr("multiply a element by element with the TRANSPOSE of b: a * b.T")}
    wrong = checks.Entries("tensor_operations(a, b)")
    for key, hint in hints.items():
        with wrong.entry(key):
            want = expected(f"tensor_operations[{key}]", result[key])
            checks.close(result[key], want, f'tensor_operations(a, b)["{key}"]',
                         **(EXACT if key == "transpose" else FLOAT32), hint=hint,
                         mistakes=_operations_mistakes(a, b, key))
    wrong.report()


def test_tensor_operations_sum_is_a_0dim_tensor(hw, expected):
    a, b = _matrices()
    result = checks.mapping(hw.tensors.tensor_operations(a, b), "tensor_operations(a, b)", ["sum"])
    want = expected("tensor_operations[sum]", result["sum"])
    checks.close(result["sum"], want, 'tensor_operations(a, b)["sum"]', **FLOAT32,
                 hint=tr("the sum of ALL elements of a"),
                 mistakes={tr("it is the sum of each column (a.sum(dim=0)) — sum ALL elements: a.sum()"): a.sum(0),
                           tr("it is the sum of each row (a.sum(dim=1)) — sum ALL elements: a.sum()"): a.sum(1)})


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
    rejects(tr("tensor_operations(a, b) with a.shape={a_shape}, b.shape={b_shape}", a_shape=a_shape, b_shape=b_shape),
            tr("a and b must be 2-D, b with the transposed shape of a"),
            hw.tensors.tensor_operations, a, b, shapes={"a": a_shape, "b": b_shape})


# -- 1.3 index_tensor -----------------------------------------------------------------------------

INDEX_KEYS = ["first_row", "last_column", "center_2x2", "even_indices"]


def _index_hint(key: str) -> str:
    # (each text written out so that it is found for translation)
    return {"first_row": tr("the first row of the first matrix: t[0, 0, :]"),
            "last_column": tr("the last column of every matrix, without a size-1 axis: t[:, :, -1]"),
            "center_2x2": tr("rows r, r+1 and columns c, c+1 of every matrix, r = (H-2)//2 and c = (W-2)//2"),
            "even_indices": tr("every second element along every axis: t[::2, ::2, ::2]")}[key]


def _index_mistakes(t: torch.Tensor, key: str) -> dict[str, torch.Tensor]:
    """What common slips give for `key`."""
    _, h, w = t.shape
    if key == "center_2x2":
        return {tr("it starts at row H//2 and column W//2 — the 2x2 centre starts at r = (H-2)//2, "
                   "c = (W-2)//2"): t[:, h // 2:h // 2 + 2, w // 2:w // 2 + 2]}
    if key == "last_column":
        return {tr("`t[:, :, -1:]` keeps a size-1 axis — index with -1, not with the slice -1:"): t[:, :, -1:],
                tr("it is the last row, not the last column — the column index is the last one: t[:, :, -1]"):
                    t[:, -1, :]}
    if key == "first_row":
        return {tr("it is the first column — the first row is t[0, 0, :]"): t[0, :, 0]}
    return {tr("it takes every second element along the first axis only — step 2 along every axis: "
               "t[::2, ::2, ::2]"): t[::2]}


@pytest.mark.value
@pytest.mark.parametrize("shape", [(5, 5, 5), (2, 4, 6)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("key", INDEX_KEYS)
def test_index_tensor_values(hw, expected, key, shape):
    t = torch.arange(torch.Size(shape).numel()).reshape(shape)
    result = checks.mapping(hw.tensors.index_tensor(t), f"index_tensor(t) for t of shape {shape}",
                            INDEX_KEYS)
    want = expected(f"index_tensor[{key}-{'x'.join(map(str, shape))}]", result[key])
    checks.close(result[key], want, tr('index_tensor(t)["{key}"] for t of shape {shape}',
                                                         key=key, shape=shape),
                 **EXACT, hint=_index_hint(key), mistakes=_index_mistakes(t, key))


@pytest.mark.parametrize("key", INDEX_KEYS)
def test_index_tensor_returns_views(hw, key):
    t = torch.rand(4, 5, 6, generator=torch.Generator().manual_seed(13))
    result = checks.mapping(hw.tensors.index_tensor(t), "index_tensor(t)", INDEX_KEYS)
    checks.view_of(result[key], t, f'index_tensor(t)["{key}"]')


def test_index_tensor_does_not_modify_input(hw):
    t = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(1))
    before = checks.snapshot(t)
    hw.tensors.index_tensor(t)
    checks.unchanged((t,), before, ("t",))


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 4, 5), (1, 4, 4), (4, 1, 4), (4, 4, 1)],
                         ids=["2-D", "4-D", "D=1", "H=1", "W=1"])
def test_index_tensor_rejects_bad_shapes(hw, shape):
    rejects(tr("index_tensor(t) with t.shape={shape}", shape=shape), tr("t must be 3-D, each dimension >= 2"),
            hw.tensors.index_tensor, torch.zeros(shape))


# -- 1.4 reshape_tensor --------------------------------------------------------------------------

TARGETS = [(2, 12), (3, 8), (4, 6), (2, 3, 4), (2, 2, 2, 3)]


@pytest.mark.value
@pytest.mark.parametrize("shape", TARGETS, ids=lambda s: "x".join(map(str, s)))
def test_reshape_tensor_values_and_views(hw, expected, shape):
    t = torch.arange(24)
    result = checks.mapping(hw.tensors.reshape_tensor(t), "reshape_tensor(t)", TARGETS)
    name = f"reshape_tensor(t)[{shape}]"
    want = expected(f"reshape_tensor[{'x'.join(map(str, shape))}]", result[shape])
    checks.close(result[shape], want, name, **EXACT,
                 hint=tr("the 24 numbers in their original order, arranged as {shape}: t.view{shape}", shape=shape),
                 mistakes={tr("the numbers are in column order — `t.view(reversed shape).T` (or .permute) "
                              "reorders them; keep their order: t.view{shape}", shape=shape):
                           t.view(tuple(reversed(shape))).permute(*reversed(range(len(shape))))})
    checks.view_of(result[shape], t, name)


def test_reshape_tensor_does_not_modify_input(hw):
    t = torch.arange(24.0)
    before = checks.snapshot(t)
    hw.tensors.reshape_tensor(t)
    checks.unchanged((t,), before, ("t",))


@pytest.mark.parametrize("shape", [(23,), (25,), (4, 6)], ids=["23-elements", "25-elements", "2-D"])
def test_reshape_tensor_rejects_bad_input(hw, shape):
    rejects(tr("reshape_tensor(t) with t.shape={shape}", shape=shape), tr("t must be 1-D with 24 elements"),
            hw.tensors.reshape_tensor, torch.zeros(shape))

"""Task 1 — Creating and manipulating tensors.

Fill in the body of every function below (each one currently raises
``NotImplementedError``). Read each docstring carefully: it says exactly what
the function receives, what it must return (shapes and dtypes), which results
must be *views* of the input and which errors to raise.

A reminder about views and copies
---------------------------------
A *view* is a new tensor object that shares its memory with another tensor:
``t[0]``, ``t[:, 1:3]``, ``t.T`` and ``t.view(2, 12)`` are views, so writing
into the view changes ``t`` too. A *copy* owns its own memory:
``t.clone()``, ``t.contiguous()`` (when ``t`` is not already contiguous) and
indexing with a list or a boolean mask (``t[[0, 2]]``, ``t[t > 0]``) make
copies. You can check whether two tensors share memory with::

    r.untyped_storage().data_ptr() == t.untyped_storage().data_ptr()

None of the functions in this file may modify the tensors they are given.
"""

from __future__ import annotations

import torch

# The shapes that Task 1.4 (``reshape_tensor``) must produce, in this order.
RESHAPE_TARGETS: list[tuple[int, ...]] = [(2, 12), (3, 8), (4, 6), (2, 3, 4), (2, 2, 2, 3)]


def create_tensors(() -> dict[str, torch.Tensor]:
    """Task 1.1 — Create four tensors and return them in a dictionary.

    Returns:
        A dict with exactly these keys:

        * ``"random_3x4"``: shape (3, 4), dtype ``torch.float32``, random
          numbers drawn uniformly from [0, 1) with ``torch.rand``;
        * ``"zeros_2x3x4"``: shape (2, 3, 4), dtype ``torch.float32``, all zeros;
        * ``"ones_5x5"``: shape (5, 5), dtype ``torch.float32``, all ones;
        * ``"range_4x4"``: shape (4, 4), dtype ``torch.int64``, the numbers
          0, 1, ..., 15 row by row. Build it with ``torch.arange(16)`` and
          then reshape it to 4 x 4.

    Example:
        >>> tensors = create_tensors()
        >>> tensors["range_4x4"][1]
        tensor([4, 5, 6, 7])
    """
    return {
        "random_3x4": torch.rand(3, 4, dtype=torch.float32),
        "zeros_2x3x4": torch.zeros(2, 3, 4, dtype=torch.float32),
        "ones_5x5": torch.ones(5, 5, dtype=torch.float32),
        "range_4x4": torch.arange(16).reshape(4, 4),
    }


def tensor_operations(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    """Task 1.2 — Basic operations on two matrices.

    Args:
        a: a 2-D float tensor of shape (m, n).
        b: a 2-D float tensor of shape (n, m) — the transposed shape of ``a`` —
           with the same dtype as ``a``.

    Returns:
        A dict with exactly these keys:

        * ``"transpose"``: the transpose of ``a``, shape (n, m) (``a.T``);
        * ``"matmul"``: the matrix product ``a @ b``, shape (m, m);
        * ``"elementwise"``: the element-wise product of ``a`` and the
          transpose of ``b``, shape (m, n);
        * ``"sum"``: the sum of all elements of ``a`` as a 0-dim tensor
          (``a.sum()``, NOT a Python float — do not call ``.item()``).

    ``a`` and ``b`` must not be modified (use no in-place operations).

    Raises:
        ValueError: if ``a`` or ``b`` is not 2-D, or if ``b`` does not have
            shape (n, m) when ``a`` has shape (m, n). The message must say
            which shapes were received.

    Example:
        >>> a = torch.ones(2, 3)
        >>> b = torch.ones(3, 2)
        >>> tensor_operations(a, b)["matmul"]
        tensor([[3., 3.],
                [3., 3.]])
    """
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(
            f"a and b must both be 2-D matrices, got a.shape={tuple(a.shape)} "
            f"and b.shape={tuple(b.shape)}"
        )
    m, n = a.shape
    if tuple(b.shape) != (n, m):
        raise ValueError(
            f"b must have shape {(n, m)} (the transpose of a.shape={(m, n)}), "
            f"got b.shape={tuple(b.shape)}"
        )
    return {
        "transpose": a.T,
        "matmul": a @ b,
        "elementwise": a * b.T,
        "sum": a.sum(),
    }


def index_tensor(t: torch.Tensor) -> dict[str, torch.Tensor]:
    """Task 1.3 — Indexing and slicing a 3-D tensor.

    Args:
        t: a 3-D tensor of shape (D, H, W) with D, H and W all at least 2.
           Any dtype.

    Returns:
        A dict with exactly these keys:

        * ``"first_row"``: the first row of the first matrix, ``t[0, 0, :]``,
          shape (W,);
        * ``"last_column"``: the last column of every matrix, shape (D, H)
          (index the last axis with ``-1``; do not keep it as a size-1 axis);
        * ``"center_2x2"``: the central 2 x 2 block of every matrix, shape
          (D, 2, 2): rows ``r, r + 1`` and columns ``c, c + 1`` where
          ``r = (H - 2) // 2`` and ``c = (W - 2) // 2``;
        * ``"even_indices"``: the elements whose three indices are all even,
          ``t[::2, ::2, ::2]``.

        Every result must be a VIEW of ``t`` (share its memory): use integer
        indices and ``start:stop:step`` slices only — no ``.clone()``,
        ``.contiguous()``, list indices or boolean masks.

    Raises:
        ValueError: if ``t`` is not 3-D or any of its dimensions is smaller
            than 2.

    Example:
        >>> t = torch.arange(2 * 4 * 4).reshape(2, 4, 4)
        >>> index_tensor(t)["center_2x2"][0]
        tensor([[ 5,  6],
                [ 9, 10]])
    """
    if t.dim() != 3 or min(t.shape) < 2:
        raise ValueError(
            f"t must be a 3-D tensor with every dimension >= 2, got shape {tuple(t.shape)}"
        )
    _, height, width = t.shape
    r = (height - 2) // 2
    c = (width - 2) // 2
    return {
        "first_row": t[0, 0, :],
        "last_column": t[:, :, -1],
        "center_2x2": t[:, r:r + 2, c:c + 2],
        "even_indices": t[::2, ::2, ::2],
    }


def reshape_tensor(t: torch.Tensor) -> dict[tuple[int, ...], torch.Tensor]:
    """Task 1.4 — View a 24-element vector in different shapes.

    Args:
        t: a 1-D tensor with exactly 24 elements (any dtype), for example
           ``torch.arange(24)``.

    Returns:
        A dict whose keys are the shapes in ``RESHAPE_TARGETS`` — (2, 12),
        (3, 8), (4, 6), (2, 3, 4) and (2, 2, 2, 3), in that order, as tuples
        of ints — and whose values are ``t`` viewed in that shape with
        ``t.view(shape)``. Every value must be a VIEW sharing memory with
        ``t`` (so no ``.clone()``), and ``t`` itself must not be modified.

    Raises:
        ValueError: if ``t`` is not 1-D or does not have 24 elements.

    Example:
        >>> views = reshape_tensor(torch.arange(24))
        >>> views[(4, 6)][1]
        tensor([ 6,  7,  8,  9, 10, 11])
    """
    if t.dim() != 1 or t.numel() != 24:
        raise ValueError(
            f"t must be a 1-D tensor with 24 elements, got shape {tuple(t.shape)}"
        )
    return {tuple(shape): t.view(shape) for shape in RESHAPE_TARGETS}

"""Task 1 — Creating and manipulating tensors.

This task practises the basics of ``torch.Tensor``: creating tensors of a
given shape and dtype, operations on matrices, indexing and slicing, and
looking at the same data in another shape without copying it. Lecture
material: "PyTorch Basics: Тензоры и Autograd", «Базовый уровень: Работа с
тензорами» (1.1–1.3), and the MMP VMK MSU lecture "Занятие 04. Введение в
PyTorch", «Базовые операции над тензорами» and «Копирование тензоров».

Fill in the body of every function below (each one currently raises
``NotImplementedError``). Each docstring is the contract: what the function
receives, what it returns (keys, shapes, dtypes), which results must be
*views* of the input and which errors it raises. How to compute it is up to
you; when a result is wrong, the failing public test (``pytest -m task1``)
says what is wrong and usually how to fix it.

Views and copies
----------------
A *view* is a tensor that shares its memory with another tensor: writing into
the view changes the other tensor too. A *copy* owns its own memory. Whether
an operation returns a view or a copy is part of its definition (the
PyTorch documentation page "Tensor Views", listed in the lecture's «Общий
обзор», names the operations that return views). You can check whether two
tensors share memory with::

    r.untyped_storage().data_ptr() == t.untyped_storage().data_ptr()

None of the functions in this file may modify the tensors they are given.
"""

from __future__ import annotations

import torch

# The shapes of the views that Task 1.4 (``reshape_tensor``) returns: the keys of its dict.
RESHAPE_TARGETS: list[tuple[int, ...]] = [(2, 12), (3, 8), (4, 6), (2, 3, 4), (2, 2, 2, 3)]


def create_tensors() -> dict[str, torch.Tensor]:
    """Task 1.1 — Create four tensors and return them in a dictionary.

    Practises creating tensors of a given shape, dtype and content (lecture
    "PyTorch Basics", 1.1 «Создание тензоров»; MMP lecture, «Базовые операции
    над тензорами»).

    Returns:
        A dict with these keys:

        * ``"random_3x4"``: shape (3, 4), dtype ``torch.float32``, random
          numbers drawn from the uniform distribution on [0, 1);
        * ``"zeros_2x3x4"``: shape (2, 3, 4), dtype ``torch.float32``, all zeros;
        * ``"ones_5x5"``: shape (5, 5), dtype ``torch.float32``, all ones;
        * ``"range_4x4"``: shape (4, 4), dtype ``torch.int64`` (integers, not
          floats), the numbers 0, 1, ..., 15 filled in row by row: row ``i``
          holds ``4*i, 4*i + 1, 4*i + 2, 4*i + 3``.

    Example:
        >>> tensors = create_tensors()
        >>> tensors["range_4x4"][1]
        tensor([4, 5, 6, 7])
    """
    ### BEGIN SOLUTION
    return {
        "random_3x4": torch.rand(3, 4, dtype=torch.float32),
        "zeros_2x3x4": torch.zeros(2, 3, 4, dtype=torch.float32),
        "ones_5x5": torch.ones(5, 5, dtype=torch.float32),
        "range_4x4": torch.arange(16).reshape(4, 4),
    }
    ### END SOLUTION


def tensor_operations(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    """Task 1.2 — Basic operations on two matrices.

    Practises the transpose, the matrix product, the element-wise product and
    a reduction over all elements (lecture "PyTorch Basics", 1.2 «Операции с
    тензорами»; MMP lecture, «Базовые операции над тензорами»).

    Args:
        a: a 2-D tensor of shape (m, n), dtype float32, float64 or int64.
        b: a 2-D tensor of shape (n, m) — the transposed shape of ``a`` —
           with the same dtype as ``a``.

    Returns:
        A dict with these keys, every value a tensor of ``a``'s dtype:

        * ``"transpose"``: the transpose of ``a``, shape (n, m);
        * ``"matmul"``: the matrix product of ``a`` and ``b``, ``a`` on the
          left, shape (m, m);
        * ``"elementwise"``: the element-wise product of ``a`` and the
          transpose of ``b``, shape (m, n);
        * ``"sum"``: the sum of all elements of ``a`` as a 0-dim tensor — a
          tensor, not a Python number.

    ``a`` and ``b`` must not be modified.

    Raises:
        ValueError: if ``a`` or ``b`` is not 2-D, or if ``b`` does not have
            shape (n, m) when ``a`` has shape (m, n). The function checks
            this itself (an error raised inside PyTorch does not count), and
            the message must say which shapes were received.

    Example:
        >>> a = torch.ones(2, 3)
        >>> b = torch.ones(3, 2)
        >>> tensor_operations(a, b)["matmul"]
        tensor([[3., 3.],
                [3., 3.]])
    """
    ### BEGIN SOLUTION
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
    ### END SOLUTION


def index_tensor(t: torch.Tensor) -> dict[str, torch.Tensor]:
    """Task 1.3 — Indexing and slicing a 3-D tensor.

    Practises indexing, slices with a step, and views (lecture "PyTorch
    Basics", 1.3 «Индексация и изменение формы»; MMP lecture, «Общий обзор»:
    Tensor Views and "Indexing, Slicing, Joining, Mutating Ops").

    Args:
        t: a 3-D tensor of shape (D, H, W) with D, H and W all at least 2 —
           think of it as D matrices of size H x W. Any dtype; it may be a
           non-contiguous view of another tensor.

    Returns:
        A dict with these keys:

        * ``"first_row"``: the first row of the first matrix, shape (W,);
        * ``"last_column"``: the last column of every matrix, shape (D, H) —
          no axis of size 1 left over;
        * ``"center_2x2"``: the central 2 x 2 block of every matrix, shape
          (D, 2, 2): rows ``r, r + 1`` and columns ``c, c + 1`` where
          ``r = (H - 2) // 2`` and ``c = (W - 2) // 2``;
        * ``"even_indices"``: the elements whose three indices are all even,
          in their original arrangement, shape
          (ceil(D / 2), ceil(H / 2), ceil(W / 2)).

        Every result must be a VIEW of ``t`` (share its memory), and ``t``
        must not be modified.

    Raises:
        ValueError: if ``t`` is not 3-D or any of its dimensions is smaller
            than 2.

    Example:
        >>> t = torch.arange(2 * 4 * 4).reshape(2, 4, 4)
        >>> index_tensor(t)["center_2x2"][0]
        tensor([[ 5,  6],
                [ 9, 10]])
    """
    ### BEGIN SOLUTION
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
    ### END SOLUTION


def reshape_tensor(t: torch.Tensor) -> dict[tuple[int, ...], torch.Tensor]:
    """Task 1.4 — View a 24-element vector in different shapes.

    Practises changing a tensor's shape without copying its data (MMP
    lecture, «Базовые операции над тензорами»: ``.reshape`` -> ``.view``,
    and «Общий обзор»: Tensor Views; lecture "PyTorch Basics", 1.3
    «Индексация и изменение формы»).

    Args:
        t: a 1-D tensor with exactly 24 elements, any dtype. It may be a
           non-contiguous view, e.g. every second element of a longer vector.

    Returns:
        A dict with one entry per shape in ``RESHAPE_TARGETS``: the key is the
        shape as a tuple of ints, the value holds the 24 elements of ``t``
        in their original order, arranged in that shape row by row (the last
        index changes fastest). Every value must be a VIEW sharing memory
        with ``t``, and ``t`` must not be modified.

    Raises:
        ValueError: if ``t`` is not 1-D or does not have 24 elements.

    Example:
        >>> views = reshape_tensor(torch.arange(24))
        >>> views[(4, 6)][1]
        tensor([ 6,  7,  8,  9, 10, 11])
    """
    ### BEGIN SOLUTION
    if t.dim() != 1 or t.numel() != 24:
        raise ValueError(
            f"t must be a 1-D tensor with 24 elements, got shape {tuple(t.shape)}"
        )
    return {tuple(shape): t.view(shape) for shape in RESHAPE_TARGETS}
    ### END SOLUTION

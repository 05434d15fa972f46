"""Plain-words explanations of PyTorch's own error messages, put before them in a failure.

A student's code that breaks inside PyTorch fails with PyTorch's message ("element 0 of
tensors does not require grad and does not have a grad_fn"), which names the symptom, not the
mistake. The first line of the failure then says what usually causes it and how to fix it.
"""

from __future__ import annotations

from .i18n import tr


def _known() -> list[tuple[str, str]]:
    # (a fragment of PyTorch's message, what it means for this homework)
    return [
        ("does not require grad and does not have a grad_fn",
         tr("PyTorch could not differentiate: the tensor you called .backward() (or torch.autograd.grad) on does "
            "not depend on any tensor with requires_grad=True — make the inputs leaves first: "
            "x = x.detach().clone().requires_grad_(True)")),
        ("a leaf Variable that requires grad is being used in an in-place operation",
         tr("an in-place operation (`+=`, `.add_()`, `x[...] = ...`) changed a leaf tensor that requires grad — "
            "compute a new tensor instead (`x = x + 1`), or work on a detached copy")),
        ("has been modified by an inplace operation",
         tr("a tensor that autograd saved for .backward() was changed in place afterwards — replace the in-place "
            "operation (`+=`, `.relu_()`, `x[...] = ...`) with one that makes a new tensor")),
        ("Trying to backward through the graph a second time",
         tr("the graph was already used by a first .backward() and freed — compute the function again for the "
            "second pass, or pass retain_graph=True (create_graph=True for higher derivatives)")),
        ("Can't call numpy() on Tensor that requires grad",
         tr(".numpy() needs a tensor without autograd history — call .detach() first (and .cpu() for a GPU "
            "tensor)")),
        ("Expected all tensors to be on the same device",
         tr("the tensors of one operation are on different devices — move them to the same one with "
            ".to(device) before combining them")),
        ("cannot be multiplied",
         tr("the matrix product's inner sizes differ — for a @ b, a's last dimension must equal b's "
            "second-to-last; check the order of the operands and their shapes")),
    ]


def explain(message: str) -> str:
    """`message` with a plain-words explanation in front, when it is a known PyTorch error."""
    for fragment, meaning in _known():
        if fragment in message:
            return f"{meaning}\n{message}"
    return message

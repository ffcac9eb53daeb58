"""Embedding lookup: rows of a weight matrix picked by integer indices, gradients summed per row.

    >>> import dlcore, dlcore.functional as F
    >>> w = dlcore.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]])
    >>> F.embedding(dlcore.tensor([[2, 1]]), w).tolist()
    [[[3.0, 4.0], [1.0, 2.0]]]
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from ..errors import DTypeError, RangeError, ShapeError, UnsupportedArgumentError, shape_str
from ..tensor import Tensor, as_tensor

__all__ = ["embedding", "one_hot"]


class Embedding(Function):
    """weight[indices]; backward scatters the gradient into the rows (skipping ``padding_idx``)."""

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, indices, weight, padding_idx: int | None = None):
        self.indices, self.rows, self.padding_idx = indices, weight.shape[0], padding_idx
        return weight[indices]

    def backward(self, g):
        xp = get_array_module(g)
        flat = self.indices.reshape(-1)
        rows = g.reshape(-1, g.shape[-1])
        if self.padding_idx is not None:
            keep = flat != self.padding_idx
            flat, rows = flat[keep], rows[keep]
        grad = xp.zeros((self.rows, g.shape[-1]), g.dtype)
        xp.add.at(grad, flat, rows)  # repeated indices add up (CuPy >= 13 has ufunc.at, as NumPy)
        return None, grad


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` (num_embeddings, dim) for integer ``input`` of any shape."""
    input, weight = as_tensor(input), as_tensor(weight)
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise UnsupportedArgumentError("embedding: max_norm, scale_grad_by_freq and sparse are not supported by dlcore")
    if weight.ndim != 2:
        raise ShapeError(f"embedding expected a 2-D weight (num_embeddings, dim), got {shape_str(weight.shape)}")
    if input.dtype.kind not in "iu":
        raise DTypeError(f"embedding expected integer indices (int64), got dtype {input.dtype}")
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise RangeError(f"embedding expected padding_idx in [{-n}, {n - 1}], got {padding_idx}")
        padding_idx %= n
    if input.numel():
        lo, hi = int(input.array.min()), int(input.array.max())
        if lo < 0 or hi >= n:
            raise RangeError(f"embedding expected indices in [0, {n - 1}], got values in [{lo}, {hi}]")
    return Embedding.apply(input, weight, padding_idx=padding_idx)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot vectors for the integer class indices in ``tensor`` (any shape), as PyTorch's:
    a new last dim of ``num_classes`` (default: the largest index + 1).

    >>> import dlcore
    >>> one_hot(dlcore.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    t = as_tensor(tensor)
    if t.dtype.kind not in "iu":
        raise DTypeError(f"one_hot expected an integer tensor of class indices, got dtype {t.dtype}")
    xp = t.xp
    low = int(t.array.min()) if t.numel() else 0
    top = int(t.array.max()) if t.numel() else -1
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < -1:
        raise RangeError(f"one_hot expected num_classes to be -1 or a non-negative int, got {num_classes!r}")
    n = top + 1 if num_classes == -1 else num_classes
    if low < 0 or top >= n:
        raise RangeError(f"one_hot: class values must be in [0, {n}), got values from {low} to {top}")
    out = xp.zeros(t.shape + (n,), dtype=xp.int64)
    xp.put_along_axis(out, t.array.astype(xp.int64)[..., None], 1, axis=-1)
    return Tensor(out)

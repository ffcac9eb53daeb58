"""More of PyTorch's Tensor methods: element-wise math (``square``, ``rsqrt``, ``floor``, ``erf``...),
their in-place forms (``exp_``, ``sigmoid_``, ``floor_``...), ``bmm``/``outer``, and the index
shuffles ``flip``, ``roll``, ``tril``, ``triu``, ``nonzero``. Each is built from recorded ops, so
gradients flow as in PyTorch (zero through the rounding family)::

    >>> import dlcore
    >>> x = dlcore.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x.flip(0).tolist(), x.roll(1, 1).tolist(), x.triu().tolist()
    ([[3.0, 4.0], [1.0, 2.0]], [[2.0, 1.0], [4.0, 3.0]], [[1.0, 2.0], [0.0, 4.0]])
    >>> y = x.clone(); y.square_().sqrt_().tolist() == x.tolist(), y.floor_().neg_().tolist()
    (True, [[-1.0, -2.0], [-3.0, -4.0]])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from . import ops_math
from .errors import ShapeError, shape_str
from .ops_shape import Cat
from .tensor_methods import float_op

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor


def _keeps_integers(op: type, name: str) -> Callable:
    """``floor``/``ceil``/``trunc``: integer tensors come back unchanged, as in PyTorch."""

    def method(self: "Tensor") -> "Tensor":
        return self.clone() if self.dtype.kind in "biu" else op.apply(self)

    method.__name__ = method.__qualname__ = name
    return method


def _in_place(name: str) -> Callable:
    """``<name>_``: the out-of-place method ``name``, written back into this tensor (PyTorch's autograd
    rules for in-place ops apply: see :mod:`dlcore.tensor_inplace`)."""

    def method(self: "Tensor", *args: Any, **kwargs: Any) -> "Tensor":
        return self._inplace(f"{name}_", lambda t: getattr(t, name)(*args, **kwargs))

    method.__name__ = method.__qualname__ = f"{name}_"
    return method


def _dims(dims: Sequence, ndim: int, op: str) -> list[int]:
    out = []
    for d in dims:
        if not -max(ndim, 1) <= int(d) < max(ndim, 1):
            raise ShapeError(f"{op}: dim {d} is out of range for a tensor with {ndim} dims")
        out.append(int(d) % max(ndim, 1))
    return out


class MathMethods:
    """Mixin with the methods above (see the module docstring)."""

    log2, log10 = float_op(ops_math.Log2), float_op(ops_math.Log10)
    tan, erf = float_op(ops_math.Tan), float_op(ops_math.Erf)
    floor = _keeps_integers(ops_math.Floor, "floor")
    ceil = _keeps_integers(ops_math.Ceil, "ceil")
    trunc = fix = _keeps_integers(ops_math.Trunc, "trunc")

    def round(self, decimals: int = 0) -> "Tensor":
        """Round half to even (to ``decimals`` places: scale, round, unscale, as PyTorch)."""
        if self.dtype.kind in "biu":
            return self.clone()  # type: ignore[attr-defined]
        if decimals == 0:
            return ops_math.Round.apply(self)
        scale = 10.0 ** decimals
        return ops_math.Round.apply(self * scale) / scale  # type: ignore[operator]

    def square(self) -> "Tensor":
        return self * self  # type: ignore[operator]

    def rsqrt(self) -> "Tensor":
        return self._floating("rsqrt").sqrt().reciprocal()  # type: ignore[attr-defined]

    def reciprocal(self) -> "Tensor":
        return 1 / self._floating("reciprocal")  # type: ignore[attr-defined, operator]

    def neg(self) -> "Tensor":
        return -self  # type: ignore[operator]

    negative = neg

    def true_divide(self, other: Any) -> "Tensor":
        return self / other  # type: ignore[operator]

    # in place (each goes through Tensor._inplace, so a recorded graph stays right)
    exp_, log_, log1p_, sqrt_, rsqrt_ = (_in_place(n) for n in ("exp", "log", "log1p", "sqrt", "rsqrt"))
    abs_, neg_, sign_, square_, reciprocal_ = (_in_place(n) for n in ("abs", "neg", "sign", "square", "reciprocal"))
    sin_, cos_, tan_, erf_, log2_, log10_ = (_in_place(n) for n in ("sin", "cos", "tan", "erf", "log2", "log10"))
    tanh_, sigmoid_, relu_, pow_ = (_in_place(n) for n in ("tanh", "sigmoid", "relu", "pow"))
    floor_, ceil_, round_, trunc_ = (_in_place(n) for n in ("floor", "ceil", "round", "trunc"))

    # ------------------------------------------------------------------ products
    def bmm(self, mat2: "Tensor") -> "Tensor":
        """Batched matrix product of (B, n, m) and (B, m, p)."""
        other = self._wrap(mat2)  # type: ignore[attr-defined]
        if self.ndim != 3 or other.ndim != 3 or self.shape[0] != other.shape[0]:  # type: ignore[attr-defined]
            raise ShapeError(f"bmm expected two 3-D tensors with the same batch size, got {shape_str(self.shape)} "  # type: ignore[attr-defined]
                             f"and {shape_str(other.shape)}")
        return self @ other  # type: ignore[operator]

    def outer(self, vec2: "Tensor") -> "Tensor":
        """Outer product of two 1-D tensors."""
        other = self._wrap(vec2)  # type: ignore[attr-defined]
        if self.ndim != 1 or other.ndim != 1:  # type: ignore[attr-defined]
            raise ShapeError(f"outer expected two 1-D tensors, got {shape_str(self.shape)} and {shape_str(other.shape)}")  # type: ignore[attr-defined]
        return self.reshape(-1, 1) * other.reshape(1, -1)  # type: ignore[attr-defined]

    ger = outer

    def addmm(self, mat1: "Tensor", mat2: "Tensor", *, beta: Any = 1, alpha: Any = 1) -> "Tensor":
        """``beta * self + alpha * (mat1 @ mat2)`` (self broadcasts), as ``torch.addmm``."""
        product = self._wrap(mat1).mm(mat2)  # type: ignore[attr-defined]
        product = product if alpha == 1 else product * alpha
        return product + (self if beta == 1 else self * beta)  # type: ignore[operator]

    # ------------------------------------------------------------------ diagonals and statistics
    def diagonal(self, offset: int = 0) -> "Tensor":
        """The ``offset``-th diagonal of a 2-D tensor (above the main one for offset > 0)."""
        if self.ndim != 2:  # type: ignore[attr-defined]
            raise ShapeError(f"diagonal expected a 2-D tensor, got {shape_str(self.shape)}")  # type: ignore[attr-defined]
        rows, cols = self.shape  # type: ignore[attr-defined]
        n = max(0, min(rows + min(offset, 0), cols - max(offset, 0)))
        i = self.xp.arange(n) - min(offset, 0)  # type: ignore[attr-defined]
        return self[self._new(i), self._new(i + offset)]  # type: ignore[index, attr-defined]

    def diag(self, diagonal: int = 0) -> "Tensor":
        """A 1-D tensor's values on the ``diagonal`` of a square matrix, or a 2-D tensor's diagonal."""
        if self.ndim == 2:  # type: ignore[attr-defined]
            return self.diagonal(diagonal)
        if self.ndim != 1:  # type: ignore[attr-defined]
            raise ShapeError(f"diag expected a 1-D or 2-D tensor, got {shape_str(self.shape)}")  # type: ignore[attr-defined]
        m, k = self.shape[0], int(diagonal)  # type: ignore[attr-defined]
        out = self._new(self.xp.zeros((m + abs(k), m + abs(k)), self.dtype))  # type: ignore[attr-defined]
        i = self.xp.arange(m)  # type: ignore[attr-defined]
        rows, cols = (i, i + k) if k >= 0 else (i - k, i)
        out[self._new(rows), self._new(cols)] = self  # recorded: the gradient flows back to self
        return out

    def trace(self) -> "Tensor":
        """The sum of a 2-D tensor's main diagonal."""
        return self.diagonal().sum()

    def var_mean(self, dim: Any = None, keepdim: bool = False, *, correction: int = 1) -> tuple:
        """``(var, mean)`` over ``dim``, as ``torch.var_mean``."""
        return (self.var(dim, keepdim=keepdim, correction=correction),  # type: ignore[attr-defined]
                self.mean(dim, keepdim=keepdim))  # type: ignore[attr-defined]

    def std_mean(self, dim: Any = None, keepdim: bool = False, *, correction: int = 1) -> tuple:
        """``(std, mean)`` over ``dim``, as ``torch.std_mean``."""
        return (self.std(dim, keepdim=keepdim, correction=correction),  # type: ignore[attr-defined]
                self.mean(dim, keepdim=keepdim))  # type: ignore[attr-defined]

    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False) -> Any:
        """The distinct values (sorted), optionally with the inverse indices and the counts (no gradient)."""
        values, inverse, counts = self.xp.unique(self.array, return_inverse=True, return_counts=True)  # type: ignore[attr-defined]
        out = [self._new(values)]  # type: ignore[attr-defined]
        if return_inverse:
            out.append(self._new(inverse.reshape(self.shape).astype(np.int64)))  # type: ignore[attr-defined]
        if return_counts:
            out.append(self._new(counts.astype(np.int64)))  # type: ignore[attr-defined]
        return out[0] if len(out) == 1 else tuple(out)

    # ------------------------------------------------------------------ index shuffles
    def flip(self, *dims: Any) -> "Tensor":
        """Reverse the order along ``dims`` (``x.flip(0)``, ``x.flip([0, 1])``, ``torch.flip(x, dims)``)."""
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (list, tuple)) else dims
        out = self
        for d in _dims(dims, self.ndim, "flip"):  # type: ignore[attr-defined]
            out = out.index_select(d, self._new(self.xp.arange(self.shape[d] - 1, -1, -1)))  # type: ignore[attr-defined]
        return out

    def roll(self, shifts: Any, dims: Any = None) -> "Tensor":
        """Shift elements cyclically by ``shifts`` along ``dims`` (flattened when ``dims`` is None)."""
        if dims is None:
            return self.flatten().roll(shifts, 0).reshape(self.shape)  # type: ignore[attr-defined]
        shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
        dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
        if len(shifts) != len(dims):
            raise ShapeError(f"roll expected as many shifts as dims, got {len(shifts)} and {len(dims)}")
        out = self
        for s, d in zip(shifts, _dims(dims, self.ndim, "roll")):  # type: ignore[attr-defined]
            n = self.shape[d]  # type: ignore[attr-defined]
            k = int(s) % n if n else 0
            if k:
                head = [slice(None)] * d + [slice(n - k, None)]
                tail = [slice(None)] * d + [slice(None, n - k)]
                out = Cat.apply(out[tuple(head)], out[tuple(tail)], axis=d)  # type: ignore[index]
        return out

    def _triangle(self, op: str, keep: Callable, diagonal: int) -> "Tensor":
        if self.ndim < 2:  # type: ignore[attr-defined]
            raise ShapeError(f"{op} expected a tensor with at least 2 dims, got {shape_str(self.shape)}")  # type: ignore[attr-defined]
        rows, cols = self.shape[-2:]  # type: ignore[attr-defined]
        mask = keep(self.xp.ones((rows, cols), dtype=bool), int(diagonal))  # type: ignore[attr-defined]
        return self.where(mask, 0)  # type: ignore[attr-defined]

    def tril(self, diagonal: int = 0) -> "Tensor":
        """The lower triangle of the last two dims (on and below ``diagonal``); zeros elsewhere."""
        return self._triangle("tril", lambda m, k: self.xp.tril(m, k), diagonal)  # type: ignore[attr-defined]

    def triu(self, diagonal: int = 0) -> "Tensor":
        """The upper triangle of the last two dims (on and above ``diagonal``); zeros elsewhere."""
        return self._triangle("triu", lambda m, k: self.xp.triu(m, k), diagonal)  # type: ignore[attr-defined]

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        """Indices of the non-zero elements: an (n, ndim) int64 tensor, or one 1-D tensor per dim."""
        found = self.xp.nonzero(self.array)  # type: ignore[attr-defined]
        if as_tuple:
            return tuple(self._new(i.astype(np.int64)) for i in found)  # type: ignore[attr-defined]
        return self._new(self.xp.stack(found, axis=1).astype(np.int64).reshape(-1, self.ndim))  # type: ignore[attr-defined]

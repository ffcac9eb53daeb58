"""Sorting methods under PyTorch's names: ``sort``, ``argsort``, ``topk``, ``msort``.

The order is computed on the raw array (NumPy's/CuPy's stable argsort) and the values are
``gather``-ed through it, so the gradient flows back to the elements that were picked. NaN
counts as larger than every number, as in PyTorch: last in an ascending sort, first in a
descending one and in ``topk``::

    >>> import dlcore
    >>> x = dlcore.tensor([3.0, 1.0, float("nan"), 2.0])
    >>> x.sort().values.tolist(), x.sort(descending=True).indices.tolist()
    ([1.0, 2.0, 3.0, nan], [2, 0, 3, 1])
    >>> x.topk(2, largest=False).indices.tolist(), dlcore.argsort(x).tolist()
    ([1, 3], [1, 3, 0, 2])

Ties keep their original order (PyTorch's ``stable=True``; its default makes no promise).
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import RangeError

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

sort_result = namedtuple("sort", ["values", "indices"])
topk_result = namedtuple("topk", ["values", "indices"])


def _order(xp: Any, a: Any, axis: int, descending: bool) -> Any:
    """int64 indices that sort ``a`` along ``axis``, ties in their original order."""
    if not descending:
        return xp.argsort(a, axis=axis, kind="stable").astype(np.int64)
    n = a.shape[axis]  # a stable sort of the reversed array, read backwards: largest (NaN) first
    backwards = xp.argsort(xp.flip(a, axis=axis), axis=axis, kind="stable")
    return (n - 1 - xp.flip(backwards, axis=axis)).astype(np.int64)


class SortMethods:
    """Mixin with Tensor's sorting methods (see the module docstring)."""

    def sort(self, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:
        """``(values, indices)`` sorted along ``dim``; the values carry the gradient."""
        axis = self._axis("sort", dim) or 0  # type: ignore[attr-defined]
        if self.ndim == 0:  # type: ignore[attr-defined]
            return sort_result(self, self._new(self.xp.zeros((), np.int64)))  # type: ignore[attr-defined]
        order = _order(self.xp, self.array, axis, bool(descending))  # type: ignore[attr-defined]
        index = self._new(order)  # type: ignore[attr-defined]
        return sort_result(self.gather(axis, index), index)  # type: ignore[attr-defined]

    def argsort(self, dim: int = -1, descending: bool = False, *, stable: bool = False) -> "Tensor":
        """The indices that sort the tensor along ``dim`` (int64, no gradient)."""
        return self.sort(dim, descending).indices

    def msort(self) -> "Tensor":
        """The values sorted along dim 0."""
        return self.sort(0).values

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        """The ``k`` largest (or, with ``largest=False``, smallest) values along ``dim`` and their indices."""
        axis = self._axis("topk", dim) or 0  # type: ignore[attr-defined]
        size = self.shape[axis] if self.ndim else 1  # type: ignore[attr-defined]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= size:
            raise RangeError(f"topk expected k in [0, {size}] (the size of dim {dim}), got {k!r}")
        if self.ndim == 0:  # type: ignore[attr-defined]
            return topk_result(*self.sort())
        values, indices = self.sort(axis, descending=bool(largest))
        pick = self._new(self.xp.arange(int(k)))  # type: ignore[attr-defined]
        return topk_result(values.index_select(axis, pick), indices.index_select(axis, pick))

"""Shape and indexing ops as Functions: reshape, permute, expand, repeat, cat, indexing, gather.

Ops marked ``returns_view`` may return an array sharing the input's memory; their output shares
the input's version counter, so an in-place change through the view is seen by autograd.

    >>> import dlcore
    >>> x = dlcore.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    >>> x.transpose(0, 1).shape, x[[0, 0]].shape
    ((3, 1), (2, 3))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd import Function, unbroadcast
from .backend import get_array_module
from .errors import ShapeError, shape_str


class _NewShape(Function):
    """A view of ``x`` with another ``shape`` (a ``ValueError`` from the array becomes a ShapeError
    worded by the subclass's ``why``); ``backward`` brings the gradient back to ``x``'s shape."""

    saves_inputs = saves_output = False
    returns_view = True

    def forward(self, x, shape: tuple):
        self.shape = x.shape
        try:
            return self.view(x, shape)
        except ValueError:
            raise ShapeError(self.why(x, tuple(shape))) from None


class Reshape(_NewShape):
    @staticmethod
    def view(x, shape):
        return x.reshape(shape)

    @staticmethod
    def why(x, shape) -> str:
        return f"reshape cannot turn {shape_str(x.shape)} ({x.size} elements) into {shape}"

    def backward(self, g):
        return (g.reshape(self.shape),)


class Permute(Function):
    """``permute(dims)``: dims already normalised to non-negative ints."""

    saves_inputs = saves_output = False
    returns_view = True

    def forward(self, x, axes: tuple):
        self.axes = axes
        return x.transpose(axes)

    def backward(self, g):
        return (g.transpose(tuple(int(i) for i in np.argsort(self.axes))),)


class Expand(_NewShape):
    @staticmethod
    def view(x, shape):
        return get_array_module(x).broadcast_to(x, shape)

    @staticmethod
    def why(x, shape) -> str:
        return f"expand cannot expand a tensor of shape {shape_str(x.shape)} to {shape}: only size-1 dimensions can grow"

    def backward(self, g):
        return (unbroadcast(g, self.shape),)


class Repeat(Function):
    """PyTorch's ``repeat(*sizes)``: tile the tensor ``sizes[i]`` times along dim i."""

    saves_inputs = saves_output = False

    def forward(self, x, repeats: tuple):
        if len(repeats) < x.ndim:
            raise ShapeError(f"repeat expected at least {x.ndim} repeat counts (one per dim), got {len(repeats)}")
        self.in_shape, self.shape = x.shape, (1,) * (len(repeats) - x.ndim) + x.shape
        self.repeats = repeats
        return get_array_module(x).tile(x.reshape(self.shape), repeats)

    def backward(self, g):
        split = []
        for r, n in zip(self.repeats, self.shape):
            split += [r, n]
        g = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return (g.reshape(self.in_shape),)


class Clone(Function):
    saves_inputs = saves_output = False

    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return (g,)


class Cat(Function):
    """``cat(tensors, dim)``; every input is a positional tensor."""

    saves_inputs = saves_output = False

    def forward(self, *arrays, axis: int = 0):
        self.sizes = [a.shape[axis] for a in arrays]
        self.axis = axis
        try:
            return get_array_module(*arrays).concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(shape_str(a.shape) for a in arrays)
            raise ShapeError(f"cat expected tensors with the same shape except in dim {axis}, got {shapes}") from None

    def backward(self, g):
        xp = get_array_module(g)
        return tuple(xp.split(g, np.cumsum(self.sizes)[:-1].tolist(), axis=self.axis))


def torch_index(index: Any) -> Any:
    """An index in PyTorch's meaning, as a NumPy index (Tensor parts replaced by their arrays).

    As PyTorch, a short list holding sequences, slices, None or Ellipsis is read as a tuple:
    ``x[[[0, 1], [1, 1]]]`` is ``x[[0, 1], [1, 1]]``.

    >>> torch_index([[0, 1], [1, 1]])
    (array([0, 1]), array([1, 1]))
    """
    if isinstance(index, list) and len(index) < 32 and any(
            isinstance(p, (list, tuple, slice)) or p is None or p is Ellipsis or hasattr(p, "array") for p in index):
        index = tuple(index)
    if isinstance(index, tuple):
        return tuple(_index_part(p) for p in index)
    return _index_part(index)


def _index_part(p: Any) -> Any:
    if hasattr(p, "array") and hasattr(p, "requires_grad"):  # a Tensor
        p = p.array
    if isinstance(p, (list, tuple)):
        p = np.asarray(p)
        if p.dtype.kind not in "biu":
            if p.size == 0:
                return p.astype(np.int64)
            raise IndexError(f"tensors used as indices must be long, int, byte or bool, got a list of {p.dtype}")
        return p
    if hasattr(p, "dtype") and getattr(p, "ndim", 0) > 0 and p.dtype.kind not in "biu":
        raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, got dtype {p.dtype}")
    return p


def _is_basic_index(index: Any) -> bool:
    """Basic indices (ints, slices, None, ...) never select an element twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


class GetItem(Function):
    saves_inputs = saves_output = False
    returns_view = True

    def forward(self, x, index: Any):
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, g):
        xp = get_array_module(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        if _is_basic_index(self.index):
            out[self.index] = g
        else:  # fancy indices may repeat: accumulate
            xp.add.at(out, self.index, g)
        return (out,)


class SetItem(Function):
    """``x[index] = v`` as an op: the gradient of x is zero where it was overwritten."""

    saves_inputs = saves_output = False

    def forward(self, x, v, index: Any):
        self.index, self.v_shape = index, v.shape
        out = x.copy()
        out[index] = v
        return out

    def backward(self, g):
        gx = None
        if self.needs_input_grad[0]:
            gx = g.copy()
            gx[self.index] = 0
        gv = None
        if self.needs_input_grad[1]:
            gv = unbroadcast(g[self.index], self.v_shape)
        return gx, gv


class Gather(Function):
    """``gather(x, dim, index)``: ``out[i][j] = x[index[i][j]][j]`` for dim 0, and so on."""

    saves_inputs = saves_output = False

    def forward(self, x, index: Any, axis: int):
        self.shape, self.index, self.axis = x.shape, index, axis
        if index.ndim != x.ndim:
            raise ShapeError(f"gather expected index with the same number of dims as input ({x.ndim}), got {index.ndim}")
        return get_array_module(x).take_along_axis(x, index, axis=axis)

    def backward(self, g):
        xp = get_array_module(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        shape = self.index.shape
        grid = [xp.arange(n).reshape((-1,) + (1,) * (len(shape) - i - 1)) for i, n in enumerate(shape)]
        grid[self.axis] = self.index
        xp.add.at(out, tuple(grid), g)
        return (out,)


class IndexSelect(Function):
    saves_inputs = saves_output = False

    def forward(self, x, index: Any, axis: int):
        if index.ndim > 1:
            raise ShapeError(f"index_select expected a 0-d or 1-d index, got shape {shape_str(index.shape)}")
        self.shape, self.index, self.axis = x.shape, index.reshape(-1), axis
        return get_array_module(x).take(x, self.index, axis=axis)

    def backward(self, g):
        xp = get_array_module(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        moved = xp.moveaxis(out, self.axis, 0)
        xp.add.at(moved, self.index, xp.moveaxis(g, self.axis, 0))
        return (out,)

"""Reductions as Functions: sum, mean, prod, var, max/min (whole and along a dim), logsumexp, cumsum, norm.

``axis`` is None (all dimensions), an int or a tuple of ints (negative counts from the end),
already normalised by the Tensor method that calls the op.

    >>> import dlcore
    >>> x = dlcore.tensor([[1.0, 5.0], [7.0, 2.0]], requires_grad=True)
    >>> values, indices = x.max(dim=1)
    >>> values.sum().backward(); indices.tolist(), x.grad.tolist()
    ([1, 0], [[0.0, 1.0], [1.0, 0.0]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd import Function
from .backend import get_array_module
from .errors import ShapeError, shape_str


def normalize_axis(op: str, axis: Any, ndim: int) -> Any:
    """``axis`` with negative entries made positive and checked against ``ndim`` (0-d counts as 1-d).

    >>> normalize_axis("sum", (-1, 0), 3)
    (2, 0)
    """
    if axis is None:
        return None
    single = not isinstance(axis, (tuple, list))
    axes = (axis,) if single else tuple(axis)
    rank = max(ndim, 1)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op}() expected dim to be an int or a tuple of ints, got {a!r}")
        if not -rank <= a < rank:
            raise IndexError(f"{op}(): dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {a})")
        out.append(int(a) % rank)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}(): dim {axis} appears multiple times in the list of dims")
    if ndim == 0:
        return None
    return out[0] if single else tuple(out)


def expand_reduced(g, shape: tuple, axis: Any, keepdims: bool):
    """Broadcast the gradient of a reduction back to the input's shape."""
    xp = get_array_module(g)
    if axis is not None and not keepdims:
        axes = (axis,) if np.isscalar(axis) else tuple(axis)
        g = xp.expand_dims(g, tuple(a % len(shape) for a in axes))
    return xp.broadcast_to(g, shape)


def check_nonempty(op: str, x: Any, axis: Any) -> None:
    """Reductions without an identity (max, min, argmax) refuse empty dims, as PyTorch does."""
    axes = range(x.ndim) if axis is None else (axis,) if np.isscalar(axis) else axis
    for a in axes:
        if x.shape[a] == 0:
            raise ShapeError(f"{op}(): expected reduction dim {a} to have non-zero size, got input of shape {shape_str(x.shape)}")
    if axis is None and x.size == 0:
        raise ShapeError(f"{op}(): expected a non-empty tensor for a reduction over all dims, got shape {shape_str(x.shape)}")


class _Reduction(Function):
    saves_inputs = saves_output = False

    def setup(self, x, axis, keepdims) -> None:
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims


class Sum(_Reduction):
    def forward(self, x, axis: Any = None, keepdims: bool = False, dtype: Any = None):
        self.setup(x, axis, keepdims)
        if dtype is None and x.dtype.kind in "bui":
            dtype = np.int64
        return x.sum(axis=axis, keepdims=keepdims, dtype=dtype)

    def backward(self, g):
        return (expand_reduced(g, self.shape, self.axis, self.keepdims),)


class Mean(_Reduction):
    def forward(self, x, axis: Any = None, keepdims: bool = False):
        self.setup(x, axis, keepdims)
        xp = get_array_module(x)
        total = x.sum(axis=axis, keepdims=keepdims)
        self.count = x.size // max(total.size, 1) if total.size else 1
        if x.size == 0:
            return xp.full(xp.shape(total), np.nan, dtype=x.dtype)
        return xp.asarray(total / self.count, dtype=x.dtype)

    def backward(self, g):
        return (expand_reduced(g / self.count, self.shape, self.axis, self.keepdims),)


class Var(_Reduction):
    """Variance with ``correction`` (1 = unbiased, PyTorch's default)."""

    saves_inputs = True

    def forward(self, x, axis: Any = None, keepdims: bool = False, correction: float = 1):
        self.setup(x, axis, keepdims)
        xp = get_array_module(x)
        n = x.size // max(x.sum(axis=axis, keepdims=True).size, 1) if x.size else 0
        self.xc = x - x.mean(axis=axis, keepdims=True) if x.size else x
        self.denom = max(n - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (self.xc * self.xc).sum(axis=axis, keepdims=keepdims) / x.dtype.type(self.denom)
        return xp.asarray(out, dtype=x.dtype)

    def backward(self, g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (expand_reduced(g, self.shape, self.axis, self.keepdims) * (2 * self.xc / self.xc.dtype.type(self.denom)),)


class Prod(_Reduction):
    """Product; the gradient (product of the other elements) is exact even where inputs are 0."""

    saves_inputs = True

    def forward(self, x, axis: Any = None, keepdims: bool = False):
        self.setup(x, axis, keepdims)
        self.x = x
        return x.prod(axis=axis, keepdims=keepdims)

    def backward(self, g):
        xp = get_array_module(g)
        x = self.x.reshape(-1) if self.axis is None else xp.moveaxis(self.x, self.axis, -1)
        ones = xp.ones(x.shape[:-1] + (1,), dtype=x.dtype)
        left = xp.concatenate([ones, xp.cumprod(x, axis=-1)[..., :-1]], axis=-1)
        right = xp.flip(xp.concatenate([ones, xp.cumprod(xp.flip(x, -1), axis=-1)[..., :-1]], axis=-1), -1)
        others = left * right
        others = others.reshape(self.shape) if self.axis is None else xp.moveaxis(others, -1, self.axis)
        return (expand_reduced(g, self.shape, self.axis, self.keepdims) * others,)


class MaxAll(_Reduction):
    """Max (or min) over ``axis`` returning values only; ties (and NaNs) share the gradient evenly."""

    saves_inputs = True
    use_min = False

    def forward(self, x, axis: Any = None, keepdims: bool = False):
        self.setup(x, axis, keepdims)
        check_nonempty("min" if self.use_min else "max", x, axis)
        xp = get_array_module(x)
        top = x.min(axis=axis, keepdims=True) if self.use_min else x.max(axis=axis, keepdims=True)
        mask = (x == top)
        if x.dtype.kind in "fc":
            mask |= xp.isnan(x) & xp.isnan(top)
        mask = mask.astype(x.dtype)
        self.weights = mask / mask.sum(axis=axis, keepdims=True)
        if keepdims:
            return top
        return top.reshape(()) if axis is None else top.squeeze(axis)

    def backward(self, g):
        return (expand_reduced(g, self.shape, self.axis, self.keepdims) * self.weights,)


class MinAll(MaxAll):
    use_min = True


class MaxDim(_Reduction):
    """``max(x, dim)`` values; ``self.indices`` holds the argmax (first occurrence, NaN wins)."""

    use_min = False

    def forward(self, x, axis: int, keepdims: bool = False):
        self.setup(x, axis, keepdims)
        xp = get_array_module(x)
        check_nonempty("min" if self.use_min else "max", x, axis)
        idx = (x.argmin(axis=axis) if self.use_min else x.argmax(axis=axis)) if x.ndim else xp.zeros((), np.int64)
        self.idx = idx.astype(np.int64)
        if x.ndim == 0:
            return x.copy()
        values = xp.take_along_axis(x, xp.expand_dims(self.idx, axis), axis=axis)
        return values if keepdims else values.squeeze(axis)

    def indices(self) -> Any:
        if self.keepdims and len(self.shape):
            return get_array_module(self.idx).expand_dims(self.idx, self.axis)
        return self.idx

    def backward(self, g):
        xp = get_array_module(g)
        if not self.shape:
            return (g,)
        out = xp.zeros(self.shape, dtype=g.dtype)
        gk = g if self.keepdims else xp.expand_dims(g, self.axis)
        xp.put_along_axis(out, xp.expand_dims(self.idx, self.axis), gk, axis=self.axis)
        return (out,)


class MinDim(MaxDim):
    use_min = True


class LogSumExp(_Reduction):
    saves_inputs = True

    def forward(self, x, axis: Any = None, keepdims: bool = False):
        self.setup(x, axis, keepdims)
        xp = get_array_module(x)
        m = x.max(axis=axis, keepdims=True) if x.size else xp.zeros((1,) * x.ndim, x.dtype)
        m = xp.where(xp.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):
            self.x, self.out = x, m + xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True))
        out = self.out
        return out if keepdims else (out.reshape(()) if axis is None else out.squeeze(axis))

    def backward(self, g):
        xp = get_array_module(g)
        return (expand_reduced(g, self.shape, self.axis, self.keepdims) * xp.exp(self.x - self.out),)


class Cumsum(Function):
    saves_inputs = saves_output = False

    def forward(self, x, axis: int):
        self.axis = axis
        if x.ndim == 0:
            return x.copy()
        return get_array_module(x).cumsum(x, axis=axis, dtype=np.int64 if x.dtype.kind in "bui" else x.dtype)

    def backward(self, g):
        xp = get_array_module(g)
        if g.ndim == 0:
            return (g,)
        return (xp.flip(xp.cumsum(xp.flip(g, self.axis), axis=self.axis), self.axis),)


class Norm2(_Reduction):
    """The 2-norm over ``axis``; its gradient at 0 is 0 (as PyTorch's)."""

    saves_inputs = True

    def forward(self, x, axis: Any = None, keepdims: bool = False):
        self.setup(x, axis, keepdims)
        xp = get_array_module(x)
        self.x = x
        self.norm = xp.sqrt((x * x).sum(axis=axis, keepdims=True))
        out = self.norm
        return out if keepdims else (out.reshape(()) if axis is None else out.squeeze(axis))

    def backward(self, g):
        xp = get_array_module(g)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = xp.where(self.norm == 0, 0, self.x / self.norm).astype(g.dtype)
        return (expand_reduced(g, self.shape, self.axis, self.keepdims) * scale,)

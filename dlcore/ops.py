"""The core tensor ops, each one Function with forward and backward on raw arrays.

These back Tensor's operators (``+``, ``@``, ``sum``, indexing, ...). NN ops such as
activations and losses live in :mod:`dlcore.functional`.

    >>> import dlcore
    >>> a = dlcore.tensor([[1.0, 2.0]], requires_grad=True)
    >>> (a @ a.T).backward(); a.grad.tolist()
    [[2.0, 4.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd import Function, unbroadcast
from .backend import Device, device_of, get_array_module, to_device
from .errors import ShapeError, shape_str


def _broadcast(op: str, fn, a, b):
    """``fn(a, b)``, with NumPy's broadcasting error turned into a ShapeError naming the op."""
    try:
        return fn(a, b)
    except ValueError:
        if a.shape == b.shape or _broadcastable(a.shape, b.shape):
            raise
        raise ShapeError(
            f"{op} cannot broadcast shapes {shape_str(a.shape)} and {shape_str(b.shape)}: "
            "aligned from the right, each pair of sizes must be equal or 1"
        ) from None


def _broadcastable(s: tuple, t: tuple) -> bool:
    return all(m == n or m == 1 or n == 1 for m, n in zip(s[::-1], t[::-1]))


class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return _broadcast("add", lambda u, v: u + v, a, b)

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return _broadcast("sub", lambda u, v: u - v, a, b)

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return _broadcast("mul", lambda u, v: u * v, a, b)

    def backward(self, g):
        ga = unbroadcast(g * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return _broadcast("div", lambda u, v: u / v, a, b)

    def backward(self, g):
        ga = unbroadcast(g / self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * self.a / (self.b * self.b), self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Pow(Function):
    """``x ** p`` for a constant exponent p."""

    def forward(self, x, exponent: float):
        self.x, self.p = x, exponent
        return x**exponent

    def backward(self, g):
        return (g * self.p * self.x ** (self.p - 1),)


class Exp(Function):
    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, g):
        return (g * self.y,)


class Log(Function):
    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, g):
        return (g / self.x,)


class Abs(Function):
    def forward(self, x):
        self.sign = get_array_module(x).sign(x)
        return abs(x)

    def backward(self, g):
        return (g * self.sign,)


class MatMul(Function):
    """``a @ b`` with NumPy's rules for 1-D operands and broadcast batch dimensions."""

    def forward(self, a, b):
        self.a, self.b = a, b
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul expected operands with at least 1 dimension, got {shape_str(a.shape)} @ {shape_str(b.shape)}")
        k_a, k_b = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
        if k_a != k_b:
            raise ShapeError(
                f"matmul expected the last dimension of the left operand ({k_a}) to equal the "
                f"{'first' if b.ndim == 1 else 'second-to-last'} dimension of the right one ({k_b}), "
                f"got {shape_str(a.shape)} @ {shape_str(b.shape)}"
            )
        try:
            return a @ b
        except ValueError:
            ba, bb = a.shape[:-2], b.shape[:-2]
            if _broadcastable(ba, bb):
                raise
            raise ShapeError(f"matmul cannot broadcast the batch dimensions {shape_str(ba)} and {shape_str(bb)}, "
                             f"got {shape_str(a.shape)} @ {shape_str(b.shape)}") from None

    def backward(self, g):
        a, b = self.a, self.b
        xp = get_array_module(g)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(g2 @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


def _expand_reduced(g, shape: tuple, axis: Any, keepdims: bool):
    """Broadcast the gradient of a reduction back to the input's shape."""
    xp = get_array_module(g)
    if axis is not None and not keepdims:
        axes = (axis,) if np.isscalar(axis) else tuple(axis)
        g = xp.expand_dims(g, tuple(a % len(shape) for a in axes))
    return xp.broadcast_to(g, shape)


class Sum(Function):
    def forward(self, x, axis: Any = None, keepdims: bool = False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(self, g):
        return (_expand_reduced(g, self.shape, self.axis, self.keepdims),)


class Mean(Function):
    def forward(self, x, axis: Any = None, keepdims: bool = False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        out = x.mean(axis=axis, keepdims=keepdims)
        self.count = x.size // max(out.size, 1) if x.size else 1
        return out

    def backward(self, g):
        return (_expand_reduced(g / self.count, self.shape, self.axis, self.keepdims),)


class Max(Function):
    """Maximum over axes; the gradient is shared equally between tied maxima."""

    def forward(self, x, axis: Any = None, keepdims: bool = False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        top = x.max(axis=axis, keepdims=True)
        mask = (x == top).astype(x.dtype)
        self.weights = mask / mask.sum(axis=axis, keepdims=True)
        if keepdims:
            return top
        return top.reshape(()) if axis is None else top.squeeze(axis)

    def backward(self, g):
        return (_expand_reduced(g, self.shape, self.axis, self.keepdims) * self.weights,)


class Reshape(Function):
    def forward(self, x, shape: tuple):
        self.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ShapeError(f"reshape cannot turn {shape_str(x.shape)} ({x.size} elements) into {tuple(shape)}") from None

    def backward(self, g):
        return (g.reshape(self.shape),)


class Transpose(Function):
    def forward(self, x, axes: tuple | None = None):
        self.axes = axes
        return x.transpose(axes)

    def backward(self, g):
        if self.axes is None:
            return (g.transpose(),)
        return (g.transpose(np.argsort(self.axes)),)


def _is_basic_index(index: Any) -> bool:
    """Basic indices (ints, slices, None, ...) never select an element twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


class GetItem(Function):
    def forward(self, x, index: Any):
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        return x[index]

    def backward(self, g):
        xp = get_array_module(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        if _is_basic_index(self.index):
            out[self.index] = g
        else:  # fancy indices may repeat: accumulate
            xp.add.at(out, self.index, g)
        return (out,)


class ToDevice(Function):
    def forward(self, x, device: Device):
        self.source = device_of(x)
        return to_device(x, device)

    def backward(self, g):
        return (to_device(g, self.source),)


class Cast(Function):
    def forward(self, x, dtype: Any):
        self.dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return (g.astype(self.dtype),)

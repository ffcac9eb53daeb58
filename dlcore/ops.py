"""The core element-wise and matrix ops, each one Function with forward and backward on raw arrays.

These back Tensor's operators (``+``, ``**``, ``@``, ``exp``, ...). Reductions are in
:mod:`dlcore.ops_reduce`, shape and indexing ops in :mod:`dlcore.ops_shape`; NN ops such as
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
from .errors import DTypeError, ShapeError, shape_str


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
    saves_inputs = saves_output = False

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return _broadcast("add", lambda u, v: u + v, a, b)

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    saves_inputs = saves_output = False

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return _broadcast("sub", lambda u, v: u - v, a, b)

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class Mul(Function):
    saves_output = False

    def forward(self, a, b):
        self.a, self.b = a, b
        return _broadcast("mul", lambda u, v: u * v, a, b)

    def backward(self, g):
        ga = unbroadcast(g * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    saves_output = False

    def forward(self, a, b):
        self.a, self.b = a, b
        return _broadcast("div", lambda u, v: u / v, a, b)

    def backward(self, g):
        ga = unbroadcast(g / self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * self.a / (self.b * self.b), self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    saves_inputs = saves_output = False

    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


def _power(a, b):
    try:
        return a**b
    except ValueError as exc:  # NumPy: "Integers to negative integer powers are not allowed."
        raise DTypeError(f"pow: {exc} (convert the base with .float() first)") from None


class Pow(Function):
    """``x ** p`` for a constant Python exponent p; the gradient of ``x ** 0`` is 0 everywhere."""

    saves_output = False

    def forward(self, x, exponent: float):
        self.x, self.p = x, exponent
        return _power(x, exponent)

    def backward(self, g):
        if self.p == 0:
            return (get_array_module(g).zeros_like(g),)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (g * self.p * self.x ** (self.p - 1),)


class PowTensor(Function):
    """``a ** b`` for two tensors, computed directly (negative bases with integer exponents work).

    As in PyTorch, d/db is ``a**b * log(a)``, taken as 0 where ``a == 0`` and ``b >= 0``.
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        self.y = _broadcast("pow", _power, a, b)
        return self.y

    def backward(self, g):
        xp = get_array_module(g)
        a, b, ga, gb = self.a, self.b, None, None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs_input_grad[0]:
                ga = xp.where(b == 0, 0.0, g * b * a ** (b - 1)).astype(g.dtype)
                ga = unbroadcast(ga, a.shape)
            if self.needs_input_grad[1]:
                gb = xp.where((a == 0) & (b >= 0), 0.0, g * self.y * xp.log(a)).astype(g.dtype)
                gb = unbroadcast(gb, b.shape)
        return ga, gb


class _Unary(Function):
    """An element-wise op given by ``f`` (forward) and ``df(x, y)`` (derivative from input and output)."""

    saves_output = False

    def forward(self, x):
        self.x = x
        return self.f(get_array_module(x), x)

    def backward(self, g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (g * self.df(get_array_module(g), self.x),)


class _UnaryOfOutput(Function):
    """An element-wise op ``y = f(x)`` whose gradient is written with ``y`` alone: ``grad(g, y)``."""

    saves_inputs = False

    def forward(self, x):
        self.y = self.f(get_array_module(x), x)
        return self.y

    def backward(self, g):
        with np.errstate(divide="ignore"):
            return (self.grad(g, self.y),)


class Exp(_UnaryOfOutput):
    f = staticmethod(lambda xp, x: xp.exp(x))
    grad = staticmethod(lambda g, y: g * y)


class Sqrt(_UnaryOfOutput):
    f = staticmethod(lambda xp, x: xp.sqrt(x))
    grad = staticmethod(lambda g, y: g / (2 * y))


class Log(_Unary):
    f = staticmethod(lambda xp, x: xp.log(x))
    df = staticmethod(lambda xp, x: 1 / x)


class Log1p(_Unary):
    f = staticmethod(lambda xp, x: xp.log1p(x))
    df = staticmethod(lambda xp, x: 1 / (1 + x))


class Sin(_Unary):
    f = staticmethod(lambda xp, x: xp.sin(x))
    df = staticmethod(lambda xp, x: xp.cos(x))


class Cos(_Unary):
    f = staticmethod(lambda xp, x: xp.cos(x))
    df = staticmethod(lambda xp, x: -xp.sin(x))


class Abs(_Unary):
    f = staticmethod(lambda xp, x: abs(x))
    df = staticmethod(lambda xp, x: xp.sign(x))


class Sign(_Unary):
    f = staticmethod(lambda xp, x: xp.sign(x))
    df = staticmethod(lambda xp, x: xp.zeros_like(x))


class Clamp(Function):
    """``clamp(x, min, max)``; the gradient passes where ``min <= x <= max`` (as PyTorch)."""

    saves_output = False

    def forward(self, x, min: Any = None, max: Any = None):
        xp = get_array_module(x)
        keep = xp.ones(x.shape, dtype=bool)
        out = x
        if min is not None:
            keep &= x >= min
            out = xp.maximum(out, xp.asarray(min, dtype=x.dtype))
        if max is not None:
            keep &= x <= max
            out = xp.minimum(out, xp.asarray(max, dtype=x.dtype))
        self.keep = keep
        return out

    def backward(self, g):
        return (g * self.keep,)


class Maximum(Function):
    """Element-wise maximum of two tensors; ties share the gradient equally (as PyTorch)."""

    saves_output = False
    pick = staticmethod(lambda xp: xp.maximum)

    def forward(self, a, b):
        self.a, self.b = a, b
        return _broadcast(type(self).__name__.lower(), self.pick(get_array_module(a)), a, b)

    def backward(self, g):
        xp = get_array_module(g)
        first = (self.a > self.b) if self.pick(np) is np.maximum else (self.a < self.b)
        share = xp.where(self.a == self.b, 0.5, first.astype(g.dtype)).astype(g.dtype)
        return unbroadcast(g * share, self.a.shape), unbroadcast(g * (1 - share), self.b.shape)


class Minimum(Maximum):
    pick = staticmethod(lambda xp: xp.minimum)


class Where(Function):
    """``where(condition, a, b)``: the gradient goes to ``a`` where the condition holds, else to ``b``."""

    saves_inputs = saves_output = False

    def forward(self, a, b, condition: Any):
        self.cond, self.shapes = condition, (a.shape, b.shape)
        return get_array_module(a).where(condition, a, b)

    def backward(self, g):
        zero = get_array_module(g).zeros((), dtype=g.dtype)
        return (unbroadcast(self._w(g, zero, True), self.shapes[0]),
                unbroadcast(self._w(g, zero, False), self.shapes[1]))

    def _w(self, g, zero, first: bool):
        xp = get_array_module(g)
        return xp.where(self.cond, g, zero) if first else xp.where(self.cond, zero, g)


class MatMul(Function):
    """``a @ b`` with NumPy's rules for 1-D operands and broadcast batch dimensions."""

    saves_output = False

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
        if a.ndim == 1 and b.ndim == 1:  # a dot product: g is 0-d
            return g * b, g * a
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


class ToDevice(Function):
    saves_inputs = saves_output = False

    def forward(self, x, device: Device):
        self.source = device_of(x)
        return to_device(x, device)

    def backward(self, g):
        return (to_device(g, self.source),)


class Cast(Function):
    saves_inputs = saves_output = False

    def forward(self, x, dtype: Any):
        self.dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return (g.astype(self.dtype),)

"""Activation functions (lecture 000): sigmoid, tanh, ReLU, leaky ReLU, softmax, identity.

Each is one Function. On the CPU it is NumPy; on a GPU it calls the kernels in
``kernels/activation.cu`` and ``kernels/softmax.cu`` through :mod:`dlcore.cuda`.

    >>> import dlcore, dlcore.functional as F
    >>> F.relu(dlcore.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    >>> F.sigmoid(dlcore.tensor([-1000.0, 1000.0])).tolist()   # stable: no overflow
    [0.0, 1.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import cpu
from ..autograd import Function
from ..backend import get_array_module, is_gpu_array
from ..tensor import Tensor


def _gpu_activation():
    from ..cuda import activation

    return activation


def _gpu_softmax():
    from ..cuda import softmax

    return softmax


def stable_sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)) without overflow, on a raw NumPy or CuPy array: exp only sees -|x|."""
    xp = get_array_module(x)
    e = xp.exp(-abs(x))
    return xp.where(x >= 0, 1.0, e) / (1.0 + e)


class Relu(Function):
    def forward(self, x):
        self.x = x
        return _gpu_activation().forward("relu", x) if is_gpu_array(x) else cpu.relu(x)

    def backward(self, g):
        if is_gpu_array(g):
            return (_gpu_activation().backward("relu", self.x, g),)
        return (cpu.relu_backward(g, self.x),)


class LeakyRelu(Function):
    def forward(self, x, negative_slope: float = 0.01):
        self.x, self.slope = x, negative_slope
        if is_gpu_array(x):
            return _gpu_activation().forward("leaky_relu", x, negative_slope)
        return np.where(x > 0, x, x * x.dtype.type(negative_slope))

    def backward(self, g):
        if is_gpu_array(g):
            return (_gpu_activation().backward("leaky_relu", self.x, g, self.slope),)
        return (np.where(self.x > 0, g, g * g.dtype.type(self.slope)),)


class Sigmoid(Function):
    def forward(self, x):
        self.y = _gpu_activation().forward("sigmoid", x) if is_gpu_array(x) else cpu.sigmoid(x)
        return self.y

    def backward(self, g):
        if is_gpu_array(g):
            return (_gpu_activation().backward("sigmoid", self.y, g),)
        return (cpu.sigmoid_backward(g, self.y),)


class Tanh(Function):
    def forward(self, x):
        self.y = _gpu_activation().forward("tanh", x) if is_gpu_array(x) else cpu.tanh(x)
        return self.y

    def backward(self, g):
        if is_gpu_array(g):
            return (_gpu_activation().backward("tanh", self.y, g),)
        return (cpu.tanh_backward(g, self.y),)


def _rows(x, axis: int):
    """View ``x`` as 2-D rows over ``axis`` when that axis is last (what the kernels take)."""
    return x.reshape(-1, x.shape[-1]) if axis in (-1, x.ndim - 1) and x.ndim >= 1 else None


class Softmax(Function):
    def forward(self, x, axis: int = -1):
        self.axis = axis
        rows = _rows(x, axis) if is_gpu_array(x) else None
        if rows is not None:
            self.y = _gpu_softmax().softmax(rows).reshape(x.shape)
        else:
            e = get_array_module(x).exp(x - x.max(axis=axis, keepdims=True))
            self.y = e / e.sum(axis=axis, keepdims=True)
        return self.y

    def backward(self, g):
        rows = _rows(g, self.axis) if is_gpu_array(g) else None
        if rows is not None:
            return (_gpu_softmax().softmax_backward(_rows(self.y, self.axis), rows).reshape(g.shape),)
        return (self.y * (g - (g * self.y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    def forward(self, x, axis: int = -1):
        self.axis = axis
        rows = _rows(x, axis) if is_gpu_array(x) else None
        if rows is not None:
            self.y = _gpu_softmax().log_softmax(rows).reshape(x.shape)
        else:
            self.y = log_softmax_array(x, axis)
        return self.y

    def backward(self, g):
        rows = _rows(g, self.axis) if is_gpu_array(g) else None
        if rows is not None:
            return (_gpu_softmax().log_softmax_backward(_rows(self.y, self.axis), rows).reshape(g.shape),)
        return (g - get_array_module(g).exp(self.y) * g.sum(axis=self.axis, keepdims=True),)


def log_softmax_array(x: Any, axis: int = -1) -> Any:
    """log(softmax(x)) on a raw array, stable: x - max - log(sum(exp(x - max)))."""
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def relu(x: Tensor) -> Tensor:
    """max(0, x)."""
    return Relu.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, else ``negative_slope * x`` (lecture 000: max(0.01x, x))."""
    return LeakyRelu.apply(x, negative_slope=negative_slope)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), squashing to (0, 1); stable for large |x|."""
    return Sigmoid.apply(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent, squashing to (-1, 1)."""
    return Tanh.apply(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along ``axis``."""
    return Softmax.apply(x, axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)), computed stably."""
    return LogSoftmax.apply(x, axis=axis)


def identity(x: Tensor) -> Tensor:
    """Returns x unchanged (the 'linear' activation)."""
    return x

"""Tensor: a NumPy or CuPy array that remembers how it was made, so it can backpropagate.

    >>> import dlcore
    >>> x = dlcore.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.numpy().tolist()
    [[2.0, 4.0], [6.0, 8.0]]
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np

from . import autograd, ops
from .backend import (
    Device,
    cpu_rng,
    default_device,
    default_dtype,
    device_of,
    get_array_module,
    is_gpu_array,
    to_device,
    to_numpy,
)
from .backend import device as parse_device
from .errors import DTypeError


class Tensor:
    """An n-dimensional array on a device, with an optional gradient.

    Build one with :func:`dlcore.tensor`; ``Tensor(array)`` wraps a raw array without copying.
    """

    __array_priority__ = 1000  # numpy scalars defer to Tensor's operators

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            data = data.array
        elif not (isinstance(data, np.ndarray) or is_gpu_array(data)):
            data = np.asarray(data)
        self.array = data
        self.grad: Tensor | None = None
        self._ctx: autograd.Function | None = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------------ properties
    @property
    def data(self) -> "Tensor":
        """PyTorch's ``.data``: a Tensor sharing this one's memory, outside the graph.

        The raw NumPy/CuPy array is ``.array``. Assigning ``t.data = other`` replaces the array.
        """
        return Tensor(self.array)

    @data.setter
    def data(self, value: Any) -> None:
        self.array = value.array if isinstance(value, Tensor) else value

    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def device(self) -> Device:
        return device_of(self.array)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def xp(self) -> Any:
        """The array module of this tensor: numpy or cupy."""
        return get_array_module(self.array)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.array.size)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = "" if self.device.type == "cpu" else f", device='{self.device}'"
        return f"tensor({np.array2string(to_numpy(self.array), separator=', ')}{dev}{grad})"

    # ------------------------------------------------------------------ autograd
    def requires_grad_(self, flag: bool = True) -> "Tensor":
        """Turn gradient tracking on or off for this leaf tensor; floats only."""
        if flag and self.dtype.kind not in "fc":
            raise DTypeError(
                f"requires_grad needs a floating-point tensor, got dtype {self.dtype}: "
                "convert with .float() first"
            )
        self.requires_grad = bool(flag)
        return self

    def backward(self, grad: Any = None) -> None:
        """Accumulate the gradient of this tensor into every leaf's ``.grad``."""
        autograd.backward(self, grad)

    def _accumulate_grad(self, g: Any) -> None:
        if self.grad is None:
            self.grad = Tensor(self.xp.array(g, dtype=self.dtype, copy=True))
        else:
            self.grad.array = self.grad.array + g

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor(self.array)

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared on the CPU, copied from the GPU)."""
        return to_numpy(self.array)

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self.array.size != 1:
            raise ValueError(f"item() needs a one-element tensor, got shape {self.shape}")
        return to_numpy(self.array).reshape(()).item()

    def tolist(self) -> Any:
        return to_numpy(self.array).tolist()

    def to(self, dev: "str | Device | None" = None, dtype: Any = None) -> "Tensor":
        """A copy on another device and/or with another dtype; gradients flow through it."""
        out = self
        if dev is not None and parse_device(dev) != self.device:
            out = ops.ToDevice.apply(out, device=parse_device(dev))
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = ops.Cast.apply(out, dtype=np.dtype(dtype))
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, index: int = 0) -> "Tensor":
        return self.to(f"cuda:{index}")

    def float(self) -> "Tensor":
        return self.to(dtype=np.float32)

    def double(self) -> "Tensor":
        return self.to(dtype=np.float64)

    def long(self) -> "Tensor":
        return Tensor(self.array.astype(np.int64))

    # ------------------------------------------------------------------ operators
    def _wrap(self, other: Any) -> "Tensor":
        if isinstance(other, Tensor):
            return other
        if isinstance(other, Number) and self.dtype.kind == "f":
            return Tensor(self.xp.asarray(other, dtype=self.dtype))
        return Tensor(self.xp.asarray(other))

    def __add__(self, other: Any) -> "Tensor":
        return ops.Add.apply(self, self._wrap(other))

    def __radd__(self, other: Any) -> "Tensor":
        return ops.Add.apply(self._wrap(other), self)

    def __sub__(self, other: Any) -> "Tensor":
        return ops.Sub.apply(self, self._wrap(other))

    def __rsub__(self, other: Any) -> "Tensor":
        return ops.Sub.apply(self._wrap(other), self)

    def __mul__(self, other: Any) -> "Tensor":
        return ops.Mul.apply(self, self._wrap(other))

    def __rmul__(self, other: Any) -> "Tensor":
        return ops.Mul.apply(self._wrap(other), self)

    def __truediv__(self, other: Any) -> "Tensor":
        return ops.Div.apply(self, self._wrap(other))

    def __rtruediv__(self, other: Any) -> "Tensor":
        return ops.Div.apply(self._wrap(other), self)

    def __neg__(self) -> "Tensor":
        return ops.Neg.apply(self)

    def __pow__(self, exponent: Any) -> "Tensor":
        if isinstance(exponent, Number):
            return ops.Pow.apply(self, exponent=exponent)
        return (self._wrap(exponent) * self.log()).exp()

    def __rpow__(self, base: Any) -> "Tensor":
        return (self * float(np.log(base))).exp()

    def __matmul__(self, other: Any) -> "Tensor":
        return ops.MatMul.apply(self, self._wrap(other))

    def __rmatmul__(self, other: Any) -> "Tensor":
        return ops.MatMul.apply(self._wrap(other), self)

    def __getitem__(self, index: Any) -> "Tensor":
        if isinstance(index, Tensor):
            index = index.array
        elif isinstance(index, tuple):
            index = tuple(i.array if isinstance(i, Tensor) else i for i in index)
        return ops.GetItem.apply(self, index=index)

    # comparisons give boolean tensors without gradients
    def _compare(self, other: Any, op: str) -> "Tensor":
        other = other.array if isinstance(other, Tensor) else other
        return Tensor(getattr(self.array, op)(other))

    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._compare(other, "__eq__")

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._compare(other, "__ne__")

    def __lt__(self, other: Any) -> "Tensor":
        return self._compare(other, "__lt__")

    def __le__(self, other: Any) -> "Tensor":
        return self._compare(other, "__le__")

    def __gt__(self, other: Any) -> "Tensor":
        return self._compare(other, "__gt__")

    def __ge__(self, other: Any) -> "Tensor":
        return self._compare(other, "__ge__")

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ reductions and shapes
    def sum(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: Any = None) -> "Tensor":
        return Tensor(self.array.argmax(axis=axis))

    def reshape(self, *shape: Any) -> "Tensor":
        return ops.Reshape.apply(self, shape=_shape_arg(shape))

    view = reshape

    def flatten(self, start_dim: int = 0) -> "Tensor":
        return self.reshape(*self.shape[:start_dim], -1)

    def transpose(self, *axes: Any) -> "Tensor":
        return ops.Transpose.apply(self, axes=_shape_arg(axes) or None)

    permute = transpose

    def exp(self) -> "Tensor":
        return ops.Exp.apply(self)

    def log(self) -> "Tensor":
        return ops.Log.apply(self)

    def sqrt(self) -> "Tensor":
        return self ** 0.5

    def abs(self) -> "Tensor":
        return ops.Abs.apply(self)



def as_tensor(data: Any) -> Tensor:
    """``data`` itself if it is a Tensor, else a Tensor wrapping it (arrays without a copy)."""
    return data if isinstance(data, Tensor) else Tensor(data)


def tensor(data: Any, requires_grad: bool = False, device: "str | Device | None" = None, dtype: Any = None) -> Tensor:
    """Make a tensor from a list, a number, a NumPy/CuPy array or another tensor (always copies).

    Python floats become the default dtype (float32) and ints int64; arrays keep their dtype.
    Without ``device``, GPU data stays where it is and the rest goes to the default device.

    >>> tensor([1.0, 2.0]).dtype
    dtype('float32')
    >>> tensor([0, 1]).dtype
    dtype('int64')
    """
    raw = data.array if isinstance(data, Tensor) else data
    if not (isinstance(raw, np.ndarray) or is_gpu_array(raw)):
        raw = np.asarray(raw)
        if raw.dtype == np.float64:
            raw = raw.astype(default_dtype())
        elif raw.dtype.kind in "iu":
            raw = raw.astype(np.int64)
    if device is not None:
        target = parse_device(device)
    else:
        target = device_of(raw) if is_gpu_array(raw) else default_device()
    raw = to_device(raw, target)
    raw = get_array_module(raw).array(raw, dtype=dtype if dtype is not None else raw.dtype, copy=True)
    return Tensor(raw, requires_grad=requires_grad)


def _shape_arg(shape: tuple) -> tuple:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _filled(fill: str, shape: tuple, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    xp = parse_device(device).xp
    return Tensor(getattr(xp, fill)(_shape_arg(shape), dtype=dtype or default_dtype()), requires_grad=requires_grad)


def zeros(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)``."""
    return _filled("zeros", shape, dtype, device, requires_grad)


def ones(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: ``ones(2, 3)``."""
    return _filled("ones", shape, dtype, device, requires_grad)


def randn(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from dlcore's seeded generator: ``randn(2, 3)``."""
    data = cpu_rng().standard_normal(_shape_arg(shape)).astype(dtype or default_dtype())
    return tensor(data, requires_grad=requires_grad, device=device)


def rand(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1): ``rand(2, 3)``."""
    data = cpu_rng().random(_shape_arg(shape)).astype(dtype or default_dtype())
    return tensor(data, requires_grad=requires_grad, device=device)


def arange(*args: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``numpy.arange``: ``arange(5)``."""
    return tensor(np.arange(*args, dtype=dtype), device=device)

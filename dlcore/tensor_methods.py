"""Tensor's named methods, PyTorch's names and signatures: reductions, shapes, math, comparisons.

``dim``/``keepdim`` are PyTorch's; ``axis``/``keepdims`` are accepted as NumPy-style aliases::

    >>> import dlcore
    >>> x = dlcore.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x.sum(dim=0).tolist(), x.mean(axis=1, keepdims=True).shape, x.max(1).indices.tolist()
    ([4.0, 6.0], (2, 1), [1, 1])

The NN activations (``relu``, ``sigmoid``, ``tanh``, ``softmax``, ``log_softmax``) call
:mod:`dlcore.functional`, which registers itself with :func:`use_functional` (the graph core
never imports the layer above it).
"""

from __future__ import annotations

import math
from collections import namedtuple
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from . import ops, ops_reduce, ops_shape
from .backend import data_pointer, default_dtype
from .dtypes import result_dtype, to_dtype
from .errors import DTypeError, ShapeError, shape_str
from .ops_reduce import normalize_axis

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

max_result = namedtuple("max", ["values", "indices"])
min_result = namedtuple("min", ["values", "indices"])
_FUNCTIONAL: list = []


def float_op(op: type) -> Any:
    """The element-wise method that applies the Function ``op`` (``exp`` for ``ops.Exp``), integer
    tensors promoted to the default float dtype first, as in PyTorch."""
    name = op.__name__.lower()

    def method(self: "Tensor") -> "Tensor":
        return op.apply(self._floating(name))

    method.__name__ = method.__qualname__ = name
    return method


def use_functional(module: ModuleType) -> None:
    """Called by ``dlcore/__init__.py``: the module whose relu/sigmoid/tanh/softmax the methods use."""
    _FUNCTIONAL[:] = [module]


def _functional() -> ModuleType:
    if not _FUNCTIONAL:  # pragma: no cover - dlcore/__init__ always registers it
        raise RuntimeError("dlcore.functional is not registered: import dlcore first")
    return _FUNCTIONAL[0]


def _alias(op: str, dim: Any, axis: Any, keepdim: bool, keepdims: Any) -> tuple:
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}() got both dim and its alias axis")
        dim = axis
    if isinstance(dim, list):
        dim = tuple(dim)
    return dim, bool(keepdim if keepdims is None else keepdims)


def _shape_arg(shape: tuple) -> tuple:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


class TensorMethods:
    """Mixin with Tensor's named methods (see the module docstring)."""

    array: Any
    shape: tuple
    dtype: np.dtype
    ndim: int

    # ------------------------------------------------------------------ helpers
    def _new(self, array: Any) -> "Tensor":  # pragma: no cover - Tensor overrides it
        raise NotImplementedError

    def _floating(self, op: str) -> "Tensor":
        """Self, or self cast to the default float dtype for an integer/bool tensor (as PyTorch)."""
        if self.dtype.kind in "fc" or str(self.dtype) == "bfloat16":
            return self  # type: ignore[return-value]
        return self.to(dtype=default_dtype())  # type: ignore[attr-defined]

    def _axis(self, op: str, dim: Any) -> Any:
        return normalize_axis(op, dim, self.ndim)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None,
            keepdims: Any = None) -> "Tensor":
        dim, keepdim = _alias("sum", dim, axis, keepdim, keepdims)
        dtype = None if dtype is None else to_dtype(dtype)
        return ops_reduce.Sum.apply(self, axis=self._axis("sum", dim), keepdims=keepdim, dtype=dtype)

    def mean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None,
             keepdims: Any = None) -> "Tensor":
        dim, keepdim = _alias("mean", dim, axis, keepdim, keepdims)
        x = self if dtype is None else self.to(dtype=dtype)  # type: ignore[attr-defined]
        if x.dtype.kind not in "fc":
            raise DTypeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point "
                             f"or complex dtype, got {x.dtype}: use .float() first")
        return ops_reduce.Mean.apply(x, axis=self._axis("mean", dim), keepdims=keepdim)

    def _extreme(self, op: str, dim: Any, keepdim: bool, axis: Any, keepdims: Any) -> Any:
        if hasattr(dim, "array"):  # max(other): the element-wise maximum
            return self.maximum(dim) if op == "max" else self.minimum(dim)
        dim, keepdim = _alias(op, dim, axis, keepdim, keepdims)
        if dim is None:
            return (ops_reduce.MaxAll if op == "max" else ops_reduce.MinAll).apply(self, axis=None, keepdims=False)
        if isinstance(dim, tuple):
            raise TypeError(f"{op}() takes one dim (an int), got {dim}: use amax/amin for several dims")
        values = (ops_reduce.MaxDim if op == "max" else ops_reduce.MinDim).apply(
            self, axis=self._axis(op, dim) if self.ndim else 0, keepdims=keepdim)
        idx = self._arg("arg" + op, dim, keepdim)
        return (max_result if op == "max" else min_result)(values, idx)

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """The maximum: a tensor without ``dim``, ``(values, indices)`` with it, ``maximum`` for a tensor."""
        return self._extreme("max", dim, keepdim, axis, keepdims)

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """The minimum: a tensor without ``dim``, ``(values, indices)`` with it, ``minimum`` for a tensor."""
        return self._extreme("min", dim, keepdim, axis, keepdims)

    def amax(self, dim: Any = (), keepdim: bool = False) -> "Tensor":
        axis = None if dim == () else self._axis("amax", dim)
        return ops_reduce.MaxAll.apply(self, axis=axis, keepdims=keepdim)

    def amin(self, dim: Any = (), keepdim: bool = False) -> "Tensor":
        axis = None if dim == () else self._axis("amin", dim)
        return ops_reduce.MinAll.apply(self, axis=axis, keepdims=keepdim)

    def _arg(self, op: str, dim: Any, keepdim: bool) -> "Tensor":
        axis = self._axis(op, dim)
        ops_reduce.check_nonempty(op, self.array, axis)
        arr = self.array
        out = arr.argmax(axis=axis) if op == "argmax" else arr.argmin(axis=axis)
        out = self.xp.asarray(out, dtype=np.int64)  # type: ignore[attr-defined]
        if keepdim:
            out = out.reshape((1,) * self.ndim) if axis is None else self.xp.expand_dims(out, axis)  # type: ignore[attr-defined]
        return self._new(out)

    def argmax(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> "Tensor":
        return self._arg("argmax", _alias("argmax", dim, axis, keepdim, None)[0], keepdim)

    def argmin(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> "Tensor":
        return self._arg("argmin", _alias("argmin", dim, axis, keepdim, None)[0], keepdim)

    def var(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None,
            axis: Any = None, keepdims: Any = None) -> "Tensor":
        """Variance; ``correction=1`` (unbiased, PyTorch's default) unless ``unbiased=False``/``correction=0``."""
        if isinstance(dim, bool):  # var(unbiased)
            dim, unbiased = None, dim
        dim, keepdim = _alias("var", dim, axis, keepdim, keepdims)
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        x = self._floating("var")
        return ops_reduce.Var.apply(x, axis=self._axis("var", dim), keepdims=keepdim, correction=correction)

    def std(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None,
            axis: Any = None, keepdims: Any = None) -> "Tensor":
        """Standard deviation, the square root of :meth:`var` (same arguments)."""
        return ops.Sqrt.apply(self.var(dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims))

    def prod(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> "Tensor":
        x = self if dtype is None else self.to(dtype=dtype)  # type: ignore[attr-defined]
        if x.dtype.kind in "bui" and x.dtype != np.int64:
            x = x.to(dtype=np.int64)  # type: ignore[attr-defined]
        return ops_reduce.Prod.apply(x, axis=self._axis("prod", dim), keepdims=keepdim)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> "Tensor":
        """The vector p-norm over ``dim`` (all elements by default); ``p`` in {"fro", 2, 1, inf, other > 0}."""
        x = self._floating("norm")
        if isinstance(dim, list):
            dim = tuple(dim)
        axis = x._axis("norm", dim)
        if p in ("fro", 2, 2.0):
            return ops_reduce.Norm2.apply(x, axis=axis, keepdims=keepdim)
        if p == 1:
            return x.abs().sum(dim, keepdim)
        if p in (math.inf, "inf"):
            return x.abs().amax(() if dim is None else dim, keepdim)
        if isinstance(p, (int, float)) and p > 0:
            return (x.abs() ** p).sum(dim, keepdim) ** (1.0 / p)
        raise ValueError(f"norm(): p must be 'fro', inf or a positive number, got {p!r}")

    def logsumexp(self, dim: Any, keepdim: bool = False) -> "Tensor":
        x = self._floating("logsumexp")
        return ops_reduce.LogSumExp.apply(x, axis=x._axis("logsumexp", dim), keepdims=keepdim)

    def cumsum(self, dim: int, *, dtype: Any = None) -> "Tensor":
        x = self if dtype is None else self.to(dtype=dtype)  # type: ignore[attr-defined]
        return ops_reduce.Cumsum.apply(x, axis=self._axis("cumsum", dim) or 0)

    def all(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return self._new(self.xp.asarray(self.array.all(axis=self._axis("all", dim), keepdims=keepdim)))  # type: ignore[attr-defined]

    def any(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return self._new(self.xp.asarray(self.array.any(axis=self._axis("any", dim), keepdims=keepdim)))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ element-wise math
    exp, log, log1p = float_op(ops.Exp), float_op(ops.Log), float_op(ops.Log1p)
    sqrt, sin, cos = float_op(ops.Sqrt), float_op(ops.Sin), float_op(ops.Cos)

    def abs(self) -> "Tensor":
        return ops.Abs.apply(self)

    def sign(self) -> "Tensor":
        return ops.Sign.apply(self)

    def tanh(self) -> "Tensor":
        return _functional().tanh(self._floating("tanh"))

    def sigmoid(self) -> "Tensor":
        return _functional().sigmoid(self._floating("sigmoid"))

    def relu(self) -> "Tensor":
        return _functional().relu(self)

    def softmax(self, dim: int) -> "Tensor":
        return _functional().softmax(self._floating("softmax"), dim)

    def log_softmax(self, dim: int) -> "Tensor":
        return _functional().log_softmax(self._floating("log_softmax"), dim)

    def clamp(self, min: Any = None, max: Any = None) -> "Tensor":
        """Limit values to ``[min, max]`` (either may be None); the gradient passes inside the range."""
        if min is None and max is None:
            raise ValueError("clamp(): at least one of min or max must not be None")
        if hasattr(min, "array") or hasattr(max, "array"):
            out = self if min is None else self.maximum(min)
            return out if max is None else out.minimum(max)
        x = self
        if any(isinstance(v, float) for v in (min, max)) and self.dtype.kind in "biu":
            x = self._floating("clamp")
        return ops.Clamp.apply(x, min=min, max=max)

    clip = clamp

    def pow(self, exponent: Any) -> "Tensor":
        return self ** exponent  # type: ignore[operator]

    def maximum(self, other: "Tensor") -> "Tensor":
        return self._binary(ops.Maximum, self, self._wrap(other))  # type: ignore[attr-defined]

    def minimum(self, other: "Tensor") -> "Tensor":
        return self._binary(ops.Minimum, self, self._wrap(other))  # type: ignore[attr-defined]

    def where(self, condition: Any, other: Any) -> "Tensor":
        """``where(condition, self, other)``."""
        cond = getattr(condition, "array", condition)
        a, b = self, self._wrap(other)  # type: ignore[attr-defined]
        if a.dtype != b.dtype:
            dt = result_dtype(a.array, b.array)
            a, b = a.to(dtype=dt), b.to(dtype=dt)  # type: ignore[attr-defined]
        return ops.Where.apply(a, b, condition=self.xp.asarray(cond).astype(bool))  # type: ignore[attr-defined]

    def masked_fill(self, mask: Any, value: Any) -> "Tensor":
        """``value`` where ``mask`` is True, else self; no gradient flows to the filled places."""
        value = value.to(dtype=self.dtype) if hasattr(value, "array") else self._new(self.xp.asarray(value, dtype=self.dtype))  # type: ignore[attr-defined]
        return ops.Where.apply(value, self, condition=self.xp.asarray(getattr(mask, "array", mask)).astype(bool))  # type: ignore[attr-defined]

    def add(self, other: Any, alpha: Any = 1) -> "Tensor":
        return self + (other if alpha == 1 else self._wrap(other) * alpha)  # type: ignore[operator, attr-defined]

    def sub(self, other: Any, alpha: Any = 1) -> "Tensor":
        return self - (other if alpha == 1 else self._wrap(other) * alpha)  # type: ignore[operator, attr-defined]

    def mul(self, other: Any) -> "Tensor":
        return self * other  # type: ignore[operator]

    def div(self, other: Any, rounding_mode: Any = None) -> "Tensor":
        if rounding_mode is not None:
            raise ValueError(f"div(rounding_mode={rounding_mode!r}) is not supported: use // for floor division")
        return self / other  # type: ignore[operator]

    def matmul(self, other: Any) -> "Tensor":
        return self @ other  # type: ignore[operator]

    mm = dot = matmul

    # ------------------------------------------------------------------ shapes
    def reshape(self, *shape: Any) -> "Tensor":
        return ops_shape.Reshape.apply(self, shape=_shape_arg(shape))

    def view(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
            raise TypeError(f"view(dtype) is not supported (got {shape[0]!r}): use .to(dtype)")
        out = self.reshape(*shape)
        if out.array.size > 1 and data_pointer(out.array) != data_pointer(self.array):  # NumPy had to copy
            raise ShapeError(f"view size is not compatible with input tensor's size and stride (a tensor of shape "
                             f"{shape_str(self.shape)} that is not contiguous, e.g. after t() or permute()): "
                             "use .reshape(...) instead")
        return out

    def view_as(self, other: "Tensor") -> "Tensor":
        return self.view(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        if self.ndim == 0:
            return self.reshape(1)
        s, e = self._axis("flatten", start_dim), self._axis("flatten", end_dim)
        if s > e:
            raise ShapeError(f"flatten() has invalid args: start_dim ({start_dim}) must come before end_dim ({end_dim})")
        return self.reshape(*self.shape[:s], -1, *self.shape[e + 1:])

    def squeeze(self, dim: Any = None) -> "Tensor":
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        axes = self._axis("squeeze", dim)
        axes = {axes} if isinstance(axes, int) else set(axes or ())
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if not (i in axes and n == 1)))

    def unsqueeze(self, dim: int) -> "Tensor":
        axis = normalize_axis("unsqueeze", dim, self.ndim + 1)
        axis = 0 if axis is None else axis
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        """Swap two dimensions (PyTorch's transpose; for a full reordering use :meth:`permute`)."""
        axes = list(range(self.ndim))
        if self.ndim == 0:
            normalize_axis("transpose", (dim0,), 0), normalize_axis("transpose", (dim1,), 0)
            return self.reshape(())
        a, b = self._axis("transpose", dim0), self._axis("transpose", dim1)
        axes[a], axes[b] = axes[b], axes[a]
        return ops_shape.Permute.apply(self, axes=tuple(axes))

    swapaxes = transpose

    def permute(self, *dims: Any) -> "Tensor":
        dims = _shape_arg(dims)
        if len(dims) != self.ndim:
            raise ShapeError(f"permute(): number of dims don't match: the tensor has {self.ndim}, got {len(dims)} dims {dims}")
        axes = self._axis("permute", dims) if dims else ()
        return ops_shape.Permute.apply(self, axes=tuple(axes))

    def t(self) -> "Tensor":
        if self.ndim > 2:
            raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, -1) if self.ndim == 2 else self.reshape(self.shape)

    @property
    def T(self) -> "Tensor":
        """All dimensions reversed."""
        return ops_shape.Permute.apply(self, axes=tuple(range(self.ndim))[::-1])

    @property
    def mT(self) -> "Tensor":
        """The last two dimensions swapped (a batch of matrices transposed)."""
        if self.ndim < 2:
            raise ShapeError(f"mT expects a tensor with at least 2 dimensions, got shape {shape_str(self.shape)}")
        return self.transpose(-2, -1)

    def expand(self, *sizes: Any) -> "Tensor":
        sizes = _shape_arg(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ShapeError(f"expand: the number of sizes ({len(sizes)}) must be at least the number of dims ({self.ndim})")
        shape = tuple(self.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
        return ops_shape.Expand.apply(self, shape=shape)

    def expand_as(self, other: "Tensor") -> "Tensor":
        return self.expand(other.shape)

    def repeat(self, *sizes: Any) -> "Tensor":
        return ops_shape.Repeat.apply(self, repeats=_shape_arg(sizes))

    def clone(self) -> "Tensor":
        """A copy with its own memory; gradients flow back to the original."""
        return ops_shape.Clone.apply(self)

    def contiguous(self) -> "Tensor":
        flags = getattr(self.array, "flags", None)
        return self if flags is None or flags.c_contiguous else self.clone()  # type: ignore[return-value]

    def dim(self) -> int:
        return self.ndim

    ndimension = dim

    def size(self, dim: Any = None) -> Any:
        return self.shape if dim is None else self.shape[normalize_axis("size", dim, self.ndim) or 0]

    def numel(self) -> int:
        return int(self.array.size)

    nelement = numel

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple:
        """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the listed sizes."""
        axis = self._axis("split", dim) or 0
        n = self.shape[axis]
        if isinstance(split_size_or_sections, int):
            if split_size_or_sections <= 0:
                raise ValueError(f"split expects split_size be positive, got {split_size_or_sections}")
            sizes = [min(split_size_or_sections, n - i) for i in range(0, n, split_size_or_sections)] or [0]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise ShapeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input size along dim {dim}), got {sizes}")
        out, start = [], 0
        for size in sizes:
            index = (slice(None),) * axis + (slice(start, start + size),)
            out.append(self[index])  # type: ignore[index]
            start += size
        return tuple(out)

    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        if chunks <= 0:
            raise ValueError(f"chunk expects chunks to be greater than 0, got {chunks}")
        n = self.shape[self._axis("chunk", dim) or 0]
        return self.split(max(math.ceil(n / chunks), 1), dim)

    def gather(self, dim: int, index: "Tensor") -> "Tensor":
        idx = self.xp.asarray(getattr(index, "array", index))  # type: ignore[attr-defined]
        return ops_shape.Gather.apply(self, index=idx, axis=self._axis("gather", dim) or 0)

    def index_select(self, dim: int, index: "Tensor") -> "Tensor":
        idx = self.xp.asarray(getattr(index, "array", index))  # type: ignore[attr-defined]
        return ops_shape.IndexSelect.apply(self, index=idx, axis=self._axis("index_select", dim) or 0)

    # ------------------------------------------------------------------ comparisons and logic
    def eq(self, other: Any) -> "Tensor":
        return self == other  # type: ignore[return-value]

    def ne(self, other: Any) -> "Tensor":
        return self != other  # type: ignore[return-value]

    def lt(self, other: Any) -> "Tensor":
        return self < other  # type: ignore[operator]

    def le(self, other: Any) -> "Tensor":
        return self <= other  # type: ignore[operator]

    def gt(self, other: Any) -> "Tensor":
        return self > other  # type: ignore[operator]

    def ge(self, other: Any) -> "Tensor":
        return self >= other  # type: ignore[operator]

    def _raw(self, name: str, *others: Any) -> "Tensor":
        """``xp.<name>(self, *others)`` on the raw arrays, as a Tensor without gradient (logic and tests)."""
        return self._new(getattr(self.xp, name)(self.array, *(getattr(o, "array", o) for o in others)))  # type: ignore[attr-defined]

    def logical_and(self, other: Any) -> "Tensor":
        return self._raw("logical_and", other)

    def logical_or(self, other: Any) -> "Tensor":
        return self._raw("logical_or", other)

    def logical_xor(self, other: Any) -> "Tensor":
        return self._raw("logical_xor", other)

    def logical_not(self) -> "Tensor":
        return self._raw("logical_not")

    def isnan(self) -> "Tensor":
        return self._raw("isnan")

    def isfinite(self) -> "Tensor":
        return self._raw("isfinite")

    def isinf(self) -> "Tensor":
        return self._raw("isinf")

    def allclose(self, other: "Tensor", rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        return bool(self.xp.allclose(self.array, getattr(other, "array", other), rtol=rtol, atol=atol, equal_nan=equal_nan))  # type: ignore[attr-defined]

    def equal(self, other: "Tensor") -> bool:
        """True when both have the same shape and the same values."""
        other_array = getattr(other, "array", other)
        return self.shape == tuple(other_array.shape) and bool((self.array == other_array).all())

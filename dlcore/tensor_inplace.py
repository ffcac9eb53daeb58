"""In-place ops on Tensors (``+=``, ``add_``, ``x[i] = v``, ``zero_``, ``copy_``, ...) with PyTorch's autograd rules.

* outside ``no_grad``, a leaf that requires grad refuses in-place changes (AutogradError);
* an in-place op on a non-leaf is recorded: the old value becomes the parent of a new node;
* every in-place change bumps the tensor's version counter, so ``backward`` raises instead of
  using a value that was overwritten after it was saved.

    >>> import dlcore
    >>> w = dlcore.ones(2, requires_grad=True)
    >>> (w * w).sum().backward()
    >>> with dlcore.no_grad():
    ...     w -= 0.5 * w.grad
    >>> w.tolist(), w.is_leaf
    ([0.0, 0.0], True)
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np

from . import ops
from .autograd import AutogradError, is_grad_enabled
from .backend import random_uniform, rng_for
from .errors import DTypeError, ShapeError, shape_str
from .ops_shape import SetItem, torch_index


class InPlaceMethods:
    """Mixin with Tensor's in-place ops (see the module docstring)."""

    array: Any
    shape: tuple
    dtype: np.dtype
    requires_grad: bool
    _version: list
    _ctx: Any
    _base: Any
    _retains_grad: bool

    def __setitem__(self, index: Any, value: Any) -> None:
        index = torch_index(index)
        if not hasattr(value, "requires_grad"):
            value = self._wrap(value) if isinstance(value, (Number, np.generic)) else self._new(self.xp.asarray(value))
        value = value.to(self.device, self.dtype)

        def direct(a: Any) -> None:
            a[index] = value.array

        self._inplace("__setitem__", lambda t: SetItem.apply(t, value, index=index), value, direct=direct)

    def _inplace(self, op: str, compute: Any, *others: Any, direct: Any = None) -> Any:
        """Change this tensor's memory to ``compute(self)``, keeping autograd right.

        With gradients involved (grad mode on and self or another operand requires grad), the op
        is recorded: the old value becomes the parent of a new node and this tensor its output.
        """
        tracked = is_grad_enabled() and (self.requires_grad or any(
            getattr(o, "requires_grad", False) for o in others))
        if not tracked:
            base = self._base
            if base is not None and base.requires_grad and is_grad_enabled():
                raise AutogradError(f"in-place {op} on a view of a tensor that requires grad (the view was made "
                                    "under no_grad) while grad mode is on: do it inside `with dlcore.no_grad():`")
            if direct is not None:
                self._check_writable(op)
                direct(self.array)
                self._version[0] += 1
            else:
                self._write(op, compute(self).array)
            return self
        if self.requires_grad and self._ctx is None:
            raise AutogradError(f"a leaf tensor that requires grad is used in an in-place operation ({op}): "
                                "do it inside `with dlcore.no_grad():` or on .data")
        if self._base is not None:
            raise AutogradError(f"in-place {op} on a view of another tensor is not supported while gradients are "
                                "recorded: clone() the view first or use the out-of-place form")
        old = self._new(self.array.copy())
        old._ctx, old.requires_grad = self._ctx, self.requires_grad
        result = compute(old)
        self._write(op, result.array)
        self._ctx, self.requires_grad = result._ctx, result.requires_grad
        self._retains_grad = False
        return self

    def _check_writable(self, op: str) -> None:
        flags = getattr(self.array, "flags", None)
        if flags is not None and not getattr(flags, "writeable", True):  # CuPy arrays have no such flag
            raise ShapeError(f"{op}: this tensor's memory is read-only (an expand()ed view?); clone() it first")

    def _write(self, op: str, value: Any) -> None:
        if tuple(value.shape) != self.shape:
            raise ShapeError(f"{op}: output with shape {shape_str(self.shape)} doesn't match the broadcast shape "
                             f"{shape_str(value.shape)}")
        if value.dtype != self.dtype and not np.can_cast(value.dtype, self.dtype, "same_kind"):
            raise DTypeError(f"{op}: result type {value.dtype} can't be cast to the desired output type {self.dtype}")
        self._check_writable(op)
        self.array[...] = value
        self._version[0] += 1

    def _binary_inplace(self, op: str, cls: type, other: Any, floating: bool = False) -> Any:
        other = self._wrap(other)
        return self._inplace(op, lambda t: self._binary(cls, t, other, floating), other)

    def __iadd__(self, other: Any) -> Any:
        return self._binary_inplace("+=", ops.Add, other)

    def __isub__(self, other: Any) -> Any:
        return self._binary_inplace("-=", ops.Sub, other)

    def __imul__(self, other: Any) -> Any:
        return self._binary_inplace("*=", ops.Mul, other)

    def __itruediv__(self, other: Any) -> Any:
        return self._binary_inplace("/=", ops.Div, other, floating=True)

    def add_(self, other: Any, alpha: Any = 1) -> Any:
        """``self += alpha * other`` in place."""
        return self._binary_inplace("add_", ops.Add, other if alpha == 1 else self._wrap(other) * alpha)

    def sub_(self, other: Any, alpha: Any = 1) -> Any:
        """``self -= alpha * other`` in place."""
        return self._binary_inplace("sub_", ops.Sub, other if alpha == 1 else self._wrap(other) * alpha)

    def mul_(self, other: Any) -> Any:
        return self._binary_inplace("mul_", ops.Mul, other)

    def div_(self, other: Any) -> Any:
        return self._binary_inplace("div_", ops.Div, other, floating=True)

    def clamp_(self, min: Any = None, max: Any = None) -> Any:
        return self._inplace("clamp_", lambda t: t.clamp(min, max))

    clip_ = clamp_

    def masked_fill_(self, mask: Any, value: Any) -> Any:
        """Set the elements where ``mask`` is True to ``value``, in place."""
        return self._inplace("masked_fill_", lambda t: t.masked_fill(mask, value), value)

    def fill_(self, value: Any) -> Any:
        """Set every element to ``value`` (a number or a one-element tensor) in place."""
        value = value.to(dtype=self.dtype) if hasattr(value, "requires_grad") else self._new(self.xp.asarray(value, dtype=self.dtype))
        if value.array.size != 1:
            raise ShapeError(f"fill_ expected a number or a one-element tensor, got shape {shape_str(value.shape)}")
        return self._assign_all("fill_", value.reshape(()))

    def zero_(self) -> Any:
        return self.fill_(0)

    def copy_(self, src: Any, non_blocking: bool = False) -> Any:
        """Copy ``src`` (broadcast to this shape, cast to this dtype and device) into this tensor."""
        src = src if hasattr(src, "requires_grad") else self._new(np.asarray(src))
        src = src.to(self.device, self.dtype)
        try:
            fits = np.broadcast_shapes(src.shape, self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"copy_: source of shape {shape_str(src.shape)} can't be broadcast to {shape_str(self.shape)}")
        return self._assign_all("copy_", src)

    def uniform_(self, from_: float = 0.0, to: float = 1.0, generator: Any = None) -> Any:
        """Fill with uniform samples in ``[from_, to)`` from dlcore's seeded generator."""
        _no_generator("uniform_", generator)
        value = from_ + (to - from_) * random_uniform(self.xp, self.shape)
        return self._assign_all("uniform_", self._new(self.xp.asarray(value, dtype=self.dtype)))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Any:
        """Fill with normal samples (``mean``, ``std``) from dlcore's seeded generator."""
        _no_generator("normal_", generator)
        gen = rng_for(self.xp)
        value = gen.standard_normal(self.shape) * std + mean
        return self._assign_all("normal_", self._new(self.xp.asarray(value, dtype=self.dtype)))

    def _assign_all(self, op: str, value: Any) -> Any:
        def direct(a: Any) -> None:
            a[...] = value.array

        return self._inplace(op, lambda t: SetItem.apply(t, value, index=Ellipsis), value, direct=direct)


def _no_generator(op: str, generator: Any) -> None:
    if generator is not None:
        raise TypeError(f"{op}(generator=...) is not supported: dlcore uses one seeded generator (dlcore.manual_seed)")

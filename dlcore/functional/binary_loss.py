"""Binary losses: ``binary_cross_entropy`` on probabilities and ``binary_cross_entropy_with_logits``
(with ``weight`` and ``pos_weight``), as PyTorch defines them, with gradients for input and target.

    >>> import dlcore, dlcore.functional as F
    >>> F.binary_cross_entropy(dlcore.tensor([0.0, 1.0]), dlcore.tensor([0.0, 1.0])).item()
    0.0
    >>> F.binary_cross_entropy(dlcore.tensor([0.0]), dlcore.tensor([1.0])).item()   # log clamped at -100
    100.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..errors import RangeError, ShapeError, UnsupportedArgumentError, shape_str
from ..tensor import Tensor, as_tensor
from .activation import stable_sigmoid
from .args import same_device
from .loss import _check_float, _no_legacy, _reduce, _softplus, loss_pair

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits"]

_EPSILON = 1e-12  # PyTorch's floor on p (1 - p) in the gradient


class BinaryCrossEntropy(Function):
    """-(y log p + (1 - y) log(1 - p)), with each log clamped at -100 as in PyTorch."""

    def forward(self, p, y):
        xp = get_array_module(p)
        self.p, self.y = p, y
        with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped
            self.log_p, self.log_q = xp.maximum(xp.log(p), -100), xp.maximum(xp.log1p(-p), -100)
        return -(y * self.log_p + (1 - y) * self.log_q)

    def backward(self, g):
        xp = get_array_module(g)
        need_p, need_y = self.needs_input_grad
        gp = gy = None
        if need_p:  # PyTorch: grad (p - y) / max(p (1 - p), 1e-12), finite at p = 0 and 1
            gp = g * (self.p - self.y) / xp.maximum(self.p * (1 - self.p), _EPSILON)
        if need_y:  # PyTorch's target gradient uses the unclamped logs (infinite at p = 0 or 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                gy = g * (xp.log1p(-self.p) - xp.log(self.p))
        return gp, gy


def _weighted(op: str, per_item: Tensor, weight: Any) -> Tensor:
    if weight is None:
        return per_item
    w = same_device(op, "weight", as_tensor(weight), per_item)
    if not _broadcasts_to(w.shape, per_item.shape):
        raise ShapeError(f"{op} expected a weight broadcastable to {shape_str(per_item.shape)}, got {shape_str(w.shape)}")
    if w.dtype.kind in "fiub" and w.dtype != per_item.dtype:  # the loss keeps the input's dtype, as PyTorch
        w = Tensor(w.array.astype(per_item.dtype))
    return per_item * w


def _broadcasts_to(small: tuple, big: tuple) -> bool:
    return len(small) <= len(big) and all(s in (1, b) for s, b in zip(small[::-1], big[::-1]))


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: None = None,
                         reduce: None = None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy for probabilities ``input`` in [0, 1] and targets in [0, 1]."""
    op = "binary_cross_entropy"
    _no_legacy(op, size_average, reduce)
    input, target = as_tensor(input), as_tensor(target)
    _check_float(op, target, "target")  # PyTorch refuses integer targets here too
    input, target = loss_pair(op, input, target, reduction)
    for what, t in (("probabilities", input), ("targets", target)):
        lo, hi = float(t.array.min()), float(t.array.max())
        if not (0 <= lo and hi <= 1):
            hint = ": apply sigmoid first or use binary_cross_entropy_with_logits" if t is input else ""
            raise RangeError(f"{op} expected {what} in [0, 1], got values in [{lo:.4g}, {hi:.4g}]{hint}")
    per_item = _weighted(op, BinaryCrossEntropy.apply(input, target), weight)
    return _reduce(per_item, reduction, op)


class BinaryCrossEntropyWithLogits(Function):
    """BCE on logits z with pos_weight w: (1 - y) z + (1 + (w - 1) y) softplus(-z).

    Without pos_weight this is softplus(z) - y z, whose gradient is sigmoid(z) - y.
    """

    def forward(self, z, y, pos_weight=None):
        self.z, self.y, self.pw = z, y, pos_weight
        self.sp_neg = _softplus(-z)
        if pos_weight is None:
            return (1 - y) * z + self.sp_neg
        self.scale = 1 + (pos_weight - 1) * y
        return (1 - y) * z + self.scale * self.sp_neg

    def backward(self, g):
        need_z, need_y = self.needs_input_grad[:2]
        sig_neg = stable_sigmoid(-self.z)
        gz = gy = None
        if self.pw is None:
            if need_z:
                gz = g * (1 - self.y - sig_neg)
            if need_y:
                gy = -g * self.z
        else:
            if need_z:
                gz = g * (1 - self.y - self.scale * sig_neg)
            if need_y:
                gy = g * (-self.z + (self.pw - 1) * self.sp_neg)
        return gz, gy


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: None = None, reduce: None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """sigmoid + binary cross-entropy in one stable step; ``input`` holds logits. ``pos_weight``
    (broadcast over the last dim, e.g. shape (classes,)) weighs the positive term."""
    op = "binary_cross_entropy_with_logits"
    _no_legacy(op, size_average, reduce)
    input, target = loss_pair(op, input, target, reduction)
    pw = None
    if pos_weight is not None:
        pos_weight = same_device(op, "pos_weight", as_tensor(pos_weight), input)
        if not _broadcasts_to(pos_weight.shape, input.shape):
            raise ShapeError(f"{op} expected pos_weight broadcastable to {shape_str(input.shape)}, "
                             f"got {shape_str(pos_weight.shape)}")
        if pos_weight.requires_grad:
            raise UnsupportedArgumentError(f"{op}: a pos_weight that requires grad is not supported by dlcore")
        pw = pos_weight.array.astype(input.dtype, copy=False)
    per_item = BinaryCrossEntropyWithLogits.apply(input, target, pos_weight=pw)
    return _reduce(_weighted(op, per_item, weight), reduction, op)

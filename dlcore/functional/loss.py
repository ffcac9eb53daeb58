"""Loss functions (lectures 000-002), each with ``reduction`` = "mean" | "sum" | "none".

    >>> import dlcore, dlcore.functional as F
    >>> F.mse_loss(dlcore.tensor([1.0, 2.0]), dlcore.tensor([1.0, 4.0])).item()
    2.0
    >>> round(F.cross_entropy(dlcore.tensor([[2.0, 0.0]]), dlcore.tensor([0])).item(), 4)
    0.1269
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..cuda import softmax as gpu_softmax
from ..errors import DTypeError, RangeError, ShapeError, shape_str
from ..tensor import Tensor, as_tensor
from .activation import log_softmax_array, stable_sigmoid

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_item: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    if reduction == "none":
        return per_item
    raise ValueError(f"{op} expected reduction in {_REDUCTIONS}, got {reduction!r}")


def _check_same_shape(op: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        raise ShapeError(
            f"{op} expected input and target of the same shape, got input {shape_str(input.shape)} "
            f"and target {shape_str(target.shape)} (broadcasting them would silently change the loss)"
        )
    if input.numel() == 0:
        raise ShapeError(f"{op} got an empty batch {shape_str(input.shape)}")


def _check_float(op: str, t: Tensor, what: str) -> None:
    if t.dtype.kind != "f":
        raise DTypeError(f"{op} expected a floating-point {what}, got dtype {t.dtype}")


def _softplus(z):
    """log(1 + exp(z)) without overflow."""
    xp = get_array_module(z)
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-abs(z)))


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error (L2): mean((input - target)^2)."""
    input, target = as_tensor(input), as_tensor(target)
    _check_same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error (L1): mean(|input - target|)."""
    input, target = as_tensor(input), as_tensor(target)
    _check_same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction, "l1_loss")


def _check_class_targets(op: str, scores: Tensor, target: Tensor) -> None:
    if scores.ndim != 2:
        raise ShapeError(f"{op} expected scores of shape (N, C), got {shape_str(scores.shape)}")
    if scores.dtype.kind != "f":
        raise DTypeError(f"{op} expected floating-point scores, got dtype {scores.dtype}: convert with .float()")
    if target.dtype.kind not in "iu":
        raise DTypeError(
            f"{op} expected integer class targets (int64), got dtype {target.dtype}: "
            "for probabilities or 0/1 floats use binary_cross_entropy"
        )
    if target.shape != (scores.shape[0],):
        raise ShapeError(
            f"{op} expected targets of shape ({scores.shape[0]},) for scores {shape_str(scores.shape)}, "
            f"got {shape_str(target.shape)}"
        )
    if target.shape[0] == 0:
        raise ShapeError(f"{op} got an empty batch {shape_str(scores.shape)}")
    lo, hi = int(target.array.min()), int(target.array.max())
    if lo < 0 or hi >= scores.shape[1]:
        raise RangeError(f"{op} expected class targets in [0, {scores.shape[1] - 1}], got values in [{lo}, {hi}]")


class CrossEntropy(Function):
    """Per-row softmax cross-entropy over integer targets, fused for stability and speed."""

    def forward(self, logits, targets):
        self.targets = targets
        self.log_probs = log_softmax_array(logits, axis=1)
        rows = get_array_module(logits).arange(len(targets))
        return -self.log_probs[rows, targets]

    def backward(self, g):
        xp = get_array_module(g)
        grad = xp.exp(self.log_probs)
        grad[xp.arange(len(self.targets)), self.targets] -= 1
        return grad * g[:, None], None

    def forward_gpu(self, logits, targets):
        self.targets = targets
        loss, self.log_probs = gpu_softmax.cross_entropy_forward(logits, targets)
        return loss

    def backward_gpu(self, g):
        return gpu_softmax.cross_entropy_backward(self.log_probs, self.targets, g), None


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of softmax(input) against integer class targets (lecture 000).

    ``input`` is (N, C) raw scores (logits); ``target`` is (N,) int64 in [0, C).
    """
    input, target = as_tensor(input), as_tensor(target)
    _check_class_targets("cross_entropy", input, target)
    return _reduce(CrossEntropy.apply(input, target), reduction, "cross_entropy")


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -input[i, target[i]], for ``input`` = log-probabilities (N, C)."""
    input, target = as_tensor(input), as_tensor(target)
    _check_class_targets("nll_loss", input, target)
    rows = input.xp.arange(input.shape[0])
    return _reduce(-input[rows, target.array], reduction, "nll_loss")


class BinaryCrossEntropy(Function):
    """-(y log p + (1 - y) log(1 - p)), with each log clamped at -100 as in PyTorch."""

    def forward(self, p, y):
        xp = get_array_module(p)
        self.p, self.y = p, y
        with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped
            log_p, log_q = xp.maximum(xp.log(p), -100), xp.maximum(xp.log1p(-p), -100)
        return -(y * log_p + (1 - y) * log_q)

    def backward(self, g):
        xp = get_array_module(g)
        eps = xp.finfo(self.p.dtype).tiny
        denom = xp.maximum(self.p * (1 - self.p), eps)
        return g * (self.p - self.y) / denom, None


def binary_cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy for probabilities ``input`` in [0, 1] and targets in {0, 1}."""
    input, target = as_tensor(input), as_tensor(target)
    _check_same_shape("binary_cross_entropy", input, target)
    _check_float("binary_cross_entropy", target, "target")
    lo, hi = float(input.array.min()), float(input.array.max())
    if lo < 0 or hi > 1:
        raise RangeError(
            f"binary_cross_entropy expected probabilities in [0, 1], got values in [{lo:.4g}, {hi:.4g}]: "
            "apply sigmoid first or use binary_cross_entropy_with_logits"
        )
    return _reduce(BinaryCrossEntropy.apply(input, target), reduction, "binary_cross_entropy")


class BinaryCrossEntropyWithLogits(Function):
    """BCE on logits z: softplus(z) - y z, whose gradient is sigmoid(z) - y."""

    def forward(self, z, y):
        self.z, self.y = z, y
        return _softplus(z) - y * z

    def backward(self, g):
        return g * (stable_sigmoid(self.z) - self.y), None


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """sigmoid + binary cross-entropy in one stable step; ``input`` holds logits."""
    input, target = as_tensor(input), as_tensor(target)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    _check_float("binary_cross_entropy_with_logits", target, "target")
    return _reduce(BinaryCrossEntropyWithLogits.apply(input, target), reduction, "binary_cross_entropy_with_logits")


class LogisticLoss(Function):
    """log(1 + exp(-y f)) for labels y in {-1, +1}; gradient -y sigmoid(-y f)."""

    def forward(self, f, y):
        self.margin, self.y = -y * f, y
        return _softplus(self.margin)

    def backward(self, g):
        return -g * self.y * stable_sigmoid(self.margin), None


def logistic_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The logistic loss log(1 + exp(-y f(x))) with ``target`` y in {-1, +1} (lecture 001)."""
    input, target = as_tensor(input), as_tensor(target)
    _check_same_shape("logistic_loss", input, target)
    values = np.unique(target.numpy())
    if not set(values.tolist()) <= {-1, 1}:
        raise RangeError(f"logistic_loss expected targets in {{-1, +1}}, got values {values[:5].tolist()}")
    if target.dtype != input.dtype:
        target = Tensor(target.array.astype(input.dtype))
    return _reduce(LogisticLoss.apply(input, target), reduction, "logistic_loss")

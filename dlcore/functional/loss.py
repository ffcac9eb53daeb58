"""Regression losses (lectures 000-002) and the helpers every loss shares; each loss takes
``reduction`` = "mean" | "sum" | "none". Classification losses are in :mod:`.cross_entropy` and
:mod:`.binary_loss` (the fused ``CrossEntropy`` Function with its GPU kernel stays here).

    >>> import dlcore, dlcore.functional as F
    >>> F.mse_loss(dlcore.tensor([1.0, 2.0]), dlcore.tensor([1.0, 4.0])).item()
    2.0
    >>> F.huber_loss(dlcore.tensor([0.0, 0.0]), dlcore.tensor([0.5, 3.0])).item()   # (0.125 + 2.5) / 2
    1.3125

A deliberate difference from PyTorch: input and target must have the same shape (PyTorch
broadcasts them with a warning, which silently changes the loss); dlcore raises ShapeError.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..cuda import softmax as gpu_softmax
from ..errors import DTypeError, RangeError, ShapeError, UnsupportedArgumentError, shape_str
from ..tensor import Tensor, as_tensor
from .activation import log_softmax_array, stable_sigmoid
from .args import positive_float, real_number

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_item: Tensor, reduction: str, op: str) -> Tensor:
    check_reduction(op, reduction)
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    if reduction == "none":
        return per_item
    raise AssertionError(reduction)  # pragma: no cover - checked above


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


def loss_pair(op: str, input: object, target: object, reduction: str) -> tuple[Tensor, Tensor]:
    """(input, target) as Tensors of the same shape, checked: float input, reduction known; an
    integer or bool target takes the input's float dtype (PyTorch's type promotion)."""
    input, target = as_tensor(input), as_tensor(target)
    check_reduction(op, reduction)
    _check_same_shape(op, input, target)
    _check_float(op, input, "input")
    if target.dtype.kind in "biu":
        target = Tensor(target.array.astype(input.dtype))
    elif target.dtype.kind != "f":
        raise DTypeError(f"{op} expected a numeric target, got dtype {target.dtype}")
    return input, target


def check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise RangeError(f"{op} expected reduction in {_REDUCTIONS}, got {reduction!r}")


def mse_loss(input: Tensor, target: Tensor, size_average: None = None, reduce: None = None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error (L2): mean((input - target)^2)."""
    _no_legacy("mse_loss", size_average, reduce, weight)
    input, target = loss_pair("mse_loss", input, target, reduction)
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Tensor, size_average: None = None, reduce: None = None,
            reduction: str = "mean") -> Tensor:
    """Mean absolute error (L1): mean(|input - target|)."""
    _no_legacy("l1_loss", size_average, reduce)
    input, target = loss_pair("l1_loss", input, target, reduction)
    return _reduce((input - target).abs(), reduction, "l1_loss")


def _no_legacy(op: str, size_average: object, reduce: object, weight: object = None) -> None:
    if size_average is not None or reduce is not None:
        raise UnsupportedArgumentError(f"{op}: size_average and reduce are deprecated in PyTorch and not supported; "
                         "use reduction='mean' | 'sum' | 'none'")
    if weight is not None:
        raise UnsupportedArgumentError(f"{op}: weight is not supported by dlcore")


class RobustLoss(Function):
    """Smooth L1 (``beta``) or Huber (``delta``) loss of d = input - target, element-wise.

    smooth_l1: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0 is L1);
    huber:     0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) = beta * smooth_l1.
    """

    def forward(self, x, y, threshold: float = 1.0, huber: bool = False):
        xp = get_array_module(x)
        d = x - y
        a = abs(d)
        self.d, self.threshold, self.huber = d, threshold, huber
        self.inside = a < threshold
        if huber:
            return xp.where(self.inside, 0.5 * d * d, threshold * (a - 0.5 * threshold)).astype(d.dtype, copy=False)
        quad = 0.5 * d * d / threshold if threshold > 0 else d
        return xp.where(self.inside, quad, a - 0.5 * threshold).astype(d.dtype, copy=False)

    def backward(self, g):
        xp = get_array_module(g)
        outer = xp.sign(self.d) * (self.threshold if self.huber else 1.0)
        inner = self.d if self.huber else self.d / (self.threshold if self.threshold > 0 else 1.0)
        gx = g * xp.where(self.inside, inner, outer).astype(g.dtype, copy=False)
        return gx, -gx


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: None = None, reduce: None = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1: quadratic for |input - target| < beta, linear beyond (Fast R-CNN)."""
    _no_legacy("smooth_l1_loss", size_average, reduce)
    beta = real_number("smooth_l1_loss", "beta", beta, 0.0)
    input, target = loss_pair("smooth_l1_loss", input, target, reduction)
    return _reduce(RobustLoss.apply(input, target, threshold=beta), reduction, "smooth_l1_loss")


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """Huber: 0.5 d^2 for |d| < delta, delta (|d| - delta / 2) beyond; d = input - target."""
    _no_legacy("huber_loss", None, None, weight)
    delta = positive_float("huber_loss", "delta", delta)
    input, target = loss_pair("huber_loss", input, target, reduction)
    if target.dtype != input.dtype:  # PyTorch's huber_loss keeps the input's dtype
        target = Tensor(target.array.astype(input.dtype))
    return _reduce(RobustLoss.apply(input, target, threshold=delta, huber=True), reduction, "huber_loss")


class KLDiv(Function):
    """Pointwise KL term target * (log target - input), 0 where target is 0; or with log targets
    exp(target) * (target - input)."""

    def forward(self, x, t, log_target: bool = False):
        xp = get_array_module(x)
        self.x, self.t, self.log_target = x, t, log_target
        if log_target:
            return xp.exp(t) * (t - x)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.log_t = xp.where(t > 0, xp.log(xp.where(t > 0, t, 1)), 0).astype(t.dtype, copy=False)
        return t * (self.log_t - x)

    def backward(self, g):
        xp = get_array_module(g)
        if self.log_target:
            e = xp.exp(self.t)
            return -g * e, g * e * (self.t - self.x + 1)
        return -g * self.t, g * (self.log_t + 1 - self.x)


def kl_div(input: Tensor, target: Tensor, size_average: None = None, reduce: None = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence with ``input`` = log-probabilities; reduction "batchmean" divides the sum
    by the batch size (the true KL); "mean" averages over all elements, as in PyTorch."""
    _no_legacy("kl_div", size_average, reduce)
    op = "kl_div"
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise RangeError(f"{op} expected reduction in {_REDUCTIONS + ('batchmean',)}, got {reduction!r}")
    input, target = loss_pair(op, input, target, "sum" if reduction == "batchmean" else reduction)
    per_item = KLDiv.apply(input, target, log_target=bool(log_target))
    if reduction == "batchmean":
        return per_item.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(per_item, reduction, op)


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


class LogisticLoss(Function):
    """log(1 + exp(-y f)) for labels y in {-1, +1}; gradient -y sigmoid(-y f)."""

    def forward(self, f, y):
        self.margin, self.y = -y * f, y
        return _softplus(self.margin)

    def backward(self, g):
        return -g * self.y * stable_sigmoid(self.margin), None


def logistic_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The logistic loss log(1 + exp(-y f(x))) with ``target`` y in {-1, +1} (lecture 001)."""
    input, target = loss_pair("logistic_loss", input, target, reduction)
    values = np.unique(target.numpy())
    if not set(values.tolist()) <= {-1, 1}:
        raise RangeError(f"logistic_loss expected targets in {{-1, +1}}, got values {values[:5].tolist()}")
    if target.dtype != input.dtype:
        target = Tensor(target.array.astype(input.dtype))
    return _reduce(LogisticLoss.apply(input, target), reduction, "logistic_loss")

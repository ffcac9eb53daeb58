"""Classification losses over C classes: ``cross_entropy`` (with ``weight``, ``ignore_index``,
``label_smoothing``, class or probability targets) and ``nll_loss``, as PyTorch defines them.

Input is (N, C), (N, C, d1, ...) or unbatched (C,); the class dim is 1 (0 when unbatched).

    >>> import dlcore, dlcore.functional as F
    >>> round(F.cross_entropy(dlcore.tensor([[2.0, 0.0]]), dlcore.tensor([0])).item(), 4)
    0.1269
    >>> round(F.cross_entropy(dlcore.tensor([[2.0, 0.0]]), dlcore.tensor([0]), label_smoothing=0.2).item(), 4)
    0.3269
"""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..backend import get_array_module
from ..errors import DTypeError, RangeError, ShapeError, shape_str
from ..ops_shape import Permute
from ..tensor import Tensor, as_tensor
from .activation import log_softmax_array
from .args import probability, same_device
from .loss import CrossEntropy, _no_legacy, check_reduction

__all__ = ["cross_entropy", "nll_loss"]


class WeightedRowLoss(Function):
    """loss_i = -sum_c A[i, c] * logp[i, c] for rows of scores (M, C) and coefficients A (M, C).

    With ``log_softmax=True`` logp = log_softmax(scores) (cross-entropy), else logp = scores
    (NLL of log-probabilities). A holds the target weights: one-hot times class weight, label
    smoothing spread, or probabilities; its gradient is -logp (for probability targets).
    """

    def forward(self, scores, coeff, log_softmax: bool = True):
        self.log_softmax, self.coeff = log_softmax, coeff
        self.logp = log_softmax_array(scores, axis=1) if log_softmax else scores
        return -(coeff * self.logp).sum(axis=1)

    def backward(self, g):
        xp = get_array_module(g)
        gx = -self.coeff * g[:, None]
        if self.log_softmax:
            gx += xp.exp(self.logp) * (self.coeff.sum(axis=1) * g)[:, None]
        gc = -self.logp * g[:, None] if self.needs_input_grad[1] else None
        return gx, gc


def _rows(op: str, input: Tensor) -> tuple[Tensor, tuple]:
    """Scores as (M, C) rows with the class dim last, and the shape of the per-item loss."""
    if input.ndim == 0:
        raise ShapeError(f"{op} expected input (N, C), (N, C, d1, ...) or (C,), got a 0-d tensor")
    if input.dtype.kind != "f":
        raise DTypeError(f"{op} expected floating-point scores, got dtype {input.dtype}: convert with .float()")
    if input.ndim == 1:
        return input.reshape(1, input.shape[0]), ()
    if input.shape[0] == 0:
        raise ShapeError(f"{op} got an empty batch {shape_str(input.shape)}")
    if input.ndim == 2:
        return input, (input.shape[0],)
    moved = Permute.apply(input, axes=(0, *range(2, input.ndim), 1))  # (N, d1, ..., C)
    return moved.reshape(-1, input.shape[1]), (input.shape[0],) + input.shape[2:]


def _class_targets(op: str, target: Tensor, input_shape: tuple, item_shape: tuple, classes: int,
                   ignore_index: int) -> Any:
    if target.dtype.kind not in "iu":
        raise DTypeError(f"{op} expected integer class targets (int64), got dtype {target.dtype}: "
                         "for probabilities pass a float target of the input's shape")
    if target.shape != item_shape and not item_shape:
        raise ShapeError(f"{op} expected scores of shape (N, C), got {shape_str(input_shape)} with targets of shape "
                         f"{shape_str(target.shape)} (unbatched scores (C,) take a 0-d target)")
    if target.shape != item_shape:
        raise ShapeError(f"{op} expected targets of shape {shape_str(item_shape)} for scores {shape_str(input_shape)}, "
                         f"got {shape_str(target.shape)}")
    t = target.array.reshape(-1)
    valid = t != ignore_index
    if valid.any():
        lo, hi = int(t[valid].min()), int(t[valid].max())
        if lo < 0 or hi >= classes:
            raise RangeError(f"{op} expected class targets in [0, {classes - 1}], got values in [{lo}, {hi}] "
                             f"(ignore_index={ignore_index} entries are skipped)")
    return t, valid


def _class_weight(op: str, weight: Any, classes: int, like: Tensor) -> Any:
    if weight is None:
        return None
    w = same_device(op, "weight", as_tensor(weight), like)
    if w.shape != (classes,):
        raise ShapeError(f"{op} expected weight of shape ({classes},), got {shape_str(w.shape)}")
    return w.array.astype(like.dtype, copy=False)


def _reduce_rows(per_row: Tensor, item_shape: tuple, reduction: str, denom: Any) -> Tensor:
    if reduction == "none":
        return per_row.reshape(*item_shape) if item_shape else per_row.reshape(())
    total = per_row.sum()
    if reduction == "sum":
        return total
    if float(denom) == 0:  # every target ignored: NaN, with a zero gradient, as in PyTorch
        return total * 0.0 + float("nan")
    return total / float(denom)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: None = None,
                  ignore_index: int = -100, reduce: None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of softmax(input) against class indices or class probabilities.

    ``input`` holds raw scores (logits). ``target`` is int64 class indices of shape (N,) /
    (N, d1, ...) (then ``ignore_index`` entries count for nothing), or float probabilities of the
    input's shape. ``weight`` (C,) rescales each class; "mean" divides by the summed weight of the
    counted targets, as PyTorch does. ``label_smoothing`` mixes the target with the uniform
    distribution.
    """
    op = "cross_entropy"
    _no_legacy(op, size_average, reduce)
    check_reduction(op, reduction)
    eps = probability(op, "label_smoothing", label_smoothing)
    input, target = as_tensor(input), as_tensor(target)
    rows, item_shape = _rows(op, input)
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    w = _class_weight(op, weight, classes, input)
    xp = input.xp
    if target.dtype.kind == "f":  # class probabilities
        if target.shape != input.shape:
            raise DTypeError(f"{op} expected integer class targets (int64), got dtype {target.dtype} of shape "
                             f"{shape_str(target.shape)}: float targets are class probabilities and need the "
                             f"input's shape {shape_str(input.shape)}")
        probs, _ = _rows(op, target)
        coeff = probs * (1 - eps) + eps / classes if eps else probs
        if w is not None:
            coeff = coeff * Tensor(w)
        per_row = WeightedRowLoss.apply(rows, coeff)
        return _reduce_rows(per_row, item_shape, reduction, max(rows.shape[0], 1))
    t, valid = _class_targets(op, target, input.shape, item_shape, classes, ignore_index)
    if w is None and eps == 0 and valid.all():
        per_row = CrossEntropy.apply(rows, Tensor(t))
        return _reduce_rows(per_row, item_shape, reduction, rows.shape[0])
    coeff = xp.zeros(rows.shape, rows.dtype)
    picked = xp.nonzero(valid)[0]
    target_w = w[t[picked]] if w is not None else xp.ones(len(picked), rows.dtype)
    coeff[picked, t[picked]] = (1 - eps) * target_w
    if eps:
        coeff[picked] += (eps / classes) * (w if w is not None else xp.ones(classes, rows.dtype))
    per_row = WeightedRowLoss.apply(rows, coeff)
    return _reduce_rows(per_row, item_shape, reduction, target_w.sum())


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: None = None,
             ignore_index: int = -100, reduce: None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood -weight[t] * input[i, t] for ``input`` = log-probabilities, with
    PyTorch's ``weight``, ``ignore_index`` and weighted "mean"."""
    op = "nll_loss"
    _no_legacy(op, size_average, reduce)
    check_reduction(op, reduction)
    input, target = as_tensor(input), as_tensor(target)
    rows, item_shape = _rows(op, input)
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    w = _class_weight(op, weight, classes, input)
    t, valid = _class_targets(op, target, input.shape, item_shape, classes, ignore_index)
    xp = input.xp
    picked = xp.nonzero(valid)[0]
    target_w = w[t[picked]] if w is not None else xp.ones(len(picked), rows.dtype)
    coeff = xp.zeros(rows.shape, rows.dtype)
    coeff[picked, t[picked]] = target_w
    per_row = WeightedRowLoss.apply(rows, coeff, log_softmax=False)
    return _reduce_rows(per_row, item_shape, reduction, target_w.sum())

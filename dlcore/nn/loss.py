"""Loss modules with PyTorch's names and arguments, each a thin wrapper over :mod:`dlcore.functional`.

    >>> import dlcore, dlcore.nn as nn
    >>> criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    >>> round(criterion(dlcore.tensor([[2.0, 0.0]]), dlcore.tensor([0])).item(), 4)
    0.2269
    >>> nn.MSELoss(reduction="sum")(dlcore.tensor([1.0, 2.0]), dlcore.tensor([1.0, 4.0])).item()
    4.0
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..errors import UnsupportedArgumentError
from ..functional.args import positive_float, probability, real_number
from ..functional.loss import check_reduction
from ..tensor import Tensor, as_tensor
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss",
           "BCEWithLogitsLoss", "KLDivLoss"]


class _Loss(Module):
    """Holds ``reduction`` (and an optional class ``weight`` buffer, as PyTorch)."""

    def __init__(self, size_average: None = None, reduce: None = None, reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            raise UnsupportedArgumentError(f"{type(self).__name__}: size_average and reduce are deprecated in PyTorch and not "
                             "supported; use reduction='mean' | 'sum' | 'none'")
        if not (type(self) is KLDivLoss and reduction == "batchmean"):
            check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def _weight_buffer(self, name: str, weight: Any) -> None:
        self.register_buffer(name, None if weight is None else as_tensor(weight))

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against class indices or probabilities."""

    def __init__(self, weight: Tensor | None = None, size_average: None = None, ignore_index: int = -100,
                 reduce: None = None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self._weight_buffer("weight", weight)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = probability("CrossEntropyLoss", "label_smoothing", label_smoothing)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (after LogSoftmax) against class indices."""

    def __init__(self, weight: Tensor | None = None, size_average: None = None, ignore_index: int = -100,
                 reduce: None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self._weight_buffer("weight", weight)
        self.ignore_index = int(ignore_index)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(_Loss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(self, size_average: None = None, reduce: None = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = real_number("SmoothL1Loss", "beta", beta, 0.0)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = positive_float("HuberLoss", "delta", delta)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities (after Sigmoid)."""

    def __init__(self, weight: Tensor | None = None, size_average: None = None, reduce: None = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self._weight_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one stable step, with ``pos_weight`` for the positives."""

    def __init__(self, weight: Tensor | None = None, size_average: None = None, reduce: None = None,
                 reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self._weight_buffer("weight", weight)
        self._weight_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """KL divergence for log-probability input; use ``reduction="batchmean"`` for the true KL."""

    def __init__(self, size_average: None = None, reduce: None = None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = bool(log_target)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

"""ReduceLROnPlateau: lower the lr when a metric stops improving, as PyTorch's.

    >>> import dlcore, dlcore.nn as nn
    >>> opt = dlcore.optim.SGD(nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = ReduceLROnPlateau(opt, patience=1, factor=0.5)
    >>> for loss in [1.0, 1.0, 1.0, 1.0]: sched.step(loss)
    >>> sched.get_last_lr()
    [0.5]
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from ..errors import CheckpointError, DTypeError, RangeError
from ..tensor import Tensor
from .optimizer import Optimizer, check_number
from .scheduler_base import LRScheduler, check_int, check_optimizer, per_group

_MODES, _THRESHOLD_MODES = ("min", "max"), ("rel", "abs")


class ReduceLROnPlateau(LRScheduler):
    """Multiply each group's lr by ``factor`` (not below ``min_lr``) after ``patience`` epochs
    without an improvement of more than ``threshold``; call ``step(metric)`` once per epoch."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: "float | list[float]" = 0, eps: float = 1e-8) -> None:
        name = "ReduceLROnPlateau"
        self.optimizer = check_optimizer(name, optimizer)
        self.factor = check_number(name, "factor", factor, 0.0, 1.0, high_open=True)
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else check_number(name, "min_lr", min_lr)
        self.min_lrs = per_group(name, "min_lr", optimizer, min_lr)
        self.patience = check_int(name, "patience", patience, low=0)
        self.cooldown = check_int(name, "cooldown", cooldown, low=0)
        self.eps = check_number(name, "eps", eps)
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self._init_is_better(mode, check_number(name, "threshold", threshold), threshold_mode)
        self._reset()

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in _MODES:
            raise RangeError(f"ReduceLROnPlateau: mode expected one of {_MODES}, got {mode!r}")
        if threshold_mode not in _THRESHOLD_MODES:
            raise RangeError(f"ReduceLROnPlateau: threshold_mode expected one of {_THRESHOLD_MODES}, "
                             f"got {threshold_mode!r}")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            return a < best * (1.0 - self.threshold) if self.threshold_mode == "rel" else a < best - self.threshold
        return a > best * (self.threshold + 1.0) if self.threshold_mode == "rel" else a > best + self.threshold

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record this epoch's ``metrics`` (a number or a one-element Tensor)."""
        if isinstance(metrics, Tensor):
            metrics = metrics.item()
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise DTypeError(f"ReduceLROnPlateau.step expected the metric as a number, "
                             f"got {type(metrics).__name__}") from None
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn("ReduceLROnPlateau.step(metrics, epoch) is deprecated in PyTorch", UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RangeError(f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups, min_lr was "
                                 f"given for {len(self.min_lrs)}; set .min_lrs to one value per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def _check_restored(self, state: dict, where: str) -> None:
        super()._check_restored(state, where)
        if state["mode"] not in _MODES or state["threshold_mode"] not in _THRESHOLD_MODES:
            raise CheckpointError(f"{where}: mode {state['mode']!r} / threshold_mode {state['threshold_mode']!r} "
                                  f"expected one of {_MODES} / {_THRESHOLD_MODES}")

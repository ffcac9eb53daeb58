"""Normalisation layers: ``BatchNorm1d`` for (N, C) / (N, C, L), ``BatchNorm2d`` for (N, C, H, W),
and ``LayerNorm`` over the trailing dims.

    >>> import dlcore, dlcore.nn as nn
    >>> bn = nn.BatchNorm2d(16)
    >>> bn(dlcore.randn(8, 16, 5, 5)).shape
    (8, 16, 5, 5)
    >>> [name for name, _ in bn.named_buffers()]
    ['running_mean', 'running_var', 'num_batches_tracked']
    >>> nn.LayerNorm(5)(dlcore.randn(3, 5)).shape
    (3, 5)

A training batch whose statistics are not finite (a NaN or Inf input) leaves ``running_mean``,
``running_var`` and ``num_batches_tracked`` as they were, and sets ``stats_nonfinite`` on the
layer to True until the next finite training batch, so a training loop can tell which BatchNorm
saw it: ``[n for n, m in model.named_modules() if getattr(m, "stats_nonfinite", False)]``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..backend import default_device, default_dtype, to_device
from ..backend import device as as_device
from ..errors import ShapeError, shape_str
from ..functional.args import flag, positive_float, positive_int, real_number
from ..functional.norm import batch_norm, layer_norm
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


def _placement(dev: Any, dtype: Any) -> tuple:
    return (default_device() if dev is None else as_device(dev)), np.dtype(dtype or default_dtype())


class _BatchNorm(Module):
    ndims: tuple[int, ...] = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        owner = type(self).__name__
        self.num_features = positive_int(owner, "num_features", num_features)
        self.eps = positive_float(owner, "eps", eps)
        self.momentum = None if momentum is None else real_number(owner, "momentum", momentum, 0.0, 1.0)
        self.affine = flag(owner, "affine", affine)
        self.use_bias = flag(owner, "bias", bias)
        self.track_running_stats = flag(owner, "track_running_stats", track_running_stats)
        self._stats_finite = None  # 0-d bool array of the last training batch, read lazily
        dev, dtype = _placement(device, dtype)
        n = self.num_features
        self.register_parameter("weight", Parameter(to_device(np.ones(n, dtype), dev)) if affine else None)
        self.register_parameter("bias", Parameter(to_device(np.zeros(n, dtype), dev)) if affine and bias else None)
        if track_running_stats:
            self.register_buffer("running_mean", to_device(np.zeros(n, dtype), dev))
            self.register_buffer("running_var", to_device(np.ones(n, dtype), dev))
            self.register_buffer("num_batches_tracked", to_device(np.zeros((), np.int64), dev))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self.ndims or x.shape[1] != self.num_features:
            raise ShapeError(f"{self.name} expected input {self.layout.format(c=self.num_features)}, got {shape_str(x.shape)}")
        tracked = self._buffers["num_batches_tracked"]
        use_batch = self.training or self._buffers["running_mean"] is None
        updating = self.training and tracked is not None
        factor = 0.0 if self.momentum is None else self.momentum
        if updating and self.momentum is None:  # cumulative moving average, as PyTorch
            factor = 1.0 / (int(tracked.array) + 1)
        status: dict = {}
        rm, rv = (self._buffers["running_mean"], self._buffers["running_var"]) if not self.training or updating \
            else (None, None)
        out = batch_norm(x, rm, rv, self.weight, self.bias, training=use_batch, momentum=factor, eps=self.eps,
                         layer=self.name, status=status)
        if updating and "finite" in status:
            self._stats_finite = status["finite"]
            tracked.array += self._stats_finite.astype(tracked.dtype)  # counts finite batches only
        return out

    @property
    def stats_nonfinite(self) -> bool:
        """True when the last training batch had non-finite statistics (and so was not tracked)."""
        return self._stats_finite is not None and not bool(self._stats_finite)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.affine and self.use_bias}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input, one mean/variance per feature C."""

    ndims = (2, 3)
    layout = "(N, {c}) or (N, {c}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input, one mean/variance per channel (over N, H and W)."""

    ndims = (4,)
    layout = "(N, {c}, H, W)"


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dims, with per-element weight and bias."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) and not isinstance(normalized_shape, bool) \
            else tuple(normalized_shape)
        self.normalized_shape = tuple(positive_int("LayerNorm", "normalized_shape entries", s) for s in shape)
        self.eps = positive_float("LayerNorm", "eps", eps)
        self.elementwise_affine = flag("LayerNorm", "elementwise_affine", elementwise_affine)
        self.use_bias = flag("LayerNorm", "bias", bias)
        dev, dtype = _placement(device, dtype)
        if elementwise_affine:
            self.weight = Parameter(to_device(np.ones(self.normalized_shape, dtype), dev))
            if bias:
                self.bias = Parameter(to_device(np.zeros(self.normalized_shape, dtype), dev))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.elementwise_affine and self.use_bias}")

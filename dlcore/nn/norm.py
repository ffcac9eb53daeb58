"""Batch normalisation layers: ``BatchNorm1d`` for (N, C) / (N, C, L), ``BatchNorm2d`` for (N, C, H, W).

    >>> import dlcore, dlcore.nn as nn
    >>> bn = nn.BatchNorm2d(16)
    >>> bn(dlcore.randn(8, 16, 5, 5)).shape
    (8, 16, 5, 5)
    >>> [name for name, _ in bn.named_buffers()]
    ['running_mean', 'running_var', 'num_batches_tracked']
"""

from __future__ import annotations

import numpy as np

from ..backend import default_device, default_dtype, to_device
from ..errors import ShapeError, shape_str
from ..functional.norm import batch_norm
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    ndims: tuple[int, ...] = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"{type(self).__name__} expected num_features >= 1, got {num_features}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.affine, self.track_running_stats = affine, track_running_stats
        dev, dtype = default_device(), default_dtype()
        if affine:
            self.weight = Parameter(to_device(np.ones(num_features, dtype), dev))
            self.bias = Parameter(to_device(np.zeros(num_features, dtype), dev))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", to_device(np.zeros(num_features, dtype), dev))
            self.register_buffer("running_var", to_device(np.ones(num_features, dtype), dev))
            self.register_buffer("num_batches_tracked", to_device(np.zeros((), np.int64), dev))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self.ndims or x.shape[1] != self.num_features:
            raise ShapeError(f"{self.name} expected input {self.layout.format(c=self.num_features)}, got {shape_str(x.shape)}")
        rm, rv = self._buffers["running_mean"], self._buffers["running_var"]
        if self.training and self._buffers["num_batches_tracked"] is not None:
            self._buffers["num_batches_tracked"].array += 1
        return batch_norm(x, rm, rv, self.weight, self.bias, training=self.training,
                          momentum=self.momentum, eps=self.eps, layer=self.name)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input, one mean/variance per feature C."""

    ndims = (2, 3)
    layout = "(N, {c}) or (N, {c}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input, one mean/variance per channel (over N, H and W)."""

    ndims = (4,)
    layout = "(N, {c}, H, W)"

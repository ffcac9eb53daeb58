"""SyncBatchNorm: batch normalisation with the statistics of the global batch (every rank's).

In training each channel's mean and variance are computed over all ranks' samples (see
:mod:`dlcore.distributed.sync_batchnorm`), so N ranks with 1/N of a batch normalise exactly as
one process with the whole batch. In eval mode, or without an initialized process group of more
than one rank, it is a plain BatchNorm::

    >>> import dlcore, dlcore.nn as nn
    >>> model = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)))
    >>> type(model[1]).__name__, model(dlcore.randn(2, 1, 5, 5)).shape
    ('SyncBatchNorm', (2, 4, 3, 3))
"""

from __future__ import annotations

from typing import Any

from ..distributed.process_group import default_communicator, is_initialized
from ..distributed.sync_batchnorm import SyncBatchNormFunction
from ..errors import ShapeError, shape_str
from ..tensor import Tensor
from .module import Module
from .norm import _BatchNorm

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, *) input whose training statistics span every rank (PyTorch's name)."""

    ndims = tuple(range(2, 9))
    layout = "(N, {c}, *)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Any = None) -> None:
        if process_group is not None:
            raise ValueError("SyncBatchNorm supports the default process group only (process_group=None)")
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and is_initialized() and default_communicator().size > 1):
            return super().forward(x)
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ShapeError(f"{self.name} expected input {self.layout.format(c=self.num_features)}, got {shape_str(x.shape)}")
        if self._buffers["num_batches_tracked"] is not None:
            self._buffers["num_batches_tracked"].array += 1
        rm, rv = self._buffers["running_mean"], self._buffers["running_var"]
        return SyncBatchNormFunction.apply(x, rm, rv, self.weight, self.bias, momentum=self.momentum, eps=self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every BatchNorm*d replaced by a SyncBatchNorm sharing its parameters and buffers."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      process_group)
            if module.affine:
                out.weight, out.bias = module.weight, module.bias
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                out._buffers[name] = module._buffers[name]
            out.train(module.training)
            return out
        for name, child in list(module._modules.items()):
            module._modules[name] = cls.convert_sync_batchnorm(child, process_group)
        return module


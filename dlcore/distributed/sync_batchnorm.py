"""SyncBatchNorm: batch normalisation with the statistics of the global batch (every rank's).

In training each channel's mean and variance are computed over all ranks' samples (one
all-reduce of per-channel sums in forward, one in backward), so N ranks with 1/N of a batch
normalise exactly as one process with the whole batch. In eval mode, or without an
initialized process group of more than one rank, it is a plain BatchNorm::

    >>> import dlcore, dlcore.nn as nn
    >>> model = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)))
    >>> type(model[1]).__name__, model(dlcore.randn(2, 1, 5, 5)).shape
    ('SyncBatchNorm', (2, 4, 3, 3))
"""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..backend import get_array_module
from ..errors import ShapeError, shape_str
from ..nn.module import Module
from ..nn.norm import _BatchNorm
from ..tensor import Tensor
from .process_group import default_communicator, is_initialized

__all__ = ["SyncBatchNorm", "SyncBatchNormFunction"]


class SyncBatchNormFunction(Function):
    """Inputs: x, running_mean, running_var, weight, bias (the last four may be None); training only."""

    def forward(self, x, running_mean, running_var, weight, bias, momentum=0.1, eps=1e-5):
        xp = get_array_module(x)
        self.comm = comm = default_communicator()
        C = x.shape[1]
        self.axes, self.bshape = (0,) + tuple(range(2, x.ndim)), (1, C) + (1,) * (x.ndim - 2)
        # per rank: count, mean, sum of squared deviations; combined exactly (Chan et al.), one message
        local_mean = x.mean(axis=self.axes)
        xc = x - local_mean.reshape(self.bshape)
        local = xp.concatenate([xp.asarray([x.size // C], dtype=x.dtype), local_mean, (xc * xc).sum(axis=self.axes)])
        stats = comm.allgather(local)
        counts, means, squares = stats[:, :1], stats[:, 1:C + 1], stats[:, C + 1:]
        count = float(counts.sum())
        mean = (counts * means).sum(axis=0) / count
        var = (squares + counts * (means - mean) ** 2).sum(axis=0) / count
        if running_mean is not None:
            running_mean *= 1.0 - momentum
            running_mean += momentum * mean
            running_var *= 1.0 - momentum
            running_var += (momentum * count / max(count - 1, 1)) * var
        self.count, self.invstd, self.weight = count, 1.0 / xp.sqrt(var + eps), weight
        self.xhat = (x - mean.reshape(self.bshape)) * self.invstd.reshape(self.bshape)
        y = self.xhat * weight.reshape(self.bshape) if weight is not None else self.xhat.copy()
        if bias is not None:
            y += bias.reshape(self.bshape)
        return y

    def backward(self, grad):
        xp = get_array_module(grad)
        C = grad.shape[1]
        gsum, gxhat = grad.sum(axis=self.axes), (grad * self.xhat).sum(axis=self.axes)
        needs = tuple(self.needs_input_grad) + (False,) * 5
        dw = gxhat if needs[3] and self.weight is not None else None
        db = gsum if needs[4] else None
        dx = None
        if needs[0]:
            total = self.comm.allreduce(xp.concatenate([gsum, gxhat]), "sum") / self.count
            scale = self.invstd if self.weight is None else self.invstd * self.weight
            dx = grad - total[:C].reshape(self.bshape)
            dx -= self.xhat * total[C:].reshape(self.bshape)
            dx *= scale.reshape(self.bshape)
        return dx, None, None, dw, db


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


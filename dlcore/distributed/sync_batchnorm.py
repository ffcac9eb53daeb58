"""The op behind ``nn.SyncBatchNorm``: batch normalisation with the statistics of every rank's batch.

In training each channel's count, mean and squared deviations are gathered from all ranks in
one message in forward (and combined exactly), and the two per-channel gradient sums are
all-reduced in one message in backward, so N ranks with 1/N of a batch compute what one
process computes on the whole batch. It needs an initialized process group; the layer
``dlcore.nn.SyncBatchNorm`` falls back to plain batch norm without one.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from .process_group import default_communicator

__all__ = ["SyncBatchNormFunction"]


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

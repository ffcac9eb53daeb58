"""PyTorch's adaptive pooling: ``adaptive_avg_pool2d`` / ``adaptive_max_pool2d`` over bins that
give a chosen output size (they may overlap and differ in size). Equal bins run as an ordinary
pooling window (:mod:`dlcore.functional.pool`); the rest as :class:`AdaptivePool2d`.

    >>> import numpy as np, dlcore
    >>> x = dlcore.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
    >>> adaptive_avg_pool2d(x, 1).tolist()
    [[[[7.5]]]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor, as_tensor
from .pool import avg_pool2d, max_pool2d, with_indices
from .window import adaptive_bins, check_nchw, ntuple

__all__ = ["adaptive_avg_pool2d", "adaptive_max_pool2d", "AdaptivePool2d"]


class AdaptivePool2d(Function):
    """Max or mean over PyTorch's adaptive bins (they may overlap and differ in size).

    Params: ``out_hw``, ``mode`` ("max" or "avg"), ``indices`` (as for :class:`MaxPool2d`).
    """

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, out_hw=(1, 1), mode: str = "avg", indices: list | None = None):
        xp = get_array_module(x)
        N, C, H, W = self.in_shape = x.shape
        self.mode = mode
        self.bins = [(hb, wb) for hb in adaptive_bins(H, out_hw[0]) for wb in adaptive_bins(W, out_hw[1])]
        y = xp.empty((N, C) + tuple(out_hw), x.dtype)
        self.arg = xp.empty((N, C) + tuple(out_hw), np.int64) if mode == "max" else None
        for b, ((h0, h1), (w0, w1)) in enumerate(self.bins):
            i, j = divmod(b, out_hw[1])
            cell = x[:, :, h0:h1, w0:w1].reshape(N, C, -1)
            if mode == "max":
                a = cell.argmax(axis=2)  # the first maximum; where NaNs are, the last NaN (PyTorch's rule)
                nan = xp.isnan(cell)
                if nan.any():
                    a = xp.where(nan.any(axis=2), cell.shape[2] - 1 - nan[..., ::-1].argmax(axis=2), a)
                self.arg[:, :, i, j] = a
                y[:, :, i, j] = xp.take_along_axis(cell, a[..., None], axis=2)[..., 0]
            else:
                y[:, :, i, j] = cell.mean(axis=2)
        if indices is not None:
            flat = xp.empty_like(self.arg)
            for b, ((h0, _), (w0, w1)) in enumerate(self.bins):
                i, j = divmod(b, out_hw[1])
                a = self.arg[:, :, i, j]
                flat[:, :, i, j] = (h0 + a // (w1 - w0)) * W + w0 + a % (w1 - w0)
            indices.append(flat)
        return y

    def backward(self, grad):
        xp = get_array_module(grad)
        N, C, H, W = self.in_shape
        ow = grad.shape[3]
        dx = xp.zeros(self.in_shape, grad.dtype)
        for b, ((h0, h1), (w0, w1)) in enumerate(self.bins):
            i, j = divmod(b, ow)
            g = grad[:, :, i, j, None, None]
            if self.mode == "max":
                taps = xp.arange((h1 - h0) * (w1 - w0)).reshape(1, 1, h1 - h0, w1 - w0)
                dx[:, :, h0:h1, w0:w1] += g * (taps == self.arg[:, :, i, j, None, None])
            else:
                dx[:, :, h0:h1, w0:w1] += g / ((h1 - h0) * (w1 - w0))
        return (dx,)


# --------------------------------------------------------------------------- public functions
def _adaptive_size(op: str, x: Any, output_size: Any) -> tuple[int, int]:
    check_nchw(op, x.array)
    sizes = (output_size, output_size) if output_size is None or isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"{op} expected output_size as an int or a pair (ints or None), got {output_size!r}")
    out = tuple(x.shape[2 + i] if s is None else ntuple(s, 1, "output_size", op, 1)[0] for i, s in enumerate(sizes))
    return out  # type: ignore[return-value]


def _adaptive(op: str, x: Tensor, output_size: Any, mode: str, return_indices: bool) -> Any:
    x = as_tensor(x)
    oh, ow = _adaptive_size(op, x, output_size)
    H, W = x.shape[2:]
    if H % oh == 0 and W % ow == 0:  # equal bins: an ordinary pooling window
        k = (H // oh, W // ow)
        if mode == "avg":
            return avg_pool2d(x, k, layer=op)
        return max_pool2d(x, k, return_indices=return_indices, layer=op)
    if mode == "avg":
        return AdaptivePool2d.apply(x, out_hw=(oh, ow), mode="avg")
    return with_indices(AdaptivePool2d, x, return_indices, out_hw=(oh, ow), mode="max")


def adaptive_avg_pool2d(x: Tensor, output_size: int | tuple) -> Tensor:
    """Average over PyTorch's adaptive bins, giving an ``output_size`` output (None keeps that dim).

    >>> import dlcore
    >>> adaptive_avg_pool2d(dlcore.ones(2, 3, 5, 7), (2, None)).shape
    (2, 3, 2, 7)
    """
    return _adaptive("adaptive_avg_pool2d", x, output_size, "avg", False)


def adaptive_max_pool2d(x: Tensor, output_size: int | tuple, return_indices: bool = False) -> Any:
    """Max over PyTorch's adaptive bins; ``return_indices`` also returns the flat int64 indices.

    >>> import dlcore
    >>> adaptive_max_pool2d(dlcore.ones(1, 1, 5, 5), 2).shape
    (1, 1, 2, 2)
    """
    return _adaptive("adaptive_max_pool2d", x, output_size, "max", return_indices)

"""im2col + GEMM for stride-1, undilated convolutions on the CPU, with whole padded rows as columns.

The plain im2col (:func:`dlcore.functional.window.im2col`) copies, per kernel offset, an
(OH, OW) window of every plane: NumPy's inner loop is one output row (14 floats for the MNIST
CNN's second layer), so the copy runs far below memory speed. At stride 1 the window of kernel
offset (i, j) is, in the flattened padded plane, the *contiguous* run that starts at
``i * Wp + j`` and is ``OH * Wp`` long, if each output row is allowed ``Wp - OW`` extra columns
(they wrap into the next row). So here the columns have shape ``(C, KH, KW, N, OH, Wp)``: each
copy and each col2im add is one long contiguous run per plane, and the GEMMs do ``Wp / OW`` more
work (1.14x at 14x14, 1.07x at 28x28). The output drops the extra columns during the transpose
back to NCHW; the backward zeroes the gradient there, so the weight gradient sums only real
positions and the extra columns of ``dcols`` are exactly zero when they wrap back onto the input.

    >>> import numpy as np
    >>> x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    >>> planes, cols = rows_im2col(x, (1, 1, 1, 1), (3, 3))
    >>> cols.shape                                      # (C, KH, KW, N, OH, Wp)
    (1, 3, 3, 1, 4, 6)
    >>> cols[0, 1, 1, 0, :, :4].tolist() == x[0, 0].tolist()  # the centre tap is the input
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..cpu import buffers, parallel_chunks

__all__ = ["applies", "rows_col2im", "rows_im2col"]


def applies(x: Any, stride: tuple, dilation: tuple, groups: int) -> bool:
    """Stride 1, no dilation, one group, NumPy input."""
    return isinstance(x, np.ndarray) and stride == (1, 1) and dilation == (1, 1) and groups == 1


def _runs(flat: np.ndarray, start: int, n: int, plane: int, length: int) -> np.ndarray:
    """(C, N, length) view of ``flat`` (C, *): image n's run starts at ``n * plane + start``."""
    s0, s1 = flat.strides
    return as_strided(flat[:, start:], shape=(flat.shape[0], n, length), strides=(s0, plane * s1, s1),
                      writeable=True)


def rows_im2col(x: np.ndarray, pad4: tuple, kernel: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(planes, cols): the zero-padded input as flat (C, N*Hp*Wp + slack) planes, and the row columns."""
    N, C, H, W = x.shape
    (t, b, l, r), (kh, kw) = pad4, kernel
    hp, wp = H + t + b, W + l + r
    oh, length = hp - kh + 1, (hp - kh + 1) * wp
    planes = buffers.take((C, N * hp * wp + kw), x.dtype)
    cols = buffers.take((C, kh, kw, N, oh, wp), x.dtype)
    grid = planes[:, :N * hp * wp].reshape(C, N, hp, wp)
    xt = x.transpose(1, 0, 2, 3)

    def part(lo: int, hi: int) -> None:
        g = grid[:, lo:hi]
        g[:, :, :t] = 0
        g[:, :, t + H:] = 0
        g[:, :, t:t + H, :l] = 0
        g[:, :, t:t + H, l + W:] = 0
        g[:, :, t:t + H, l:l + W] = xt[:, lo:hi]
        if hi == N:
            planes[:, N * hp * wp:] = 0  # the last image's extra columns read this slack

    def copy(lo: int, hi: int) -> None:  # after every plane is filled: runs reach into the next image
        for i in range(kh):
            for j in range(kw):
                cols[:, i, j, lo:hi] = _runs(planes, i * wp + j, N, hp * wp, length)[:, lo:hi].reshape(
                    C, hi - lo, oh, wp)

    parallel_chunks(part, N, 2 * planes.size)
    parallel_chunks(copy, N, 2 * cols.size)
    return planes, cols


def rows_col2im(dcols: np.ndarray, in_shape: tuple, pad4: tuple, kernel: tuple) -> np.ndarray:
    """Adjoint of :func:`rows_im2col`: scatter-add the row columns back and return dx (NCHW).

    Split over channels, not images: one image's runs reach ``KW - 1`` elements into the next
    image's plane (zeros, but a concurrent read-modify-write there would lose an update).
    """
    N, C, H, W = in_shape
    (t, b, l, r), (kh, kw) = pad4, kernel
    hp, wp = H + t + b, W + l + r
    oh = hp - kh + 1
    dplanes = buffers.take((C, N * hp * wp + kw), dcols.dtype)
    d6 = dcols.reshape(C, kh, kw, N, oh * wp)

    def part(lo: int, hi: int) -> None:
        dp = dplanes[lo:hi]
        dp.fill(0)
        for i in range(kh):
            for j in range(kw):
                _runs(dp, i * wp + j, N, hp * wp, oh * wp)[...] += d6[lo:hi, i, j]

    parallel_chunks(part, C, 2 * dcols.size)
    dx = np.empty(in_shape, dcols.dtype)
    inner = dplanes[:, :N * hp * wp].reshape(C, N, hp, wp)[:, :, t:t + H, l:l + W].transpose(1, 0, 2, 3)

    def to_nchw(lo: int, hi: int) -> None:
        dx[lo:hi] = inner[lo:hi]

    parallel_chunks(to_nchw, N, 2 * dx.size)
    buffers.give(dplanes)
    return dx

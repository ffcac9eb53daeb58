"""2-D max and average pooling as differentiable Functions (NCHW).

The CPU path is *separable*: a KH x KW window max (or sum) is a 1-D max over the KW columns
followed by a 1-D max over the KH rows. Each 1-D stage is a short Python loop over the window
offsets doing one vectorised op on a strided view of the whole batch, so a 2x2 pool costs 2 + 2
array passes instead of 4 x 4, and no Python loop ever runs over pixels or batch items. When
``stride == kernel`` the strided views are exactly the reshape view
``x.reshape(N, C, OH, KH, OW, KW)[:, :, :, i, :, j]`` and the backward writes each input pixel
once instead of accumulating into a zeroed array.

Max pooling remembers, per stage, which offset won (the first maximum in row-major window order,
as in PyTorch), and the backward routes the gradient only there. Padding pads with -inf for max
and with zeros (counted in the divisor, ``count_include_pad=True``) for average pooling.

    >>> import numpy as np, dlcore
    >>> x = dlcore.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
    >>> max_pool2d(x, 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    >>> avg_pool2d(x, 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function
from ..backend import get_array_module, is_gpu_array
from ..cpu import buffers, parallel_chunks
from ..tensor import Tensor, as_tensor
from .conv import _check_nchw, _check_window, _pad, _pair, _unpad, conv_output_size

__all__ = ["max_pool2d", "avg_pool2d", "MaxPool2d", "AvgPool2d"]


# --------------------------------------------------------------------------- 1-D stages
def _sl(axis: int, start: int, step: int, count: int) -> tuple:
    """Index selecting ``count`` positions ``start, start+step, ...`` along ``axis`` of a 4-D array."""
    index = [slice(None)] * 4
    index[axis] = slice(start, start + step * (count - 1) + 1, step)
    return tuple(index)


def _index_dtype(k: int) -> Any:
    """Winning-offset dtype of a window of k: bool for k == 2 (True = the second won), else uint8."""
    return np.bool_ if k == 2 else np.uint8


def _covered_once(in_len: int, k: int, s: int, n_out: int) -> bool:
    """Whether the windows tile the input exactly (each position read by exactly one window)."""
    return s == k and s * n_out == in_len


def _max_stage(x: Any, axis: int, k: int, s: int, n_out: int, out: Any, idx: Any) -> None:
    """1-D sliding max along ``axis`` into ``out``; ``idx`` gets the offset of the first maximum."""
    xp = get_array_module(x)
    v0 = x[_sl(axis, 0, s, n_out)]
    if k == 1:
        out[...] = v0
        idx[...] = 0
        return
    v1 = x[_sl(axis, 1, s, n_out)]
    xp.greater(v1, v0, out=idx if k == 2 else idx.view(np.bool_))  # offset 1 won (uint8 0/1 shares bool bytes)
    xp.maximum(v0, v1, out=out)
    for j in range(2, k):
        vj = x[_sl(axis, j, s, n_out)]
        won = xp.greater(vj, out)  # strictly greater: ties keep the earlier offset, as PyTorch does
        xp.maximum(out, vj, out=out)
        xp.copyto(idx, np.uint8(j), where=won)


def _scatter_stage(g: Any, idx: Any, dx: Any, axis: int, k: int, s: int, n_out: int) -> None:
    """Backward of :func:`_max_stage`: write into ``dx`` the gradient ``g`` sent to each winner."""
    xp = get_array_module(g)
    overlap = s < k
    if overlap or not _covered_once(dx.shape[axis], k, s, n_out):
        dx.fill(0)  # overlapping windows accumulate; gaps and remainders get no gradient
    if k == 1:  # a window of one never overlaps another
        dx[_sl(axis, 0, s, n_out)] = g
    elif k == 2:  # second = g * idx, first = g - second
        second = xp.multiply(g, idx, out=buffers.take(g.shape, g.dtype, xp))
        if overlap:
            dx[_sl(axis, 1, s, n_out)] += second
            dx[_sl(axis, 0, s, n_out)] += g - second
        else:
            dx[_sl(axis, 1, s, n_out)] = second
            xp.subtract(g, second, out=dx[_sl(axis, 0, s, n_out)])
        buffers.give(second)
    else:
        for j in range(k):
            view = dx[_sl(axis, j, s, n_out)]
            if overlap:
                view += g * (idx == j)
            else:
                xp.multiply(g, idx == j, out=view)


def _sum_stage(x: Any, axis: int, k: int, s: int, n_out: int, out: Any) -> None:
    """1-D sliding-window sum along ``axis`` into ``out``."""
    out[...] = x[_sl(axis, 0, s, n_out)]
    for j in range(1, k):
        out += x[_sl(axis, j, s, n_out)]


def _spread_stage(g: Any, dx: Any, axis: int, k: int, s: int, n_out: int) -> None:
    """Backward of :func:`_sum_stage`: every window position of ``dx`` receives the window's gradient."""
    if s < k or not _covered_once(dx.shape[axis], k, s, n_out):
        dx.fill(0)
        for j in range(k):
            dx[_sl(axis, j, s, n_out)] += g
    else:
        for j in range(k):
            dx[_sl(axis, j, s, n_out)] = g


def _over_batch(work: Any, n: int, size: int, xp: Any) -> None:
    """Run ``work(lo, hi)`` over the batch: split across threads on the CPU, in one go on the GPU."""
    if xp is np:
        parallel_chunks(work, n, size)
    else:
        work(0, n)


# --------------------------------------------------------------------------- Functions
class _Pool2d(Function):
    """What max and average pooling share: the window geometry, kept for backward in ``meta``."""

    def _record(self, x_shape: tuple, kernel_size: tuple, stride: tuple, padding: tuple) -> tuple:
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        out_hw = conv_output_size(x_shape[2], kh, sh, ph), conv_output_size(x_shape[3], kw, sw, pw)
        self.meta = (tuple(x_shape), (kh, kw), (sh, sw), (ph, pw), out_hw)
        return self.meta[1:]


class MaxPool2d(_Pool2d):
    """Max over KH x KW windows; backward routes the gradient to the (first) argmax."""

    def forward(self, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self._record(x.shape, kernel_size, stride, padding)
        N, C, H, W = x.shape
        if is_gpu_array(x):
            from ..cuda import pool as cuda_pool

            y, self.argmax = cuda_pool.max_pool2d_forward(x, (kh, kw), (sh, sw), (ph, pw))
            return y
        xp = get_array_module(x)
        hp = H + 2 * ph
        y = xp.empty((N, C, oh, ow), x.dtype)
        self.idx_w = xp.empty((N, C, hp, ow), _index_dtype(kw))  # winning column, per padded row
        self.idx_h = xp.empty((N, C, oh, ow), _index_dtype(kh))  # winning row, per output

        def work(lo: int, hi: int) -> None:
            xc = x[lo:hi]
            xpad = _pad(xc, (ph, ph, pw, pw), value=-np.inf)
            rows = buffers.take((hi - lo, C, hp, ow), x.dtype, xp)  # max over each window's columns
            _max_stage(xpad, 3, kw, sw, ow, rows, self.idx_w[lo:hi])
            if xpad is not xc:
                buffers.give(xpad)
            _max_stage(rows, 2, kh, sh, oh, y[lo:hi], self.idx_h[lo:hi])
            buffers.give(rows)

        _over_batch(work, N, x.size, xp)
        return y

    def backward(self, grad):
        x_shape, (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self.meta
        if is_gpu_array(grad):
            from ..cuda import pool as cuda_pool

            dx = cuda_pool.max_pool2d_backward(grad, self.argmax, tuple(x_shape), (kh, kw), (sh, sw), (ph, pw))
            return (dx,)
        xp = get_array_module(grad)
        N, C, H, W = x_shape
        hp, wp = H + 2 * ph, W + 2 * pw
        dx = xp.empty(x_shape, grad.dtype)

        def work(lo: int, hi: int) -> None:
            drows = buffers.take((hi - lo, C, hp, ow), grad.dtype, xp)
            _scatter_stage(grad[lo:hi], self.idx_h[lo:hi], drows, 2, kh, sh, oh)
            if ph or pw:
                dxpad = buffers.take((hi - lo, C, hp, wp), grad.dtype, xp)
                _scatter_stage(drows, self.idx_w[lo:hi], dxpad, 3, kw, sw, ow)
                dx[lo:hi] = _unpad(dxpad, (ph, ph, pw, pw))
                buffers.give(dxpad)
            else:
                _scatter_stage(drows, self.idx_w[lo:hi], dx[lo:hi], 3, kw, sw, ow)
            buffers.give(drows)

        _over_batch(work, N, dx.size, xp)
        return (dx,)


class AvgPool2d(_Pool2d):
    """Mean over KH x KW windows; padded zeros count in the divisor (count_include_pad=True)."""

    def forward(self, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self._record(x.shape, kernel_size, stride, padding)
        N, C, H, W = x.shape
        if is_gpu_array(x):
            from ..cuda import pool as cuda_pool

            return cuda_pool.avg_pool2d_forward(x, (kh, kw), (sh, sw), (ph, pw))
        xp = get_array_module(x)
        hp = H + 2 * ph
        y = xp.empty((N, C, oh, ow), x.dtype)

        def work(lo: int, hi: int) -> None:
            xc = x[lo:hi]
            xpad = _pad(xc, (ph, ph, pw, pw))
            rows = buffers.take((hi - lo, C, hp, ow), x.dtype, xp)
            _sum_stage(xpad, 3, kw, sw, ow, rows)
            if xpad is not xc:
                buffers.give(xpad)
            _sum_stage(rows, 2, kh, sh, oh, y[lo:hi])
            y[lo:hi] *= 1.0 / (kh * kw)
            buffers.give(rows)

        _over_batch(work, N, x.size, xp)
        return y

    def backward(self, grad):
        x_shape, (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self.meta
        if is_gpu_array(grad):
            from ..cuda import pool as cuda_pool

            dx = cuda_pool.avg_pool2d_backward(grad, tuple(x_shape), (kh, kw), (sh, sw), (ph, pw))
            return (dx,)
        xp = get_array_module(grad)
        N, C, H, W = x_shape
        hp, wp = H + 2 * ph, W + 2 * pw
        dx = xp.empty(x_shape, grad.dtype)

        def work(lo: int, hi: int) -> None:
            g = grad[lo:hi] * (1.0 / (kh * kw))
            drows = buffers.take((hi - lo, C, hp, ow), grad.dtype, xp)
            _spread_stage(g, drows, 2, kh, sh, oh)
            if ph or pw:
                dxpad = buffers.take((hi - lo, C, hp, wp), grad.dtype, xp)
                _spread_stage(drows, dxpad, 3, kw, sw, ow)
                dx[lo:hi] = _unpad(dxpad, (ph, ph, pw, pw))
                buffers.give(dxpad)
            else:
                _spread_stage(drows, dx[lo:hi], 3, kw, sw, ow)
            buffers.give(drows)

        _over_batch(work, N, dx.size, xp)
        return (dx,)


# --------------------------------------------------------------------------- public functions
def _pool_args(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any) -> dict:
    xd = x.array
    _check_nchw(op, xd)
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None else _pair(stride, "stride", op, 1)
    if isinstance(padding, str):
        raise ValueError(f"{op} expected padding as an int or a pair of ints, got {padding!r}")
    pad = _pair(padding, "padding", op, 0)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding should be at most half the kernel size, got padding={pad} for kernel_size={kernel}")
    _check_window(op, xd.shape, kernel, (pad[0], pad[0], pad[1], pad[1]), what="window")
    return dict(kernel_size=kernel, stride=stride, padding=pad)


def max_pool2d(x: Tensor, kernel_size: int | tuple, stride: int | tuple | None = None, padding: int | tuple = 0,
               layer: str | None = None) -> Tensor:
    """Max pooling over (N, C, H, W): ``y[n, c, i, j] = max`` of the window at ``(s*i - p, s*j - p)``.

    ``stride`` defaults to ``kernel_size``; ``padding`` pads with -inf (at most half the kernel).
    The gradient goes to the first maximum of each window (row-major), as in PyTorch (with a
    NaN in a window the output is NaN but the gradient goes to the largest non-NaN value).
    ``layer`` names the caller in error messages.
    """
    x = as_tensor(x)
    return MaxPool2d.apply(x, **_pool_args(layer or "max_pool2d", x, kernel_size, stride, padding))


def avg_pool2d(x: Tensor, kernel_size: int | tuple, stride: int | tuple | None = None, padding: int | tuple = 0,
               layer: str | None = None) -> Tensor:
    """Average pooling over (N, C, H, W); zero padding counts in the divisor (count_include_pad=True)."""
    x = as_tensor(x)
    return AvgPool2d.apply(x, **_pool_args(layer or "avg_pool2d", x, kernel_size, stride, padding))

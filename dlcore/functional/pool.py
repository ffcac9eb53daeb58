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
from .conv import _check_nchw, _check_window, _pad, _pair, _unpad, conv_output_size

__all__ = ["max_pool2d", "avg_pool2d", "MaxPool2d", "AvgPool2d"]


# --------------------------------------------------------------------------- 1-D stages
def _sl(axis: int, start: int, step: int, count: int) -> tuple:
    """Index selecting ``count`` positions ``start, start+step, ...`` along ``axis`` of a 4-D array."""
    index = [slice(None)] * 4
    index[axis] = slice(start, start + step * (count - 1) + 1, step)
    return tuple(index)


def _max_stage(x: Any, axis: int, k: int, s: int, n_out: int) -> tuple[Any, Any]:
    """1-D sliding max along ``axis``: (max, index of the first max within the window).

    The index is a bool array for k == 2 (True = second element won) and uint8 otherwise.
    """
    xp = get_array_module(x)
    v0 = x[_sl(axis, 0, s, n_out)]
    if k == 1:
        return v0.copy(), xp.zeros(v0.shape, xp.uint8)
    v1 = x[_sl(axis, 1, s, n_out)]
    idx = xp.greater(v1, v0)
    m = xp.maximum(v0, v1)
    if k > 2:
        idx = idx.view(xp.uint8)
        for j in range(2, k):
            vj = x[_sl(axis, j, s, n_out)]
            won = xp.greater(vj, m)
            xp.maximum(m, vj, out=m)
            xp.copyto(idx, xp.uint8(j), where=won)
    return m, idx


def _scatter_stage(g: Any, idx: Any, in_shape: tuple, axis: int, k: int, s: int, n_out: int) -> Any:
    """Backward of :func:`_max_stage`: send ``g`` to the winning offset of each window."""
    xp = get_array_module(g)
    overlap = s < k
    covered = s == k and s * n_out == in_shape[axis]
    dx = xp.zeros(in_shape, g.dtype) if (overlap or not covered) else xp.empty(in_shape, g.dtype)
    if k == 1:  # a window of one never overlaps another
        dx[_sl(axis, 0, s, n_out)] = g
    elif idx.dtype == bool:  # k == 2: second = g * idx, first = g - second
        second = xp.multiply(g, idx)
        if overlap:
            dx[_sl(axis, 1, s, n_out)] += second
            dx[_sl(axis, 0, s, n_out)] += g - second
        else:
            dx[_sl(axis, 1, s, n_out)] = second
            xp.subtract(g, second, out=dx[_sl(axis, 0, s, n_out)])
    else:
        for j in range(k):
            view = dx[_sl(axis, j, s, n_out)]
            if overlap:
                view += g * (idx == j)
            else:
                xp.multiply(g, idx == j, out=view)
    return dx


def _sum_stage(x: Any, axis: int, k: int, s: int, n_out: int) -> Any:
    """1-D sliding-window sum along ``axis``."""
    out = x[_sl(axis, 0, s, n_out)].copy()
    for j in range(1, k):
        out += x[_sl(axis, j, s, n_out)]
    return out


def _spread_stage(g: Any, in_shape: tuple, axis: int, k: int, s: int, n_out: int) -> Any:
    """Backward of :func:`_sum_stage`: every window position receives the window's gradient."""
    xp = get_array_module(g)
    overlap = s < k
    covered = s == k and s * n_out == in_shape[axis]
    if overlap or not covered:
        dx = xp.zeros(in_shape, g.dtype)
        for j in range(k):
            dx[_sl(axis, j, s, n_out)] += g
    else:
        dx = xp.empty(in_shape, g.dtype)
        for j in range(k):
            dx[_sl(axis, j, s, n_out)] = g
    return dx


# --------------------------------------------------------------------------- Functions
class MaxPool2d(Function):
    """Max over KH x KW windows; backward routes the gradient to the (first) argmax."""

    def forward(self, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        N, C, H, W = x.shape
        oh, ow = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
        self.meta = (x.shape, tuple(kernel_size), tuple(stride), tuple(padding), (oh, ow))
        if is_gpu_array(x):
            from ..cuda import pool as cuda_pool

            y, self.argmax = cuda_pool.max_pool2d_forward(x, tuple(kernel_size), tuple(stride), tuple(padding))
            return y
        pad4 = (ph, ph, pw, pw)
        xpad = _pad(x, pad4, value=-np.inf)
        rows, self.idx_w = _max_stage(xpad, 3, kw, sw, ow)  # (N, C, Hp, OW)
        y, self.idx_h = _max_stage(rows, 2, kh, sh, oh)  # (N, C, OH, OW)
        return y

    def backward(self, grad):
        x_shape, (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self.meta
        if is_gpu_array(grad):
            from ..cuda import pool as cuda_pool

            dx = cuda_pool.max_pool2d_backward(grad, self.argmax, tuple(x_shape), (kh, kw), (sh, sw), (ph, pw))
            return (dx,)
        N, C, H, W = x_shape
        hp, wp = H + 2 * ph, W + 2 * pw
        drows = _scatter_stage(grad, self.idx_h, (N, C, hp, ow), 2, kh, sh, oh)
        dx = _scatter_stage(drows, self.idx_w, (N, C, hp, wp), 3, kw, sw, ow)
        if ph or pw:
            dx = _unpad(dx, (ph, ph, pw, pw)).copy()
        return (dx,)


class AvgPool2d(Function):
    """Mean over KH x KW windows; padded zeros count in the divisor (count_include_pad=True)."""

    def forward(self, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        N, C, H, W = x.shape
        oh, ow = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
        self.meta = (x.shape, tuple(kernel_size), tuple(stride), tuple(padding), (oh, ow))
        if is_gpu_array(x):
            from ..cuda import pool as cuda_pool

            return cuda_pool.avg_pool2d_forward(x, tuple(kernel_size), tuple(stride), tuple(padding))
        xpad = _pad(x, (ph, ph, pw, pw))
        rows = _sum_stage(xpad, 3, kw, sw, ow)
        y = _sum_stage(rows, 2, kh, sh, oh)
        y *= 1.0 / (kh * kw)
        return y

    def backward(self, grad):
        x_shape, (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self.meta
        if is_gpu_array(grad):
            from ..cuda import pool as cuda_pool

            dx = cuda_pool.avg_pool2d_backward(grad, tuple(x_shape), (kh, kw), (sh, sw), (ph, pw))
            return (dx,)
        N, C, H, W = x_shape
        hp, wp = H + 2 * ph, W + 2 * pw
        g = grad * (1.0 / (kh * kw))
        drows = _spread_stage(g, (N, C, hp, ow), 2, kh, sh, oh)
        dx = _spread_stage(drows, (N, C, hp, wp), 3, kw, sw, ow)
        if ph or pw:
            dx = _unpad(dx, (ph, ph, pw, pw)).copy()
        return (dx,)


# --------------------------------------------------------------------------- public functions
def _pool_args(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any) -> dict:
    xd = getattr(x, "data", x)
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


def max_pool2d(x, kernel_size, stride=None, padding=0, layer: str | None = None):
    """Max pooling over (N, C, H, W): ``y[n, c, i, j] = max`` of the window at ``(s*i - p, s*j - p)``.

    ``stride`` defaults to ``kernel_size``; ``padding`` pads with -inf (at most half the kernel).
    The gradient goes to the first maximum of each window (row-major), as in PyTorch (with a
    NaN in a window the output is NaN but the gradient goes to the largest non-NaN value).
    ``layer`` names the caller in error messages.
    """
    return MaxPool2d.apply(x, **_pool_args(layer or "max_pool2d", x, kernel_size, stride, padding))


def avg_pool2d(x, kernel_size, stride=None, padding=0, layer: str | None = None):
    """Average pooling over (N, C, H, W); zero padding counts in the divisor (count_include_pad=True)."""
    return AvgPool2d.apply(x, **_pool_args(layer or "avg_pool2d", x, kernel_size, stride, padding))

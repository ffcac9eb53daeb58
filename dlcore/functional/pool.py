"""2-D max, average and adaptive pooling as differentiable Functions (NCHW), as in PyTorch.

The CPU path is *separable*: a KH x KW window max (or sum) is a 1-D max over the KW columns
followed by a 1-D max over the KH rows. Each 1-D stage is a short Python loop over the window
offsets doing one vectorised op on a strided view of the whole batch, so a 2x2 pool costs 2 + 2
array passes instead of 4 x 4, and no Python loop ever runs over pixels or batch items. When
``stride == kernel`` the strided views are exactly the reshape view
``x.reshape(N, C, OH, KH, OW, KW)[:, :, :, i, :, j]`` and the backward writes each input pixel
once instead of accumulating into a zeroed array. Max pooling whose windows tile the input
exactly (stride == kernel, no padding) takes the contiguous path of :mod:`.pool_tiled` instead.

Max pooling remembers, per stage, which offset won (the first maximum in row-major window order,
as in PyTorch; in a window holding NaNs, its last NaN, as PyTorch's ``val > max || isnan(val)``;
in a window whose real values are all -inf, the first real tap), and the backward
routes the gradient only there. Padding pads with -inf for max and with zeros for average
pooling; ``ceil_mode`` adds room at the bottom/right so that the last windows fit, and the
average's divisor follows ``count_include_pad`` / ``divisor_override`` as in PyTorch. The GPU
kernels (``forward_gpu``) cover the plain cases and decline the others (dilation, ceil mode,
count_include_pad=False, divisor_override), which then run on the generic path with CuPy.

    >>> import numpy as np, dlcore
    >>> x = dlcore.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
    >>> max_pool2d(x, 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    >>> avg_pool2d(x, 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]

Adaptive pooling is in :mod:`dlcore.functional.adaptive_pool`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..cpu import buffers
from ..cuda import pool as cuda_pool
from ..tensor import Tensor, as_tensor
from . import pool_tiled
from .window import Window, check_nchw, check_window, ntuple, over_batch, pad, pair, unpad

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


def _writes_once(in_len: int, k: int, s: int, d: int, n_out: int) -> bool:
    """Whether the windows tile the input exactly (each position read by exactly one window)."""
    return d == 1 and s == k and s * n_out == in_len


def _first_real(xp: Any, axis: int, k: int, s: int, d: int, n_out: int, lead: int) -> Any:
    """Per output position along ``axis``, the first window offset past the leading padding, shaped to broadcast."""
    j0 = np.clip(-(-(lead - s * np.arange(n_out)) // d), 0, k - 1)
    shape = [1, 1, 1, 1]
    shape[axis] = n_out
    return xp.asarray(j0.reshape(shape))


def _max_stage(x: Any, axis: int, k: int, s: int, d: int, n_out: int, out: Any, idx: Any, lead: int) -> None:
    """1-D sliding max along ``axis`` into ``out``; ``idx`` gets the offset of the first maximum.

    ``lead`` leading positions along ``axis`` are padding: a window starting there takes its
    first real tap as the winner before comparing (so an all -inf window keeps its gradient).
    """
    xp = get_array_module(x)
    v0 = x[_sl(axis, 0, s, n_out)]
    if k == 1:
        out[...] = v0
        idx[...] = 0
        return
    j0 = _first_real(xp, axis, k, s, d, n_out, lead) if lead else None
    v1 = x[_sl(axis, d, s, n_out)]
    first = idx if k == 2 else idx.view(np.bool_)  # uint8 0/1 shares bool's bytes
    xp.greater(v1, v0, out=first)  # offset 1 won
    if j0 is not None:
        first |= j0 == 1  # offset 0 of these windows is padding
    xp.maximum(v0, v1, out=out)
    for j in range(2, k):
        vj = x[_sl(axis, j * d, s, n_out)]
        won = xp.greater(vj, out)  # strictly greater: ties keep the earlier offset, as PyTorch does
        if j0 is not None:
            won |= j0 == j  # every earlier tap of these windows is padding
        xp.maximum(out, vj, out=out)
        xp.copyto(idx, np.uint8(j), where=won)
    if xp.isnan(out.sum()):  # some window holds a NaN (or the sum overflowed): a NaN must win
        _nan_winners(x, axis, k, s, d, n_out, idx)


def _nan_winners(x: Any, axis: int, k: int, s: int, d: int, n_out: int, idx: Any) -> None:
    """In each window holding a NaN, make its *last* NaN the winner, as PyTorch does (its
    kernels take ``val > max || isnan(val)``); the output there is already NaN."""
    xp = get_array_module(x)
    for j in range(k):
        xp.copyto(idx, j, casting="unsafe", where=xp.isnan(x[_sl(axis, j * d, s, n_out)]))  # idx may be bool (k=2)


def _scatter_stage(g: Any, idx: Any, dx: Any, axis: int, k: int, s: int, d: int, n_out: int) -> None:
    """Backward of :func:`_max_stage`: write into ``dx`` the gradient ``g`` sent to each winner."""
    xp = get_array_module(g)
    overlap = k > 1 and (s < k or d > 1)
    if overlap or not _writes_once(dx.shape[axis], k, s, d, n_out):
        dx.fill(0)  # overlapping windows accumulate; gaps and remainders get no gradient
    if k == 1:  # a window of one never overlaps another
        dx[_sl(axis, 0, s, n_out)] = g
    elif k == 2:  # second = g * idx, first = g - second
        second = xp.multiply(g, idx, out=buffers.take(g.shape, g.dtype, xp))
        if overlap:
            dx[_sl(axis, d, s, n_out)] += second
            dx[_sl(axis, 0, s, n_out)] += g - second
        else:
            dx[_sl(axis, d, s, n_out)] = second
            xp.subtract(g, second, out=dx[_sl(axis, 0, s, n_out)])
        buffers.give(second)
    else:
        for j in range(k):
            view = dx[_sl(axis, j * d, s, n_out)]
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
    once = _writes_once(dx.shape[axis], k, s, 1, n_out)
    if not once:
        dx.fill(0)
    for j in range(k):
        if once:
            dx[_sl(axis, j, s, n_out)] = g
        else:
            dx[_sl(axis, j, s, n_out)] += g


def _separable(x: Any, win: Window, fill: float, stage: Any, out: Any) -> None:
    """Pad ``x`` and run ``stage(src, axis, n_out, dst, lo, hi)`` over W then H, batch-chunk by batch-chunk."""
    xp = get_array_module(x)
    N, C = x.shape[:2]
    hp = win.padded_hw[0]
    oh, ow = win.out_hw

    def work(lo: int, hi: int) -> None:
        xc = x[lo:hi]
        xpad = pad(xc, win.full_pad4, value=fill)
        rows = buffers.take((hi - lo, C, hp, ow), x.dtype, xp)  # each window's column stage, per padded row
        stage(xpad, 3, ow, rows, lo, hi)
        if xpad is not xc:
            buffers.give(xpad)
        stage(rows, 2, oh, out[lo:hi], lo, hi)
        buffers.give(rows)

    over_batch(work, N, x.size, xp)


def _separable_backward(grad: Any, win: Window, stage: Any) -> Any:
    """Run ``stage(src, dst, axis, n_out, lo, hi)`` over H then W and un-pad: the adjoint of :func:`_separable`."""
    xp = get_array_module(grad)
    N, C = win.in_shape[:2]
    hp, wp = win.padded_hw
    dx = xp.empty(win.in_shape, grad.dtype)
    padded = any(win.full_pad4)

    def work(lo: int, hi: int) -> None:
        drows = buffers.take((hi - lo, C, hp, win.out_hw[1]), grad.dtype, xp)
        stage(grad[lo:hi], drows, 2, win.out_hw[0], lo, hi)
        if padded:
            dxpad = buffers.take((hi - lo, C, hp, wp), grad.dtype, xp)
            stage(drows, dxpad, 3, win.out_hw[1], lo, hi)
            dx[lo:hi] = unpad(dxpad, win.full_pad4)
            buffers.give(dxpad)
        else:
            stage(drows, dx[lo:hi], 3, win.out_hw[1], lo, hi)
        buffers.give(drows)

    over_batch(work, N, dx.size, xp)
    return dx


# --------------------------------------------------------------------------- Functions
class MaxPool2d(Function):
    """Max over KH x KW (dilated) windows; backward routes the gradient to the (first) argmax.

    Params: ``window`` (a checked :class:`Window`) and ``indices`` (a list that receives the
    int64 flat indices ``ih * W + iw`` of the maxima, for ``return_indices``; or None).
    """
    fresh_grads = True  # backward returns new arrays only (see Function)

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, window: Window = None, indices: list | None = None):
        self.window = win = window
        self.code = None
        if pool_tiled.applies(x, win):  # stride == kernel, no padding: contiguous passes
            y, self.code = pool_tiled.forward(x, win.kernel)
            if indices is not None:
                indices.append(pool_tiled.flat_indices(self.code, win))
            return y
        xp = get_array_module(x)
        (kh, kw), (sh, sw), (dh, dw) = win.kernel, win.stride, win.dilation
        N, C = x.shape[:2]
        hp = win.padded_hw[0]
        oh, ow = win.out_hw
        y = xp.empty((N, C, oh, ow), x.dtype)
        self.idx_w = xp.empty((N, C, hp, ow), _index_dtype(kw))  # winning column, per padded row
        self.idx_h = xp.empty((N, C, oh, ow), _index_dtype(kh))  # winning row, per output

        def stage(src, axis, n_out, dst, lo, hi):
            if axis == 3:
                _max_stage(src, 3, kw, sw, dw, n_out, dst, self.idx_w[lo:hi], win.pad4[2])
            else:
                _max_stage(src, 2, kh, sh, dh, n_out, dst, self.idx_h[lo:hi], win.pad4[0])

        _separable(x, win, -np.inf, stage, y)
        if indices is not None:
            indices.append(self._flat_indices(xp))
        return y

    def _flat_indices(self, xp: Any) -> Any:
        """``ih * W + iw`` of each output's maximum, from the two stages' winning offsets."""
        win = self.window
        oh, ow = win.out_hw
        row = xp.arange(oh).reshape(1, 1, oh, 1) * win.stride[0] + self.idx_h.astype(np.int64) * win.dilation[0]
        win_col = xp.take_along_axis(self.idx_w, xp.broadcast_to(row, self.idx_h.shape), axis=2).astype(np.int64)
        col = xp.arange(ow).reshape(1, 1, 1, ow) * win.stride[1] + win_col * win.dilation[1]
        return (row - win.pad4[0]) * win.in_shape[3] + (col - win.pad4[2])

    def backward(self, grad):
        win = self.window
        if self.code is not None:
            return (pool_tiled.backward(grad, self.code, win.in_shape, win.kernel),)
        (kh, kw), (sh, sw), (dh, dw) = win.kernel, win.stride, win.dilation

        def stage(src, dst, axis, n_out, lo, hi):
            if axis == 2:
                _scatter_stage(src, self.idx_h[lo:hi], dst, 2, kh, sh, dh, n_out)
            else:
                _scatter_stage(src, self.idx_w[lo:hi], dst, 3, kw, sw, dw, n_out)

        return (_separable_backward(grad, win, stage),)

    def forward_gpu(self, x, window: Window = None, indices: list | None = None):
        if window.dilation != (1, 1) or window.symmetric is None:  # no kernel for these
            return NotImplemented
        self.window = window
        y, self.argmax = cuda_pool.max_pool2d_forward(x, window.kernel, window.stride, window.symmetric)
        if indices is not None:
            indices.append(self.argmax.astype(np.int64))
        return y

    def backward_gpu(self, grad):
        win = self.window
        return (cuda_pool.max_pool2d_backward(grad, self.argmax, win.in_shape, win.kernel, win.stride,
                                              win.symmetric),)


def _divisor(win: Window, count_include_pad: bool, divisor_override: int | None) -> Any:
    """The average's divisor: a number, or an (OH, OW) array where windows differ, as in PyTorch."""
    kh, kw = win.kernel
    if divisor_override is not None:
        return float(divisor_override)
    if win.extra == (0, 0) and (count_include_pad or not any(win.pad4)):
        return float(kh * kw)
    counts = []
    for axis, (k, s, n) in enumerate(zip(win.kernel, win.stride, win.out_hw)):
        size, before = win.in_shape[2 + axis], win.pad4[2 * axis]
        lo, hi = (0, size + 2 * before) if count_include_pad else (before, before + size)
        start = np.arange(n) * s
        counts.append(np.clip(np.minimum(start + k, hi) - np.maximum(start, lo), 0, None))
    return np.outer(counts[0], counts[1]).astype(np.float64)


class AvgPool2d(Function):
    """Mean over KH x KW windows. Params: ``window``, ``count_include_pad``, ``divisor_override``."""
    fresh_grads = True  # backward returns new arrays only (see Function)

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, window: Window = None, count_include_pad: bool = True, divisor_override: int | None = None):
        self.window = win = window
        xp = get_array_module(x)
        (kh, kw), (sh, sw) = win.kernel, win.stride
        divisor = _divisor(win, count_include_pad, divisor_override)
        self.scale = 1.0 / divisor if isinstance(divisor, float) else xp.asarray(1.0 / divisor, dtype=x.dtype)
        y = xp.empty((x.shape[0], x.shape[1]) + win.out_hw, x.dtype)

        def stage(src, axis, n_out, dst, lo, hi):
            _sum_stage(src, axis, kw if axis == 3 else kh, sw if axis == 3 else sh, n_out, dst)
            if axis == 2:
                dst *= self.scale

        _separable(x, win, 0.0, stage, y)
        return y

    def backward(self, grad):
        win = self.window
        (kh, kw), (sh, sw) = win.kernel, win.stride

        def stage(src, dst, axis, n_out, lo, hi):
            if axis == 2:
                src = src * self.scale
            _spread_stage(src, dst, axis, kw if axis == 3 else kh, sw if axis == 3 else sh, n_out)

        return (_separable_backward(grad, win, stage),)

    def forward_gpu(self, x, window: Window = None, count_include_pad: bool = True,
                    divisor_override: int | None = None):
        plain = window.extra == (0, 0) and (count_include_pad or not any(window.pad4))
        if not plain or divisor_override is not None or window.symmetric is None:
            return NotImplemented
        self.window = window
        return cuda_pool.avg_pool2d_forward(x, window.kernel, window.stride, window.symmetric)

    def backward_gpu(self, grad):
        win = self.window
        return (cuda_pool.avg_pool2d_backward(grad, win.in_shape, win.kernel, win.stride, win.symmetric),)


def _pool_window(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1,
                 ceil_mode: bool = False) -> Window:
    """Check the pooling arguments once and return the window geometry."""
    xd = x.array
    check_nchw(op, xd)
    kernel = pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else pair(
        stride, "stride", op, 1)
    if isinstance(padding, str):
        raise ValueError(f"{op} expected padding as an int or a pair of ints, got {padding!r}")
    ph, pw = pair(padding, "padding", op, 0)
    dilation = pair(dilation, "dilation", op, 1)
    if ph > kernel[0] // 2 or pw > kernel[1] // 2:
        raise ValueError(f"{op}: padding should be at most half the kernel size (as in PyTorch), got "
                         f"padding={(ph, pw)} for kernel_size={kernel}")
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise ValueError(f"{op} expected ceil_mode as a bool, got {ceil_mode!r}")
    pad4 = (ph, ph, pw, pw)
    check_window(op, xd.shape, kernel, pad4, dilation, what="window")
    return Window.of(xd.shape, kernel, stride, pad4, dilation, bool(ceil_mode))


def with_indices(fn: type, x: Tensor, return_indices: bool, **params: Any) -> Any:
    """Apply a max-pooling Function; with ``return_indices`` also return its int64 indices Tensor."""
    holder: list | None = [] if return_indices else None
    y = fn.apply(x, indices=holder, **params)
    return (y, Tensor(holder[0])) if return_indices else y


def max_pool2d(x: Tensor, kernel_size: int | tuple, stride: int | tuple | None = None, padding: int | tuple = 0,
               dilation: int | tuple = 1, ceil_mode: bool = False, return_indices: bool = False,
               layer: str | None = None) -> Any:
    """Max pooling over (N, C, H, W): ``y[n, c, i, j] = max`` of the window at ``(s*i - p, s*j - p)``.

    As ``torch.nn.functional.max_pool2d``: ``stride`` defaults to ``kernel_size``; ``padding``
    pads with -inf (at most half the kernel); ``dilation`` spaces the taps; ``ceil_mode``
    rounds the output size up; ``return_indices`` also returns the int64 flat indices
    ``ih * W + iw`` of the maxima. The gradient goes to the first maximum of each window
    (row-major), as in PyTorch; a window holding NaNs outputs NaN and sends it to its last NaN
    (PyTorch's rule); a window whose real values are all -inf sends it to its first real
    element. A dilated window that holds only padding gives -inf and no gradient (PyTorch
    gives -inf and an index past the plane). ``layer`` names the caller in error messages.

    >>> import dlcore
    >>> y, i = max_pool2d(dlcore.tensor([[[[1.0, 3.0, 2.0]]]]), (1, 2), stride=1, return_indices=True)
    >>> y.tolist(), i.tolist()
    ([[[[3.0, 3.0]]]], [[[[1, 1]]]])
    """
    x = as_tensor(x)
    win = _pool_window(layer or "max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    return with_indices(MaxPool2d, x, return_indices, window=win)


def avg_pool2d(x: Tensor, kernel_size: int | tuple, stride: int | tuple | None = None, padding: int | tuple = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None,
               layer: str | None = None) -> Tensor:
    """Average pooling over (N, C, H, W), as ``torch.nn.functional.avg_pool2d``.

    Zero padding counts in the divisor unless ``count_include_pad=False``; ``divisor_override``
    replaces the divisor; ``ceil_mode`` rounds the output size up.

    >>> import dlcore
    >>> avg_pool2d(dlcore.ones(1, 1, 3, 3), 2, padding=1, count_include_pad=False).tolist()
    [[[[1.0, 1.0], [1.0, 1.0]]]]
    """
    op = layer or "avg_pool2d"
    x = as_tensor(x)
    win = _pool_window(op, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        (divisor_override,) = ntuple(divisor_override, 1, "divisor_override", op, 1)
    return AvgPool2d.apply(x, window=win, count_include_pad=bool(count_include_pad),
                           divisor_override=divisor_override)

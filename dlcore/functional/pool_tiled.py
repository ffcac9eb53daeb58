"""Max pooling on the CPU when the windows tile the input exactly (``stride == kernel``, the 2x2 case).

With no padding, no dilation and H, W multiples of the kernel, every input pixel belongs to
exactly one window. Then one strided copy per cache block regroups the input into the layout
``taps[ki, kj, plane, oh, ow]``, in which each window offset is one contiguous array, and every
later pass (compare, maximum, the backward's masks) is a long contiguous SIMD loop instead of
the stride-2 loops of the separable path (NumPy's ``maximum`` on a stride-2 view ran at about a
seventh of its contiguous speed here). The winner of each window is kept as one byte, the
row-major offset ``ki * KW + kj``; the backward writes ``g`` at that offset and zero elsewhere,
each input pixel once.

The winner is picked as in the separable path of :mod:`dlcore.functional.pool` and PyTorch
(the first maximum in row-major order; in a window holding NaNs, its last NaN), so both paths
give identical outputs, indices and gradients.

    >>> import numpy as np
    >>> x = np.array([[[[1, 3, 0, 0], [2, 3, 0, 1]]]], np.float32)
    >>> y, code = forward(x, (2, 2))
    >>> y.tolist(), code.tolist()
    ([[[[3.0, 1.0]]]], [[[[1, 3]]]])
    >>> backward(np.ones((1, 1, 1, 2), np.float32), code, x.shape, (2, 2)).tolist()
    [[[[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import cpu_jit
from ..cpu import BLOCK, parallel_chunks
from .window import Window

__all__ = ["applies", "backward", "flat_indices", "forward"]


def applies(x: Any, win: Window) -> bool:
    """Whether ``x`` (a NumPy array) and ``win`` take this path: windows that tile the input exactly."""
    (kh, kw), (H, W) = win.kernel, win.in_shape[2:]
    return (isinstance(x, np.ndarray) and win.stride == win.kernel and win.dilation == (1, 1)
            and not any(win.full_pad4) and H % kh == 0 and W % kw == 0 and kh * kw <= 255)


def _planes_per_block(plane: int) -> int:
    """Planes (one output plane and its KH*KW taps) per cache block: about BLOCK outputs."""
    return max(1, BLOCK // max(1, plane))


def _tap_view(a: np.ndarray, kernel: tuple) -> np.ndarray:
    """``a`` (N, C, H, W) as (KH, KW, N*C, OH, OW): window offset first (a strided view, no copy)."""
    (kh, kw), (N, C, H, W) = kernel, a.shape
    return a.reshape(N * C, H // kh, kh, W // kw, kw).transpose(2, 4, 0, 1, 3)


def _select(c: np.ndarray, won: np.ndarray, value: Any, scratch: np.ndarray, first: bool = False) -> None:
    """``c = value where won else c`` on uint8 arrays (``won`` 0/1), as wrapping arithmetic: NumPy's
    masked ``copyto`` was 20x slower than these two or three SIMD passes. ``first``: c is all zero."""
    if first:
        np.multiply(won, np.uint8(value), out=c)
        return
    np.subtract(value, c, out=scratch, dtype=np.uint8)  # c + (value - c) * won, modulo 256
    np.multiply(scratch, won, out=scratch)
    np.add(c, scratch, out=c)


def forward(x: np.ndarray, kernel: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(y, code): the window maxima (N, C, OH, OW) and each winner's offset ``ki * KW + kj`` (uint8)."""
    if tuple(kernel) == (2, 2) and cpu_jit.enabled(x):
        return cpu_jit.max_pool_2x2_forward(x)
    (kh, kw), (N, C, H, W) = kernel, x.shape
    oh, ow = H // kh, W // kw
    x = np.ascontiguousarray(x)
    y = np.empty((N, C, oh, ow), x.dtype)
    code = np.empty((N, C, oh, ow), np.uint8)
    src, per = _tap_view(x, kernel), _planes_per_block(oh * ow)
    flat_y, flat_code = y.reshape(N * C, oh, ow), code.reshape(N * C, oh, ow)
    planes = N * C

    def run(lo: int, hi: int) -> None:
        taps = np.empty((kh, kw, per, oh, ow), x.dtype)
        won = np.empty((per, oh, ow), np.uint8)  # 0/1: this offset beats the best so far
        col = np.empty((kh, per, oh, ow), np.uint8)  # the winning column of each window row
        step = np.empty((per, oh, ow), np.uint8)
        for p0 in range(lo * per, min(planes, hi * per), per):
            p1 = min(planes, p0 + per)
            n = p1 - p0
            t, w, c, d = taps[:, :, :n], won[:n], col[:, :n], step[:n]
            wb = w.view(np.bool_)
            np.copyto(t, src[:, :, p0:p1])
            if kw == 1:  # one column: every row's winner is column 0
                c.fill(0)
            for ki in range(kh):  # each window row: running first maximum over its columns
                best = t[ki, 0]
                for kj in range(1, kw):
                    np.greater(t[ki, kj], best, out=wb)
                    np.maximum(best, t[ki, kj], out=best)
                    _select(c[ki], w, kj, d, first=kj == 1)
            out, oc = flat_y[p0:p1], flat_code[p0:p1]
            np.copyto(out, t[0, 0])
            np.copyto(oc, c[0])
            for ki in range(1, kh):  # then the first maximum over the rows' maxima
                np.greater(t[ki, 0], out, out=wb)
                np.maximum(out, t[ki, 0], out=out)
                np.add(c[ki], np.uint8(ki * kw), out=c[ki])
                _select(oc, w, c[ki], d)
            if np.isnan(out.sum()):  # a window holds a NaN (or the sum overflowed): its last NaN wins
                for k in range(kh * kw):
                    np.copyto(oc, np.uint8(k), where=np.isnan(src[k // kw, k % kw, p0:p1]))

    parallel_chunks(run, -(-planes // per), 2 * x.size)
    return y, code


def backward(g: np.ndarray, code: np.ndarray, in_shape: tuple, kernel: tuple) -> np.ndarray:
    """dx (``in_shape``): ``g`` at each window's winning offset, zero at the others."""
    if tuple(kernel) == (2, 2) and cpu_jit.enabled(g):
        return cpu_jit.max_pool_2x2_backward(g, code, in_shape)
    (kh, kw), (N, C, H, W) = kernel, in_shape
    oh, ow = H // kh, W // kw
    g = np.ascontiguousarray(g).reshape(N * C, oh, ow)
    flat_code = code.reshape(N * C, oh, ow)
    dx = np.empty(in_shape, g.dtype)
    dst, per = _tap_view(dx, kernel), _planes_per_block(oh * ow)
    planes = N * C

    def run(lo: int, hi: int) -> None:
        hit = np.empty((per, oh, ow), np.bool_)
        for p0 in range(lo * per, min(planes, hi * per), per):
            p1 = min(planes, p0 + per)
            n = p1 - p0
            for k in range(kh * kw):  # g * hit written straight into the strided offset view (one 5-D
                np.equal(flat_code[p0:p1], np.uint8(k), out=hit[:n])  # copy was 4x slower; a contiguous
                np.multiply(g[p0:p1], hit[:n], out=dst[k // kw, k % kw, p0:p1])  # temp + copy 1.25x)

    parallel_chunks(run, -(-planes // per), 2 * dx.size)
    return dx


def flat_indices(code: np.ndarray, win: Window) -> np.ndarray:
    """PyTorch's int64 indices ``ih * W + iw`` of each maximum, from the winning offsets."""
    (kh, kw), (oh, ow), W = win.kernel, win.out_hw, win.in_shape[3]
    c = code.astype(np.int64)
    row = np.arange(oh, dtype=np.int64).reshape(oh, 1) * kh + c // kw
    col = np.arange(ow, dtype=np.int64) * kw + c % kw
    return row * W + col

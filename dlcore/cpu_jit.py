"""Optional compiled CPU kernels (Numba): one loop instead of several NumPy passes.

dlcore's CPU paths are NumPy, and stay the reference. Where a pass is memory-bound and NumPy
needs several sweeps over the data, a Numba kernel from :mod:`dlcore.cpu_kernels` does it in one,
split over dlcore's threads: 2x2 max pooling (forward and backward), ReLU backward, im2col /
col2im of stride-1 convolutions with "same"-sized outputs, Winograd's overlap-add, and Winograd
F(4x4, 3x3)'s four transforms (:mod:`dlcore.cpu_kernels_winograd`). They run
when Numba is installed (``pip install 'dlcore[fast]'``; ``make install`` does), unless
switched off with ``DLCORE_CPU_JIT=0`` or :func:`set_enabled`. Pooling, ReLU and im2col give the
NumPy path's results bit for bit; col2im and the overlap-add add in another order (float
rounding). Measured here (2-core EPYC, one process, NumPy vs compiled): 2x2 max pool forward +
backward on 64x64x28x28 floats 3.2-5.3 ms vs 0.85-1.38 ms; the MNIST CNN's 16 -> 32 convolution
1.67 + 2.97 ms vs 1.50 + 2.29 ms; W3's Winograd forward + backward 29.3 vs 19.0 ms
(docs/cpu-performance.md).

    >>> import numpy as np
    >>> from dlcore import cpu_jit
    >>> with cpu_jit.jit(False):
    ...     cpu_jit.enabled()
    False
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from .cpu import parallel_chunks

__all__ = ["available", "col2im_same", "enabled", "im2col_same", "jit", "max_pool_2x2_backward", "max_pool_2x2_forward", "overlap_add", "relu_backward", "same_geometry", "set_enabled",
           "winograd_grad", "winograd_input", "winograd_input_adjoint", "winograd_output"]

log = logging.getLogger("dlcore")

#: dtypes the kernels are compiled for.
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_enabled = os.environ.get("DLCORE_CPU_JIT", "1").strip() != "0"
_kernels: Any = None  # the imported dlcore.cpu_kernels module, False when Numba is missing


def _module() -> Any:
    global _kernels
    if _kernels is None:
        try:
            from . import cpu_kernels
        except Exception as exc:  # Numba missing, or broken (e.g. built for another NumPy): NumPy runs
            log.debug("dlcore: Numba is not importable (%s: %s); CPU kernels run in NumPy", type(exc).__name__, exc)
            _kernels = False
        else:
            _kernels = cpu_kernels
    return _kernels


def available() -> bool:
    """Whether Numba is importable (the compiled kernels can run)."""
    return bool(_module())


def enabled(*arrays: Any) -> bool:
    """Whether the compiled kernels run: Numba present, not switched off, and every array given a
    float32 or float64 NumPy array."""
    if not _enabled or not all(isinstance(a, np.ndarray) and a.dtype in DTYPES for a in arrays):
        return False
    return available()


def set_enabled(flag: bool) -> bool:
    """Switch the compiled kernels on or off for the process; returns the old setting.

    >>> old = set_enabled(False)
    >>> enabled(), set_enabled(old)
    (False, False)
    """
    global _enabled
    old, _enabled = _enabled, bool(flag)
    return old


@contextmanager
def jit(flag: bool) -> Iterator[None]:
    """``with jit(False): ...`` runs a block on the NumPy paths (or, with True, the compiled ones)."""
    old = set_enabled(flag)
    try:
        yield
    finally:
        set_enabled(old)


def _planes(a: np.ndarray) -> np.ndarray:
    n, c, h, w = a.shape
    return np.ascontiguousarray(a).reshape(n * c, h, w)


def max_pool_2x2_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, code) as :func:`dlcore.functional.pool_tiled.forward` with a 2 x 2 kernel, in one pass."""
    N, C, H, W = x.shape
    y = np.empty((N, C, H // 2, W // 2), x.dtype)
    code = np.empty(y.shape, np.uint8)
    src, flat_y, flat_code, k = _planes(x), _planes(y), _planes(code), _module()
    parallel_chunks(lambda lo, hi: k.max_pool_2x2_forward(src[lo:hi], flat_y[lo:hi], flat_code[lo:hi]), N * C, 2 * x.size)
    return y, code


def max_pool_2x2_backward(g: np.ndarray, code: np.ndarray, in_shape: tuple) -> np.ndarray:
    """dx as :func:`dlcore.functional.pool_tiled.backward` with a 2 x 2 kernel, in one pass."""
    dx = np.empty(in_shape, g.dtype)
    src, flat_code, flat_dx, k = _planes(g), _planes(code), _planes(dx), _module()
    parallel_chunks(lambda lo, hi: k.max_pool_2x2_backward(src[lo:hi], flat_code[lo:hi], flat_dx[lo:hi]), len(flat_dx), 2 * dx.size)
    return dx


def relu_backward(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``g`` where not ``x <= 0``, else 0, as :func:`dlcore.cpu.relu_backward`, in one pass
    (NumPy's takes three)."""
    flat_g, flat_x = np.ascontiguousarray(g).reshape(-1), np.ascontiguousarray(x).reshape(-1)
    out = np.empty(x.shape, g.dtype)
    flat_out, k = out.reshape(-1), _module()
    parallel_chunks(lambda lo, hi: k.relu_backward(flat_g[lo:hi], flat_x[lo:hi], flat_out[lo:hi]), flat_out.size, 3 * flat_out.size)
    return out



# --------------------------------------------------------------------------- im2col / col2im
def same_geometry(x_shape: tuple, out_hw: tuple, stride: tuple, dilation: tuple) -> bool:
    """Whether :func:`im2col_same` applies: stride 1, no dilation, output plane = input plane."""
    return tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and tuple(out_hw) == tuple(x_shape[2:])


_masks: dict = {}


def _colmask(kw: int, H: int, W: int, left: int) -> np.ndarray:
    """(KW, H*W) bools: kernel column j reads a pixel of the same row at flat position k."""
    key = (kw, H, W, left)
    if key not in _masks:
        col = np.arange(H * W) % W
        _masks[key] = np.stack([(col + j - left >= 0) & (col + j - left < W) for j in range(kw)])
    return _masks[key]


def _flat(cols: np.ndarray) -> tuple[np.ndarray, tuple] | None:
    """The flat buffer under a (C, KH, KW, N, OH, OW) view and its (sn, sc, si, sj) element strides,
    or None when the view is not a permutation of a C-contiguous array with whole (OH, OW) planes."""
    order = np.argsort(cols.strides, kind="stable")[::-1]
    base = cols.transpose(order)
    if not base.flags.c_contiguous or cols.strides[5] != cols.itemsize or cols.strides[4] != cols.shape[5] * cols.itemsize:
        return None
    sc, si, sj, sn = (s // cols.itemsize for s in cols.strides[:4])
    return base.reshape(-1), (sn, sc, si, sj)


def im2col_same(x: np.ndarray, cols: np.ndarray, top_left: tuple) -> bool:
    """Fill ``cols`` (a (C, KH, KW, N, H, W) view, see :func:`_flat`) with the columns of the NCHW
    ``x`` under padding ``top_left``; threaded over N. False (nothing done) for a layout it cannot take."""
    flat = _flat(cols)
    if flat is None:
        return False
    buf, strides = flat
    C, kh, kw, N, H, W = cols.shape
    x, mask, k = np.ascontiguousarray(x), _colmask(kw, H, W, top_left[1]), _module()
    parallel_chunks(lambda lo, hi: k.im2col_same(x[lo:hi], buf, lo, *strides, kh, kw, *top_left, mask), N, 2 * cols.size)
    return True


def col2im_same(cols: np.ndarray, top_left: tuple) -> np.ndarray | None:
    """dx (N, C, H, W) from the column gradient ``cols`` (a (C, KH, KW, N, H, W) view): the adjoint of
    :func:`im2col_same`, threaded over N; None for a layout it cannot take."""
    flat = _flat(cols)
    if flat is None:
        return None
    buf, strides = flat
    C, kh, kw, N, H, W = cols.shape
    dx, mask, k = np.empty((N, C, H, W), cols.dtype), _colmask(kw, H, W, top_left[1]), _module()
    parallel_chunks(lambda lo, hi: k.col2im_same(buf, dx[lo:hi], lo, *strides, kh, kw, *top_left, mask), N, 2 * cols.size)
    return dx


def overlap_add(tiles: np.ndarray, x_shape: tuple, top_left: tuple, m: int) -> np.ndarray:
    """dx (``x_shape``) from Winograd's (C, N, TH, TW, m+2, m+2) input-tile gradients, as
    ``dlcore.functional.winograd._overlap_add`` (which folds in NumPy passes), threaded over N."""
    dx, k = np.empty(x_shape, tiles.dtype), _module()
    tiles = np.ascontiguousarray(tiles)
    parallel_chunks(lambda lo, hi: k.overlap_add(tiles, dx[lo:hi], lo, m, *top_left), x_shape[0], 2 * tiles.size)
    return dx


# --------------------------------------------------------------------------- Winograd F(4x4, 3x3)
# The transforms of dlcore.functional.winograd with m = 4, straight from and to NCHW, threaded over
# samples; tiles are numbered (n, t, u) and the transformed arrays are (36, channels, tiles).
def _buffer(planes: np.ndarray) -> tuple[np.ndarray, int]:
    """The (36, stride) buffer under a (36, rows, P) array whose planes may lie ``stride``
    elements apart (see ``winograd._planes``), and P; the kernels index it with row * P + tile."""
    a2, rows, P = planes.shape
    size = planes.itemsize
    if planes.strides[1:] != (P * size, size) or planes.strides[0] % size or planes.strides[0] < rows * P * size:
        raise ValueError(f"cpu_jit: the Winograd kernels need (36, rows, P) planes with contiguous rows, got strides {planes.strides}")
    flat = np.lib.stride_tricks.as_strided(planes, (a2, planes.strides[0] // size), (planes.strides[0], size))
    return flat, P


def winograd_input(x: np.ndarray, v: np.ndarray, tiles: tuple, top_left: tuple, threads: bool = True,
                   first: int = 0) -> None:
    """Fill ``v`` (36, C, N*TH*TW) with ``B^T d B`` of every 6 x 6 input tile of the padded ``x``;
    ``x`` may be the samples ``first ..`` of v's batch only. ``threads=False``: in the calling
    thread, for a caller that splits the work itself."""
    x, k = np.ascontiguousarray(x), _module()
    flat, P = _buffer(v)
    _over_samples(lambda lo, hi: k.input_transform(x[lo:hi], flat, P, first + lo, *tiles, *top_left), len(x),
                  2 * v.size, threads)


def _over_samples(call: Any, n: int, work: int, threads: bool) -> None:
    """``call(lo, hi)`` over the samples ``range(n)``: split over dlcore's threads, or all in this one."""
    if threads:
        parallel_chunks(call, n, work)
    else:
        call(0, n)


def winograd_output(m: np.ndarray, bias: np.ndarray | None, shape: tuple, tiles: tuple,
                    out: np.ndarray | None = None, threads: bool = True) -> np.ndarray:
    """y (``shape``, NCHW) from the (36, F, tiles) products: ``A^T M A`` per tile, plus ``bias``.

    ``out`` (C-contiguous, ``shape``) receives y if given; ``threads`` as in :func:`winograd_input`."""
    y, k = np.empty(shape, m.dtype) if out is None else out, _module()
    b = np.zeros(shape[1], m.dtype) if bias is None else np.ascontiguousarray(bias, m.dtype)
    flat, P = _buffer(m)
    _over_samples(lambda lo, hi: k.output_transform(flat, y[lo:hi], b, P, lo, *tiles), shape[0], 2 * m.size, threads)
    return y


def winograd_grad(g: np.ndarray, gy: np.ndarray, tiles: tuple, threads: bool = True) -> None:
    """Fill ``gy`` (36, F, tiles) with ``A G A^T`` of every 4 x 4 tile of the output gradient ``g``."""
    g, k = np.ascontiguousarray(g), _module()
    flat, P = _buffer(gy)
    _over_samples(lambda lo, hi: k.grad_transform(g[lo:hi], flat, P, lo, *tiles), len(g), 2 * gy.size, threads)


def winograd_input_adjoint(dv: np.ndarray, x_shape: tuple, tiles: tuple, top_left: tuple,
                           out: np.ndarray | None = None, threads: bool = True) -> np.ndarray:
    """dx (``x_shape``) from the (36, C, tiles) gradients: ``B dV B^T`` per tile, overlap-added
    (into ``out`` if given; ``threads`` as in :func:`winograd_input`)."""
    dx, k = np.empty(x_shape, dv.dtype) if out is None else out, _module()
    flat, P = _buffer(dv)
    _over_samples(lambda lo, hi: k.input_adjoint(flat, dx[lo:hi], P, lo, *tiles, *top_left), x_shape[0],
                  2 * dv.size, threads)
    return dx

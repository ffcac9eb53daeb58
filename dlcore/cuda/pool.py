"""Launchers for ``kernels/pool2d.cu``: 2-D max and average pooling on (N, C, H, W) arrays.

    y, argmax = max_pool2d_forward(x, kernel, stride, padding)      # argmax: int32, ih * W + iw
    dx = max_pool2d_backward(grad_y, argmax, x_shape, kernel, stride, padding)
    y  = avg_pool2d_forward(x, kernel, stride, padding)             # count_include_pad=True
    dx = avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding)

kernel, stride and padding (symmetric) are pairs of ints; floor mode, no dilation. Max pooling
treats padding as -inf. Both backward passes are gathers (each input pixel sums over the
windows that contain it): deterministic, no atomics, correct for overlapping windows.
CuPy is imported only when a launcher runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DeviceError, ShapeError, shape_str
from . import loader

FILE = "pool2d.cu"

#: Every kernel this module launches, per source file (checked by tests/test_kernels_compile.py).
KERNELS = {FILE: ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward")}


def _fn(name: str, dtype: Any) -> Any:
    return loader.get_function(FILE, name, dtype, KERNELS[FILE])


def _geometry(op: str, x_shape: Any, kernel: Any, stride: Any, padding: Any) -> tuple:
    """(N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw), checked."""
    try:
        N, C, H, W = (int(s) for s in x_shape)
    except (TypeError, ValueError):
        raise ShapeError(f"{op} expected an input of shape (N, C, H, W), got {x_shape!r}") from None
    kh, kw = loader.check_pair(op, "kernel", kernel, 1)
    sh, sw = loader.check_pair(op, "stride", stride, 1)
    ph, pw = loader.check_pair(op, "padding", padding, 0)
    OH = (H + 2 * ph - kh) // sh + 1
    OW = (W + 2 * pw - kw) // sw + 1
    if OH < 1 or OW < 1:
        raise ShapeError(f"{op}: input {shape_str((N, C, H, W))} with padding {(ph, pw)} is smaller than "
                         f"the window {(kh, kw)}")
    loader.check_int32(op, H_times_W=H * W, H_padded=H + 2 * ph + sh, W_padded=W + 2 * pw + sw,
                       window=kh * kw)
    return N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw


def _sizes(H: int, W: int, OH: int, OW: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int) -> tuple:
    return tuple(loader.i32(v) for v in (H, W, OH, OW, kh, kw, sh, sw, ph, pw))


def max_pool2d_forward(x: Any, kernel: Any, stride: Any, padding: Any) -> tuple[Any, Any]:
    """(y, argmax): the window maxima and, as int32, where each came from (ih * W + iw)."""
    op = "cuda.pool.max_pool2d_forward"
    x = loader.check_array(op, "x", x, ndim=4)
    N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw = _geometry(op, x.shape, kernel, stride, padding)
    y = loader.empty((N, C, OH, OW), x.dtype)
    argmax = loader.empty((N, C, OH, OW), np.int32)
    total = y.size
    if total == 0:
        return y, argmax
    with x.device:
        loader.launch(_fn("max_pool2d_forward", x.dtype), loader.grid_1d(total), (loader.THREADS,),
                      (x, y, argmax, loader.i64(total), *_sizes(H, W, OH, OW, kh, kw, sh, sw, ph, pw)))
    return y, argmax


def max_pool2d_backward(grad_y: Any, argmax: Any, x_shape: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    """dx (x_shape): each input pixel gets the sum of grad_y over the windows whose argmax it is."""
    op = "cuda.pool.max_pool2d_backward"
    grad_y = loader.check_array(op, "grad_y", grad_y, ndim=4)
    argmax = loader.check_array(op, "argmax", argmax, dtype=np.int32, ndim=4)
    N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw = _geometry(op, x_shape, kernel, stride, padding)
    expected = (N, C, OH, OW)
    for name, a in (("grad_y", grad_y), ("argmax", argmax)):
        if a.shape != expected:
            raise ShapeError(f"{op} expected {name} of shape {shape_str(expected)} for input "
                             f"{shape_str(x_shape)}, got {shape_str(a.shape)}")
    if argmax.device.id != grad_y.device.id:
        raise DeviceError(f"{op} got grad_y on cuda:{grad_y.device.id} but argmax on cuda:{argmax.device.id}")
    dx = loader.empty((N, C, H, W), grad_y.dtype)
    total = dx.size
    if total == 0:
        return dx
    with grad_y.device:
        loader.launch(_fn("max_pool2d_backward", grad_y.dtype), loader.grid_1d(total), (loader.THREADS,),
                      (grad_y, argmax, dx, loader.i64(total), *_sizes(H, W, OH, OW, kh, kw, sh, sw, ph, pw)))
    return dx


def avg_pool2d_forward(x: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    """Window means, padding counted as zeros in the divisor kh * kw (count_include_pad=True)."""
    op = "cuda.pool.avg_pool2d_forward"
    x = loader.check_array(op, "x", x, ndim=4)
    N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw = _geometry(op, x.shape, kernel, stride, padding)
    y = loader.empty((N, C, OH, OW), x.dtype)
    total = y.size
    if total == 0:
        return y
    with x.device:
        loader.launch(_fn("avg_pool2d_forward", x.dtype), loader.grid_1d(total), (loader.THREADS,),
                      (x, y, loader.i64(total), *_sizes(H, W, OH, OW, kh, kw, sh, sw, ph, pw)))
    return y


def avg_pool2d_backward(grad_y: Any, x_shape: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    """dx (x_shape): each input pixel gets sum(grad_y over the windows containing it) / (kh * kw)."""
    op = "cuda.pool.avg_pool2d_backward"
    grad_y = loader.check_array(op, "grad_y", grad_y, ndim=4)
    N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw = _geometry(op, x_shape, kernel, stride, padding)
    if grad_y.shape != (N, C, OH, OW):
        raise ShapeError(f"{op} expected grad_y of shape {shape_str((N, C, OH, OW))} for input "
                         f"{shape_str(x_shape)}, got {shape_str(grad_y.shape)}")
    dx = loader.empty((N, C, H, W), grad_y.dtype)
    total = dx.size
    if total == 0:
        return dx
    with grad_y.device:
        loader.launch(_fn("avg_pool2d_backward", grad_y.dtype), loader.grid_1d(total), (loader.THREADS,),
                      (grad_y, dx, loader.i64(total), *_sizes(H, W, OH, OW, kh, kw, sh, sw, ph, pw)))
    return dx

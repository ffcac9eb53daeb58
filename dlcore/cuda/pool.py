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
from ..functional.window import conv_output_size
from . import loader

#: The entry points of kernels/pool2d.cu this module launches (checked by the compile test).
KERNELS = loader.KernelFile("pool2d", ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                                       "avg_pool2d_backward"))


def _geometry(op: str, x_shape: Any, kernel: Any, stride: Any, padding: Any) -> tuple:
    """(N, C, H, W, OH, OW) and the ten int32 size arguments of every pool kernel.

    The pooling arguments were checked once, by dlcore.functional.pool; here only what the
    kernels themselves need: a window that fits, and sizes that fit their 32-bit index math.
    """
    try:
        N, C, H, W = (int(s) for s in x_shape)
    except (TypeError, ValueError):
        raise ShapeError(f"{op} expected an input of shape (N, C, H, W), got {x_shape!r}") from None
    (kh, kw), (sh, sw), (ph, pw) = (tuple(int(v) for v in a) for a in (kernel, stride, padding))
    OH, OW = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    if OH < 1 or OW < 1:
        raise ShapeError(f"{op}: input {shape_str((N, C, H, W))} with padding {(ph, pw)} is smaller than "
                         f"the window {(kh, kw)}")
    loader.check_int32(op, H_times_W=H * W, H_padded=H + 2 * ph + sh, W_padded=W + 2 * pw + sw,
                       window=kh * kw)
    sizes = tuple(loader.i32(v) for v in (H, W, OH, OW, kh, kw, sh, sw, ph, pw))
    return (N, C, H, W, OH, OW), sizes


def _launch(name: str, total: int, pointers: tuple, sizes: tuple) -> None:
    """One thread per output element (``total`` of them) in a grid-stride loop; none when empty.

    ``pointers`` are the kernel's array arguments in its order, inputs then outputs.
    """
    if total:
        with pointers[0].device:
            loader.launch(KERNELS.function(name, pointers[0].dtype), loader.grid_1d(total), (loader.THREADS,),
                          (*pointers, loader.i64(total), *sizes))


def max_pool2d_forward(x: Any, kernel: Any, stride: Any, padding: Any) -> tuple[Any, Any]:
    """(y, argmax): the window maxima and, as int32, where each came from (ih * W + iw)."""
    op = "cuda.pool.max_pool2d_forward"
    x = loader.check_array(op, "x", x, ndim=4)
    (N, C, H, W, OH, OW), sizes = _geometry(op, x.shape, kernel, stride, padding)
    y = loader.empty((N, C, OH, OW), x.dtype)
    argmax = loader.empty((N, C, OH, OW), np.int32)
    _launch("max_pool2d_forward", y.size, (x, y, argmax), sizes)
    return y, argmax


def _check_grad(op: str, grad_y: Any, x_shape: Any, kernel: Any, stride: Any, padding: Any) -> tuple:
    grad_y = loader.check_array(op, "grad_y", grad_y, ndim=4)
    (N, C, H, W, OH, OW), sizes = _geometry(op, x_shape, kernel, stride, padding)
    if grad_y.shape != (N, C, OH, OW):
        raise ShapeError(f"{op} expected grad_y of shape {shape_str((N, C, OH, OW))} for input "
                         f"{shape_str(x_shape)}, got {shape_str(grad_y.shape)}")
    return grad_y, (N, C, H, W), sizes


def max_pool2d_backward(grad_y: Any, argmax: Any, x_shape: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    """dx (x_shape): each input pixel gets the sum of grad_y over the windows whose argmax it is."""
    op = "cuda.pool.max_pool2d_backward"
    argmax = loader.check_array(op, "argmax", argmax, dtype=np.int32, ndim=4)
    if argmax.shape != tuple(grad_y.shape):
        raise ShapeError(f"{op} expected argmax of shape {shape_str(grad_y.shape)} like grad_y, "
                         f"got {shape_str(argmax.shape)}")
    grad_y, in_shape, sizes = _check_grad(op, grad_y, x_shape, kernel, stride, padding)
    if argmax.device.id != grad_y.device.id:
        raise DeviceError(f"{op} got grad_y on cuda:{grad_y.device.id} but argmax on cuda:{argmax.device.id}")
    dx = loader.empty(in_shape, grad_y.dtype)
    _launch("max_pool2d_backward", dx.size, (grad_y, argmax, dx), sizes)
    return dx


def avg_pool2d_forward(x: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    """Window means, padding counted as zeros in the divisor kh * kw (count_include_pad=True)."""
    op = "cuda.pool.avg_pool2d_forward"
    x = loader.check_array(op, "x", x, ndim=4)
    (N, C, H, W, OH, OW), sizes = _geometry(op, x.shape, kernel, stride, padding)
    y = loader.empty((N, C, OH, OW), x.dtype)
    _launch("avg_pool2d_forward", y.size, (x, y), sizes)
    return y


def avg_pool2d_backward(grad_y: Any, x_shape: Any, kernel: Any, stride: Any, padding: Any) -> Any:
    """dx (x_shape): each input pixel gets sum(grad_y over the windows containing it) / (kh * kw)."""
    grad_y, in_shape, sizes = _check_grad("cuda.pool.avg_pool2d_backward", grad_y, x_shape, kernel, stride, padding)
    dx = loader.empty(in_shape, grad_y.dtype)
    _launch("avg_pool2d_backward", dx.size, (grad_y, dx), sizes)
    return dx

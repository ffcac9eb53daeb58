"""Launchers for ``kernels/activation.cu``: relu, leaky_relu, sigmoid, tanh and bias + activation.

    y  = forward("sigmoid", x)                 # any shape, float32 / float64 CuPy array
    dx = backward("sigmoid", y, grad)          # saved = x for relu / leaky_relu, y for sigmoid / tanh
    y  = bias_act(x, b, "relu")                # act(x + b) with b broadcast over axis 1

CuPy is imported only when a launcher runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError, shape_str
from . import loader

FILE = "activation.cu"
NAMES = ("relu", "leaky_relu", "sigmoid", "tanh")
BIAS_NAMES = ("identity",) + NAMES

# Kernel base names (the _f32 / _f64 suffix is added by the loader), written out in full so the
# compile test can check each one against the compiled sources.
_FORWARD = {"relu": "relu_forward", "leaky_relu": "leaky_relu_forward",
            "sigmoid": "sigmoid_forward", "tanh": "tanh_forward"}
_FORWARD_VEC = {"relu": "relu_forward_vec", "leaky_relu": "leaky_relu_forward_vec",
                "sigmoid": "sigmoid_forward_vec", "tanh": "tanh_forward_vec"}
_BACKWARD = {"relu": "relu_backward", "leaky_relu": "leaky_relu_backward",
             "sigmoid": "sigmoid_backward", "tanh": "tanh_backward"}
_BIAS = {"identity": "bias_identity", "relu": "bias_relu", "leaky_relu": "bias_leaky_relu",
         "sigmoid": "bias_sigmoid", "tanh": "bias_tanh"}

#: Every kernel this module launches, per source file (checked by tests/test_kernels_compile.py).
KERNELS = {FILE: tuple(_FORWARD.values()) + tuple(_FORWARD_VEC.values()) + tuple(_BACKWARD.values())
           + tuple(_BIAS.values())}

_VEC_BYTES = 16  # float4 / double2


def _fn(name: str, dtype: Any) -> Any:
    return loader.get_function(FILE, name, dtype, KERNELS[FILE])


def _check_name(op: str, name: str, allowed: tuple[str, ...]) -> None:
    if name not in allowed:
        raise ValueError(f"{op} expected an activation in {allowed}, got {name!r}")


def forward(name: str, x: Any, slope: float = 0.01) -> Any:
    """``act(x)`` elementwise; ``slope`` is leaky_relu's negative slope (ignored otherwise).

    Uses the 16-byte vectorised kernel when both buffers are 16-byte aligned and the size is
    a multiple of the vector width (4 floats / 2 doubles).
    """
    op = f"cuda.activation.forward({name!r})"
    _check_name(op, name, NAMES)
    x = loader.check_array(op, "x", x)
    y = loader.empty(x.shape, x.dtype)
    n = x.size
    if n == 0:
        return y
    width = _VEC_BYTES // x.itemsize
    with x.device:
        if n % width == 0 and x.data.ptr % _VEC_BYTES == 0 and y.data.ptr % _VEC_BYTES == 0:
            nvec = n // width
            loader.launch(_fn(_FORWARD_VEC[name], x.dtype), loader.grid_1d(nvec), (loader.THREADS,),
                          (x, y, loader.i64(nvec), x.dtype.type(slope)))
        else:
            loader.launch(_fn(_FORWARD[name], x.dtype), loader.grid_1d(n), (loader.THREADS,),
                          (x, y, loader.i64(n), x.dtype.type(slope)))
    return y


def backward(name: str, saved: Any, grad: Any, slope: float = 0.01) -> Any:
    """Gradient w.r.t. the input. ``saved`` is x for relu / leaky_relu and y for sigmoid / tanh."""
    op = f"cuda.activation.backward({name!r})"
    _check_name(op, name, NAMES)
    saved = loader.check_array(op, "saved", saved)
    grad = loader.check_array(op, "grad", grad)
    loader.check_same(op, "saved", saved, grad=grad)
    if saved.shape != grad.shape:
        raise ShapeError(f"{op} expected grad of shape {shape_str(saved.shape)} like saved, got {shape_str(grad.shape)}")
    dx = loader.empty(saved.shape, saved.dtype)
    n = saved.size
    if n == 0:
        return dx
    with saved.device:
        loader.launch(_fn(_BACKWARD[name], saved.dtype), loader.grid_1d(n), (loader.THREADS,),
                      (saved, grad, dx, loader.i64(n), saved.dtype.type(slope)))
    return dx


def bias_act(x: Any, bias: Any, name: str = "identity", slope: float = 0.01) -> Any:
    """``act(x + bias)`` with ``bias`` (C,) broadcast over axis 1 of ``x`` (N, C, *spatial).

    The epilogue of Linear ((N, F) + (F,)) and Conv2d ((N, C, H, W) + (C,)). ``name`` is one of
    identity, relu, leaky_relu, sigmoid, tanh. For the backward pass: relu / leaky_relu (slope
    > 0) masks can be taken from y (y > 0 exactly where x + bias > 0), sigmoid / tanh use y.
    """
    op = f"cuda.activation.bias_act({name!r})"
    _check_name(op, name, BIAS_NAMES)
    x = loader.check_array(op, "x", x)
    bias = loader.check_array(op, "bias", bias, ndim=1)
    loader.check_same(op, "x", x, bias=bias)
    if x.ndim < 2 or bias.shape[0] != x.shape[1]:
        raise ShapeError(f"{op} expected x (N, C, ...) and bias (C,), got x {shape_str(x.shape)} "
                         f"and bias {shape_str(bias.shape)}")
    y = loader.empty(x.shape, x.dtype)
    n = x.size
    if n == 0:
        return y
    channels = x.shape[1]
    inner = int(np.prod(x.shape[2:], dtype=np.int64))
    with x.device:
        loader.launch(_fn(_BIAS[name], x.dtype), loader.grid_1d(n), (loader.THREADS,),
                      (x, bias, y, loader.i64(n), loader.i64(channels), loader.i64(inner), x.dtype.type(slope)))
    return y

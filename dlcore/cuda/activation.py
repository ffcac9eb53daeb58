"""Launchers for ``kernels/activation.cu``: relu, leaky_relu, sigmoid and tanh.

    y  = forward("sigmoid", x)                 # any shape, float32 / float64 CuPy array
    dx = backward("sigmoid", y, grad)          # saved = x for relu / leaky_relu, y for sigmoid / tanh

CuPy is imported only when a launcher runs.
"""

from __future__ import annotations

from typing import Any

from ..errors import ShapeError, shape_str
from . import loader

NAMES = ("relu", "leaky_relu", "sigmoid", "tanh")

# Kernel base names (the _f32 / _f64 suffix is added by the loader), written out in full so the
# compile test can check each one against the compiled sources.
_FORWARD = {"relu": "relu_forward", "leaky_relu": "leaky_relu_forward",
            "sigmoid": "sigmoid_forward", "tanh": "tanh_forward"}
_FORWARD_VEC = {"relu": "relu_forward_vec", "leaky_relu": "leaky_relu_forward_vec",
                "sigmoid": "sigmoid_forward_vec", "tanh": "tanh_forward_vec"}
_BACKWARD = {"relu": "relu_backward", "leaky_relu": "leaky_relu_backward",
             "sigmoid": "sigmoid_backward", "tanh": "tanh_backward"}

#: The entry points of kernels/activation.cu this module launches (checked by the compile test).
KERNELS = loader.KernelFile("activation", (*_FORWARD.values(), *_FORWARD_VEC.values(), *_BACKWARD.values()))

_VEC_BYTES = 16  # float4 / double2


def _check_name(op: str, name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"{op} expected an activation in {NAMES}, got {name!r}")


def forward(name: str, x: Any, slope: float = 0.01) -> Any:
    """``act(x)`` elementwise; ``slope`` is leaky_relu's negative slope (ignored otherwise).

    Uses the 16-byte vectorised kernel when both buffers are 16-byte aligned and the size is
    a multiple of the vector width (4 floats / 2 doubles).
    """
    op = f"cuda.activation.forward({name!r})"
    _check_name(op, name)
    x = loader.check_array(op, "x", x)
    y = loader.empty(x.shape, x.dtype)
    n = x.size
    if n == 0:
        return y
    width = _VEC_BYTES // x.itemsize
    with x.device:
        if n % width == 0 and x.data.ptr % _VEC_BYTES == 0 and y.data.ptr % _VEC_BYTES == 0:
            nvec = n // width
            loader.launch(KERNELS.function(_FORWARD_VEC[name], x.dtype), loader.grid_1d(nvec), (loader.THREADS,),
                          (x, y, loader.i64(nvec), x.dtype.type(slope)))
        else:
            loader.launch(KERNELS.function(_FORWARD[name], x.dtype), loader.grid_1d(n), (loader.THREADS,),
                          (x, y, loader.i64(n), x.dtype.type(slope)))
    return y


def backward(name: str, saved: Any, grad: Any, slope: float = 0.01) -> Any:
    """Gradient w.r.t. the input. ``saved`` is x for relu / leaky_relu and y for sigmoid / tanh."""
    op = f"cuda.activation.backward({name!r})"
    _check_name(op, name)
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
        loader.launch(KERNELS.function(_BACKWARD[name], saved.dtype), loader.grid_1d(n), (loader.THREADS,),
                      (saved, grad, dx, loader.i64(n), saved.dtype.type(slope)))
    return dx

"""Activation functions (lecture 000): sigmoid, tanh, ReLU, leaky ReLU, softmax, identity.

Each is one Function. On the CPU it is NumPy; on a GPU it calls the kernels in
``kernels/activation.cu`` and ``kernels/softmax.cu`` through :mod:`dlcore.cuda`.

    >>> import dlcore, dlcore.functional as F
    >>> F.relu(dlcore.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    >>> F.sigmoid(dlcore.tensor([-1000.0, 1000.0])).tolist()   # stable: no overflow
    [0.0, 1.0]
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

from .. import cpu, cpu_jit, native_elementwise
from ..autograd import Function
from ..backend import default_dtype, erf, get_array_module
from ..cuda import activation as gpu_activation
from ..cuda import softmax as gpu_softmax
from ..errors import DTypeError, RangeError
from ..tensor import Tensor, as_tensor
from .args import dim_index, flag


def stable_sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)) without overflow, on a raw NumPy or CuPy array: exp only sees -|x|."""
    xp = get_array_module(x)
    e = xp.exp(-abs(x))
    return xp.where(x >= 0, 1.0, e) / (1.0 + e)


class Relu(Function):
    fresh_grads = True  # backward returns new arrays only (see Function)
    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x):
        self.x = x
        return cpu.relu(x)

    def backward(self, g):
        if (g.shape == self.x.shape and g.dtype == self.x.dtype and cpu_jit.enabled(g, self.x)
                and not native_elementwise.usable(g, self.x)):  # the C pass is faster where it runs
            return (cpu_jit.relu_backward(g, self.x),)
        return (cpu.relu_backward(g, self.x),)

    def forward_gpu(self, x):
        self.x = x
        return gpu_activation.forward("relu", x)

    def backward_gpu(self, g):
        return (gpu_activation.backward("relu", self.x, g),)


class LeakyRelu(Function):
    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, negative_slope: float = 0.01):
        self.x, self.slope = x, negative_slope
        return get_array_module(x).where(x > 0, x, x * x.dtype.type(negative_slope))

    def backward(self, g):
        return (get_array_module(g).where(self.x > 0, g, g * g.dtype.type(self.slope)),)

    def forward_gpu(self, x, negative_slope: float = 0.01):
        self.x, self.slope = x, negative_slope
        return gpu_activation.forward("leaky_relu", x, negative_slope)

    def backward_gpu(self, g):
        return (gpu_activation.backward("leaky_relu", self.x, g, self.slope),)


class Sigmoid(Function):
    fresh_grads = True  # backward returns new arrays only (see Function)

    def forward(self, x):
        self.y = cpu.sigmoid(x)
        return self.y

    def backward(self, g):
        return (cpu.sigmoid_backward(g, self.y),)

    def forward_gpu(self, x):
        self.y = gpu_activation.forward("sigmoid", x)
        return self.y

    def backward_gpu(self, g):
        return (gpu_activation.backward("sigmoid", self.y, g),)


class Tanh(Function):
    fresh_grads = True  # backward returns new arrays only (see Function)

    def forward(self, x):
        self.y = cpu.tanh(x)
        return self.y

    def backward(self, g):
        return (cpu.tanh_backward(g, self.y),)

    def forward_gpu(self, x):
        self.y = gpu_activation.forward("tanh", x)
        return self.y

    def backward_gpu(self, g):
        return (gpu_activation.backward("tanh", self.y, g),)


def _rows(x, axis: int):
    """View ``x`` as 2-D rows over ``axis`` when that axis is last (what the kernels take), else None."""
    return x.reshape(-1, x.shape[-1]) if x.ndim >= 1 and axis in (-1, x.ndim - 1) else None


class _RowKernels(Function):
    """Softmax and LogSoftmax on the GPU: the kernels take 2-D rows over the last axis, so any
    other axis declines and the generic path runs. ``gpu_names`` = (forward, backward) launchers."""

    gpu_names: tuple[str, str] = ("", "")

    def forward_gpu(self, x, axis: int = -1):
        rows = _rows(x, axis)
        if rows is None:
            return NotImplemented
        self.axis = axis
        self.y = getattr(gpu_softmax, self.gpu_names[0])(rows).reshape(x.shape)
        return self.y

    def backward_gpu(self, g):
        return (getattr(gpu_softmax, self.gpu_names[1])(_rows(self.y, self.axis), _rows(g, self.axis)).reshape(g.shape),)


class Softmax(_RowKernels):
    gpu_names = ("softmax", "softmax_backward")

    def forward(self, x, axis: int = -1):
        self.axis = axis
        e = get_array_module(x).exp(x - x.max(axis=axis, keepdims=True))
        self.y = e / e.sum(axis=axis, keepdims=True)
        return self.y

    def backward(self, g):
        return (self.y * (g - (g * self.y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(_RowKernels):
    gpu_names = ("log_softmax", "log_softmax_backward")

    def forward(self, x, axis: int = -1):
        self.axis = axis
        self.y = log_softmax_array(x, axis)
        return self.y

    def backward(self, g):
        return (g - get_array_module(g).exp(self.y) * g.sum(axis=self.axis, keepdims=True),)


def log_softmax_array(x: Any, axis: int = -1) -> Any:
    """log(softmax(x)) on a raw array, stable: x - max - log(sum(exp(x - max)))."""
    xp = get_array_module(x)
    if x.size == 0:
        return x.copy()
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def _float_input(x: Any, op: str) -> Tensor:
    """``x`` as a Tensor; integer and bool inputs are promoted to the default float dtype, as
    PyTorch does for its float-only ops (never truncated)."""
    x = x if isinstance(x, Tensor) else as_tensor(x)
    if x.dtype.kind == "f":
        return x
    if x.dtype.kind not in "biu":
        raise DTypeError(f"{op} expected a real-valued tensor, got dtype {x.dtype}")
    return Tensor(x.array.astype(default_dtype()))


def _softmax_dim(op: str, x: Tensor, dim: Any, axis: Any) -> int:
    if axis is not None:  # NumPy's spelling, kept as an alias
        if dim is not None and dim != axis:
            raise RangeError(f"{op} got both dim={dim} and axis={axis}")
        dim = axis
    if dim is None:  # PyTorch's legacy implicit choice (it warns too)
        dim = 0 if x.ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X "
                      f"as an argument.", UserWarning, stacklevel=3)
    return dim_index(op, "dim", dim, x.ndim)


def _softmax_like(fn: type, op: str, x: Any, dim: Any, axis: Any, dtype: Any) -> Tensor:
    x = x if isinstance(x, Tensor) else as_tensor(x)
    if dtype is not None:
        x = x.to(dtype=dtype)
    if x.dtype.kind != "f":
        raise DTypeError(f"{op} expected a floating-point input, got dtype {x.dtype}: convert with .float() "
                         f"or pass dtype=")
    d = _softmax_dim(op, x, dim, axis)
    if x.numel() == 0:  # an empty result, as PyTorch; no kernel launch on the GPU
        return x * 0.0
    if x.ndim == 0:
        return fn.apply(x.reshape(1), axis=0).reshape(())
    return fn.apply(x, axis=d)


def in_place(op: str, x: Any, inplace: bool, compute: Callable[[Tensor], Tensor]) -> Tensor:
    """PyTorch's ``inplace=`` flag: ``compute(x)``, or with ``inplace=True`` that result written back
    into ``x`` and ``x`` returned, under PyTorch's autograd rules for in-place ops (a leaf that
    requires grad refuses; a recorded graph stays right: :mod:`dlcore.tensor_inplace`)."""
    if not flag(op, "inplace", inplace):
        return compute(x)
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(inplace=True) expected a Tensor to overwrite, got {type(x).__name__}")
    return x._inplace(f"{op}(inplace=True)", compute)


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(0, x); ``inplace=True`` overwrites ``x`` and returns it, as PyTorch."""
    return in_place("relu", x, inplace, Relu.apply)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, else ``negative_slope * x`` (lecture 000: max(0.01x, x))."""
    return in_place("leaky_relu", x, inplace,
                    lambda t: LeakyRelu.apply(_float_input(t, "leaky_relu"), negative_slope=negative_slope))


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), squashing to (0, 1); stable for large |x|. Integers are promoted to float."""
    return Sigmoid.apply(_float_input(x, "sigmoid"))


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent, squashing to (-1, 1). Integers are promoted to float."""
    return Tanh.apply(_float_input(x, "tanh"))


def softmax(x: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,
            axis: int | None = None) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along ``dim`` (``axis`` is an alias). Without ``dim`` the legacy
    PyTorch choice applies (dim 0 for 0-, 1- and 3-d input, else 1), with a warning."""
    return _softmax_like(Softmax, "softmax", x, dim, axis, dtype)


def log_softmax(x: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,
                axis: int | None = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably."""
    return _softmax_like(LogSoftmax, "log_softmax", x, dim, axis, dtype)


def identity(x: Tensor) -> Tensor:
    """Returns x unchanged (the 'linear' activation)."""
    return x


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class Gelu(Function):
    """x * Phi(x) (exact, with erf) or the tanh approximation, as PyTorch's ``approximate``."""

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, approximate: str = "none"):
        self.x, self.approximate = x, approximate
        xp = get_array_module(x)
        if approximate == "tanh":
            self.t = xp.tanh(x.dtype.type(_SQRT_2_OVER_PI) * (x + x.dtype.type(0.044715) * x ** 3))
            return x.dtype.type(0.5) * x * (1 + self.t)
        self.cdf = x.dtype.type(0.5) * (1 + erf(x * x.dtype.type(1 / math.sqrt(2.0))))
        return x * self.cdf

    def backward(self, g):
        x, xp = self.x, get_array_module(g)
        if self.approximate == "tanh":
            inner_grad = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return (g * (0.5 * (1 + self.t) + 0.5 * x * (1 - self.t * self.t) * inner_grad),)
        pdf = xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return (g * (self.cdf + x * pdf),)


class Silu(Function):
    """x * sigmoid(x) (the swish)."""

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x):
        self.x, self.s = x, stable_sigmoid(x).astype(x.dtype, copy=False)
        return x * self.s

    def backward(self, g):
        return (g * self.s * (1 + self.x * (1 - self.s)),)


class Elu(Function):
    """x for x > 0, else alpha * (exp(x) - 1)."""

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, alpha: float = 1.0):
        xp = get_array_module(x)
        self.x, self.alpha = x, x.dtype.type(alpha)
        self.neg = self.alpha * xp.expm1(xp.minimum(x, 0))
        return xp.where(x > 0, x, self.neg)

    def backward(self, g):
        xp = get_array_module(g)
        return (xp.where(self.x > 0, g, g * (self.neg + self.alpha)),)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x * Phi(x); ``approximate="tanh"`` is the tanh formula.

        >>> import dlcore, dlcore.functional as F
        >>> round(F.gelu(dlcore.tensor([1.0])).item(), 4)
        0.8413
    """
    if approximate not in ("none", "tanh"):
        raise RangeError(f"gelu expected approximate 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(_float_input(x, "gelu"), approximate=approximate)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    return in_place("silu", x, inplace, lambda t: Silu.apply(_float_input(t, "silu")))


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, else alpha * (exp(x) - 1)."""
    return in_place("elu", x, inplace, lambda t: Elu.apply(_float_input(t, "elu"), alpha=float(alpha)))

"""Weight initialisation: PyTorch's in-place ``nn.init`` functions and the lecture schemes by name.

The in-place functions (``uniform_``, ``normal_``, ``kaiming_uniform_``...) fill a tensor from
dlcore's seeded generator and return it, as ``torch.nn.init`` does. ``Linear`` and ``Conv2d``
start as PyTorch's do (``kaiming_uniform_(w, a=sqrt(5))``, bias U(±1/sqrt(fan_in))); the lecture
schemes stay available as ``init="he" | "xavier" | "normal"``.

    >>> import dlcore, dlcore.nn as nn
    >>> w = nn.init.kaiming_uniform_(dlcore.zeros(256, 784), nonlinearity="relu")
    >>> bool(abs(w.numpy()).max() <= (6 / 784) ** 0.5)
    True
    >>> round(float(initial_weight((256, 784), "he").std()), 2)            # sqrt(2 / 784)
    0.05
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import cpu_rng, default_device, default_dtype, device, to_device
from ..errors import DTypeError, RangeError, ShapeError, UnsupportedArgumentError
from ..tensor import Tensor

SCHEMES = ("he", "xavier", "normal")

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_", "xavier_uniform_",
    "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_", "initial_weight",
]

_LINEAR_GAINS = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gain for a nonlinearity: relu sqrt(2), tanh 5/3, leaky_relu
    sqrt(2 / (1 + slope^2)) with slope ``param`` (default 0.01), selu 3/4, linear/conv/sigmoid 1.

        >>> calculate_gain("tanh")
        1.6666666666666667
    """
    if nonlinearity in _LINEAR_GAINS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise DTypeError(f"calculate_gain expected a number for the leaky_relu slope, got {param!r}")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise RangeError(f"calculate_gain got an unsupported nonlinearity {nonlinearity!r}")


def _fill(tensor: Tensor, values: Any) -> Tensor:
    """Write ``values`` (a NumPy array or a scalar) into ``tensor`` in place, on its device and dtype."""
    if not isinstance(tensor, Tensor):
        raise DTypeError(f"nn.init expected a Tensor, got {type(tensor).__name__}")
    if isinstance(values, np.ndarray):
        values = to_device(values.astype(tensor.dtype, copy=False), tensor.device)
    tensor.array[...] = values
    return tensor


def _rng(generator: Any) -> np.random.Generator:
    if generator is not None:
        raise UnsupportedArgumentError("nn.init: a generator argument is not supported; seed with dlcore.manual_seed")
    return cpu_rng()


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear (out, in) or Conv (out, in, kh, kw) weight, as PyTorch computes them."""
    if len(shape) < 2:
        raise ShapeError(f"nn.init: fan in and fan out need a tensor with at least 2 dims, got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape: tuple, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise RangeError(f"nn.init expected mode 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fans(shape)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with U(a, b)."""
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with N(mean, std^2)."""
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: Any = None) -> Tensor:
    """Fill with N(mean, std^2) truncated to [a, b] (redrawing values outside)."""
    rng = _rng(generator)
    values = rng.normal(mean, std, tensor.shape)
    bad = (values < a) | (values > b)
    while bad.any():
        values[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (values < a) | (values > b)
    return _fill(tensor, values)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return _fill(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return _fill(tensor, 1)


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix, for a 2-D tensor."""
    if tensor.ndim != 2:
        raise ShapeError(f"nn.init.eye_ expected a 2-D tensor, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(tensor, _rng(generator).uniform(-bound, bound, tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(tensor.shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(tensor, _rng(generator).normal(0.0, std, tensor.shape))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Any = None) -> Tensor:
    """He: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor.shape, mode))
    return _fill(tensor, _rng(generator).uniform(-bound, bound, tensor.shape))


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Any = None) -> Tensor:
    """He: N(0, std^2) with std = gain / sqrt(fan)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor.shape, mode))
    return _fill(tensor, _rng(generator).normal(0.0, std, tensor.shape))


def initial_weight(shape: tuple, scheme: str = "xavier", std: float = 0.1, dtype=None) -> np.ndarray:
    """A NumPy weight array drawn by a lecture ``scheme``.

    - "he": N(0, 2 / fan_in), for ReLU nets (He et al. 2015);
    - "xavier": U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), for tanh/sigmoid (Glorot 2010);
    - "normal": N(0, std^2), std = 0.1 as in lecture 003.
    """
    fan_in, fan_out = fans(shape)
    rng = cpu_rng()
    if scheme == "he":
        w = rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
    elif scheme == "xavier":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-bound, bound, shape)
    elif scheme == "normal":
        w = rng.standard_normal(shape) * std
    else:
        raise RangeError(f"init expected one of {SCHEMES} or None (PyTorch's default), got {scheme!r}")
    return w.astype(dtype or default_dtype())


def layer_parameters(owner: str, shape: tuple, bias: bool, init: str | None = None, std: float = 0.1,
                     dev: Any = None, dtype: Any = None) -> tuple[Tensor, Tensor | None]:
    """Initial (weight, bias) Tensors of a Linear or Conv layer with weight ``shape`` (out, in, ...).

    ``init=None`` is PyTorch's ``reset_parameters``: weight ``kaiming_uniform_(a=sqrt(5))``, i.e.
    U(±1/sqrt(fan_in)), and bias U(±1/sqrt(fan_in)). A lecture scheme ("he", "xavier", "normal")
    draws the weight by :func:`initial_weight` and starts the bias at zero.
    """
    if not isinstance(bias, bool):
        raise DTypeError(f"{owner} expected bias to be True or False, got {bias!r}")
    dev = default_device() if dev is None else device(dev)
    dtype = np.dtype(dtype or default_dtype())
    if dtype.kind != "f":
        raise DTypeError(f"{owner} expected a floating-point dtype, got {dtype}")
    if init is None:
        weight = Tensor(to_device(np.empty(shape, dtype), dev))
        kaiming_uniform_(weight, a=math.sqrt(5))
        b = None
        if bias:
            fan_in = fans(shape)[0]
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            b = uniform_(Tensor(to_device(np.empty(shape[0], dtype), dev)), -bound, bound)
        return weight, b
    weight = Tensor(to_device(initial_weight(shape, init, std, dtype), dev))
    return weight, (Tensor(to_device(np.zeros(shape[0], dtype), dev)) if bias else None)

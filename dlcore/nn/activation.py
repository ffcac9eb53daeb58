"""Activation layers: thin Modules over :mod:`dlcore.functional.activation`.

    >>> import dlcore, dlcore.nn as nn
    >>> nn.LeakyReLU(0.1)(dlcore.tensor([-1.0, 1.0])).tolist()
    [-0.10000000149011612, 1.0]
    >>> nn.Softmax(dim=1)(dlcore.zeros(2, 4)).tolist()[0]
    [0.25, 0.25, 0.25, 0.25]
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..errors import DTypeError, RangeError
from ..functional.args import flag, real_number
from ..tensor import Tensor
from .module import Module


class _InPlaceable(Module):
    """An activation with PyTorch's ``inplace`` flag (``True`` overwrites the input and returns it)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = flag(type(self).__name__, "inplace", inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_InPlaceable):
    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x, self.inplace)


class LeakyReLU(_InPlaceable):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.negative_slope = real_number("LeakyReLU", "negative_slope", negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class GELU(Module):
    """x * Phi(x); ``approximate="tanh"`` for the tanh formula."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise RangeError(f"GELU expected approximate 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_InPlaceable):
    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x, self.inplace)


class ELU(_InPlaceable):
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = real_number("ELU", "alpha", alpha)

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softmax(Module):
    """softmax along ``dim`` (``axis`` is an alias); ``dim=None`` is PyTorch's legacy choice."""

    functional = staticmethod(F.softmax)

    def __init__(self, dim: int | None = None, *, axis: int | None = None) -> None:
        super().__init__()
        for name, value in (("dim", dim), ("axis", axis)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise DTypeError(f"{type(self).__name__} expected {name} to be an int or None, got {value!r}")
        self.dim = axis if dim is None else dim

    def forward(self, x: Tensor) -> Tensor:
        return self.functional(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    functional = staticmethod(F.log_softmax)


class Identity(Module):
    """Returns its input (the 'linear' activation); accepts and ignores any arguments, as PyTorch's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


ACTIVATIONS = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh, "gelu": GELU, "silu": SiLU,
    "elu": ELU, "softmax": Softmax, "log_softmax": LogSoftmax, "identity": Identity, "linear": Identity,
}


def activation_module(name: str) -> Module:
    """The activation layer for a name such as "relu" or "tanh" (softmax over the last dim)."""
    try:
        cls = ACTIVATIONS[name]
    except KeyError:
        raise RangeError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
    return cls(dim=-1) if issubclass(cls, Softmax) else cls()

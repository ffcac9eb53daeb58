"""Convolution and pooling layers (NCHW), wrapping :mod:`dlcore.functional.conv` and ``.pool``.

    >>> import dlcore, dlcore.nn as nn
    >>> layer = nn.Conv2d(1, 16, 3, padding=1)
    >>> layer(dlcore.zeros(8, 1, 28, 28)).shape
    (8, 16, 28, 28)
    >>> nn.MaxPool2d(2)(dlcore.zeros(8, 16, 28, 28)).shape
    (8, 16, 14, 14)
"""

from __future__ import annotations

from typing import Any

from ..errors import ShapeError, shape_str
from ..functional.conv import _padding4, _pair, conv2d
from ..functional.pool import avg_pool2d, max_pool2d
from ..tensor import Tensor
from .init import layer_parameters
from .module import Module, Parameter

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d"]


def _fmt(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


class Conv2d(Module):
    """2-D convolution layer (cross-correlation, as in PyTorch): weight (out, in, KH, KW), bias (out,).

    ``padding`` is an int, a pair, "same" or "valid". ``init=None`` is PyTorch's default
    (weight and bias U(±1/sqrt(fan_in))); "he", "xavier" or "normal" (with ``std``) are the lecture
    schemes, with the bias at zero.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, bias: bool = True, init: str | None = None, std: float = 0.1) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"Conv2d expected in_channels and out_channels >= 1, got {in_channels} and {out_channels}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride = _pair(stride, "stride", "Conv2d", 1)
        self.dilation = _pair(dilation, "dilation", "Conv2d", 1)
        _padding4(padding, self.kernel_size, self.stride, self.dilation, "Conv2d")  # validate now
        self.padding = padding
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        w, b = layer_parameters("Conv2d", shape, bias, init, std)
        self.weight = Parameter(w)
        self.bias = Parameter(b) if b is not None else None

    @property
    def name(self) -> str:
        return f"Conv2d({self.in_channels}→{self.out_channels}, k={_fmt(self.kernel_size)})"

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            hint = ": add a batch dimension, e.g. x.reshape(1, *x.shape)" if x.ndim == 3 else ""
            raise ShapeError(f"{self.name} expected a 4-D input (N, {self.in_channels}, H, W), got {shape_str(x.shape)}{hint}")
        if x.shape[1] != self.in_channels:
            c = self.in_channels
            raise ShapeError(f"{self.name} expected input with {c} channels (N, {c}, H, W), got {shape_str(x.shape)}")
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, layer=self.name)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}→{self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != 0:
            text += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        return text + f", bias={self.bias is not None}"


class MaxPool2d(Module):
    """Max pooling; ``stride`` defaults to ``kernel_size``, ``padding`` pads with -inf."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", "MaxPool2d", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", "MaxPool2d", 1)
        self.padding = _pair(padding, "padding", "MaxPool2d", 0)

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, layer=f"MaxPool2d({_fmt(self.kernel_size)})")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Average pooling; zero padding counts in the divisor (count_include_pad=True, as in PyTorch)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", "AvgPool2d", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", "AvgPool2d", 1)
        self.padding = _pair(padding, "padding", "AvgPool2d", 0)

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, layer=f"AvgPool2d({_fmt(self.kernel_size)})")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

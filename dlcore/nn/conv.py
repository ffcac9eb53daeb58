"""Convolution layers (NCHW / NCL), wrapping :mod:`dlcore.functional.conv`.

    >>> import dlcore, dlcore.nn as nn
    >>> layer = nn.Conv2d(1, 16, 3, padding=1)
    >>> layer(dlcore.zeros(8, 1, 28, 28)).shape
    (8, 16, 28, 28)
    >>> nn.Conv1d(4, 6, 3, groups=2)(dlcore.zeros(2, 4, 10)).shape
    (2, 6, 8)
"""

from __future__ import annotations

from typing import Any

from ..functional.conv import conv1d, conv2d
from ..functional.pad import pad
from ..functional.window import ntuple, padding4
from ..tensor import Tensor
from .init import layer_parameters
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d"]

#: PyTorch's padding modes: "zeros" pads inside the conv, the others pad the input with F.pad first.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _fmt(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "×".join(str(v) for v in values)


class _ConvNd(Module):
    """What Conv1d and Conv2d share: argument checks, the weight and bias, the repr."""

    """``init=None`` is PyTorch's default (weight and bias U(±1/sqrt(fan_in))); "he", "xavier" or
    "normal" (with ``std``) are the lecture schemes, with the bias at zero."""

    dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None, init: str | None = None, std: float = 0.1) -> None:
        super().__init__()
        op, n = type(self).__name__, self.dims
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"{op} expected in_channels and out_channels >= 1, got {in_channels} and {out_channels}")
        (groups,) = ntuple(groups, 1, "groups", op, 1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{op} expected in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{op} expected padding_mode in {PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), groups
        self.padding_mode = padding_mode
        self.kernel_size = ntuple(kernel_size, n, "kernel_size", op, 1)
        self.stride = ntuple(stride, n, "stride", op, 1)
        self.dilation = ntuple(dilation, n, "dilation", op, 1)
        if n == 1 and not isinstance(padding, str):
            padding = ntuple(padding, 1, "padding", op, 0)[0]
        lead = () if n == 2 else (1,)  # conv1d runs as conv2d over (N, C, 1, L)
        pad4 = padding4(padding if n == 2 or isinstance(padding, str) else (0, padding), lead + self.kernel_size,
                        lead + self.stride, lead + self.dilation, op)  # validated once, here
        self.padding = padding
        # non-zero padding modes pad the input first, as PyTorch does: F.pad takes (left, right, top, bottom)
        self._mode_pad = (pad4[2], pad4[3]) + ((pad4[0], pad4[1]) if n == 2 else ())
        shape = (self.out_channels, self.in_channels // groups) + self.kernel_size
        w, b = layer_parameters(op, shape, bias, init, std, device, dtype)
        self.weight = Parameter(w)
        self.bias = Parameter(b) if b is not None else None

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.in_channels}→{self.out_channels}, k={_fmt(self.kernel_size)})"

    def extra_repr(self) -> str:
        text = f"{self.in_channels}→{self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != 0:
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        return text + f", bias={self.bias is not None}"


    def _padded(self, x: Tensor) -> tuple[Tensor, Any]:
        """The input and the padding to give the conv: padded here first for a non-zero padding_mode."""
        if self.padding_mode == "zeros":
            return x, self.padding
        return pad(x, self._mode_pad, mode=self.padding_mode), 0


class Conv2d(_ConvNd):
    """2-D convolution layer (cross-correlation, as in PyTorch): weight (out, in / groups, KH, KW), bias (out,).

    ``padding`` is an int, a pair, "same" or "valid"; ``padding_mode`` is "zeros", "reflect",
    "replicate" or "circular";
    ``init`` is "he" (default, for ReLU nets), "xavier" or "normal" (with ``std``); the bias
    starts at zero.
    """

    dims = 2

    def forward(self, x: Tensor) -> Tensor:
        x, padding = self._padded(x)
        return conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups, layer=self.name)


class Conv1d(_ConvNd):
    """1-D convolution layer over (N, C, L): weight (out, in / groups, K), bias (out,), as in PyTorch."""

    dims = 1

    def forward(self, x: Tensor) -> Tensor:
        x, padding = self._padded(x)
        return conv1d(x, self.weight, self.bias, self.stride[0], padding, self.dilation[0], self.groups,
                      layer=self.name)

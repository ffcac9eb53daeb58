"""Pooling layers (NCHW), wrapping :mod:`dlcore.functional.pool` and
:mod:`dlcore.functional.adaptive_pool`, with PyTorch's arguments.

    >>> import dlcore, dlcore.nn as nn
    >>> nn.MaxPool2d(2)(dlcore.zeros(8, 16, 28, 28)).shape
    (8, 16, 14, 14)
    >>> nn.AdaptiveAvgPool2d((1, 1))(dlcore.zeros(2, 3, 7, 5)).shape
    (2, 3, 1, 1)
"""

from __future__ import annotations

from typing import Any

from ..functional.adaptive_pool import adaptive_avg_pool2d, adaptive_max_pool2d
from ..functional.pool import avg_pool2d, max_pool2d
from ..functional.window import pair
from ..tensor import Tensor
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]


def _fmt(values: tuple[int, int]) -> str:
    return str(values[0]) if values[0] == values[1] else f"{values[0]}×{values[1]}"


class _Pool2d(Module):
    """kernel_size / stride / padding checked once, at construction (stride defaults to the kernel)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False) -> None:
        super().__init__()
        op = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", op, 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", op, 1)
        self.padding = pair(padding, "padding", op, 0)
        self.ceil_mode = bool(ceil_mode)

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({_fmt(self.kernel_size)})"

    def extra_repr(self) -> str:
        text = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        return text + (", ceil_mode=True" if self.ceil_mode else "")


class MaxPool2d(_Pool2d):
    """Max pooling; ``stride`` defaults to ``kernel_size``, ``padding`` pads with -inf."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = pair(dilation, "dilation", "MaxPool2d", 1)
        self.return_indices = bool(return_indices)

    def forward(self, x: Tensor) -> Any:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices, layer=self.name)


class AvgPool2d(_Pool2d):
    """Average pooling; zero padding counts in the divisor unless ``count_include_pad=False``."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad, self.divisor_override = bool(count_include_pad), divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override, layer=self.name)


class _AdaptivePool2d(Module):
    """``output_size``: an int, or a pair whose entries may be None (keep that input size)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size!r}"


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Average pooling to a fixed ``output_size`` over PyTorch's adaptive bins."""

    def forward(self, x: Tensor) -> Tensor:
        return adaptive_avg_pool2d(x, self.output_size)


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """Max pooling to a fixed ``output_size``; ``return_indices`` also returns the flat indices."""

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = bool(return_indices)

    def forward(self, x: Tensor) -> Any:
        return adaptive_max_pool2d(x, self.output_size, self.return_indices)


"""Dropout (Srivastava et al. 2014): element-wise ``dropout`` and channel-wise ``dropout2d``.

Inverted dropout, as in PyTorch: each element (or whole channel) is zeroed with probability
``p`` while training and the rest are scaled by 1/(1-p), so evaluation needs no rescaling.

    >>> import dlcore, dlcore.functional as F
    >>> F.dropout(dlcore.ones(4), p=0.5, training=False).tolist()
    [1.0, 1.0, 1.0, 1.0]
    >>> y = F.dropout2d(dlcore.ones(2, 3, 4, 4), p=0.5)
    >>> sorted(set(y.numpy().reshape(6, 16).std(axis=1).tolist()))   # each channel all kept or all dropped
    [0.0]
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module, random_uniform
from ..errors import DTypeError, ShapeError, shape_str
from ..tensor import Tensor, as_tensor
from .activation import in_place
from .args import flag, probability

__all__ = ["dropout", "dropout2d"]


class Dropout(Function):
    """Multiply by a mask of 0 and 1/(1-p); ``mask_shape`` broadcasts one draw over a channel."""

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, p: float, mask_shape: tuple | None = None):
        shape = x.shape if mask_shape is None else mask_shape
        keep = random_uniform(get_array_module(x), shape) >= p
        scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
        self.mask = keep.astype(x.dtype) * x.dtype.type(scale)
        return x * self.mask

    def backward(self, g):
        return (g * self.mask,)


def _checked(op: str, x: Tensor, p: float, training: bool) -> Tensor:
    probability(op, "p", p)
    x = x if isinstance(x, Tensor) else as_tensor(x)
    if x.dtype.kind != "f":
        raise DTypeError(f"{op} expected a floating-point input, got dtype {x.dtype}")
    return x


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` during training; identity when not training.

    ``inplace=True`` overwrites ``x`` and returns it, as PyTorch.
    """
    x = _checked("dropout", x, p, training)
    flag("dropout", "inplace", inplace)
    if not training or p == 0.0:
        return x
    return in_place("dropout", x, inplace, lambda t: Dropout.apply(t, p=float(p)))


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) or unbatched (C, H, W) input with probability ``p``."""
    x = _checked("dropout2d", x, p, training)
    flag("dropout2d", "inplace", inplace)
    if x.ndim not in (3, 4):
        raise ShapeError(f"dropout2d expected input (N, C, H, W) or (C, H, W), got {shape_str(x.shape)}")
    if not training or p == 0.0:
        return x
    mask_shape = x.shape[:-2] + (1, 1)
    return in_place("dropout2d", x, inplace, lambda t: Dropout.apply(t, p=float(p), mask_shape=mask_shape))

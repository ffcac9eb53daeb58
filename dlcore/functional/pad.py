"""``pad``: PyTorch's ``torch.nn.functional.pad`` (constant, reflect, replicate, circular), differentiable.

``pad`` lists (before, after) pairs from the last dimension backwards, as in PyTorch:
``(left, right)`` pads the last dim, ``(left, right, top, bottom)`` the last two. Padding is
applied one axis at a time: a constant pad fills, the other modes gather from the input
(``reflect`` mirrors without repeating the edge, ``replicate`` repeats it, ``circular`` wraps),
and the backward pass adds each padded position's gradient back onto the element it copied.
The code is written with ``xp`` (NumPy or CuPy), so it runs unchanged on the GPU.

    >>> import dlcore
    >>> pad(dlcore.tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect").tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..errors import ShapeError, shape_str
from ..tensor import Tensor, as_tensor

__all__ = ["pad", "Pad"]

MODES = ("constant", "reflect", "replicate", "circular")


def _sources(mode: str, size: int, before: int, after: int) -> np.ndarray:
    """For each position of the padded axis, the index of the input element it copies."""
    o = np.arange(-before, size + after)
    if mode == "reflect":
        o = np.abs(o)
        return np.where(o >= size, 2 * (size - 1) - o, o)
    if mode == "replicate":
        return np.clip(o, 0, size - 1)
    return o % size  # circular


class Pad(Function):
    """Params: ``widths`` ((axis, before, after), ...) and ``mode``, ``value`` (constant mode)."""

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, widths=(), mode="constant", value=0.0):
        xp = get_array_module(x)
        self.widths, self.mode, self.shapes = widths, mode, []
        for axis, before, after in widths:
            self.shapes.append(x.shape)
            if mode == "constant":
                spec = [(0, 0)] * x.ndim
                spec[axis] = (before, after)
                x = xp.pad(x, spec, mode="constant", constant_values=value)
            else:
                x = xp.take(x, xp.asarray(_sources(mode, x.shape[axis], before, after)), axis=axis)
        return x

    def backward(self, grad):
        for (axis, before, after), shape in zip(reversed(self.widths), reversed(self.shapes)):
            size = shape[axis]
            inner = [slice(None)] * grad.ndim
            inner[axis] = slice(before, before + size)
            dx = grad[tuple(inner)].copy()
            if self.mode != "constant":
                src = _sources(self.mode, size, before, after)
                for q in (*range(before), *range(before + size, before + size + after)):
                    to, frm = [slice(None)] * grad.ndim, [slice(None)] * grad.ndim
                    to[axis], frm[axis] = int(src[q]), q
                    dx[tuple(to)] += grad[tuple(frm)]
            grad = dx
        return (grad,)


def pad(input: Tensor, pad: tuple | list, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims of ``input``, as ``torch.nn.functional.pad``.

    ``pad`` = (before, after) pairs from the last dim backwards; ``mode`` is "constant" (with
    ``value``, default 0), "reflect", "replicate" or "circular". Negative (cropping) pads are
    not supported and raise. Reflect needs each pad smaller than its dim, circular at most it.

    >>> import dlcore
    >>> pad(dlcore.ones(1, 2, 2), (1, 0, 0, 1)).shape
    (1, 3, 3)
    """
    x = as_tensor(input)
    if mode not in MODES:
        raise ValueError(f"pad expected mode in {MODES}, got {mode!r}")
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad):
        raise ValueError(f"pad expected an even-length tuple of ints (before, after, ...), got {pad!r}")
    if len(pad) // 2 > x.ndim:
        raise ShapeError(f"pad got {len(pad) // 2} (before, after) pairs for a {x.ndim}-D input {shape_str(x.shape)}")
    if min(pad, default=0) < 0:
        raise ValueError(f"pad: negative (cropping) pads are not supported, got {tuple(pad)}: slice the input instead")
    if value is not None and mode != "constant":
        raise ValueError(f"pad: value is only used with mode='constant', got mode={mode!r}")
    widths = []
    for i in range(len(pad) // 2):
        axis, before, after = x.ndim - 1 - i, int(pad[2 * i]), int(pad[2 * i + 1])
        size = x.shape[axis]
        limit = size - 1 if mode == "reflect" else size
        if mode != "constant" and max(before, after) > limit:
            raise ValueError(f"pad: mode={mode!r} needs pads {'<' if mode == 'reflect' else '<='} the size of "
                             f"dim {axis} ({size}), got ({before}, {after}) for input {shape_str(x.shape)}")
        if before or after:
            widths.append((axis, before, after))
    return Pad.apply(x, widths=tuple(widths), mode=mode, value=0.0 if value is None else float(value))

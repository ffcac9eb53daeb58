"""The fully connected layer's op.

    >>> import numpy as np, dlcore, dlcore.functional as F
    >>> x, w, b = dlcore.tensor([[1.0, 2.0]]), dlcore.tensor([[3.0, 4.0]]), dlcore.tensor([0.5])
    >>> F.linear(x, w, b).tolist()           # x @ w.T + b
    [[11.5]]
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import device_of
from ..errors import DeviceError, DTypeError, ShapeError, shape_str
from ..tensor import Tensor, tensor


class Linear(Function):
    """y = x @ W.T + b for x of shape (*, in) and W of shape (out, in)."""
    fresh_grads = True  # backward returns new arrays only (see Function)

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, weight, bias=None):
        self.x, self.weight, self.has_bias = x, weight, bias is not None
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    def backward(self, g):
        need_x, need_w, need_b = self.needs_input_grad
        gx = g @ self.weight if need_x else None
        g2 = g.reshape(-1, g.shape[-1])
        gw = g2.T @ self.x.reshape(-1, self.x.shape[-1]) if need_w else None
        gb = g2.sum(axis=0) if self.has_bias and need_b else None
        return gx, gw, gb


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, layer: str | None = None) -> Tensor:
    """Affine map ``x @ weight.T + bias`` (PyTorch's layout: weight is (out, in)).

    ``layer`` names the caller in error messages, e.g. "Linear(784→256)".
    """
    if not isinstance(x, Tensor):  # lists of Python floats become float32, like dlcore.tensor
        x = Tensor(x) if hasattr(x, "dtype") else tensor(x, device=device_of(weight.array))
    name = layer or f"linear({weight.shape[1]}→{weight.shape[0]})"
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        hint = ": did you forget Flatten?" if x.ndim > 2 else ""
        raise ShapeError(f"{name} expected input (*, {weight.shape[1]}), got {shape_str(x.shape)}{hint}")
    if x.dtype != weight.dtype:
        raise DTypeError(
            f"{name} expected {weight.dtype} input like its weights, got {x.dtype}: "
            f"convert with x.to(dtype='{weight.dtype}')"
        )
    if x.shape[0] == 0:
        raise ShapeError(f"{name} got an empty batch {shape_str(x.shape)}")
    if x.device != weight.device:
        raise DeviceError(
            f"{name} has its weights on {weight.device} but got input on {x.device}: "
            f"move the input with x.to('{weight.device}') or the model with model.to('{x.device}')"
        )
    return Linear.apply(x, weight, bias)

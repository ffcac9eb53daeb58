"""Batch normalisation (Ioffe & Szegedy, 2015) as one differentiable Function.

For an input of shape (N, C) or (N, C, H, W) (any (N, C, *) works), each channel c is
normalised over the batch (and the spatial positions):

    y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c

In training the batch statistics are used (the biased variance, as in the paper) and the
running estimates are updated in place with PyTorch's convention,
``running = (1 - momentum) * running + momentum * batch`` where the running variance takes the
*unbiased* batch variance. In evaluation the running estimates are used. The code is written
with ``xp`` (NumPy or CuPy), so it runs unchanged on the GPU.

    >>> import numpy as np, dlcore
    >>> x = dlcore.tensor(np.array([[1.0, 2.0], [3.0, 6.0]], np.float32))
    >>> rm, rv = np.zeros(2, np.float32), np.ones(2, np.float32)
    >>> batch_norm(x, rm, rv, None, None, training=True).numpy().round(3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> rm.astype(float).round(3).tolist()                   # 0.9 * 0 + 0.1 * batch mean
    [0.2, 0.4]
    >>> rv.astype(float).round(3).tolist()                   # 0.9 * 1 + 0.1 * unbiased batch variance
    [1.1, 1.7]
"""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..backend import get_array_module
from ..errors import DTypeError, ShapeError, shape_str
from ..tensor import Tensor
from .window import over_batch

__all__ = ["batch_norm", "BatchNorm", "channel_affine", "layer_norm", "LayerNorm"]


class BatchNorm(Function):
    """Inputs: x, running_mean, running_var, weight, bias (each of the last four may be None)."""

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, running_mean, running_var, weight, bias, training=True, momentum=0.1, eps=1e-5,
                status=None):
        xp = get_array_module(x)
        C = x.shape[1]
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, C) + (1,) * (x.ndim - 2)
        count = x.size // C
        use_batch = training or running_mean is None
        if use_batch:
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(bshape)
            var = (xc * xc).mean(axis=axes)
            # a 0-d device array, so that the GPU never waits for the host here
            finite = xp.isfinite(mean).all() & xp.isfinite(var).all()
            if status is not None:
                status["finite"] = finite
            if training and running_mean is not None:  # a non-finite batch leaves them as they were
                new_mean = running_mean * (1.0 - momentum) + momentum * mean
                new_var = running_var * (1.0 - momentum) + (momentum * count / max(count - 1, 1)) * var
                running_mean[...] = xp.where(finite, new_mean, running_mean)
                running_var[...] = xp.where(finite, new_var, running_var)
        else:
            xc = x - running_mean.reshape(bshape)
            var = running_var
        invstd = 1.0 / xp.sqrt(var + eps)
        xhat = xc
        xhat *= invstd.reshape(bshape)
        self.xhat, self.invstd, self.weight = xhat, invstd, weight
        self.batch_stats, self.has_bias, self.axes, self.bshape = use_batch, bias is not None, axes, bshape
        if weight is None and bias is None:
            return xhat.copy()
        if weight is not None and bias is not None:  # y = xhat * w + b, threaded over the batch
            return channel_affine(xhat, weight, shift=bias)
        y = xhat * weight.reshape(bshape) if weight is not None else xhat.copy()
        if bias is not None:
            y += bias.reshape(bshape)
        return y

    def backward(self, grad):
        needs = tuple(self.needs_input_grad) + (False,) * (5 - len(self.needs_input_grad))
        xhat, invstd, weight, axes, bshape = self.xhat, self.invstd, self.weight, self.axes, self.bshape
        dx = dw = db = None
        need_stats = needs[0] and self.batch_stats
        gsum = grad.sum(axis=axes) if (needs[4] and self.has_bias) or need_stats else None
        gxhat = (grad * xhat).sum(axis=axes) if (needs[3] and weight is not None) or need_stats else None
        if needs[3] and weight is not None:
            dw = gxhat
        if needs[4] and self.has_bias:
            db = gsum
        if needs[0]:
            scale = invstd if weight is None else invstd * weight
            if self.batch_stats:  # (grad - gsum / m - xhat * gxhat / m) * scale, as one threaded pass
                m = xhat.size // xhat.shape[1]
                dx = channel_affine(grad, scale, xhat, -(gxhat / m) * scale, -(gsum / m) * scale)
            else:
                dx = grad * scale.reshape(bshape)
        return dx, None, None, dw, db


def channel_affine(a: Any, scale: Any, b: Any = None, b_scale: Any = None, shift: Any = None) -> Any:
    """``a * scale + b * b_scale + shift`` with per-channel (C,) vectors on (N, C, *) arrays.

    On NumPy the batch is split over dlcore's threads and each chunk takes a few in-place passes
    (the batch-norm epilogues: ``xhat * w + bias`` forward, ``grad * s + xhat * t + u`` backward).

    >>> import numpy as np
    >>> x = np.ones((2, 2, 1), np.float32)
    >>> channel_affine(x, np.array([2, 3], np.float32), shift=np.array([1, 0], np.float32))[0].ravel().tolist()
    [3.0, 3.0]
    """
    xp = get_array_module(a)
    bshape = (1, a.shape[1]) + (1,) * (a.ndim - 2)
    s, t, u = (None if v is None else v.reshape(bshape).astype(a.dtype, copy=False) for v in (scale, b_scale, shift))
    out = xp.empty(a.shape, a.dtype)

    def part(lo: int, hi: int) -> None:
        o = out[lo:hi]
        xp.multiply(a[lo:hi], s, out=o)
        if b is not None:
            o += b[lo:hi] * t
        if u is not None:
            o += u

    over_batch(part, a.shape[0], (3 if b is not None else 2) * a.size, xp)
    return out


def batch_norm(x: Tensor, running_mean: Any, running_var: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5,
               layer: str | None = None, status: dict | None = None) -> Tensor:
    """Normalise each channel of (N, C) or (N, C, H, W) input; see the module docstring.

    ``running_mean``/``running_var`` (shape (C,)) are updated in place when ``training``; they
    may be None, and then batch statistics are used in both modes. A batch whose mean or variance
    is not finite leaves them unchanged (PyTorch would write NaN into them); when a ``status``
    dict is given, ``status["finite"]`` is a 0-d bool array telling whether the batch statistics
    were finite (an array, so a GPU run does not wait for it).
    ``layer`` names the caller in error messages.
    """
    name = layer or "batch_norm"
    x, running_mean, running_var, weight, bias = (
        t if t is None or isinstance(t, Tensor) else Tensor(t) for t in (x, running_mean, running_var, weight, bias)
    )  # raw arrays are wrapped without a copy, so running statistics are still updated in place
    xd = x.array
    if xd.ndim < 2:
        raise ShapeError(f"{name} expected input (N, C) or (N, C, H, W), got {shape_str(xd.shape)}")
    if xd.dtype.kind != "f":
        raise DTypeError(f"{name} expected a floating-point input, got dtype {xd.dtype}: convert with .float()")
    C = xd.shape[1]
    for label, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ShapeError(
                f"{name} expected {label} of shape ({C},) for input {shape_str(xd.shape)} with {C} channels, "
                f"got {shape_str(t.shape)}"
            )
    if (running_mean is None) != (running_var is None):
        raise ShapeError(f"{name} expected running_mean and running_var both given or both None")
    if training and xd.size // max(C, 1) <= 1:
        raise ShapeError(f"{name} expected more than 1 value per channel when training, got input {shape_str(xd.shape)}")
    return BatchNorm.apply(x, running_mean, running_var, weight, bias, training=bool(training),
                           momentum=float(momentum), eps=float(eps), status=status)


class LayerNorm(Function):
    """Normalise over the last ``ndims`` dimensions; inputs x, weight, bias (the last two may be None)."""

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def forward(self, x, weight, bias, ndims: int = 1, eps: float = 1e-5):
        xp = get_array_module(x)
        self.axes = tuple(range(x.ndim - ndims, x.ndim))
        mean = x.mean(axis=self.axes, keepdims=True)
        xc = x - mean
        self.invstd = 1.0 / xp.sqrt((xc * xc).mean(axis=self.axes, keepdims=True) + eps)
        self.xhat, self.weight, self.has_bias = xc * self.invstd, weight, bias is not None
        y = self.xhat * weight if weight is not None else self.xhat.copy()
        if bias is not None:
            y += bias
        return y

    def backward(self, g):
        need_x, need_w, need_b = (tuple(self.needs_input_grad) + (False, False))[:3]
        lead = tuple(range(g.ndim - len(self.axes)))
        dw = (g * self.xhat).sum(axis=lead) if need_w and self.weight is not None else None
        db = g.sum(axis=lead) if need_b and self.has_bias else None
        dx = None
        if need_x:
            gx = g * self.weight if self.weight is not None else g
            dx = gx - gx.mean(axis=self.axes, keepdims=True)
            dx -= self.xhat * (gx * self.xhat).mean(axis=self.axes, keepdims=True)
            dx *= self.invstd
        return dx, dw, db


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims of ``input`` (Ba et al. 2016).

        >>> import dlcore
        >>> layer_norm(dlcore.tensor([[1.0, 3.0]]), (2,)).numpy().round(3).tolist()
        [[-1.0, 1.0]]
    """
    input = input if isinstance(input, Tensor) else Tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if input.dtype.kind != "f":
        raise DTypeError(f"layer_norm expected a floating-point input, got dtype {input.dtype}")
    if not shape or input.shape[input.ndim - len(shape):] != shape or len(shape) > input.ndim:
        raise ShapeError(f"layer_norm expected input of shape (*, {', '.join(map(str, shape))}), "
                         f"got {shape_str(input.shape)}")
    for label, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ShapeError(f"layer_norm expected {label} of shape {shape_str(shape)}, got {shape_str(t.shape)}")
    return LayerNorm.apply(input, weight, bias, ndims=len(shape), eps=float(eps))

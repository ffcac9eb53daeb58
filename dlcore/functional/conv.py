"""2-D convolution (cross-correlation) as one differentiable Function.

The CPU path is im2col + one big GEMM; the GPU path calls the kernels in
``dlcore.cuda.conv``. Layout is NCHW everywhere.

    >>> import numpy as np, dlcore
    >>> x = dlcore.tensor(np.ones((1, 1, 4, 4), np.float32))
    >>> w = dlcore.tensor(np.ones((2, 1, 3, 3), np.float32))
    >>> conv2d(x, w, padding="same").shape
    (1, 2, 4, 4)

How the CPU path is laid out (measured on the 64x32x28x28 / 64x32x3x3 case, see
``tests/test_conv.py`` for the references):

* im2col writes ``cols`` with shape ``(C, KH, KW, N, OH, OW)``: a small Python loop over the
  KH*KW kernel offsets copies one strided slice of the padded input per offset, so the inner
  copies run over long contiguous rows instead of 3x3 windows.
* forward is one GEMM ``(F, C*KH*KW) @ (C*KH*KW, N*OH*OW)`` followed by a transpose to NCHW
  (the bias is added during that transpose, so it costs no extra pass).
* backward is two GEMMs on the same layout (``dW = G @ cols.T`` and ``dcols = W.T @ G`` with
  ``G`` of shape ``(F, N*OH*OW)``) and col2im, again a loop over the KH*KW offsets doing
  vectorised slice-adds.
* The big temporaries (``cols``, ``dcols``, the transposed gradient) come from a small pool of
  recycled buffers, because first-touch page faults on fresh 50 MB arrays cost as much as the
  copy itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import autograd
from ..autograd import Function
from ..backend import get_array_module, is_gpu_array
from ..cpu import buffers
from ..errors import DTypeError, ShapeError, shape_str
from ..tensor import Tensor, as_tensor
from .winograd import WinogradConv2d
from .winograd import choose as choose_winograd

__all__ = ["conv2d", "Conv2d", "conv_output_size", "same_padding"]


# --------------------------------------------------------------------------- argument helpers
def _pair(value: Any, name: str, op: str, minimum: int) -> tuple[int, int]:
    """Turn an int or a pair into a pair of ints, checking each is >= ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{op} expected {name} as an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op} expected {name} >= {minimum}, got {value!r}")
    return pair


def same_padding(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding that keeps H x W at stride 1, as PyTorch does.

    The total padding along a dim is ``d * (k - 1)``; an odd total puts the extra row/column at
    the bottom/right, so even kernels work too.

    >>> same_padding((3, 3), (1, 1))
    (1, 1, 1, 1)
    >>> same_padding((4, 2), (1, 1))
    (1, 2, 0, 1)
    """
    out = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        out += [total // 2, total - total // 2]
    return tuple(out)  # type: ignore[return-value]


def _padding4(padding: Any, kernel: tuple[int, int], stride: tuple[int, int],
              dilation: tuple[int, int], op: str) -> tuple[int, int, int, int]:
    """Normalise ``padding`` (int, pair, 4-tuple, "same", "valid") to (top, bottom, left, right)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"{op}: padding='same' is not supported for strided convolutions "
                    f"(got stride={stride}); use an explicit padding instead"
                )
            return same_padding(kernel, dilation)
        raise ValueError(f"{op} expected padding 'same', 'valid', an int or a pair of ints, got {padding!r}")
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0 for p in padding):
            raise ValueError(f"{op} expected padding as 4 ints >= 0, got {padding!r}")
        return tuple(int(p) for p in padding)  # type: ignore[return-value]
    ph, pw = _pair(padding, "padding", op, 0)
    return (ph, ph, pw, pw)


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """``floor((size + 2p - d(k-1) - 1) / s) + 1`` (``padding`` may be a (before, after) pair).

    >>> conv_output_size(28, 3, padding=1)
    28
    >>> conv_output_size(28, 2, stride=2)
    14
    """
    total = 2 * padding if isinstance(padding, int) else sum(padding)
    return (size + total - dilation * (kernel - 1) - 1) // stride + 1


def _check_window(op: str, x_shape: tuple, kernel: tuple[int, int], pad4: tuple[int, int, int, int],
                  dilation: tuple[int, int] = (1, 1), what: str = "kernel") -> None:
    """Raise a ShapeError when the (dilated) window does not fit into the padded input."""
    H, W = x_shape[2], x_shape[3]
    hp, wp = H + pad4[0] + pad4[1], W + pad4[2] + pad4[3]
    eh, ew = dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1
    if eh > hp or ew > wp:
        dil = f" (dilation {dilation[0]}×{dilation[1]}, spans {eh}×{ew})" if dilation != (1, 1) else ""
        raise ShapeError(
            f"{op}: {what} {kernel[0]}×{kernel[1]}{dil} is larger than the padded input {hp}×{wp} "
            f"(input {shape_str(x_shape)}, padding {pad4})"
        )


def _check_nchw(op: str, x: Any) -> None:
    if x.ndim != 4:
        hint = ": add a batch dimension, e.g. x.reshape(1, *x.shape)" if x.ndim == 3 else ""
        raise ShapeError(f"{op} expected a 4-D input (N, C, H, W), got {shape_str(x.shape)}{hint}")
    if x.dtype.kind != "f":
        raise DTypeError(f"{op} expected a floating-point input, got dtype {x.dtype}: convert with .float()")
    if x.shape[0] == 0:
        raise ShapeError(f"{op} got an empty batch {shape_str(x.shape)}")


# --------------------------------------------------------------------------- im2col / col2im
def _offset_slices(i: int, j: int, stride, dilation, out_hw) -> tuple[slice, slice]:
    """The rows/cols of the padded input that kernel offset (i, j) reads for every output pixel."""
    (sh, sw), (dh, dw), (oh, ow) = stride, dilation, out_hw
    r0, c0 = i * dh, j * dw
    return slice(r0, r0 + sh * (oh - 1) + 1, sh), slice(c0, c0 + sw * (ow - 1) + 1, sw)


def _pad(x: Any, pad4: tuple[int, int, int, int], value: float = 0.0) -> Any:
    """Zero-pad (or ``value``-pad) H and W of an NCHW array; no copy when there is no padding."""
    if not any(pad4):
        return x
    xp = get_array_module(x)
    t, b, l, r = pad4
    N, C, H, W = x.shape
    out = buffers.take((N, C, H + t + b, W + l + r), x.dtype, xp)  # callers give it back when done
    if value == 0.0:  # fill only the border; the interior is overwritten right after
        out[:, :, :t] = 0
        out[:, :, H + t:] = 0
        out[:, :, t:H + t, :l] = 0
        out[:, :, t:H + t, W + l:] = 0
    else:
        out.fill(value)
    out[:, :, t:H + t, l:W + l] = x
    return out


def _unpad(x: Any, pad4: tuple[int, int, int, int]) -> Any:
    t, b, l, r = pad4
    return x[:, :, t:x.shape[2] - b, l:x.shape[3] - r]


def im2col(xpad: Any, kernel, stride, dilation, out_hw, out: Any = None) -> Any:
    """Columns of a padded NCHW input, shape ``(C, KH, KW, N, OH, OW)``.

    One vectorised copy per kernel offset (KH*KW copies in all), each a strided slice of the
    whole batch.
    """
    xp = get_array_module(xpad)
    N, C = xpad.shape[:2]
    kh, kw = kernel
    oh, ow = out_hw
    cols = xp.empty((C, kh, kw, N, oh, ow), xpad.dtype) if out is None else out
    xt = xpad.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp) view
    for i in range(kh):
        for j in range(kw):
            rs, cs = _offset_slices(i, j, stride, dilation, out_hw)
            cols[:, i, j] = xt[:, :, rs, cs]
    return cols


def col2im(cols: Any, padded_shape: tuple, kernel, stride, dilation, out_hw) -> Any:
    """Adjoint of :func:`im2col`: scatter-add ``(C, KH, KW, N, OH, OW)`` back to (C, N, Hp, Wp)."""
    xp = get_array_module(cols)
    N, C, hp, wp = padded_shape
    kh, kw = kernel
    dx = buffers.take((C, N, hp, wp), cols.dtype, xp)
    dx.fill(0)
    for i in range(kh):
        for j in range(kw):
            rs, cs = _offset_slices(i, j, stride, dilation, out_hw)
            dx[:, :, rs, cs] += cols[:, i, j]
    return dx  # (C, N, Hp, Wp): the caller transposes back to NCHW


# --------------------------------------------------------------------------- the Function
class Conv2d(Function):
    """Cross-correlation of an NCHW batch with ``(F, C, KH, KW)`` filters, plus a bias.

    ``padding`` is a (ph, pw) pair (symmetric) or a (top, bottom, left, right) 4-tuple.
    """

    def forward(self, x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
        pad4 = tuple(padding) if len(padding) == 4 else (padding[0], padding[0], padding[1], padding[1])
        N, C, H, W = x.shape
        F, _, kh, kw = w.shape
        oh = conv_output_size(H, kh, stride[0], (pad4[0], pad4[1]), dilation[0])
        ow = conv_output_size(W, kw, stride[1], (pad4[2], pad4[3]), dilation[1])
        self.meta = (x.shape, pad4, (kh, kw), tuple(stride), tuple(dilation), (oh, ow))
        self.w = w
        self.has_bias = b is not None

        if is_gpu_array(x):
            from ..cuda import conv as cuda_conv

            sym = (pad4[0], pad4[2]) if (pad4[0] == pad4[1] and pad4[2] == pad4[3]) else None
            xin = x if sym is not None else _pad(x, pad4)
            self.gpu_pad = sym if sym is not None else (0, 0)
            self.x = xin
            return cuda_conv.conv2d_forward(xin, w, b, tuple(stride), self.gpu_pad, tuple(dilation))

        xp = get_array_module(x)
        xpad = _pad(x, pad4)
        CKK, P = C * kh * kw, N * oh * ow
        cols = buffers.take((C, kh, kw, N, oh, ow), x.dtype, xp)
        cols = im2col(xpad, (kh, kw), stride, dilation, (oh, ow), out=cols)
        if xpad is not x:
            buffers.give(xpad)
        y2 = buffers.take((F, P), x.dtype, xp)
        y2 = xp.matmul(w.reshape(F, CKK), cols.reshape(CKK, P), out=y2)
        y = xp.empty((N, F, oh, ow), x.dtype)
        y4 = y2.reshape(F, N, oh, ow).transpose(1, 0, 2, 3)
        if b is not None:
            xp.add(y4, b.reshape(1, F, 1, 1), out=y)
        else:
            y[...] = y4
        buffers.give(y2)
        keep = autograd.is_grad_enabled() and len(self.needs_input_grad) > 1 and self.needs_input_grad[1]
        if keep:
            self.cols = cols
        else:
            buffers.give(cols)
        return y

    def backward(self, grad):
        x_shape, pad4, kernel, stride, dilation, (oh, ow) = self.meta
        needs = tuple(self.needs_input_grad) + (False,) * (3 - len(self.needs_input_grad))
        need_dx, need_dw, need_db = needs[0], needs[1], needs[2] and self.has_bias
        w = self.w
        if is_gpu_array(grad):
            from ..cuda import conv as cuda_conv

            dx, dw, db = cuda_conv.conv2d_backward(
                self.x, w, grad, stride, self.gpu_pad, dilation, needs=(need_dx, need_dw, need_db)
            )
            if dx is not None and self.gpu_pad == (0, 0) and any(pad4):  # explicit asymmetric pad
                dx = get_array_module(dx).ascontiguousarray(_unpad(dx, pad4))
            self.x = None
            return dx, dw, db

        xp = get_array_module(grad)
        N, C, H, W = x_shape
        F, _, kh, kw = w.shape
        CKK, P = C * kh * kw, N * oh * ow
        g2 = buffers.take((F, N, oh, ow), grad.dtype, xp)
        g2[...] = grad.transpose(1, 0, 2, 3)
        g2 = g2.reshape(F, P)
        dx = dw = db = None
        if need_db:
            db = g2.sum(axis=1)
        if need_dw:
            cols = self.cols
            dw = xp.matmul(g2, cols.reshape(CKK, P).T).reshape(w.shape)
            buffers.give(cols)
            self.cols = None
        if need_dx:
            dcols = buffers.take((CKK, P), grad.dtype, xp)
            dcols = xp.matmul(w.reshape(F, CKK).T, g2, out=dcols)
            hp, wp = H + pad4[0] + pad4[1], W + pad4[2] + pad4[3]
            dxt = col2im(dcols.reshape(C, kh, kw, N, oh, ow), (N, C, hp, wp), kernel, stride, dilation, (oh, ow))
            buffers.give(dcols)
            dx = xp.empty(x_shape, grad.dtype)
            dx[...] = _unpad(dxt, pad4).transpose(1, 0, 2, 3)
            buffers.give(dxt)
        buffers.give(g2)
        return dx, dw, db


# --------------------------------------------------------------------------- public function
def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple = 1,
           padding: int | tuple | str = 0, dilation: int | tuple = 1, layer: str | None = None) -> Tensor:
    """2-D cross-correlation of an NCHW batch with ``(F, C, KH, KW)`` filters, as in PyTorch.

    ``y[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] * x[n, c, s*i + d*u - p, s*j + d*v - p]``

    This is a *cross-correlation*: the kernel is not flipped. Lecture 000 defines convolution
    with a flipped kernel, ``G[i, j] = sum_{u,v} w[u, v] * x[i - u, j - v]``; that equals
    ``conv2d`` with ``w[..., ::-1, ::-1]``. For learned filters the two are the same model.

    Args:
        x: input of shape (N, C, H, W).
        weight: filters of shape (F, C, KH, KW).
        bias: optional (F,) bias.
        stride, dilation: int or (h, w) pair.
        padding: int, (h, w) pair, "valid" (no padding) or "same" (output H x W equals the
            input's at stride 1; an even kernel gets one extra row/column at the bottom/right,
            as in PyTorch). "same" with stride > 1 raises ValueError.

        layer: names the caller in error messages, e.g. "Conv2d(1→16, k=3)".

    Returns:
        (N, F, OH, OW) with ``OH = floor((H + 2p - d(KH-1) - 1) / s) + 1``.
    """
    op = layer or "conv2d"
    x, weight, bias = (None if t is None else as_tensor(t) for t in (x, weight, bias))
    xd, wd = x.array, weight.array
    _check_nchw(op, xd)
    if wd.ndim != 4:
        raise ShapeError(f"{op} expected a 4-D weight (out_channels, in_channels, KH, KW), got {shape_str(wd.shape)}")
    F, C, kh, kw = wd.shape
    if xd.shape[1] != C:
        raise ShapeError(
            f"{op} expected input with {C} channels (N, {C}, H, W) to match weight {shape_str(wd.shape)}, "
            f"got {shape_str(xd.shape)}"
        )
    if bias is not None:
        bd = bias.array
        if tuple(bd.shape) != (F,):
            raise ShapeError(f"{op} expected bias of shape ({F},) for {F} filters, got {shape_str(bd.shape)}")
    if xd.dtype != wd.dtype:
        raise DTypeError(f"{op} expected input and weight of one dtype, got {xd.dtype} and {wd.dtype}")
    stride = _pair(stride, "stride", op, 1)
    dilation = _pair(dilation, "dilation", op, 1)
    pad4 = _padding4(padding, (kh, kw), stride, dilation, op)
    _check_window(op, xd.shape, (kh, kw), pad4, dilation)
    function = WinogradConv2d if choose_winograd(xd, wd, stride, pad4, dilation) else Conv2d  # CPU algorithm (winograd.py)
    return function.apply(x, weight, bias, stride=stride, padding=pad4, dilation=dilation)

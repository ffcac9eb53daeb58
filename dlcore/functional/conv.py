"""1-D and 2-D convolution (cross-correlation) as one differentiable Function, with groups.

The CPU path is im2col + one big GEMM per group, or Winograd (:mod:`.winograd`) or the direct C
kernels (:mod:`.conv_direct`) where :func:`cpu_algorithm` picks them; the GPU path (``Conv2d.forward_gpu``) calls
the kernels in ``dlcore.cuda.conv``, and declines (the generic CuPy path runs) for groups > 1.
Layout is NCHW everywhere; the window geometry comes from :mod:`dlcore.functional.window`.

    >>> import numpy as np, dlcore
    >>> x = dlcore.tensor(np.ones((1, 1, 4, 4), np.float32))
    >>> w = dlcore.tensor(np.ones((2, 1, 3, 3), np.float32))
    >>> conv2d(x, w, padding="same").shape
    (1, 2, 4, 4)
    >>> conv1d(dlcore.ones(2, 4, 9), dlcore.ones(6, 2, 3), groups=2).shape
    (2, 6, 7)

How the CPU path is laid out (measured on the 64x32x28x28 / 64x32x3x3 case, see
``tests/test_conv.py`` for the references):

* im2col writes ``cols`` with shape ``(C, KH, KW, N, OH, OW)``: a small Python loop over the
  KH*KW kernel offsets copies one strided slice of the padded input per offset, so the inner
  copies run over long contiguous rows instead of 3x3 windows.
* forward is one GEMM ``(F, C*KH*KW) @ (C*KH*KW, N*OH*OW)`` per group (one batched matmul over
  the groups) followed by a transpose to NCHW, then the bias is added over whole planes.
* backward is two GEMMs per group on the same layout (``dW = G @ cols.T``, or its transpose
  ``cols @ G.T`` when C*KH*KW > F, and
  ``dcols = W.T @ G`` with ``G`` of shape ``(F, N*OH*OW)``) and col2im, again a loop over the
  KH*KW offsets doing vectorised slice-adds.
* The CPU algorithm is picked in one place, :func:`cpu_algorithm`, from the table
  :data:`CPU_ALGORITHMS` of (forward, backward) pairs; another algorithm registers there.
* The big temporaries (``cols``, ``dcols``, the transposed gradient) come from a small pool of
  recycled buffers, because first-touch page faults on fresh 50 MB arrays cost as much as the
  copy itself.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import autograd, cpu_jit
from ..autograd import Function
from ..backend import get_array_module
from ..cpu import buffers, channel_sums, get_conv_algorithm
from ..cuda import conv as cuda_conv
from ..errors import DTypeError, ShapeError, shape_str
from ..tensor import Tensor, as_tensor
from . import conv_direct, winograd
from .window import (
    Window,
    check_nchw,
    check_window,
    col2im,
    im2col,
    ntuple,
    pad,
    padding4,
    unpad,
)

__all__ = ["conv1d", "conv2d", "Conv2d", "CPU_ALGORITHMS"]


# --------------------------------------------------------------------------- CPU algorithm: im2col + GEMM
#: Largest weight matrix (filters x C*KH*KW) for which the GEMMs run per sample (see :func:`per_sample`).
PER_SAMPLE_MAX_WEIGHTS = 2304


def per_sample(xp: Any, groups: int, filters: int, cols_per_filter: int) -> bool:
    """Whether the im2col GEMMs run per sample, in NCHW order: a batched ``W @ cols[n]`` whose output
    is already ``y[n]`` (no transpose of the output, none of the gradient), instead of one
    ``W @ cols`` over the whole batch followed by a transpose.

    Per sample pays for small weight matrices, whose whole-batch GEMM is a thin, memory-bound
    product. Measured here (batch 64, forward + both backward GEMMs with the transposes, two
    BLAS threads): 16 x 9 at 28 x 28 (the MNIST CNN's first layer) 0.19x the time, 32 x 36 at
    28 x 28 0.90x, 32 x 72 0.84x, 32 x 36 at 14 x 14 0.66x; but 64 x 72 at 14 x 14 1.46x and the
    second layer's 32 x 144 about 1.5x. Hence at most ``PER_SAMPLE_MAX_WEIGHTS`` (2304) weights,
    NumPy, no groups.

    >>> per_sample(np, 1, 16, 9), per_sample(np, 1, 32, 144), per_sample(np, 2, 16, 9)
    (True, False, False)
    """
    return xp is np and groups == 1 and filters * cols_per_filter <= PER_SAMPLE_MAX_WEIGHTS


def _columns(x: Any, win: Window, kernel: tuple, sample_major: bool) -> Any:
    """im2col of ``x``: (C, KH, KW, N, OH, OW), or (N, C, KH, KW, OH, OW) when ``sample_major``."""
    xp = get_array_module(x)
    N, C = x.shape[:2]
    (kh, kw), (oh, ow) = kernel, win.out_hw
    if cpu_jit.enabled(x) and cpu_jit.same_geometry(x.shape, (oh, ow), win.stride, win.dilation):
        cols = buffers.take((N, C, kh, kw, oh, ow) if sample_major else (C, kh, kw, N, oh, ow), x.dtype)
        if cpu_jit.im2col_same(x, cols.transpose(1, 2, 3, 0, 4, 5) if sample_major else cols, win.pad4[::2]):
            return cols
        buffers.give(cols)
    xpad = pad(x, win.pad4)
    if sample_major:
        cols = buffers.take((N, C, kh, kw, oh, ow), x.dtype, xp)
        im2col(xpad, kernel, win.stride, win.dilation, (oh, ow), out=cols.transpose(1, 2, 3, 0, 4, 5))
    else:
        cols = im2col(xpad, kernel, win.stride, win.dilation, (oh, ow),
                      out=buffers.take((C, kh, kw, N, oh, ow), x.dtype, xp))
    if xpad is not x:
        buffers.give(xpad)
    return cols


def _per_sample_forward(fn: "Conv2d", x: Any, w: Any, b: Any, win: Window) -> Any:
    N = x.shape[0]
    F, Cg, kh, kw = w.shape
    oh, ow = win.out_hw
    cols = _columns(x, win, (kh, kw), True)
    y = np.empty((N, F, oh, ow), x.dtype)
    np.matmul(w.reshape(F, Cg * kh * kw), cols.reshape(N, Cg * kh * kw, oh * ow), out=y.reshape(N, F, oh * ow))
    return _finish_forward(fn, y, b, cols)


def _finish_forward(fn: "Conv2d", y: Any, b: Any, cols: Any) -> Any:
    """Add the bias over whole NCHW planes (measured 1.0-1.15x faster than during the transpose)
    and keep ``cols`` on ``fn`` when the weight gradient will be needed."""
    if b is not None:
        planes = y.reshape(y.shape[0], y.shape[1], -1)
        planes += b.reshape(1, -1, 1)
    if autograd.is_grad_enabled() and fn.needs(1):
        fn.cols = cols
    else:
        buffers.give(cols)
    return y


def _fold(dcols: Any, win: Window, kernel: tuple) -> Any:
    """dx (NCHW) from the column gradient, a (C, KH, KW, N, OH, OW) array or view: col2im, un-pad."""
    xp = get_array_module(dcols)
    if cpu_jit.enabled(dcols) and cpu_jit.same_geometry(win.in_shape, win.out_hw, win.stride, win.dilation):
        dx = cpu_jit.col2im_same(dcols, win.pad4[::2])
        if dx is not None:
            return dx
    N, C = win.in_shape[:2]
    hp, wp = win.padded_hw
    dxt = col2im(dcols, (N, C, hp, wp), kernel, win.stride, win.dilation, win.out_hw)
    dx = xp.empty(win.in_shape, dcols.dtype)
    dx[...] = unpad(dxt, win.pad4).transpose(1, 0, 2, 3)
    buffers.give(dxt)
    return dx


def _per_sample_backward(fn: "Conv2d", grad: Any) -> tuple:
    win, w = fn.window, fn.w
    N, C = win.in_shape[:2]
    F, Cg, kh, kw = w.shape
    oh, ow = win.out_hw
    CKK = Cg * kh * kw
    g3 = np.ascontiguousarray(grad).reshape(N, F, oh * ow)
    w2 = w.reshape(F, CKK)
    dx = dw = db = None
    if fn.needs(2) and fn.has_bias:
        db = channel_sums(g3)
    if fn.needs(1):
        dw = np.matmul(g3, fn.cols.reshape(N, CKK, oh * ow).transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
        buffers.give(fn.cols)
        fn.cols = None
    if fn.needs(0):
        dcols = buffers.take((N, C, kh, kw, oh, ow), grad.dtype)
        np.matmul(w2.T, g3, out=dcols.reshape(N, CKK, oh * ow))
        dx = _fold(dcols.transpose(1, 2, 3, 0, 4, 5), win, (kh, kw))
        buffers.give(dcols)
    return dx, dw, db


def im2col_forward(fn: "Conv2d", x: Any, w: Any, b: Any, win: Window, groups: int) -> Any:
    """y = W @ cols per group; keeps ``cols`` on ``fn`` when the weight gradient will be needed."""
    xp = get_array_module(x)
    N, C, _, _ = x.shape
    F, Cg, kh, kw = w.shape
    oh, ow = win.out_hw
    G, CKKg, P = groups, Cg * kh * kw, N * oh * ow
    fn.per_sample = per_sample(xp, groups, F, CKKg)
    if fn.per_sample:
        return _per_sample_forward(fn, x, w, b, win)
    cols = _columns(x, win, (kh, kw), False)
    y2 = buffers.take((G, F // G, P), x.dtype, xp)
    y2 = xp.matmul(w.reshape(G, F // G, CKKg), cols.reshape(G, CKKg, P), out=y2)
    y = xp.empty((N, F, oh, ow), x.dtype)
    y[...] = y2.reshape(F, N, oh, ow).transpose(1, 0, 2, 3)
    buffers.give(y2)
    return _finish_forward(fn, y, b, cols)


def im2col_backward(fn: "Conv2d", grad: Any) -> tuple:
    """(dx, dw, db): two GEMMs per group on the im2col layout, then col2im."""
    if fn.per_sample:
        return _per_sample_backward(fn, grad)
    xp = get_array_module(grad)
    win, w, G = fn.window, fn.w, fn.groups
    N, C = win.in_shape[:2]
    F, Cg, kh, kw = w.shape
    oh, ow = win.out_hw
    CKKg, P = Cg * kh * kw, N * oh * ow
    g2 = buffers.take((F, N, oh, ow), grad.dtype, xp)
    g2[...] = grad.transpose(1, 0, 2, 3)
    g3 = g2.reshape(G, F // G, P)
    dx = dw = db = None
    if fn.needs(2) and fn.has_bias:
        db = channel_sums(g2.reshape(F, P)) if xp is np else g2.reshape(F, P).sum(axis=1)
    if fn.needs(1):
        cols = fn.cols.reshape(G, CKKg, P)
        if CKKg > F // G:  # dW^T = cols @ G^T: the longer side as BLAS's M ran faster here (MNIST
            # CNN 16 -> 32 layer: 2.00 vs 2.56 ms at one thread, 1.13 vs 1.5-1.9 ms at two)
            dw = xp.matmul(cols, g3.transpose(0, 2, 1)).transpose(0, 2, 1).reshape(w.shape)
        else:  # (1 -> 16 layer: G @ cols^T 0.70 ms vs 0.90 ms at two threads)
            dw = xp.matmul(g3, cols.transpose(0, 2, 1)).reshape(w.shape)
        buffers.give(fn.cols)
        fn.cols = None
    if fn.needs(0):
        dcols = buffers.take((G, CKKg, P), grad.dtype, xp)
        dcols = xp.matmul(w.reshape(G, F // G, CKKg).transpose(0, 2, 1), g3, out=dcols)
        dx = _fold(dcols.reshape(C, kh, kw, N, oh, ow), win, (kh, kw))
        buffers.give(dcols)
    buffers.give(g2)
    return dx, dw, db


#: The CPU (and generic CuPy) algorithms, by name: (forward, backward). :func:`cpu_algorithm`
#: is the one place that picks one.
CPU_ALGORITHMS: dict[str, tuple[Callable, Callable]] = {
    "im2col": (im2col_forward, im2col_backward),
    "winograd": (winograd.winograd_forward, winograd.winograd_backward),
    "direct": (conv_direct.direct_forward, conv_direct.direct_backward),
}


def cpu_algorithm(x: Any, w: Any, win: Window, groups: int) -> str:
    """The CPU algorithm for this convolution; the one place that picks one.

    Forced with ``dlcore.cpu.set_conv_algorithm`` ("direct" and "winograd" raise ValueError on a
    shape they cannot do). Under "auto": "winograd" for the stride-1 3x3 shapes where it is
    measured faster (:func:`dlcore.functional.winograd.choose`), else "direct" where
    :func:`dlcore.functional.conv_direct.choose` says so, else "im2col"."""
    forced = get_conv_algorithm()
    if forced == "direct":
        why = conv_direct.able(x, w, win.stride, win.pad4, win.dilation, groups)
        if why:
            raise ValueError(f"conv2d: conv_algorithm 'direct' needs {why}; use 'auto' or 'im2col' for this convolution")
        return "direct"
    if groups == 1 and winograd.choose(x, w, win.stride, win.pad4, win.dilation):
        return "winograd"
    if forced == "auto" and conv_direct.choose(x, w, win, groups):
        return "direct"
    return "im2col"


# --------------------------------------------------------------------------- the Function
class Conv2d(Function):
    """Cross-correlation of an NCHW batch with ``(F, C / groups, KH, KW)`` filters, plus a bias.

    Params: ``window`` (a checked :class:`~dlcore.functional.window.Window`) and ``groups``.
    """
    fresh_grads = True  # backward returns new arrays only (see Function)

    saves_output = False  # backward never reads the output: in-place changes of it are safe

    def needs(self, i: int) -> bool:
        """Whether input ``i`` (0 x, 1 weight, 2 bias) needs a gradient."""
        return len(self.needs_input_grad) > i and self.needs_input_grad[i]

    def _keep(self, w: Any, b: Any, window: Window, groups: int) -> None:
        self.w, self.has_bias, self.window, self.groups = w, b is not None, window, groups

    def forward(self, x, w, b=None, window: Window = None, groups: int = 1):
        self._keep(w, b, window, groups)
        self.algorithm = cpu_algorithm(x, w, window, groups)
        return CPU_ALGORITHMS[self.algorithm][0](self, x, w, b, window, groups)

    def backward(self, grad):
        return CPU_ALGORITHMS[self.algorithm][1](self, grad)

    def forward_gpu(self, x, w, b=None, window: Window = None, groups: int = 1):
        if groups != 1:  # the kernels have no groups: the generic CuPy path runs
            return NotImplemented
        self._keep(w, b, window, groups)
        self.gpu_pad = window.symmetric
        self.x = x if self.gpu_pad is not None else pad(x, window.pad4)  # asymmetric: pad explicitly
        return cuda_conv.conv2d_forward(self.x, w, b, window.stride, self.gpu_pad or (0, 0), window.dilation)

    def backward_gpu(self, grad):
        win = self.window
        dx, dw, db = cuda_conv.conv2d_backward(self.x, self.w, grad, win.stride, self.gpu_pad or (0, 0),
                                               win.dilation, needs=(self.needs(0), self.needs(1),
                                                                    self.needs(2) and self.has_bias))
        if dx is not None and self.gpu_pad is None:
            dx = get_array_module(dx).ascontiguousarray(unpad(dx, win.pad4))
        self.x = None
        return dx, dw, db


# --------------------------------------------------------------------------- public functions
def _check_conv_args(op: str, xd: Any, wd: Any, bias: Any, groups: Any, spatial: int) -> int:
    """Check the arrays of a conv call against each other; returns ``groups`` as an int."""
    check_nchw(op, xd, spatial)
    if wd.ndim != spatial + 2:
        dims = "KH, KW" if spatial == 2 else "K"
        raise ShapeError(f"{op} expected a {spatial + 2}-D weight (out_channels, in_channels, {dims}), "
                         f"got {shape_str(wd.shape)}")
    (groups,) = ntuple(groups, 1, "groups", op, 1)
    F, Cg = wd.shape[:2]
    if F % groups:
        raise ValueError(f"{op} expected out_channels ({F}) divisible by groups ({groups})")
    if xd.shape[1] != Cg * groups:
        per = f" ({Cg} per group x {groups} groups)" if groups > 1 else ""
        layout = "H, W" if spatial == 2 else "L"
        raise ShapeError(f"{op} expected input with {Cg * groups} channels{per} (N, {Cg * groups}, {layout}), "
                         f"got {shape_str(xd.shape)} (weight {shape_str(wd.shape)})")
    if bias is not None and tuple(bias.array.shape) != (F,):
        raise ShapeError(f"{op} expected bias of shape ({F},) for {F} filters, got {shape_str(bias.array.shape)}")
    if xd.dtype != wd.dtype:
        raise DTypeError(f"{op} expected input and weight of one dtype, got {xd.dtype} and {wd.dtype}")
    return groups


def _conv(op: str, x: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any, groups: Any,
          spatial: int) -> Tensor:
    """The one checked entry of conv1d and conv2d: every argument is checked here, once.

    A 1-D convolution runs as a 2-D one over an (N, C, 1, L) view.
    """
    x, weight, bias = (None if t is None else as_tensor(t) for t in (x, weight, bias))
    groups = _check_conv_args(op, x.array, weight.array, bias, groups, spatial)
    lead = () if spatial == 2 else (1,)
    kernel = lead + tuple(weight.shape[2:])
    stride = lead + ntuple(stride, spatial, "stride", op, 1)
    dilation = lead + ntuple(dilation, spatial, "dilation", op, 1)
    if spatial == 1 and not isinstance(padding, str):
        padding = (0, ntuple(padding, 1, "padding", op, 0)[0])
    pad4 = padding4(padding, kernel, stride, dilation, op)
    if spatial == 1:
        x = x.reshape(x.shape[0], x.shape[1], 1, x.shape[2])
        weight = weight.reshape(weight.shape[0], weight.shape[1], 1, weight.shape[2])
    check_window(op, x.shape, kernel, pad4, dilation)
    y = Conv2d.apply(x, weight, bias, window=Window.of(x.shape, kernel, stride, pad4, dilation), groups=groups)
    return y if spatial == 2 else y.reshape(y.shape[0], y.shape[1], y.shape[3])


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple = 1,
           padding: int | tuple | str = 0, dilation: int | tuple = 1, groups: int = 1,
           layer: str | None = None) -> Tensor:
    """2-D cross-correlation of an NCHW batch with ``(F, C / groups, KH, KW)`` filters, as in PyTorch.

    ``y[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] * x[n, c, s*i + d*u - p, s*j + d*v - p]``

    This is a *cross-correlation*: the kernel is not flipped. Lecture 000 defines convolution
    with a flipped kernel, ``G[i, j] = sum_{u,v} w[u, v] * x[i - u, j - v]``; that equals
    ``conv2d`` with ``w[..., ::-1, ::-1]``. For learned filters the two are the same model.

    Args:
        x: input of shape (N, C, H, W).
        weight: filters of shape (F, C / groups, KH, KW).
        bias: optional (F,) bias.
        stride, dilation: int or (h, w) pair.
        padding: int, (h, w) pair, (top, bottom, left, right), "valid" (no padding) or "same"
            (output H x W equals the input's at stride 1; an even kernel gets one extra
            row/column at the bottom/right, as in PyTorch). "same" with stride > 1 raises.
        groups: input and output channels split into this many independent groups.
        layer: names the caller in error messages, e.g. "Conv2d(1→16, k=3)".

    Returns:
        (N, F, OH, OW) with ``OH = floor((H + 2p - d(KH-1) - 1) / s) + 1``.

    >>> import dlcore
    >>> conv2d(dlcore.ones(1, 2, 5, 5), dlcore.ones(3, 2, 3, 3), stride=2).shape
    (1, 3, 2, 2)
    """
    return _conv(layer or "conv2d", x, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple = 1,
           padding: int | tuple | str = 0, dilation: int | tuple = 1, groups: int = 1,
           layer: str | None = None) -> Tensor:
    """1-D cross-correlation of an (N, C, L) batch with ``(F, C / groups, K)`` filters, as in PyTorch.

    Runs as :func:`conv2d` over an (N, C, 1, L) view; ``padding`` is an int, "same" or "valid".

    >>> import dlcore
    >>> conv1d(dlcore.ones(1, 1, 5), dlcore.ones(1, 1, 3), padding=1).tolist()
    [[[2.0, 3.0, 3.0, 3.0, 2.0]]]
    """
    return _conv(layer or "conv1d", x, weight, bias, stride, padding, dilation, groups, 1)

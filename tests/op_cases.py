"""The op-case table: every differentiable op's cases declared once, with float64 NumPy references.

Each :class:`OpCase` names an op, makes its float64 inputs, calls dlcore on Tensors and the
reference on float64 arrays, and states its tolerances. ``tests/test_op_table.py`` runs every
case on every available device (the ``device`` fixture) and dtype, checking the forward pass
against the reference, the gradients by finite differences, dtype preservation, that inputs are
never written, and (on the GPU) NaN-poisoned output buffers. The references below are also what
the per-op tests (test_conv.py, test_pool.py, test_cuda_kernels.py) compare with: one reference
per op in the whole suite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import dlcore.functional as F
from dlcore.functional.window import padding4

# --------------------------------------------------------------------------- input makers


def nonzero(shape, seed=0, scale=1.0):
    """float64 values with |v| in [0.25, 2] * scale and random signs: never near a kink at 0."""
    rng = np.random.default_rng(seed)
    return scale * rng.uniform(0.25, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def distinct(shape, seed=0):
    """Distinct values 0.1 apart (a permutation): no ties, so a max never switches under a small step."""
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 2.0


# --------------------------------------------------------------------------- references (float64)
def act_ref(name, x, slope=0.01):
    """relu, leaky_relu, sigmoid, tanh on float64 arrays."""
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        return np.where(x > 0, x, slope * x)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    return np.tanh(x)


def act_grad_ref(name, x, g, slope=0.01):
    """d act(x) / dx times g, from x."""
    if name == "relu":
        return g * (x > 0)
    if name == "leaky_relu":
        return np.where(x > 0, g, slope * g)
    y = act_ref(name, x)
    return g * y * (1 - y) if name == "sigmoid" else g * (1 - y * y)


def log_softmax_ref(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return (x - m) - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def cross_entropy_ref(logits, targets):
    """Per-row -log_softmax(logits)[r, target[r]]."""
    return -log_softmax_ref(logits, 1)[np.arange(len(targets)), targets]


def _conv_taps(x, wshape, stride, pad4, dilation):
    """The zero-padded input and, per kernel offset (i, j), the strided slice every output reads."""
    (sh, sw), (dh, dw) = stride, dilation
    t, b, l, r = pad4
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    kh, kw = wshape[2:]
    OH = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    OW = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1

    def window(i, j):
        return (slice(None), slice(None), slice(i * dh, i * dh + sh * (OH - 1) + 1, sh),
                slice(j * dw, j * dw + sw * (OW - 1) + 1, sw))

    return xp, window, (OH, OW)


def conv2d_ref(x, w, b=None, stride=(1, 1), pad4=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Direct float64 cross-correlation, one einsum per kernel offset and group."""
    xp, window, (OH, OW) = _conv_taps(x, w.shape, stride, pad4, dilation)
    N, F, G = x.shape[0], w.shape[0], groups
    Cg, Fg = x.shape[1] // G, F // G
    y = np.zeros((N, F, OH, OW))
    for g in range(G):
        for i in range(w.shape[2]):
            for j in range(w.shape[3]):
                taps = xp[window(i, j)][:, g * Cg:(g + 1) * Cg]
                y[:, g * Fg:(g + 1) * Fg] += np.einsum("nchw,kc->nkhw", taps, w[g * Fg:(g + 1) * Fg, :, i, j])
    if b is not None:
        y += b.reshape(1, F, 1, 1)
    return y


def conv2d_ref_grads(x, w, go, stride=(1, 1), pad4=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """(dx, dw, db) of sum(go * conv2d_ref(x, w, b)), by the same per-offset einsums."""
    xp, window, _ = _conv_taps(x, w.shape, stride, pad4, dilation)
    G, Cg, Fg = groups, x.shape[1] // groups, w.shape[0] // groups
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for g in range(G):
        gs, cs = slice(g * Fg, (g + 1) * Fg), slice(g * Cg, (g + 1) * Cg)
        for i in range(w.shape[2]):
            for j in range(w.shape[3]):
                win = window(i, j)
                dw[gs, :, i, j] = np.einsum("nkhw,nchw->kc", go[:, gs], xp[win][:, cs])
                dxp[win[0], cs, win[2], win[3]] += np.einsum("nkhw,kc->nchw", go[:, gs], w[gs, :, i, j])
    t, b, l, r = pad4
    return dxp[:, :, t:xp.shape[2] - b, l:xp.shape[3] - r], dw, go.sum(axis=(0, 2, 3))


def _pool_out(size, k, s, p, d, ceil_mode):
    span = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool_ref(x, mode, kernel, stride=None, padding=(0, 0), dilation=(1, 1), ceil_mode=False,
             count_include_pad=True, divisor_override=None, g=None):
    """PyTorch's max / avg pooling by explicit loops over output pixels (vectorised over N, C).

    Returns ``(y, flat_index, dx)``: the output, for max the int64 index ``ih * W + iw`` of the
    first maximum over the *real* taps in row-major order (so an all -inf window still points
    inside itself; a window with NaNs points at its last NaN, as PyTorch), and, given ``g``, the gradient of sum(g * y) with respect to x.
    """
    N, C, H, W = x.shape
    (kh, kw), (ph, pw), (dh, dw) = kernel, padding, dilation
    sh, sw = stride or kernel
    OH, OW = _pool_out(H, kh, sh, ph, dh, ceil_mode), _pool_out(W, kw, sw, pw, dw, ceil_mode)
    y, idx = np.zeros((N, C, OH, OW)), np.zeros((N, C, OH, OW), np.int64)
    dx = np.zeros((N, C, H * W))
    for i in range(OH):
        for j in range(OW):
            r0, c0 = i * sh - ph, j * sw - pw
            taps = [(r0 + u * dh, c0 + v * dw) for u in range(kh) for v in range(kw)]
            real = [(r, c) for r, c in taps if 0 <= r < H and 0 <= c < W]
            vals = np.stack([x[:, :, r, c] for r, c in real], axis=-1)
            flat = np.array([r * W + c for r, c in real])
            if mode == "max":
                a = vals.argmax(axis=-1)  # the first maximum; with NaNs, the last NaN (PyTorch's rule)
                nan = np.isnan(vals)
                a = np.where(nan.any(axis=-1), vals.shape[-1] - 1 - nan[..., ::-1].argmax(axis=-1), a)
                y[:, :, i, j] = np.take_along_axis(vals, a[..., None], -1)[..., 0]
                idx[:, :, i, j] = flat[a]
                share = np.zeros(vals.shape)
                np.put_along_axis(share, a[..., None], 1.0, -1)
            else:
                if divisor_override is not None:
                    div = divisor_override
                elif count_include_pad:  # positions inside the padded input (not the ceil-mode room)
                    div = (min(r0 + kh, H + ph) - r0) * (min(c0 + kw, W + pw) - c0)
                else:
                    div = len(real)
                y[:, :, i, j] = vals.sum(axis=-1) / div
                share = np.full(vals.shape, 1.0 / div)
            if g is not None:
                for t, f in enumerate(flat):
                    dx[:, :, f] += g[:, :, i, j] * share[..., t]
    return y, idx, dx.reshape(N, C, H, W)


def adaptive_pool_ref(x, mode, out_hw):
    """PyTorch's adaptive pooling: bin i covers [floor(i * H / OH), ceil((i + 1) * H / OH))."""
    N, C, H, W = x.shape
    OH, OW = out_hw
    y = np.zeros((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            cell = x[:, :, (i * H) // OH:-(-(i + 1) * H // OH), (j * W) // OW:-(-(j + 1) * W // OW)]
            y[:, :, i, j] = cell.max(axis=(2, 3)) if mode == "max" else cell.mean(axis=(2, 3))
    return y


# --------------------------------------------------------------------------- the table
TOLERANCES = {np.dtype(np.float64): (1e-10, 1e-10), np.dtype(np.float32): (1e-4, 1e-4)}


@dataclass(frozen=True)
class OpCase:
    """One op on one set of inputs.

    ``make`` returns the inputs (float64 arrays, or int64 for class targets); ``op`` takes
    dlcore Tensors and returns a Tensor; ``ref`` takes the float64 arrays and returns the
    float64 expected output. ``grad`` lists the inputs differentiated (default: every float
    input). ``rtol`` scales the dtype's tolerance (large reductions need more in float32).
    """

    id: str
    make: Callable[[], list]
    op: Callable
    ref: Callable
    grad: tuple[int, ...] | None = None
    rtol: float = 1.0
    extra: dict = field(default_factory=dict)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _conv_case(id, xs, ws, bias=True, **kw):
    groups, stride, dil = kw.get("groups", 1), _pair(kw.get("stride", 1)), _pair(kw.get("dilation", 1))
    pad4 = padding4(kw.get("padding", 0), ws[2:], stride, dil, "ref")

    def make():
        out = [nonzero(xs, 1), nonzero(ws, 2, 0.5)]
        return out + [nonzero(ws[0], 3)] if bias else out

    return OpCase(id, make, lambda x, w, b=None: F.conv2d(x, w, b, **kw),
                  lambda x, w, b=None: conv2d_ref(x, w, b, stride, pad4, dil, groups))


def _pool_case(id, xs, mode, kernel, **kw):
    args = dict(stride=_pair(kw["stride"]) if "stride" in kw else None, padding=_pair(kw.get("padding", 0)),
                dilation=_pair(kw.get("dilation", 1)), ceil_mode=kw.get("ceil_mode", False),
                count_include_pad=kw.get("count_include_pad", True), divisor_override=kw.get("divisor_override"))
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    return OpCase(id, lambda: [distinct(xs, 4)], lambda x: fn(x, kernel, **kw),
                  lambda x: pool_ref(x, mode, _pair(kernel), **args)[0])


CASES: list[OpCase] = [
    *[OpCase(f"{name}-{'x'.join(map(str, shape))}", (lambda shape=shape: [nonzero(shape, 5, 3.0)]),
             (lambda x, name=name: getattr(F, name)(x)), (lambda x, name=name: act_ref(name, x)))
      for name in ("relu", "sigmoid", "tanh") for shape in ((3, 5), (4, 8))],
    OpCase("leaky_relu-0.1", lambda: [nonzero((5, 6), 6, 3.0)], lambda x: F.leaky_relu(x, 0.1),
           lambda x: act_ref("leaky_relu", x, 0.1)),
    OpCase("softmax-last", lambda: [nonzero((4, 7), 7, 2.0)], lambda x: F.softmax(x), lambda x: np.exp(log_softmax_ref(x))),
    OpCase("softmax-axis0", lambda: [nonzero((4, 3), 8, 2.0)], lambda x: F.softmax(x, axis=0),
           lambda x: np.exp(log_softmax_ref(x, 0))),
    OpCase("log_softmax-3d", lambda: [nonzero((2, 3, 5), 9, 2.0)], lambda x: F.log_softmax(x, dim=-1), log_softmax_ref),
    OpCase("log_softmax-axis1", lambda: [nonzero((2, 3, 4), 10, 2.0)], lambda x: F.log_softmax(x, axis=1),
           lambda x: log_softmax_ref(x, 1)),
    OpCase("cross_entropy", lambda: [nonzero((6, 5), 11, 2.0), np.random.default_rng(12).integers(0, 5, 6)],
           lambda x, t: F.cross_entropy(x, t, reduction="none"), cross_entropy_ref, grad=(0,)),
    _conv_case("conv-pad1", (2, 3, 6, 5), (4, 3, 3, 3), padding=1),
    _conv_case("conv-stride2-nobias", (2, 2, 7, 7), (3, 2, 3, 3), bias=False, stride=2),
    _conv_case("conv-dilated", (1, 2, 7, 8), (2, 2, 3, 2), padding=(2, 1), dilation=(2, 1)),
    _conv_case("conv-same-even", (2, 2, 5, 6), (3, 2, 2, 4), padding="same"),
    _conv_case("conv-groups", (2, 4, 5, 5), (6, 2, 3, 3), padding=1, groups=2),
    OpCase("conv1d", lambda: [nonzero((2, 3, 9), 13), nonzero((4, 3, 3), 14, 0.5), nonzero(4, 15)],
           lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
           lambda x, w, b: conv2d_ref(x[:, :, None], w[:, :, None], b, (1, 2), (0, 0, 1, 1))[:, :, 0]),
    _pool_case("maxpool-2", (2, 3, 6, 6), "max", 2),
    _pool_case("maxpool-3s2p1", (2, 2, 7, 6), "max", 3, stride=2, padding=1),
    _pool_case("maxpool-dilated", (1, 2, 7, 7), "max", 2, stride=1, dilation=2),
    _pool_case("maxpool-ceil", (1, 2, 7, 6), "max", (3, 2), stride=2, padding=1, ceil_mode=True),
    _pool_case("avgpool-2", (2, 3, 6, 6), "avg", 2),
    _pool_case("avgpool-3s2p1", (2, 2, 7, 6), "avg", 3, stride=2, padding=1),
    _pool_case("avgpool-ceil-nopad", (1, 2, 7, 6), "avg", 3, stride=2, padding=1, ceil_mode=True,
               count_include_pad=False),
    *[OpCase(f"pad-{mode}", lambda: [nonzero((2, 2, 4, 5), 18)], (lambda x, mode=mode: F.pad(x, (2, 1, 1, 3), mode=mode)),
             (lambda x, np_mode=np_mode: np.pad(x, ((0, 0), (0, 0), (1, 3), (2, 1)), mode=np_mode)))
      for mode, np_mode in (("constant", "constant"), ("reflect", "reflect"), ("replicate", "edge"),
                            ("circular", "wrap"))],
    OpCase("adaptive_avg", lambda: [distinct((2, 2, 7, 5), 16)], lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
           lambda x: adaptive_pool_ref(x, "avg", (3, 2))),
    OpCase("adaptive_max", lambda: [distinct((2, 2, 5, 7), 17)], lambda x: F.adaptive_max_pool2d(x, (2, 3)),
           lambda x: adaptive_pool_ref(x, "max", (2, 3))),
]

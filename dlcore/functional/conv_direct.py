"""Direct stride-1 convolution on the CPU: dlcore's C kernels (``dlcore/native/conv_direct.c``).

For convolutions with few channels, such as the MNIST CNN's 16 -> 32 layer at 14 x 14, im2col's
GEMMs are thin (32 x 144 weights) and its 9x-sized column matrix costs more memory traffic than
the arithmetic. The direct kernels read each sample's zero-padded planes in place: the
convolution of one sample is a GEMM whose second operand is the padded planes at 9 shifts, and
its register tiles run near the FMA peak. All three passes use them:

* forward: ``y = conv(x, W) + b``;
* input gradient: ``dx = conv(pad(g), flip(W)^T)`` -- the same kernel, with the flipped filters
  and the channels swapped;
* weight gradient: ``dW[f, c, ky, kx] = sum g[n, f, i, j] * xpad[n, c, i + ky, j + kx]``, by
  per-lane sums that Python adds up.

Each pass splits the samples over dlcore's threads. float32 only (float64 takes im2col); stride 1,
no dilation, no groups, and padding of at most ``kernel - 1`` a side (the input gradient's own
padding is ``kernel - 1 - padding``). Picked by :func:`dlcore.functional.conv.cpu_algorithm`
where measured faster, or forced with ``dlcore.cpu.set_conv_algorithm("direct")``.

    >>> import numpy as np, dlcore
    >>> from dlcore.cpu import conv_algorithm
    >>> x = dlcore.tensor(np.ones((1, 2, 5, 5), np.float32))
    >>> w = dlcore.tensor(np.ones((3, 2, 3, 3), np.float32))
    >>> with conv_algorithm("direct" if usable() else "im2col"):
    ...     float(dlcore.nn.functional.conv2d(x, w, padding=1)[0, 0, 2, 2])
    18.0
"""

from __future__ import annotations

import ctypes
import logging
import time
from typing import Any

import numpy as np

from .. import autograd, cpu_native
from ..autograd import Function
from ..cpu import channel_sums, num_threads, parallel_pieces

log = logging.getLogger("dlcore")

__all__ = ["able", "choose", "direct_backward", "direct_forward", "limit_isa", "usable"]

_LONG, _PTR = ctypes.c_long, ctypes.c_void_p
#: Accumulator rows per filter block and tap block in the weight-gradient kernel (see the C file).
FILTER_PAD, TAP_PAD, LANES = 8, 12, 16
#: Samples per piece of work a thread takes (:func:`dlcore.cpu.parallel_pieces`).
GRAIN = 16


def _lib() -> Any:
    lib = cpu_native.library("conv_direct")
    if lib is not None and not getattr(lib, "_dlcore_typed", False):
        lib.dl_direct_isa.restype = ctypes.c_int
        lib.dl_direct_limit_isa.restype = ctypes.c_int
        lib.dl_direct_limit_isa.argtypes = [ctypes.c_int]
        lib.dl_direct_conv.argtypes = [_PTR] * 4 + [_LONG] * 13
        lib.dl_direct_wgrad.argtypes = [_PTR] * 4 + [_LONG] * 14
        lib._dlcore_typed = True
    return lib


def usable() -> bool:
    """Whether the direct kernels run here: the library builds, and the CPU has AVX-512 or AVX2."""
    lib = _lib()
    return lib is not None and lib.dl_direct_isa() > 0


def limit_isa(bits: int) -> int:
    """Let the kernels use vectors of at most ``bits`` (512: AVX-512, 256: AVX2) from now on, as
    far as the CPU has them; returns the previous limit. For tests of the narrower code.

    >>> if usable(): old = limit_isa(256); assert _lib().dl_direct_isa() == 256; _ = limit_isa(old)
    """
    return int(_lib().dl_direct_limit_isa(int(bits)))


def able(x: Any, w: Any, stride: tuple, pad4: tuple, dilation: tuple, groups: int) -> str:
    """'' when the direct kernels can compute this convolution, else why not."""
    if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and w.dtype == np.float32):
        return f"a float32 CPU input and weight (got {type(x).__name__} of {x.dtype}, weight {w.dtype})"
    kh, kw = w.shape[2:]
    t, b, left, right = pad4
    if tuple(stride) != (1, 1) or tuple(dilation) != (1, 1) or groups != 1:
        return f"stride 1, dilation 1 and groups 1 (got stride {tuple(stride)}, dilation {tuple(dilation)}, groups {groups})"
    if max(t, b) > kh - 1 or max(left, right) > kw - 1:
        return f"padding of at most kernel - 1 a side (got {tuple(pad4)} for a {kh}x{kw} kernel)"
    if not usable():
        return "the native library (a C compiler, and a CPU with AVX2 or AVX-512; see dlcore.cpu_native)"
    return ""


#: The auto rule's bounds (see :func:`choose`): the most weights (floats) and the fewest output
#: positions (N x OH x OW) for which the direct kernels run under "auto".
MAX_WEIGHTS, MIN_POSITIONS = 1 << 18, 2048


def choose(x: Any, w: Any, win: Any, groups: int) -> bool:
    """Whether "auto" runs this convolution directly (when Winograd was not picked): it can, its
    weights fit the caches (at most ``MAX_WEIGHTS``) and the batch has at least ``MIN_POSITIONS``
    output positions.

    Measured here (2-core AMD EPYC, AVX-512; forward + both backward passes with a bias, blocks of
    5 calls alternating in one process, median of 9 blocks, direct / im2col; 2026-12-02): batch
    64 at 14 x 14, C/F = 16/32 (the MNIST CNN's second layer) 0.56-0.81; at 28 x 28 1/16 (its
    first) 0.83-0.94, 8/16 0.32, 16/32 0.49, 32/64 0.40; 16 x 16 64/64 0.39-0.40, 128/128 0.50;
    1 x 1 kernels 64/64 at 28 x 28 0.78; 5 x 5 (LeNet) 1/6 0.53-0.70, 6/16 0.68-0.94; 7 x 7,
    3/64 at 32 x 32 0.77; batch 8 at 32 x 32 3/16 0.82. Lost: 7 x 7 planes with 256/256 1.67 and
    512/512 2.15 (2.4 and 9.4 M weights: every tile re-reads them from memory) and one sample at
    14 x 14 1.32 (196 positions). Where Winograd's rule picks it, it stays: W3 (28 x 28, 32/64) in
    the benchmark ran 0.76-0.88 of torch's time by Winograd, 0.87-1.05 direct.

    >>> import numpy as np
    >>> from dlcore.functional.window import Window
    >>> x, w = np.ones((64, 16, 14, 14), np.float32), np.ones((32, 16, 3, 3), np.float32)
    >>> choose(x, w, Window.of(x.shape, (3, 3), (1, 1), (1, 1, 1, 1)), 1) == usable()
    True
    """
    if w.size > MAX_WEIGHTS or x.shape[0] * win.out_hw[0] * win.out_hw[1] < MIN_POSITIONS:
        return False
    return not able(x, w, win.stride, win.pad4, win.dilation, groups)


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


_threads: dict[int, int] = {}  # num_threads() -> the threads the kernels use


def threads() -> int:
    """How many of dlcore's threads the kernels use: all (:func:`dlcore.cpu.num_threads`) when that
    measured at least 1.25x faster than one on this machine, else one. Measured once per process
    (about 5 ms: a 32-sample 16 -> 32 convolution at 14 x 14, best of 5 each way).

    The kernels run near the FMA peak of one core, so more threads help only on more cores. On
    this project's 2-CPU VM two threads were no faster than one (0.72 vs 0.68 ms on the MNIST
    CNN's second layer, alone), and in a training step, beside OpenBLAS's threads spinning after
    each GEMM, slower (the step's five direct passes 4.1 ms against 2.9 ms).

    >>> threads() in (1, num_threads())
    True
    """
    wanted = num_threads()
    if wanted not in _threads:
        _threads[wanted] = 1 if wanted == 1 or not usable() else _calibrate(wanted)
    return _threads[wanted]


def _calibrate(wanted: int) -> int:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 16, 14, 14)).astype(np.float32)
    packed = _pack(rng.standard_normal((144, 32)).astype(np.float32))
    best = {}
    for _ in range(5):
        for count in (1, wanted):
            start = time.perf_counter()
            _conv(x, packed, 32, (3, 3), None, (1, 1), (14, 14), count)
            best[count] = min(best.get(count, np.inf), time.perf_counter() - start)
    chosen = wanted if best[wanted] * 1.25 <= best[1] else 1
    log.debug("dlcore: direct convolution on %d thread(s) (one %.3f ms, %d %.3f ms)", chosen, best[1] * 1e3,
              wanted, best[wanted] * 1e3)
    return chosen


def _pack(wmat: np.ndarray) -> np.ndarray:
    """(taps, filters) weights as the kernel reads them: filters padded with zeros to a multiple of 8."""
    taps, filters = wmat.shape
    packed = np.zeros((taps, -(-filters // FILTER_PAD) * FILTER_PAD), np.float32)
    packed[:, :filters] = wmat
    return packed


def _conv(x: np.ndarray, packed: np.ndarray, filters: int, kernel: tuple, bias: np.ndarray | None,
          top_left: tuple, out_hw: tuple, max_threads: int | None = None) -> np.ndarray:
    """``y = conv(x, packed) (+ bias)`` over the samples, split over dlcore's threads."""
    lib, (N, C, H, W), (OH, OW) = _lib(), x.shape, out_hw
    x = np.ascontiguousarray(x)
    y = np.empty((N, filters, OH, OW), np.float32)
    args = (C, H, W, filters, packed.shape[1], *kernel, *top_left, OH, OW)

    def run(worker: int, lo: int, hi: int) -> None:
        if lib.dl_direct_conv(_ptr(x), _ptr(packed), _ptr(bias), _ptr(y), lo, hi, *args) != 0:
            raise MemoryError("conv2d (direct): the kernel could not allocate its scratch planes")

    parallel_pieces(run, N, GRAIN, 2 * y.size * C * kernel[0] * kernel[1], max_threads or threads())
    return y


def direct_forward(fn: Function, x: Any, w: Any, b: Any, win: Any, groups: int) -> Any:
    """One entry of :data:`dlcore.functional.conv.CPU_ALGORITHMS`: y = conv(x, w) + b; keeps x for dW."""
    F, C, kh, kw = w.shape
    packed = _pack(w.reshape(F, C * kh * kw).T)
    bias = None if b is None else np.ascontiguousarray(b, np.float32)
    y = _conv(x, packed, F, (kh, kw), bias, (win.pad4[0], win.pad4[2]), win.out_hw)
    fn.x = x if autograd.is_grad_enabled() and fn.needs(1) else None
    return y


def _weight_grad(x: np.ndarray, g: np.ndarray, w_shape: tuple, top_left: tuple, bias: bool) -> tuple:
    """(dW, db or None): per-piece sums from the kernel, added up here in a fixed order."""
    lib, (N, C, H, W), (F, _, kh, kw) = _lib(), x.shape, w_shape
    OH, OW = g.shape[2:]
    taps = C * kh * kw
    acc_shape = (-(-F // FILTER_PAD) * FILTER_PAD, -(-taps // TAP_PAD) * TAP_PAD, LANES)
    sums: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    args = (C, H, W, F, acc_shape[0], kh, kw, *top_left, OH, OW)
    pieces = num_threads()  # not the measured threads(): the split, and so the rounding, must
    # not depend on a timing

    def run(worker: int, lo: int, hi: int) -> None:
        # One piece per available CPU, each with its own sums (zeroed by the kernel), added in
        # piece order below: the same bits whichever thread takes which piece, and on one thread.
        acc, db = np.empty(acc_shape, np.float32), np.empty(F, np.float64) if bias else None
        if lib.dl_direct_wgrad(_ptr(x), _ptr(g), _ptr(acc), _ptr(db), 1, lo, hi, *args) != 0:
            raise MemoryError("conv2d (direct): the kernel could not allocate its scratch planes")
        sums[lo] = (acc, db)  # dict assignment is atomic under the GIL

    parallel_pieces(run, N, -(-N // pieces), 2 * g.size * taps, threads())
    parts = [sums[lo] for lo in sorted(sums)]
    dw = np.sum([a for a, _ in parts], axis=0) if len(parts) > 1 else parts[0][0]
    dw = dw.sum(axis=2, dtype=np.float64)[:F, :taps].astype(np.float32).reshape(w_shape)
    db = np.sum([b for _, b in parts], axis=0).astype(np.float32) if bias else None
    return dw, db


def direct_backward(fn: Function, grad: Any) -> tuple:
    """(dx, dw, db) of :func:`direct_forward`."""
    win, w = fn.window, fn.w
    F, C, kh, kw = w.shape
    g = np.ascontiguousarray(grad, np.float32)
    top, left = win.pad4[0], win.pad4[2]
    dx = dw = db = None
    want_db = fn.needs(2) and fn.has_bias
    if fn.needs(1):
        dw, db = _weight_grad(np.ascontiguousarray(fn.x), g, w.shape, (top, left), want_db)
        fn.x = None
    elif want_db:
        db = channel_sums(g.reshape(g.shape[0], F, -1))  # no weight gradient: the shared GEMV helper
    if fn.needs(0):
        flipped = w[:, :, ::-1, ::-1].transpose(0, 2, 3, 1).reshape(F * kh * kw, C)  # [(f, ky, kx), c]
        dx = _conv(g, _pack(flipped), C, (kh, kw), None, (kh - 1 - top, kw - 1 - left), win.in_shape[2:])
    return dx, dw, db

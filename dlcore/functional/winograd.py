"""Winograd convolution for stride-1 3x3 kernels on the CPU: F(4x4, 3x3) and F(2x2, 3x3).

Lavin & Gray's minimal filtering: an output tile of m x m pixels needs an (m+2) x (m+2) input
tile ``d`` and is ``Y = A^T [(G g G^T) * (B^T d B)] A`` for a 3x3 filter ``g``. Summed over
channels, the element-wise product becomes (m+2)^2 independent GEMMs, one per tile position
``(a, b)``: ``M[a, b] = U[a, b] @ V[a, b]`` with ``U`` of shape (F, C) and ``V`` (C, tiles). For
F(4x4, 3x3) that is 36 multiplies per 16 outputs instead of 144: 4x fewer flops than im2col.

    >>> import numpy as np, dlcore
    >>> x = dlcore.tensor(np.ones((1, 2, 6, 6), np.float32))
    >>> w = dlcore.tensor(np.ones((3, 2, 3, 3), np.float32))
    >>> from dlcore import cpu, functional as F
    >>> with cpu.conv_algorithm("winograd"):
    ...     y = F.conv2d(x, w, padding=1)
    >>> y.shape, float(y.numpy()[0, 0, 2, 2]), float(y.numpy()[0, 0, 0, 0])
    ((1, 3, 6, 6), 18.0, 8.0)

Layout (all GEMMs run in NumPy's multi-threaded BLAS):

* the padded input is cut into overlapping (m+2)^2 tiles with stride m (an im2col with kernel
  m+2 and stride m), laid out ``(m+2, m+2, C, N, TH, TW)``; the input transform
  ``B^T d B`` over all tiles is then one GEMM with ``kron(B^T, B^T)`` on the first axis;
* the filter transform ``U = G g G^T`` is the same with ``kron(G, G)`` (tiny, done in float64);
* the output transform ``A^T M A`` is one GEMM with ``kron(A^T, A^T)``, then one transposed
  copy into NCHW that also adds the bias.

The backward pass is the exact adjoint of that linear map, so it is also Winograd and reuses
the transforms: the incoming gradient is cut into m x m tiles and transformed once
(``A dY A^T``); ``dx`` is ``B [U^T (A dY A^T)] B^T`` overlap-added back (this is the full
correlation of dY with the flipped kernel, computed tile by tile), and ``dW`` is
``G^T [(A dY A^T) V^T] G`` with the ``V`` kept from the forward pass (2.25 floats per input
pixel and channel for F(4x4), instead of im2col's 9).

With Numba present (``dlcore.cpu_jit``), F(4x4)'s four transforms run as compiled loops
instead (``dlcore/cpu_kernels_winograd.py``): the same linear maps with the matrices' zeros
skipped, read and written straight from NCHW without the tile copies; on W3 (64 x 32 x 28 x 28,
64 filters) forward + backward went from 29.3 to 19.0 ms. That path also runs by sample blocks
(:func:`_in_blocks`): transform, GEMMs and transform again on ~256 tiles at a time per thread, so
the (36, F, tiles) products never exist whole. The kron GEMMs here stay the reference.

Which algorithm runs is decided by :func:`choose` (see there for the rule and how it was
measured), and can be forced with ``dlcore.cpu.set_conv_algorithm``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from .. import cpu_jit
from ..autograd import Function
from ..cpu import buffers, channel_sums, copy_rows, get_conv_algorithm, matmul, one_blas_thread, parallel_chunks

__all__ = ["winograd_forward", "winograd_backward", "choose", "tile_size", "transforms"]

_F = Fraction
# Lavin & Gray's matrices (interpolation points 0, ±1, ±2 and infinity for m = 4).
_MATRICES = {
    2: ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [_F(1, 2), _F(1, 2), _F(1, 2)], [_F(1, 2), _F(-1, 2), _F(1, 2)], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[_F(1, 4), 0, 0], [_F(-1, 6), _F(-1, 6), _F(-1, 6)], [_F(-1, 6), _F(1, 6), _F(-1, 6)],
         [_F(1, 24), _F(1, 12), _F(1, 6)], [_F(1, 24), _F(-1, 12), _F(1, 6)], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}
_cache: dict = {}


def transforms(m: int, dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 2-D transforms for F(m x m, 3x3): ``kron(B^T, B^T)``, ``kron(G, G)``, ``kron(A^T, A^T)``.

    Shapes ((m+2)^2, (m+2)^2), ((m+2)^2, 9) and (m^2, (m+2)^2), in ``dtype``.

    >>> bt, g, at = transforms(2, np.float64)
    >>> bt.shape, g.shape, at.shape
    ((16, 16), (16, 9), (4, 16))
    """
    key = (m, np.dtype(dtype))
    if key not in _cache:
        bt, g, at = (np.array([[float(v) for v in row] for row in mat]) for mat in _MATRICES[m])
        _cache[key] = tuple(np.ascontiguousarray(np.kron(a, a), dtype=dtype) for a in (bt, g, at))
    return _cache[key]


# --------------------------------------------------------------------------- the choice
#: Input channels x filters below this and im2col's GEMMs are too small for the transforms to pay.
MIN_GEMM_SIZE = 1024
#: The same bound when the compiled F(4x4) transforms run (``dlcore.cpu_jit``): they are ~3x cheaper.
MIN_GEMM_SIZE_COMPILED = 512


def tile_size(out_h: int, out_w: int) -> int:
    """F(4x4, 3x3) unless 4x4 tiles would waste over 15 % of the work on a small output.

    >>> tile_size(28, 28), tile_size(14, 14), tile_size(6, 6), tile_size(2, 2)
    (4, 2, 2, 2)
    """
    def waste(m: int) -> float:
        th, tw = -(-out_h // m), -(-out_w // m)
        return 1.0 - out_h * out_w / (th * tw * m * m)

    return 4 if waste(4) <= 0.15 else 2


def choose(x: Any, w: Any, stride: tuple, pad4: tuple, dilation: tuple) -> bool:
    """True when ``conv2d`` should run Winograd on these (raw) arrays.

    Forced by ``dlcore.cpu.set_conv_algorithm("winograd" | "im2col")``; "winograd" forced on a
    shape it cannot do (not 3x3, strided, dilated, GPU, not float32/float64) raises ValueError rather than silently
    running im2col. Under "auto" (the default) the rule is: a float32 or float64 CPU array, a 3x3 kernel,
    stride 1, dilation 1, input channels x filters at least ``MIN_GEMM_SIZE`` (32 x 32;
    ``MIN_GEMM_SIZE_COMPILED``, 16 x 32, when the compiled transforms run), and an
    output that F(4x4) tiles with at most 15 % waste (:func:`tile_size` is 4; about 16 x 16 pixels
    and up).

    Measured here (2-core Xeon, batch 64, forward + backward, one thread, CPU time, median of
    7 calls; the machine was shared, see docs/notes/cpuspeed.md): 28 x 28 inputs with C/F =
    32/64, 32/32 and 8/16 took 0.71x, 0.70x and 0.77x of im2col's time; 14 x 14 with 16/32 and
    32/64 about 1.0x with F(4x4) and 1.37x / 0.91x with F(2x2); 7 x 7 with 64/64 1.3x (F(2x2)),
    and C = 1 (an MNIST CNN's first layer) 2.6x. So F(2x2) exists for forcing and tests, and
    "auto" picks Winograd only where F(4x4) tiles the output well.

    Re-measured on a 2-core AMD EPYC (AVX-512; batch 64 unless said, forward + backward, both
    threads, median of 20 calls, Winograd / im2col) with OpenBLAS on its Haswell kernels and on
    its SkylakeX ones (3x faster SGEMM, see docs/cpu-performance.md): 28 x 28 with C/F = 8/16
    1.22 / 0.92, 16/32 1.33 / 1.34, 32/32 0.87 / 1.01, 32/64 0.76 / 0.86; 16 x 16 with 64/64
    0.85 / 0.85 and 128/128 0.48 / 0.64; 56 x 56, batch 16, 64/64 0.63 / 0.72. Hence the bound on
    C x F (it was C >= 8 before, from the Xeon).

    With the compiled F(4x4) transforms (Numba, ``dlcore.cpu_jit``; SkylakeX kernels, blocks of
    5 calls alternating in one process, median of 7 blocks, Winograd / im2col, both compiled):
    28 x 28 with C/F = 32/64 0.53, 16/32 0.56, 8/16 0.88, 4/16 2.1, 1/16 5.4; 16 x 16 with 32/32
    0.72 and 16/16 1.08. So the bound was 256 there.

    With the GEMMs and transforms run in sample blocks (:func:`_in_blocks`; same method, 2026-12-02,
    fifth session): 28 x 28 with C/F = 32/64 0.56, 16/32 0.77, 16/16 0.78, 8/32 1.11, 8/16 1.22;
    16 x 16 with 64/64 0.59, 32/32 0.92, 32/16 0.78, 16/32 0.86, 16/16 1.16-1.17; 56 x 56,
    batch 16, 64/64 0.44. C x F = 256 is won and lost by shape; from 512 on every shape measured
    won: ``MIN_GEMM_SIZE_COMPILED`` is 512.
    """
    algorithm = get_conv_algorithm()
    if algorithm == "im2col":
        return False
    able = (isinstance(x, np.ndarray) and  # written for NumPy arrays (CuPy takes im2col)
             x.dtype in (np.float32, np.float64) and tuple(w.shape[2:]) == (3, 3)
            and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1))
    if algorithm == "winograd":
        if not able:
            raise ValueError(
                "conv2d: conv_algorithm 'winograd' needs a float32/float64 CPU input, a 3x3 kernel, stride 1 and "
                f"dilation 1, got kernel {tuple(w.shape[2:])}, stride {tuple(stride)}, dilation "
                f"{tuple(dilation)}, {type(x).__module__.split('.')[0]} {x.dtype} input; use 'auto' or 'im2col'"
            )
        return True
    bound = MIN_GEMM_SIZE_COMPILED if cpu_jit.enabled(x) else MIN_GEMM_SIZE
    if not able or w.shape[0] * w.shape[1] < bound:
        return False
    oh, ow = _geometry(x.shape, pad4, 1)[:2]
    return tile_size(oh, ow) == 4


# --------------------------------------------------------------------------- tiling
def _geometry(x_shape: tuple, pad4: tuple, m: int) -> tuple:
    N, C, H, W = x_shape
    oh, ow = H + pad4[0] + pad4[1] - 2, W + pad4[2] + pad4[3] - 2
    th, tw = -(-oh // m), -(-ow // m)
    return oh, ow, th, tw


def _split(fn: Any, *arrays: np.ndarray) -> None:
    """``fn(*arrays)`` split along their (shared) first axis over dlcore's threads (NumPy drops the GIL)."""
    work = max(a.nbytes for a in arrays) // 4
    parallel_chunks(lambda lo, hi: fn(*(a[lo:hi] for a in arrays)), arrays[0].shape[0], work, fixed=True)


def _copy(dst: np.ndarray, src: np.ndarray) -> None:
    _split(np.copyto, dst, src)


def _add(dst: np.ndarray, src: np.ndarray) -> None:
    _split(lambda d, s: np.add(d, s, out=d), dst, src)


def _runs(a: Any, shape: tuple, strides: tuple, run: int, offset: int = 0) -> np.ndarray:
    """A view of C-contiguous ``a`` whose items are ``run`` consecutive elements (a void dtype).

    Tile gathers and scatters move short contiguous runs (one tile row); NumPy copies one 16- or
    24-byte item several times faster than the 4 or 6 floats in it, so they copy whole rows as
    single items. ``strides`` are in bytes, ``offset`` in elements.
    """
    size = a.dtype.itemsize
    return np.ndarray(shape, np.dtype(f"V{run * size}"), a, offset * size, strides)


def _tile_rows(a: Any, m: int, run: int, th: int, tw: int, offset: tuple = (0, 0)) -> np.ndarray:
    """The rows (``run`` elements each) of tiles at stride m of a C-contiguous NCHW array.

    Shape (C, N, TH, TW, run): item (c, n, t, u, i) is ``a[n, c, m*t + i, m*u : m*u + run]``.
    """
    sn, sc, sh, sw = a.strides
    return _runs(a, (a.shape[1], a.shape[0], th, tw, run), (sc, sn, m * sh, m * sw, sh), run,
                 offset[0] * a.shape[3] + offset[1])


def _tile_layout(tiles: Any, run: int, rows: int, col: int = 0) -> np.ndarray:
    """Rows ``[0, rows)`` of a (C, N, TH, TW, a, a) tile array as (C, N, TH, TW, rows) runs from column ``col``."""
    s = tiles.strides
    return _runs(tiles, tiles.shape[:4] + (rows,), s[:5], run, col)


def _padded(x: Any, pad4: tuple, hp: int, wp: int) -> Any:
    """x zero-padded to a C-contiguous (N, C, hp, wp): ``pad4[0]`` rows on top, ``pad4[2]`` on the left."""
    N, C, H, W = x.shape
    t, l = pad4[0], pad4[2]
    out = buffers.take((N, C, hp, wp), x.dtype)
    out[:, :, :t] = 0
    out[:, :, t + H:] = 0
    out[:, :, t:t + H, :l] = 0
    out[:, :, t:t + H, l + W:] = 0
    _split(copy_rows, out[:, :, t:t + H, l:l + W], x)
    return out


def _input_tiles(x: Any, pad4: tuple, m: int, th: int, tw: int) -> Any:
    """Overlapping (m+2)^2 tiles of the zero-padded input, shape (C*N*TH*TW, (m+2)^2)."""
    N, C = x.shape[:2]
    a = m + 2
    xpad = _padded(x, pad4, th * m + 2, tw * m + 2)
    tiles = buffers.take((C, N, th, tw, a, a), x.dtype)
    _copy(_tile_layout(tiles, a, a), _tile_rows(xpad, m, a, th, tw))
    buffers.give(xpad)
    return tiles.reshape(C * N * th * tw, a * a)


def _output_tiles(g: Any, m: int, th: int, tw: int) -> Any:
    """The gradient cut into m x m tiles (zero past the edge), shape (F*N*TH*TW, m^2)."""
    N, F, oh, ow = g.shape
    exact = oh == th * m and ow == tw * m and g.flags.c_contiguous
    gpad = g if exact else _padded(g, (0, 0, 0, 0), th * m, tw * m)
    tiles = buffers.take((F, N, th, tw, m, m), g.dtype)
    _copy(_tile_layout(tiles, m, m), _tile_rows(gpad, m, m, th, tw))
    if not exact:
        buffers.give(gpad)
    return tiles.reshape(F * N * th * tw, m * m)


def _scatter_output(y_tiles: Any, y: Any, m: int, th: int, tw: int) -> None:
    """Write (F*N*TH*TW, m^2) output tiles into NCHW ``y`` (cropping the last partial tiles)."""
    N, F, oh, ow = y.shape
    exact = oh == th * m and ow == tw * m
    full = y if exact else buffers.take((N, F, th * m, tw * m), y.dtype)
    _copy(_tile_rows(full, m, m, th, tw), _tile_layout(y_tiles.reshape(F, N, th, tw, m, m), m, m))
    if not exact:
        y[...] = full[:, :, :oh, :ow]
        buffers.give(full)


def _pairs(a: Any) -> np.ndarray:
    """``a`` (last axis even) viewed as complex numbers: one complex add is two float adds."""
    return a.view(np.complex64 if a.dtype == np.float32 else np.complex128)


def _overlap_add(d_tiles: Any, x_shape: tuple, pad4: tuple, m: int, th: int, tw: int) -> Any:
    """Adjoint of :func:`_input_tiles`: add (C*N*TH*TW, (m+2)^2) tiles back into NCHW ``dx``.

    Neighbouring tiles share 2 columns and 2 rows. Both overlaps are first folded inside the tile
    array (each tile's 2 overhanging columns are added to its right neighbour's first 2, then
    the same for rows), so that the m x m top-left blocks of the tiles, which tile the plane,
    hold the sums and are copied out; the overhang of the last tile row and column goes to the
    2 border rows and columns. The folds are additions on the tile array viewed as complex pairs
    (long inner loops for NumPy); no addition writes to overlapping memory.
    """
    N, C, H, W = x_shape
    a = m + 2
    d6 = d_tiles.reshape(C, N, th, tw, a, a)
    if cpu_jit.enabled(d6):  # one compiled pass (6.6 -> about 2.5 ms on W3's backward)
        return cpu_jit.overlap_add(d6, x_shape, pad4[::2], m)
    pairs = _pairs(d6)  # (C, N, TH, TW, a, a/2)
    h = m // 2
    if tw > 1:
        _add(pairs[:, :, :, 1:, :, 0], pairs[:, :, :, :-1, :, h])
    if th > 1:
        _add(d6[:, :, 1:, :, :2], d6[:, :, :-1, :, m:])
    dpad = buffers.take((N, C, th * m + 2, tw * m + 2), d_tiles.dtype)
    _copy(_tile_rows(dpad, m, m, th, tw), _tile_layout(d6, m, m))
    last_row = d6[:, :, th - 1, :, m:, :m].transpose(1, 0, 3, 2, 4)   # (N, C, 2, TW, m) -> rows m*TH + 0, 1
    dpad[:, :, th * m:, :tw * m] = last_row.reshape(N, C, 2, tw * m)
    # the 2-column border as one complex pair per row (2-float inner loops ran 10x slower here)
    _pairs(dpad)[:, :, :th * m, tw * m // 2].reshape(N, C, th, m)[...] = pairs[:, :, :, tw - 1, :m, h].transpose(1, 0, 2, 3)
    dpad[:, :, th * m:, tw * m:] = d6[:, :, th - 1, tw - 1, m:, m:].transpose(1, 0, 2, 3)
    t, l = pad4[0], pad4[2]
    dx = np.empty(x_shape, d_tiles.dtype)
    _copy(dx, dpad[:, :, t:t + H, l:l + W])
    buffers.give(dpad)
    return dx


#: Floats of slack between the (m+2)^2 planes of a transformed array. Without it the planes lie
#: a multiple of 4 KiB apart (e.g. 32 x 3136 floats), so the 36 streams a transform reads or
#: writes map to the same L1 sets: W3's compiled transforms ran 1.3-2x slower.
PLANE_PAD = 16


def _planes(a2: int, rows: int, cols: int, dtype: Any) -> np.ndarray:
    """An uninitialised (a2, rows, cols) array whose planes are ``PLANE_PAD`` floats apart."""
    full = buffers.take((a2, rows * cols + PLANE_PAD), dtype)
    return full[:, :rows * cols].reshape(a2, rows, cols)


def _give_planes(a: np.ndarray) -> None:
    buffers.give(a.base if a.base is not None else a)


#: About this many tiles per block of the fused compiled passes (see :func:`_in_blocks`).
TILES_PER_BLOCK = 256


def _in_blocks(n: int, tiles: int, body: Any, work: int) -> None:
    """``body(blocks)`` on each of dlcore's threads, ``blocks`` being its share of the ``n``
    samples as (start, end) pairs of about ``TILES_PER_BLOCK`` tiles (``tiles`` per sample);
    ``work`` (elements touched) decides the threads, by the fixed threshold (the backward sums the
    weight gradient per thread, so the split must not depend on a timing).

    The compiled F(4x4) path runs GEMM and transform block by block, so that the products
    (36, F, tiles) never exist whole: on W3 (64 x 32 x 28 x 28, 64 filters) they are 29 MB, and
    writing them out and reading them back cost more than the transform itself. Forward GEMM and
    output transform took 4.0-5.4 ms in blocks of 4-8 samples against 7.0-8.3 ms in two whole passes.
    """
    per = max(1, TILES_PER_BLOCK // tiles)

    def chunk(lo: int, hi: int) -> None:
        body([(s, min(hi, s + per)) for s in range(lo, hi, per)])

    parallel_chunks(chunk, n, work, fixed=True)  # the backward's per-thread weight sums: fixed bits


def _block_planes(a2: int, rows: int, cols: int, dtype: Any) -> Any:
    """``take(cols)``: (a2, rows, cols') views, cols' <= cols, of one scratch buffer with planes
    ``PLANE_PAD`` floats apart (one per thread: the pool of ``buffers`` is for the calling thread)."""
    full = np.empty((a2, rows * cols + PLANE_PAD), dtype)
    return lambda c: full[:, :rows * c].reshape(a2, rows, c)


# --------------------------------------------------------------------------- the Function
def winograd_forward(fn: Function, x: Any, w: Any, b: Any, win: Any, groups: int) -> Any:
    """Stride-1 3x3 cross-correlation of an NCHW batch by Winograd F(m x m, 3x3), on the CPU.

    One entry of :data:`dlcore.functional.conv.CPU_ALGORITHMS`: ``fn`` is the Conv2d Function,
    which keeps what :func:`winograd_backward` needs.
    """
    with one_blas_thread():
        return _forward(fn, x, w, b, win.pad4)


def winograd_backward(fn: Function, grad: Any) -> tuple:
    """(dx, dw, db) of :func:`winograd_forward`: the exact adjoint of its transforms."""
    with one_blas_thread():
        return _backward(fn, grad)


def _forward(self: Function, x: Any, w: Any, b: Any, padding: tuple) -> Any:
    pad4 = tuple(padding) if len(padding) == 4 else (padding[0], padding[0], padding[1], padding[1])
    N, C, H, W = x.shape
    F = w.shape[0]
    m = tile_size(*_geometry(x.shape, pad4, 1)[:2])
    oh, ow, th, tw = _geometry(x.shape, pad4, m)
    a2, P = (m + 2) ** 2, N * th * tw
    kb, kg, ka = transforms(m, x.dtype)
    u = transforms(m, np.float64)[1] @ w.astype(np.float64).transpose(2, 3, 0, 1).reshape(9, F * C)
    self.u = u.astype(x.dtype).reshape(a2, F, C)
    compiled = m == 4 and cpu_jit.enabled(x)  # the transforms as loops, not kron GEMMs
    v = _planes(a2, C, P, x.dtype)
    if compiled:
        y = _fused_forward(self.u, x, v, b, (N, F, oh, ow), (th, tw), (pad4[0], pad4[2]))
    else:
        tiles = _input_tiles(x, pad4, m, th, tw)                  # (C*P, a2)
        matmul(kb, tiles.T, v.reshape(a2, C * P), split="cols")   # B^T d B for every tile
        buffers.give(tiles)
        prod = _planes(a2, F, P, x.dtype)
        matmul(self.u, v, prod)                                  # the (m+2)^2 GEMMs
        y_tiles = buffers.take((F * P, m * m), x.dtype)
        matmul(prod.reshape(a2, F * P).T, ka.T, y_tiles, split="rows")  # A^T M A
        if b is not None:
            _add(y_tiles.reshape(F, P * m * m), b.reshape(F, 1))
        y = np.empty((N, F, oh, ow), x.dtype)
        _scatter_output(y_tiles, y, m, th, tw)
        buffers.give(y_tiles)
        _give_planes(prod)
    needs = tuple(self.needs_input_grad) + (False,) * 3
    self.v = v if needs[1] else None
    if self.v is None:
        _give_planes(v)
    self.meta = (x.shape, pad4, m, th, tw, b is not None)
    return y


def _fused_forward(u: Any, x: Any, v: Any, b: Any, shape: tuple, tiles: tuple, top_left: tuple) -> Any:
    """y = ``A^T (U @ V) A`` (+ bias) with V = ``B^T d B`` written into ``v`` (kept for dW), by
    sample blocks: the compiled forward."""
    N, F = shape[:2]
    L = tiles[0] * tiles[1]
    y = np.empty(shape, v.dtype)
    bias = np.zeros(F, v.dtype) if b is None else b

    def body(blocks: list) -> None:
        take = _block_planes(u.shape[0], F, (blocks[0][1] - blocks[0][0]) * L, v.dtype)
        for s, e in blocks:
            cpu_jit.winograd_input(x[s:e], v, tiles, top_left, threads=False, first=s)
            prod = np.matmul(u, v[:, :, s * L:e * L], out=take((e - s) * L))
            cpu_jit.winograd_output(prod, bias, (e - s,) + shape[1:], tiles, out=y[s:e], threads=False)

    _in_blocks(N, L, body, u.shape[0] * (v.shape[1] + F) * N * L)
    return y


def _fused_backward(self: Function, grad: Any, needs: tuple) -> tuple:
    """(dx, dW in the transformed domain) by sample blocks: the compiled backward. Per block:
    gy = ``A dY A^T``; dW += gy @ V^T; dx = overlap-add of ``B (U^T @ gy) B^T``."""
    x_shape, pad4, m, th, tw, _ = self.meta
    N, C = x_shape[:2]
    a2, F, L = self.u.shape[0], grad.shape[1], th * tw
    dx = np.empty(x_shape, grad.dtype) if needs[0] else None
    parts: list = []

    def body(blocks: list) -> None:
        cols = (blocks[0][1] - blocks[0][0]) * L
        take_g, take_d = _block_planes(a2, F, cols, grad.dtype), _block_planes(a2, C, cols, grad.dtype)
        acc = np.zeros((a2, F, C), grad.dtype) if needs[1] else None
        part = np.empty_like(acc) if needs[1] else None
        for s, e in blocks:
            gy = take_g((e - s) * L)
            cpu_jit.winograd_grad(grad[s:e], gy, (th, tw), threads=False)
            if needs[1]:
                acc += np.matmul(gy, self.v[:, :, s * L:e * L].transpose(0, 2, 1), out=part)
            if needs[0]:
                dv = np.matmul(self.u.transpose(0, 2, 1), gy, out=take_d((e - s) * L))
                cpu_jit.winograd_input_adjoint(dv, (e - s,) + x_shape[1:], (th, tw), (pad4[0], pad4[2]),
                                               out=dx[s:e], threads=False)
        if needs[1]:
            parts.append(acc)

    _in_blocks(N, L, body, a2 * (2 * C + F) * N * L)
    return dx, (sum(parts[1:], parts[0]) if needs[1] else None)


def _backward(self: Function, grad: Any) -> tuple:
    x_shape, _, m, _, _, has_bias = self.meta
    needs = tuple(self.needs_input_grad) + (False,) * 3
    C, F, a2 = x_shape[1], grad.shape[1], (m + 2) ** 2
    db = channel_sums(grad.reshape(grad.shape[0], grad.shape[1], -1)) if needs[2] and has_bias else None
    dw = None
    if m == 4 and cpu_jit.enabled(grad):
        dx, dwt = _fused_backward(self, grad, needs)
    else:
        dx, dwt = _numpy_backward(self, grad, needs)
    if needs[1]:
        kg = transforms(m, grad.dtype)[1]
        dw = (kg.T @ dwt.reshape(a2, F * C)).reshape(3, 3, F, C).transpose(2, 3, 0, 1).copy()
        _give_planes(self.v)
        self.v = None
    return dx, dw, db


def _numpy_backward(self: Function, grad: Any, needs: tuple) -> tuple:
    """(dx, dW in the transformed domain) with the transforms as kron GEMMs over whole arrays."""
    x_shape, pad4, m, th, tw, _ = self.meta
    kb, _, ka = transforms(m, grad.dtype)
    N, C = x_shape[:2]
    F = grad.shape[1]
    a2, P = (m + 2) ** 2, N * th * tw
    gy = _planes(a2, F, P, grad.dtype)
    g_tiles = _output_tiles(grad, m, th, tw)                  # (F*P, m^2)
    matmul(ka.T, g_tiles.T, gy.reshape(a2, F * P), split="cols")  # A dY A^T
    buffers.give(g_tiles)
    dx = dwt = None
    if needs[1]:
        dwt = matmul(gy, self.v.transpose(0, 2, 1), np.empty((a2, F, C), grad.dtype))
    if needs[0]:
        dv = _planes(a2, C, P, grad.dtype)
        matmul(self.u.transpose(0, 2, 1), gy, dv)
        d_tiles = buffers.take((C * P, a2), grad.dtype)
        matmul(dv.reshape(a2, C * P).T, kb, d_tiles, split="rows")  # B dV B^T
        dx = _overlap_add(d_tiles, x_shape, pad4, m, th, tw)
        buffers.give(d_tiles)
        _give_planes(dv)
    _give_planes(gy)
    return dx, dwt

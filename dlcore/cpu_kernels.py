"""Compiled CPU loops, written in Python and compiled by Numba (imported only by :mod:`dlcore.cpu_jit`).

Each kernel is one plain loop nest over whole arrays; ``dlcore.cpu.parallel_chunks`` splits
the work over threads by handing each a slice (``nogil=True``; a loop over ``range(lo, hi)``
inside the kernel was not vectorised and ran 5x slower here). Each reads and
writes every element once: the passes NumPy needs several sweeps for (copy, compare, select,
mask, multiply) happen in registers. They are compiled on first use and cached on disk
(``cache=True``). Window sizes are written out (2 x 2): a loop over a run-time window size
compiled to branchy code that ran 20x slower here than the straight-line version.

Read the NumPy versions (``dlcore/functional/pool_tiled.py``) for the algorithm; these must give
bit-identical results, which ``tests/test_pool_tiled.py`` checks.
"""

from __future__ import annotations

from numba import njit


@njit(nogil=True, cache=True)
def max_pool_2x2_forward(x, y, code):  # pragma: no cover - compiled
    """y[p, i, j] = max of the 2 x 2 window (i, j) of plane p; code = its offset (0 1 / 2 3).

    x (P, 2 OH, 2 OW), y and code (P, OH, OW). The winner is the first maximum in row-major
    order; in a window holding NaNs, its last NaN (as PyTorch picks).
    """
    oh, ow = y.shape[1], y.shape[2]
    for p in range(y.shape[0]):
        for i in range(oh):
            for j in range(ow):
                a, b = x[p, 2 * i, 2 * j], x[p, 2 * i, 2 * j + 1]
                c, d = x[p, 2 * i + 1, 2 * j], x[p, 2 * i + 1, 2 * j + 1]
                best, k = a, 0
                if b > best:
                    best, k = b, 1
                if c > best:
                    best, k = c, 2
                if d > best:
                    best, k = d, 3
                if d != d:  # NaN: the last one wins
                    best, k = d, 3
                elif c != c:
                    best, k = c, 2
                elif b != b:
                    best, k = b, 1
                elif a != a:
                    best, k = a, 0
                y[p, i, j] = best
                code[p, i, j] = k


@njit(nogil=True, cache=True)
def max_pool_2x2_backward(g, code, dx):  # pragma: no cover - compiled
    """dx: g[p, i, j] at the winning offset code[p, i, j] of window (i, j), zero at the other three.

    Written one output row at a time (two passes over g's row), which ran 1.9x faster here than
    all four window pixels per step."""
    oh, ow = g.shape[1], g.shape[2]
    zero = g.dtype.type(0)
    for p in range(g.shape[0]):
        for i in range(oh):
            for a in range(2):
                r = 2 * i + a
                for j in range(ow):
                    k = code[p, i, j] - 2 * a
                    v = g[p, i, j]
                    dx[p, r, 2 * j] = v if k == 0 else zero
                    dx[p, r, 2 * j + 1] = v if k == 1 else zero


@njit(nogil=True, cache=True)
def relu_backward(g, x, out):  # pragma: no cover - compiled
    """out = 0 where x <= 0, else g (so a NaN input passes its gradient, and an inf or NaN
    gradient at a negative input gives 0, as torch's threshold_backward), on flat arrays."""
    zero = g.dtype.type(0)  # a float64 literal here kept the loop from being vectorised
    for i in range(out.size):
        out[i] = zero if x[i] <= zero else g[i]



@njit(nogil=True, cache=True)
def _shifted_run(di, dj, H, W):  # pragma: no cover - compiled
    """For a kernel offset that reads the pixel (di, dj) away, on a flattened H x W plane: the
    shift of its reads and the output range [a, b) whose reads stay inside the plane's rows."""
    shift = di * W + dj
    a, b = max(0, -di) * W, min(H, H - di) * W
    a = min(max(a, -shift), H * W)
    return shift, a, max(a, min(b, H * W - shift))  # a <= b: a negative end would wrap in a slice


@njit(nogil=True, cache=True)
def im2col_same(x, cols, n0, sn, sc, si, sj, kh, kw, top, left, colmask):  # pragma: no cover - compiled
    """Columns of a stride-1 convolution whose output plane has the input's size (a "same" padding).

    Then kernel offset (i, j) reads the input plane flattened and shifted by a constant,
    ``(i - top) * W + j - left``, so each column plane is one long loop (vectorised) instead of
    H short rows; ``colmask[j, k]`` drops the reads that wrapped into the neighbouring row, and
    rows that fall into the padding are zero. The padding is never materialised.

    x (n, C, H, W) holds samples n0 .. n0 + n; ``cols`` is the flat buffer of the whole column
    array, in which plane (sample, c, i, j) starts at ``sample*sn + c*sc + i*si + j*sj``.
    """
    n_here, C, H, W = x.shape
    hw = H * W
    xf = x.reshape(-1)
    zero = x.dtype.type(0)
    for n in range(n_here):
        for c in range(C):
            src = (n * C + c) * hw
            for i in range(kh):
                for j in range(kw):
                    shift, a, b = _shifted_run(i - top, j - left, H, W)
                    d = (n0 + n) * sn + c * sc + i * si + j * sj
                    out = cols[d:d + hw]
                    inp = xf[src + a + shift:src + b + shift]
                    mask = colmask[j, a:b]
                    out[:a] = zero
                    part = out[a:b]
                    for k in range(b - a):
                        part[k] = inp[k] if mask[k] else zero
                    out[b:] = zero


@njit(nogil=True, cache=True)
def col2im_same(cols, dx, n0, sn, sc, si, sj, kh, kw, top, left, colmask):  # pragma: no cover - compiled
    """The adjoint of :func:`im2col_same`: dx (n, C, H, W), samples n0 .. n0 + n, is overwritten
    with the sum of every column entry that read each pixel (one long masked add per offset)."""
    n_here, C, H, W = dx.shape
    zero = dx.dtype.type(0)
    for n in range(n_here):
        for c in range(C):
            plane = dx[n, c].reshape(-1)
            plane[:] = zero
            for i in range(kh):
                for j in range(kw):
                    shift, a, b = _shifted_run(i - top, j - left, H, W)
                    d = (n0 + n) * sn + c * sc + i * si + j * sj
                    src = cols[d + a:d + b]
                    dst = plane[a + shift:b + shift]
                    mask = colmask[j, a:b]
                    for k in range(b - a):
                        dst[k] += src[k] if mask[k] else zero


@njit(nogil=True, cache=True)
def overlap_add(tiles, dx, n0, m, top, left):  # pragma: no cover - compiled
    """Winograd's input-tile adjoint: dx[n, c] = the sum of the (m+2) x (m+2) tiles placed at
    stride m from (-top, -left), the parts in the padding dropped.

    tiles (C, N, TH, TW, m+2, m+2); dx (n, C, H, W) holds samples n0 .. n0 + n and is overwritten.
    """
    C, _, TH, TW, A, _ = tiles.shape
    n_here, _, H, W = dx.shape
    zero = dx.dtype.type(0)
    for n in range(n_here):
        for c in range(C):
            plane = dx[n, c]
            plane[:, :] = zero
            for t in range(TH):
                r0 = t * m - top
                a_lo, a_hi = max(0, -r0), min(A, H - r0)
                for u in range(TW):
                    c0 = u * m - left
                    b_lo, b_hi = max(0, -c0), min(A, W - c0)
                    tile = tiles[c, n0 + n, t, u]
                    for a in range(a_lo, a_hi):
                        row, tile_row = plane[r0 + a], tile[a]
                        for b in range(b_lo, b_hi):
                            row[c0 + b] += tile_row[b]


# Winograd F(4x4, 3x3)'s transforms live in their own file (this one stays short).
from .cpu_kernels_winograd import grad_transform, input_adjoint, input_transform, output_transform  # noqa: E402,F401

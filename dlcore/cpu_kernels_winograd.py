"""Winograd F(4x4, 3x3) transforms as compiled loops (Numba; imported only by :mod:`dlcore.cpu_jit`).

:mod:`dlcore.functional.winograd` applies its transforms as dense GEMMs with ``kron(B^T, B^T)``
(36 x 36) and ``kron(A^T, A^T)`` (16 x 36) after copying the tiles out; that is 2592 and 1152
multiply-adds per tile, and the GEMMs are thin. Here the same linear maps are written out
with the zeros and the common sums of Lavin & Gray's matrices taken into account, separably,
straight from and to the NCHW arrays (no tile array; only a one-plane scratch where a plane
needs padding). One direction is a vectorised loop (over a tile row's columns, over all the
plane's tiles, or, in the two backward kernels, over the tiles of all samples of the call); the
other reads or writes at stride 4 and stays scalar.

The matrices (``dlcore.functional.winograd._MATRICES[4]``)::

    B^T = [[4, 0, -5, 0, 1, 0],       A^T = [[1, 1,  1, 1,  1, 0],
           [0, -4, -4, 1, 1, 0],             [0, 1, -1, 2, -2, 0],
           [0, 4, -4, -1, 1, 0],             [0, 1,  1, 4,  4, 0],
           [0, -2, -1, 2, 1, 0],             [0, 1, -1, 8, -8, 1]]
           [0, 2, -1, -2, 1, 0],
           [0, 4, 0, -5, 0, 1]]

Tiles are numbered ``p = (n * TH + t) * TW + u`` (sample n, tile row t, tile column u) and the
transformed arrays are (36, channels, tiles), position ``a * 6 + b`` first, as the NumPy path's.
Each kernel takes the samples ``n0 .. n0 + n`` of a call (``dlcore.cpu.parallel_chunks`` splits
over samples); tests/test_cpu_jit.py checks each against the NumPy transforms.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, inline="always")
def _bt(d0, d1, d2, d3, d4, d5, four, five, two):  # pragma: no cover - compiled
    """The six entries of ``B^T d`` for a column ``d`` of six values."""
    p, q = d3 + d4, four * (d1 + d2)
    r, s = d4 - d3, four * (d1 - d2)
    e, f = d4 - d2, two * (d3 - d1)
    return four * d0 - five * d2 + d4, p - q, r + s, e + f, e - f, four * d1 - five * d3 + d5


@njit(nogil=True, cache=True, inline="always")
def _at(m0, m1, m2, m3, m4, m5, two, four, eight):  # pragma: no cover - compiled
    """The four entries of ``A^T m`` for six values ``m``."""
    a, b = m1 + m2, m1 - m2
    c, d = m3 + m4, m3 - m4
    return m0 + a + c, b + two * d, a + four * c, b + eight * d + m5


@njit(nogil=True, cache=True, inline="always")
def _a(g0, g1, g2, g3, two, four, eight):  # pragma: no cover - compiled
    """The six entries of ``A g`` (the adjoint of :func:`_at`) for four values ``g``."""
    a, b = g0 + g2 * four, g1 * two + g3 * eight
    return g0, g0 + g1 + g2 + g3, g0 - g1 + g2 - g3, a + b, a - b, g3


@njit(nogil=True, cache=True, inline="always")
def _b(v0, v1, v2, v3, v4, v5, four, five, two):  # pragma: no cover - compiled
    """The six entries of ``B v`` (the adjoint of :func:`_bt`) for six values ``v``."""
    s, t = v1 - v2, v3 - v4
    return (four * v0, four * (v2 - v1) - two * t + four * v5, -five * v0 - four * (v1 + v2) - (v3 + v4),
            s + two * t - five * v5, v0 + v1 + v2 + v3 + v4, v5)


@njit(nogil=True, cache=True, inline="always")
def _six_rows(buf, first, step, base, n):  # pragma: no cover - compiled
    """Positions first, first + step, ..., first + 5 step of a (36, stride) transformed buffer,
    columns base .. base + n (one plane's tiles): six C-contiguous rows, so loops over them vectorise."""
    return (buf[first, base:base + n], buf[first + step, base:base + n], buf[first + 2 * step, base:base + n],
            buf[first + 3 * step, base:base + n], buf[first + 4 * step, base:base + n], buf[first + 5 * step, base:base + n])


@njit(nogil=True, cache=True, inline="always")
def _copy_plane(dst, src, h, w, top, left):  # pragma: no cover - compiled
    """dst[top : top + h, left : left + w] = src[:h, :w], as loops (a slice assignment per
    plane cost ~0.3 us here; both are C-contiguous 2-D arrays, so these are vectorised)."""
    for i in range(h):
        d, s = dst[top + i], src[i]
        for k in range(w):
            d[left + k] = s[k]


@njit(nogil=True, cache=True)
def input_transform(x, v, P, n0, th, tw, top, left):  # pragma: no cover - compiled
    """v[a*6 + b, c*P + p] = (B^T d B)[a, b] for the 6 x 6 tile d of x's zero-padded plane
    (n, c) whose corner is (4t - top, 4u - left). x (n, C, H, W) holds samples n0 .. n0 + n;
    v is the (36, >= C*P) buffer of the (36, C, P) array.

    Per plane: ``B^T`` down the columns of each tile row (one vectorised loop per tile row),
    into ``s`` with the tile rows end to end, so that tile q's columns are ``s[:, 4q : 4q + 6]``;
    the last tile of each row reads its last 2 columns from ``edge`` (they would be the next
    row's). Then ``B^T`` along each tile's columns: the stride-4 part, which does not vectorise.
    """
    n_here, C, H, W = x.shape
    L, w4 = th * tw, 4 * tw
    two, four, five = x.dtype.type(2), x.dtype.type(4), x.dtype.type(5)
    xp = np.zeros((4 * th + 2, w4 + 2), x.dtype)
    s = np.zeros((6, 4 * L + 2), x.dtype)
    edge = np.empty((6, th, 2), x.dtype)
    for c in range(C):  # channel outer: each plane of v is written in order
        for n in range(n_here):
            _copy_plane(xp, x[n, c], H, W, top, left)
            for t in range(th):
                d0, d1, d2, d3, d4, d5 = xp[4 * t], xp[4 * t + 1], xp[4 * t + 2], xp[4 * t + 3], xp[4 * t + 4], xp[4 * t + 5]
                for k in range(w4):
                    q = 4 * t * tw + k
                    s[0, q], s[1, q], s[2, q], s[3, q], s[4, q], s[5, q] = _bt(
                        d0[k], d1[k], d2[k], d3[k], d4[k], d5[k], four, five, two)
                for k in range(2):
                    j = w4 + k
                    edge[0, t, k], edge[1, t, k], edge[2, t, k], edge[3, t, k], edge[4, t, k], edge[5, t, k] = _bt(
                        d0[j], d1[j], d2[j], d3[j], d4[j], d5[j], four, five, two)
            base = c * P + (n0 + n) * L
            for a in range(6):
                sa = s[a]
                o0, o1, o2, o3, o4, o5 = _six_rows(v, 6 * a, 1, base, L)
                for q in range(L):
                    o = 4 * q
                    o0[q], o1[q], o2[q], o3[q], o4[q], o5[q] = _bt(sa[o], sa[o + 1], sa[o + 2], sa[o + 3], sa[o + 4], sa[o + 5],
                                                                   four, five, two)
                for t in range(th):
                    q = t * tw + tw - 1
                    o = 4 * q
                    o0[q], o1[q], o2[q], o3[q], o4[q], o5[q] = _bt(sa[o], sa[o + 1], sa[o + 2], sa[o + 3], edge[a, t, 0],
                                                                   edge[a, t, 1], four, five, two)


@njit(nogil=True, cache=True)
def output_transform(m, y, bias, P, n0, th, tw):  # pragma: no cover - compiled
    """y[n, f] = the 4 x 4 tiles ``A^T M A`` of the (36, F, P) array in buffer m, placed at
    stride 4 (cropped), plus bias[f]. y (n, F, OH, OW) holds samples n0 .. n0 + n.

    Per plane: ``A^T`` down each tile's columns for all tiles in one vectorised loop (into
    ``w[i, b, tile]``), then along each tile row into the padded plane ``yp`` (the stride-4
    part, on 4 rows instead of 6).
    """
    n_here, F, oh, ow = y.shape
    L = th * tw
    two, four, eight = y.dtype.type(2), y.dtype.type(4), y.dtype.type(8)
    w = np.empty((4, 6, L), y.dtype)
    yp = np.empty((4 * th, 4 * tw), y.dtype)
    exact = oh == 4 * th and ow == 4 * tw
    for f in range(F):
        b = bias[f]
        for n in range(n_here):
            base = f * P + (n0 + n) * L
            for j in range(6):
                i0, i1, i2, i3, i4, i5 = _six_rows(m, j, 6, base, L)
                w0, w1, w2, w3 = w[0, j], w[1, j], w[2, j], w[3, j]
                for q in range(L):
                    w0[q], w1[q], w2[q], w3[q] = _at(i0[q], i1[q], i2[q], i3[q], i4[q], i5[q], two, four, eight)
            dst = y[n, f] if exact else yp  # tiles that fit the plane exactly are written in place
            for i in range(4):
                wi = w[i]
                for t in range(th):
                    row = dst[4 * t + i]
                    for u in range(tw):
                        q, o = t * tw + u, 4 * u
                        o0, o1, o2, o3 = _at(wi[0, q], wi[1, q], wi[2, q], wi[3, q], wi[4, q], wi[5, q], two, four, eight)
                        row[o], row[o + 1], row[o + 2], row[o + 3] = o0 + b, o1 + b, o2 + b, o3 + b
            if not exact:
                _copy_plane(y[n, f], yp, oh, ow, 0, 0)


@njit(nogil=True, cache=True)
def grad_transform(g, gy, P, n0, th, tw):  # pragma: no cover - compiled
    """gy[a*6 + b, f*P + p] = (A G A^T)[a, b] for the 4 x 4 tile G of g's plane (n, f) at
    (4t, 4u), zero past the edge: the adjoint of :func:`output_transform`. g (n, F, OH, OW).

    Per channel: ``A`` along each tile row of each plane (the stride-4 part, into
    ``h[b, i, tile]``), then ``A`` down the columns for the tiles of all n samples in one
    vectorised loop. Output tiles do not overlap."""
    n_here, F, oh, ow = g.shape
    L = th * tw
    nL = n_here * L
    two, four, eight = g.dtype.type(2), g.dtype.type(4), g.dtype.type(8)
    gp = np.zeros((4 * th, 4 * tw), g.dtype)
    h = np.empty((6, 4, nL), g.dtype)
    exact = oh == 4 * th and ow == 4 * tw
    for f in range(F):
        for n in range(n_here):
            src = g[n, f]
            if not exact:  # partial tiles read zeros past the edge from gp
                _copy_plane(gp, src, oh, ow, 0, 0)
                src = gp
            for t in range(th):
                for i in range(4):
                    row = src[4 * t + i]
                    for u in range(tw):
                        q, o = n * L + t * tw + u, 4 * u
                        h[0, i, q], h[1, i, q], h[2, i, q], h[3, i, q], h[4, i, q], h[5, i, q] = _a(
                            row[o], row[o + 1], row[o + 2], row[o + 3], two, four, eight)
        base = f * P + n0 * L
        for j in range(6):
            h0, h1, h2, h3 = h[j, 0], h[j, 1], h[j, 2], h[j, 3]
            o0, o1, o2, o3, o4, o5 = _six_rows(gy, j, 6, base, nL)
            for q in range(nL):
                o0[q], o1[q], o2[q], o3[q], o4[q], o5[q] = _a(h0[q], h1[q], h2[q], h3[q], two, four, eight)


@njit(nogil=True, cache=True)
def input_adjoint(dv, dx, P, n0, th, tw, top, left):  # pragma: no cover - compiled
    """dx[n, c] = the sum over tiles of ``B dV B^T`` (dV = the (36, C, P) array in buffer dv, at
    [:, c, p], as 6 x 6) placed at (4t - top, 4u - left), the padding dropped: the adjoint of
    :func:`input_transform`. dx (n, C, H, W), samples n0 .. n0 + n, is overwritten.

    Per channel: ``B`` down each tile's columns for the tiles of all n samples in one vectorised
    loop (into ``w[i, b, tile]``); then per plane ``B`` along each tile row (the stride-4 part),
    adding into the padded plane ``dp``, where neighbouring tiles overlap by 2 rows and 2 columns."""
    n_here, C, H, W = dx.shape
    L = th * tw
    nL = n_here * L
    z = dx.dtype.type(0)
    two, four, five = dx.dtype.type(2), dx.dtype.type(4), dx.dtype.type(5)
    w = np.empty((6, 6, nL), dx.dtype)
    dp = np.empty((4 * th + 2, 4 * tw + 2), dx.dtype)
    for c in range(C):
        base = c * P + n0 * L
        for j in range(6):
            i0, i1, i2, i3, i4, i5 = _six_rows(dv, j, 6, base, nL)
            w0, w1, w2, w3, w4, w5 = w[0, j], w[1, j], w[2, j], w[3, j], w[4, j], w[5, j]
            for q in range(nL):
                w0[q], w1[q], w2[q], w3[q], w4[q], w5[q] = _b(i0[q], i1[q], i2[q], i3[q], i4[q], i5[q], four, five, two)
        for n in range(n_here):
            dp[:, :] = z
            for i in range(6):
                wi = w[i]
                for t in range(th):
                    row = dp[4 * t + i]
                    for u in range(tw):
                        q, o = n * L + t * tw + u, 4 * u
                        e0, e1, e2, e3, e4, e5 = _b(wi[0, q], wi[1, q], wi[2, q], wi[3, q], wi[4, q], wi[5, q], four, five, two)
                        row[o] += e0
                        row[o + 1] += e1
                        row[o + 2] += e2
                        row[o + 3] += e3
                        row[o + 4] += e4
                        row[o + 5] += e5
            _copy_plane(dx[n, c], dp[top:, left:], H, W, 0, 0)

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


"""The compiled CPU kernels (dlcore/cpu_kernels.py through dlcore/cpu_jit.py) against the NumPy
paths they replace: im2col / col2im for "same"-sized stride-1 convolutions, in both column layouts,
odd and even kernels (asymmetric padding), float32 and float64, split over two threads; Winograd
F(4x4, 3x3)'s four transforms against the kron GEMMs of dlcore/functional/winograd.py; and the
switch that turns them off."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cpu_kernel_mode

from dlcore import cpu_jit
from dlcore.functional import winograd
from dlcore.functional.window import col2im, im2col, pad, unpad

CASES = [((3, 2, 5, 6), (3, 3), (1, 1, 1, 1)), ((2, 3, 6, 5), (5, 5), (2, 2, 2, 2)),
         ((2, 2, 7, 4), (2, 4), (0, 1, 1, 2)), ((1, 1, 3, 3), (3, 1), (1, 1, 0, 0)),
         ((2, 2, 1, 5), (3, 3), (1, 1, 1, 1)), ((1, 1, 2, 1), (3, 3), (1, 1, 1, 1)),  # rows or
         ((1, 1, 1, 1), (3, 3), (1, 1, 1, 1)), ((1, 2, 2, 3), (5, 5), (2, 2, 2, 2)),  # columns fewer
         ((64, 16, 14, 14), (3, 3), (1, 1, 1, 1))]  # than the kernel; large enough for two threads


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setenv("DLCORE_NUM_THREADS", "2")


@pytest.mark.parametrize("shape,kernel,pad4", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sample_major", [False, True])
def test_same_im2col_and_col2im_equal_the_numpy_paths(shape, kernel, pad4, dtype, sample_major, two_threads):
    with cpu_kernel_mode("compiled"):
        N, C, H, W = shape
        kh, kw = kernel
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape).astype(dtype)
        ref = im2col(pad(x, pad4), kernel, (1, 1), (1, 1), (H, W))           # (C, KH, KW, N, H, W)
        assert cpu_jit.same_geometry(shape, (H, W), (1, 1), (1, 1))
        store = np.full((N, C, kh, kw, H, W) if sample_major else ref.shape, np.nan, dtype)
        cols = store.transpose(1, 2, 3, 0, 4, 5) if sample_major else store
        assert cpu_jit.im2col_same(x, cols, pad4[::2])
        np.testing.assert_array_equal(cols, ref)

        g = rng.standard_normal(ref.shape).astype(dtype)
        store[...] = g.transpose(3, 0, 1, 2, 4, 5) if sample_major else g
        hp, wp = H + pad4[0] + pad4[1], W + pad4[2] + pad4[3]
        dx_ref = unpad(col2im(g, (N, C, hp, wp), kernel, (1, 1), (1, 1), (H, W)), pad4).transpose(1, 0, 2, 3)
        dx = cpu_jit.col2im_same(cols, pad4[::2])
        assert dx.shape == shape and dx.dtype == dtype
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-6)


# N, C, H, W, F, (top, bottom, left, right): partial tiles, asymmetric, zero and wide padding,
# planes smaller than a tile, and one large enough to be split over two threads.
WINOGRAD_CASES = [(3, 2, 7, 9, 5, (1, 1, 1, 1)), (2, 3, 5, 6, 4, (0, 2, 1, 0)), (2, 2, 1, 1, 3, (1, 1, 1, 1)),
                  (2, 2, 13, 10, 3, (2, 0, 0, 3)), (1, 1, 2, 3, 1, (3, 3, 3, 3)), (1, 2, 6, 6, 2, (0, 0, 0, 0)),
                  (16, 16, 28, 28, 8, (1, 1, 1, 1))]


@pytest.mark.parametrize("case", WINOGRAD_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_transforms_equal_the_kron_gemms(case, dtype, two_threads):
    with cpu_kernel_mode("compiled"):
        N, C, H, W, F, pad4 = case
        rng = np.random.default_rng(sum(case[:5]))
        oh, ow, th, tw = winograd._geometry((N, C, H, W), pad4, 4)
        P, tiles, top_left = N * th * tw, (th, tw), (pad4[0], pad4[2])
        kb, _, ka = winograd.transforms(4, dtype)
        eps = 1e-5 if dtype == np.float32 else 1e-12

        def check(ours, ref):  # float rounding relative to the largest entry (sums of up to 36 terms)
            np.testing.assert_allclose(ours, ref, rtol=eps, atol=eps * np.abs(ref).max())

        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        v = winograd._planes(36, C, P, dtype)                  # planes PLANE_PAD apart, as in use
        cpu_jit.winograd_input(x, v, tiles, top_left)
        check(v, (kb @ winograd._input_tiles(x, pad4, 4, th, tw).T).reshape(36, C, P))

        m, b = rng.standard_normal((36, F, P)).astype(dtype), rng.standard_normal(F).astype(dtype)
        y_ref = np.empty((N, F, oh, ow), dtype)
        winograd._scatter_output(m.reshape(36, F * P).T @ ka.T, y_ref, 4, th, tw)
        check(cpu_jit.winograd_output(m, b, y_ref.shape, tiles), y_ref + b[:, None, None])
        check(cpu_jit.winograd_output(m, None, y_ref.shape, tiles), y_ref)

        g = rng.standard_normal((N, F, oh, ow)).astype(dtype)
        gy = winograd._planes(36, F, P, dtype)
        cpu_jit.winograd_grad(g[:, :, ::-1][:, :, ::-1], gy, tiles)  # a non-contiguous gradient too
        check(gy, (ka.T @ winograd._output_tiles(g, 4, th, tw).T).reshape(36, F, P))

        dv = rng.standard_normal((36, C, P)).astype(dtype)
        with cpu_jit.jit(False):
            dx_ref = winograd._overlap_add(dv.reshape(36, C * P).T @ kb, x.shape, pad4, 4, th, tw)
        dx = cpu_jit.winograd_input_adjoint(dv, x.shape, tiles, top_left)
        assert dx.shape == x.shape and dx.dtype == dtype
        check(dx, dx_ref)


def test_winograd_kernels_refuse_planes_without_contiguous_rows():
    with cpu_kernel_mode("compiled"), pytest.raises(ValueError, match="contiguous rows"):
        cpu_jit.winograd_grad(np.ones((1, 1, 4, 4)), np.zeros((36, 4, 1))[:, ::2], (1, 1))


def test_other_geometries_and_layouts_are_refused():
    assert not cpu_jit.same_geometry((1, 1, 6, 6), (3, 3), (2, 2), (1, 1))     # strided
    assert not cpu_jit.same_geometry((1, 1, 6, 6), (4, 4), (1, 1), (1, 1))     # "valid": smaller output
    assert not cpu_jit.same_geometry((1, 1, 6, 6), (6, 6), (1, 1), (2, 2))     # dilated
    padded_rows = np.zeros((2, 3, 3, 4, 6, 8))[..., :6]                        # planes not contiguous
    assert cpu_jit.col2im_same(padded_rows, (1, 1)) is None


def test_the_switch_turns_the_compiled_kernels_off():
    x = np.zeros((1, 1, 2, 2), np.float32)
    with cpu_jit.jit(False):
        assert not cpu_jit.enabled(x)
    assert not cpu_jit.enabled(x.astype(np.float16)) and not cpu_jit.enabled([1.0])


def test_without_numba_the_numpy_paths_run(monkeypatch):
    import sys

    import dlcore
    import dlcore.functional as F

    monkeypatch.setitem(sys.modules, "numba", None)          # "import numba" raises ImportError
    monkeypatch.delitem(sys.modules, "dlcore.cpu_kernels", raising=False)
    monkeypatch.delattr(dlcore, "cpu_kernels", raising=False)  # else "from . import" finds it there
    monkeypatch.setattr(cpu_jit, "_kernels", None)
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4) - 8
    assert not cpu_jit.available() and not cpu_jit.enabled(x)
    xt = dlcore.tensor(x, requires_grad=True)
    F.max_pool2d(F.relu(xt), 2).sum().backward()
    assert xt.grad.numpy().sum() == 2.0                     # the two positive windows' maxima

"""The compiled CPU kernels (dlcore/cpu_kernels.py through dlcore/cpu_jit.py) against the NumPy
paths they replace: im2col / col2im for "same"-sized stride-1 convolutions, in both column layouts,
odd and even kernels (asymmetric padding), float32 and float64, split over two threads; and the
switch that turns them off."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cpu_kernel_mode

from dlcore import cpu_jit
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

"""max_pool2d / avg_pool2d and their layers: the float64 loop reference of tests/op_cases.py (forward
and the gradient routed by explicit loops), ties, padding, gradchecks, output shapes and errors."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import gradcheck
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import pool_ref

import dlcore
import dlcore.cpu_threads
from dlcore.errors import ShapeError
from dlcore.functional.pool import avg_pool2d, max_pool2d
from dlcore.nn import AvgPool2d, MaxPool2d


# --------------------------------------------------------------------------- references (tests/op_cases.py)
def naive_max_pool(x, k, s, p, g=None):
    """op_cases.pool_ref: loops over output pixels, each g sent to the first argmax."""
    y, _, dx = pool_ref(x, "max", k, s, p, g=g)
    return y, dx


def naive_avg_pool(x, k, s, p, g=None):
    """op_cases.pool_ref: loops over output pixels; zero padding counts in the divisor."""
    y, _, dx = pool_ref(x, "avg", k, s, p, g=g)
    return y, dx


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    pad = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    H = draw(st.integers(max(1, kh - 2 * pad[0]), 9))
    W = draw(st.integers(max(1, kw - 2 * pad[1]), 9))
    N, C = draw(st.integers(1, 3), ), draw(st.integers(1, 3))
    ties = draw(st.booleans())  # rounded values: many equal maxima in a window
    return dict(shape=(N, C, H, W), k=(kh, kw), stride=stride, pad=pad, ties=ties, seed=draw(st.integers(0, 2**16)))


def _input(case):
    x = np.random.default_rng(case["seed"]).standard_normal(case["shape"])
    return np.round(x) if case["ties"] else x


@pytest.mark.parametrize("fn,ref_fn", [(max_pool2d, naive_max_pool), (avg_pool2d, naive_avg_pool)], ids=["max", "avg"])
@settings(max_examples=25, deadline=None)
@given(case=pool_cases())
def test_pool_matches_naive_forward_and_backward(fn, ref_fn, case):
    x = _input(case)
    s = case["stride"] or case["k"]
    xt = dlcore.tensor(x, requires_grad=True)
    y = fn(xt, case["k"], case["stride"], case["pad"])
    g = np.random.default_rng(case["seed"] + 1).standard_normal(y.shape)
    ref, dref = ref_fn(x, case["k"], s, case["pad"], g)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)
    y.backward(dlcore.tensor(g))
    np.testing.assert_allclose(xt.grad.numpy(), dref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,s,p", [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 2), (1, 3), (1, 0)),
                                   ((2, 2), (3, 3), (0, 0)), ((5, 5), (1, 1), (2, 2))])
def test_pools_on_device(device, k, s, p):
    """Odd sizes where the window does not divide the input, overlapping and gapped windows."""
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        x = np.round(rng.standard_normal((2, 3, 11, 9)) * 2).astype(dtype)
        for fn, ref_fn in ((max_pool2d, naive_max_pool), (avg_pool2d, naive_avg_pool)):
            xt = dlcore.tensor(x, device=device, requires_grad=True)
            y = fn(xt, k, s, p)
            assert y.dtype == dtype and y.device.type == device
            g = rng.standard_normal(y.shape).astype(dtype)
            ref, dref = ref_fn(x, k, s, p, g)
            np.testing.assert_allclose(y.numpy(), ref, rtol=1e-6, atol=1e-6)
            y.backward(dlcore.tensor(g, device=device))
            np.testing.assert_allclose(xt.grad.numpy(), dref, rtol=1e-5, atol=1e-5)


def test_max_pool_ties_route_to_first_max_only():
    """A window of equal values (e.g. all zeros after ReLU) sends its gradient to one element."""
    x = dlcore.tensor(np.zeros((1, 1, 4, 4)), requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    expected = np.zeros((4, 4))
    expected[0::2, 0::2] = 1
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)


def test_max_pool_padding_is_minus_infinity():
    x = -np.ones((1, 1, 3, 3)) * np.arange(1, 10).reshape(3, 3)  # all negative
    y = max_pool2d(dlcore.tensor(x), 3, stride=1, padding=1).numpy()
    assert y.max() < 0  # zero padding would have produced 0
    assert y[0, 0, 0, 0] == -1


def test_avg_pool_counts_padding():
    y = avg_pool2d(dlcore.tensor(np.ones((1, 1, 2, 2))), 2, stride=1, padding=1).numpy()
    np.testing.assert_allclose(y[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


def test_pool_examples():
    x = dlcore.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
    assert max_pool2d(x, 2).tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]
    assert avg_pool2d(x, 2).tolist() == [[[[2.5, 4.5], [10.5, 12.5]]]]
    assert max_pool2d(x, 2).dtype == np.float32 and avg_pool2d(x, 2).dtype == np.float32


# --------------------------------------------------------------------------- finite differences
@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 2, 1), ((2, 3), 1, (1, 0))])
def test_pool_gradcheck(k, s, p):
    # distinct values, far apart, so the max does not switch under the finite-difference step
    x = np.random.default_rng(1).permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6) * 0.1
    gradcheck(lambda x: max_pool2d(x, k, s, p), x)
    gradcheck(lambda x: avg_pool2d(x, k, s, p), x)


def test_pool_gradcheck_device(device):
    x = np.random.default_rng(2).permutation(1 * 2 * 5 * 5).reshape(1, 2, 5, 5) * 0.1
    gradcheck(lambda x: max_pool2d(x, 3, 2, 1), x, device=device)
    gradcheck(lambda x: avg_pool2d(x, 3, 2, 1), x, device=device)


# --------------------------------------------------------------------------- shapes and layers
@settings(max_examples=25, deadline=None)
@given(H=st.integers(1, 12), W=st.integers(1, 12), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), data=st.data())
def test_pool_output_shape_formula(H, W, kh, kw, sh, sw, data):
    ph, pw = data.draw(st.integers(0, kh // 2)), data.draw(st.integers(0, kw // 2))
    x = dlcore.zeros(2, 3, H, W)
    for fn in (max_pool2d, avg_pool2d):
        if kh > H + 2 * ph or kw > W + 2 * pw:
            with pytest.raises(ShapeError, match="larger than the padded input"):
                fn(x, (kh, kw), (sh, sw), (ph, pw))
            continue
        y = fn(x, (kh, kw), (sh, sw), (ph, pw))
        # floor((H + 2p - d(k-1) - 1)/s) + 1 with d = 1
        assert y.shape == (2, 3, (H + 2 * ph - (kh - 1) - 1) // sh + 1, (W + 2 * pw - (kw - 1) - 1) // sw + 1)


def test_pool_layers():
    x = dlcore.randn(2, 3, 9, 9)
    assert MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    assert MaxPool2d(3, stride=2, padding=1)(x).shape == (2, 3, 5, 5)
    assert AvgPool2d((3, 1), stride=(3, 1))(x).shape == (2, 3, 3, 9)
    assert list(MaxPool2d(2).parameters()) == []
    assert "kernel_size=(2, 2)" in repr(MaxPool2d(2))
    np.testing.assert_array_equal(MaxPool2d(2)(x).numpy(), max_pool2d(x, 2).numpy())


def test_pool_errors():
    with pytest.raises(ShapeError, match=r"max_pool2d expected a 4-D input \(N, C, H, W\), got \(3, 8, 8\)"):
        max_pool2d(dlcore.zeros(3, 8, 8), 2)
    with pytest.raises(ShapeError, match=r"MaxPool2d\(4\): window 4×4 is larger than the padded input 3×3"):
        MaxPool2d(4)(dlcore.zeros(1, 1, 3, 3))
    with pytest.raises(ShapeError, match="avg_pool2d: window"):
        avg_pool2d(dlcore.zeros(1, 1, 2, 5), (3, 1))
    with pytest.raises(ShapeError, match=r"max_pool2d got an empty batch \(0, 3, 8, 8\)"):
        max_pool2d(dlcore.zeros(0, 3, 8, 8), 2)
    with pytest.raises(ShapeError, match=r"AvgPool2d\(2\) got an empty batch"):
        AvgPool2d(2)(dlcore.zeros(0, 3, 8, 8))
    with pytest.raises(ValueError, match="at most half the kernel"):
        max_pool2d(dlcore.zeros(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(ValueError, match="kernel_size"):
        max_pool2d(dlcore.zeros(1, 1, 8, 8), 0)
    with pytest.raises(ValueError, match="padding"):
        avg_pool2d(dlcore.zeros(1, 1, 8, 8), 2, padding="same")


def test_pools_split_over_threads_match_naive(monkeypatch):
    """The CPU path splits the batch over threads for big inputs; force that on a small one."""
    import dlcore.cpu

    monkeypatch.setattr(dlcore.cpu_threads, "MIN_WORK_PER_THREAD", 1)
    monkeypatch.setenv("DLCORE_NUM_THREADS", "3")
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal((5, 2, 7, 9)) * 2)
    for k, s, p in (((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 1), (1, 1)), ((3, 2), (3, 3), (0, 1))):
        for fn, ref_fn in ((max_pool2d, naive_max_pool), (avg_pool2d, naive_avg_pool)):
            xt = dlcore.tensor(x, requires_grad=True)
            y = fn(xt, k, s, p)
            g = rng.standard_normal(y.shape)
            ref, dref = ref_fn(x, k, s, p, g)
            np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)
            y.backward(dlcore.tensor(g))
            np.testing.assert_allclose(xt.grad.numpy(), dref, rtol=1e-12, atol=1e-12)

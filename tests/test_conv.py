"""conv2d and nn.Conv2d: the float64 reference of tests/op_cases.py (forward and backward), finite-difference
gradchecks, the lecture examples, "same"/"valid" padding, output shapes and error messages."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cpu_kernel_mode
from gradcheck import gradcheck
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import conv2d_ref, conv2d_ref_grads
from training import train_losses

import dlcore
import dlcore.functional.window as window
from dlcore.backend import to_numpy
from dlcore.cpu import _BufferPool
from dlcore.errors import DTypeError, ShapeError
from dlcore.functional.conv import conv2d
from dlcore.functional.window import conv_output_size, same_padding
from dlcore.nn.conv import Conv2d

# --------------------------------------------------------------------------- references (tests/op_cases.py)
naive_conv2d = conv2d_ref  # y[n,f,i,j] = b[f] + sum w[f,c,u,v] x[n,c,si+du,sj+dv], float64
naive_conv2d_grads = conv2d_ref_grads  # the gradients of sum(g * conv2d_ref)


def _t(a, device, requires_grad=False):
    return dlcore.tensor(a, device=device, requires_grad=requires_grad)


# --------------------------------------------------------------------------- against the references
@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    stride = (1, 1) if mode == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = {"int": draw(st.integers(0, 2)), "pair": (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
               "same": "same", "valid": "valid"}[mode]
    pad4 = window.padding4(padding, (kh, kw), stride, dil, "test")
    # input at least as large as the dilated kernel after padding; odd sizes are common
    H = draw(st.integers(max(1, dil[0] * (kh - 1) + 1 - pad4[0] - pad4[1]), 9))
    W = draw(st.integers(max(1, dil[1] * (kw - 1) + 1 - pad4[2] - pad4[3]), 9))
    N, Cin, F = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return dict(shape=(N, Cin, H, W), wshape=(F, Cin, kh, kw), stride=stride, padding=padding, pad4=pad4,
                dilation=dil, bias=bias, seed=seed)


@pytest.mark.parametrize("kernels", ["numpy", "compiled"])
@pytest.mark.parametrize("max_weights", [0, 10**9], ids=["whole-batch GEMM", "per-sample GEMM"])
@settings(max_examples=25, deadline=None)
@given(case=conv_cases())
def test_conv2d_matches_naive_forward_and_backward(case, max_weights, kernels):
    """Both im2col layouts (conv.per_sample decides by the weight matrix's size), each with NumPy's
    and the compiled im2col / col2im (dlcore/cpu_kernels.py, "same"-sized outputs), against loops."""
    from dlcore.functional import conv as conv_module

    old, conv_module.PER_SAMPLE_MAX_WEIGHTS = conv_module.PER_SAMPLE_MAX_WEIGHTS, max_weights
    try:
        with cpu_kernel_mode(kernels):
            _check_against_naive(case)
    finally:
        conv_module.PER_SAMPLE_MAX_WEIGHTS = old


def _check_against_naive(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["shape"])
    w = rng.standard_normal(case["wshape"])
    b = rng.standard_normal(case["wshape"][0]) if case["bias"] else None
    xt, wt = dlcore.tensor(x, requires_grad=True), dlcore.tensor(w, requires_grad=True)
    bt = None if b is None else dlcore.tensor(b, requires_grad=True)
    y = conv2d(xt, wt, bt, stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    ref = naive_conv2d(x, w, b, case["stride"], case["pad4"], case["dilation"])
    assert y.shape == ref.shape
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)

    g = rng.standard_normal(ref.shape)
    (y * dlcore.tensor(g)).sum().backward()
    dx, dw, db = naive_conv2d_grads(x, w, g, case["stride"], case["pad4"], case["dilation"])
    np.testing.assert_allclose(xt.grad.numpy(), dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(wt.grad.numpy(), dw, rtol=1e-10, atol=1e-10)
    if bt is not None:
        np.testing.assert_allclose(bt.grad.numpy(), db, rtol=1e-10, atol=1e-10)


def test_conv2d_device_matches_naive(device):
    """The same op on each device (cuda where a GPU is present), float32 and float64."""
    rng = np.random.default_rng(1)
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        x = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
        w = rng.standard_normal((4, 3, 3, 2)).astype(dtype)
        b = rng.standard_normal(4).astype(dtype)
        for stride, padding, dil in (((1, 1), "same", (1, 2)), ((2, 1), 1, (1, 1)), ((1, 2), (2, 0), (2, 1))):
            xt, wt, bt = _t(x, device, True), _t(w, device, True), _t(b, device, True)
            y = conv2d(xt, wt, bt, stride=stride, padding=padding, dilation=dil)
            assert y.dtype == dtype and y.device.type == device
            pad4 = window.padding4(padding, (3, 2), stride, dil, "t")
            ref = naive_conv2d(x, w, b, stride, pad4, dil)
            np.testing.assert_allclose(y.numpy(), ref, rtol=tol, atol=tol)
            g = rng.standard_normal(ref.shape).astype(dtype)
            y.backward(_t(g, device))
            dx, dw, db = naive_conv2d_grads(x, w, g, stride, pad4, dil)
            np.testing.assert_allclose(xt.grad.numpy(), dx, rtol=tol, atol=tol)
            np.testing.assert_allclose(wt.grad.numpy(), dw, rtol=tol, atol=10 * tol)
            np.testing.assert_allclose(bt.grad.numpy(), db, rtol=tol, atol=10 * tol)


def test_conv2d_float32_stays_float32():
    x = dlcore.randn(2, 3, 5, 5, requires_grad=True)
    w = dlcore.randn(4, 3, 3, 3, requires_grad=True)
    y = conv2d(x, w, padding=1)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_conv2d_no_grad_and_partial_grads():
    """Only the requested gradients are computed; no_grad records nothing."""
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    with dlcore.no_grad():
        y = conv2d(dlcore.tensor(x), dlcore.tensor(w, requires_grad=True))
    assert not y.requires_grad
    xt, wt = dlcore.tensor(x), dlcore.tensor(w, requires_grad=True)  # input needs no grad
    conv2d(xt, wt).sum().backward()
    assert xt.grad is None
    np.testing.assert_allclose(wt.grad.numpy(), naive_conv2d_grads(x, w, np.ones((2, 3, 3, 3)), (1, 1), (0,) * 4, (1, 1))[1])
    xt, wt = dlcore.tensor(x, requires_grad=True), dlcore.tensor(w)  # weight frozen
    conv2d(xt, wt).sum().backward()
    assert wt.grad is None and xt.grad is not None


# --------------------------------------------------------------------------- finite differences
@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), ((2, 1), "valid", (1, 2)), (1, "same", 1)])
def test_conv2d_gradcheck(stride, padding, dilation):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 2, 3)), rng.standard_normal(3)
    gradcheck(lambda x, w, b: conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation), x, w, b)


def test_conv2d_gradcheck_device(device):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((1, 2, 4, 5)), rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2)
    gradcheck(lambda x, w, b: conv2d(x, w, b, padding=1), x, w, b, device=device)


# --------------------------------------------------------------------------- lecture examples
def test_lecture_binary_image_example():
    """Lecture: 5x5 binary image, 3x3 'X' kernel, valid padding -> 3x3 feature map, first value 4."""
    image = np.array([[1, 1, 1, 0, 0],
                      [0, 1, 1, 1, 0],
                      [0, 0, 1, 1, 1],
                      [0, 0, 1, 1, 0],
                      [0, 1, 1, 0, 0]], np.float32)
    kernel = np.array([[1, 0, 1],
                       [0, 1, 0],
                       [1, 0, 1]], np.float32)
    y = conv2d(dlcore.tensor(image[None, None]), dlcore.tensor(kernel[None, None]), padding="valid")
    assert y.shape == (1, 1, 3, 3)
    assert y.numpy()[0, 0, 0, 0] == 4
    np.testing.assert_array_equal(y.numpy()[0, 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_lecture_rgb_example():
    """Lecture: 3-channel input, one filter with a kernel per channel, bias 1, padding 1:
    top-left output = 308 + (-498) + 164 + 1 = -25."""
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, size=(3, 5, 5)).astype(np.float32)
    img[0, :2, :2] = [[156, 155], [153, 154]]  # R
    img[1, :2, :2] = [[167, 166], [164, 165]]  # G
    img[2, :2, :2] = [[163, 162], [160, 161]]  # B
    kR = [[-1, -1, 1], [0, 1, -1], [0, 1, 1]]
    kG = [[1, 0, 0], [1, -1, -1], [1, 0, -1]]
    kB = [[0, 1, 1], [0, 1, 0], [1, -1, 1]]
    w = np.array([[kR, kG, kB]], np.float32)  # (1 filter, 3 channels, 3, 3)
    b = np.array([1.0], np.float32)
    y = conv2d(dlcore.tensor(img[None]), dlcore.tensor(w), dlcore.tensor(b), padding=1).numpy()
    assert y.shape == (1, 1, 5, 5)
    # each channel's contribution at the top-left pixel, as on the slide
    per_channel = [conv2d(dlcore.tensor(img[None, c:c + 1]), dlcore.tensor(w[:, c:c + 1]), padding=1).numpy()[0, 0, 0, 0]
                   for c in range(3)]
    assert per_channel == [308, -498, 164]
    assert y[0, 0, 0, 0] == 308 - 498 + 164 + 1 == -25


def test_flipped_kernel_convolution_equals_conv2d_with_flipped_kernel():
    """Lecture 000: G[i,j] = sum_{u,v} w[u,v] x[i-u, j-v] (true convolution, 'full' size) equals
    conv2d (cross-correlation) with the kernel flipped and padding k-1."""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((6, 7)), rng.standard_normal((3, 2))
    kh, kw = w.shape
    H, W = x.shape
    G = np.zeros((H + kh - 1, W + kw - 1))
    for i in range(G.shape[0]):
        for j in range(G.shape[1]):
            for u in range(kh):
                for v in range(kw):
                    if 0 <= i - u < H and 0 <= j - v < W:
                        G[i, j] += w[u, v] * x[i - u, j - v]
    y = conv2d(dlcore.tensor(x[None, None]), dlcore.tensor(np.ascontiguousarray(w[::-1, ::-1])[None, None]),
               padding=(kh - 1, kw - 1)).numpy()[0, 0]
    np.testing.assert_allclose(y, G, rtol=1e-12, atol=1e-12)
    # and the 'valid' part of the convolution is the valid cross-correlation with the flipped kernel
    yv = conv2d(dlcore.tensor(x[None, None]), dlcore.tensor(np.ascontiguousarray(w[::-1, ::-1])[None, None])).numpy()[0, 0]
    np.testing.assert_allclose(yv, G[kh - 1:H, kw - 1:W], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- padding modes and shapes
@pytest.mark.parametrize("k", [(1, 1), (3, 3), (2, 2), (4, 3), (5, 2)])
@pytest.mark.parametrize("dilation", [1, 2])
def test_same_padding_keeps_size_for_odd_and_even_kernels(k, dilation):
    x = dlcore.randn(2, 3, 9, 8, dtype=np.float64)
    w = dlcore.randn(5, 3, *k, dtype=np.float64)
    y = conv2d(x, w, padding="same", dilation=dilation)
    assert y.shape == (2, 5, 9, 8)
    # asymmetric for even totals: the extra row/column goes at the bottom/right, as in PyTorch
    pad4 = same_padding(k, (dilation, dilation))
    assert pad4[1] - pad4[0] in (0, 1) and pad4[3] - pad4[2] in (0, 1)
    ref = naive_conv2d(x.numpy(), w.numpy(), None, (1, 1), pad4, (dilation, dilation))
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_same_padding_even_kernel_matches_explicit_pad():
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((1, 1, 5, 5)), rng.standard_normal((1, 1, 2, 2))
    y = conv2d(dlcore.tensor(x), dlcore.tensor(w), padding="same").numpy()
    xpad = np.pad(x, ((0, 0), (0, 0), (0, 1), (0, 1)))  # total 1: nothing before, 1 after
    np.testing.assert_allclose(y, conv2d(dlcore.tensor(xpad), dlcore.tensor(w)).numpy(), rtol=1e-12)


def test_valid_padding_shape():
    y = conv2d(dlcore.zeros(2, 3, 10, 7), dlcore.zeros(4, 3, 3, 2), padding="valid")
    assert y.shape == (2, 4, 8, 6)
    y = conv2d(dlcore.zeros(2, 3, 10, 7), dlcore.zeros(4, 3, 3, 3), padding="VALID", stride=2)
    assert y.shape == (2, 4, 4, 3)


def test_same_padding_with_stride_raises():
    with pytest.raises(ValueError, match="same.*strided"):
        conv2d(dlcore.zeros(1, 1, 8, 8), dlcore.zeros(1, 1, 3, 3), padding="same", stride=2)
    with pytest.raises(ValueError, match="strided"):
        Conv2d(1, 4, 3, stride=(1, 2), padding="same")


@settings(max_examples=25, deadline=None)
@given(H=st.integers(1, 12), W=st.integers(1, 12), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       dh=st.integers(1, 3), dw=st.integers(1, 3))
def test_output_shape_formula(H, W, kh, kw, sh, sw, ph, pw, dh, dw):
    if dh * (kh - 1) + 1 > H + 2 * ph or dw * (kw - 1) + 1 > W + 2 * pw:
        with pytest.raises(ShapeError, match="larger than the padded input"):
            conv2d(dlcore.zeros(1, 2, H, W), dlcore.zeros(3, 2, kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
        return
    y = conv2d(dlcore.zeros(1, 2, H, W), dlcore.zeros(3, 2, kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
    oh = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    assert y.shape == (1, 3, oh, ow)
    assert (conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)) == (oh, ow)


# --------------------------------------------------------------------------- the layer
def test_conv2d_module_shapes_params_and_init():
    layer = Conv2d(3, 16, 3, padding="same")
    assert layer.weight.shape == (16, 3, 3, 3) and layer.bias.shape == (16,)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer(dlcore.zeros(2, 3, 11, 10)).shape == (2, 16, 11, 10)
    w, b = layer.weight.numpy(), layer.bias.numpy()  # PyTorch's init: U(±1/sqrt(fan_in)), fan_in 3*3*3
    assert abs(w).max() <= 1 / np.sqrt(27) and abs(b).max() <= 1 / np.sqrt(27) and abs(b).max() > 0
    assert abs(float(w.std()) - 1 / np.sqrt(3 * 27)) < 0.02
    assert abs(float(Conv2d(3, 16, 3, init="he").weight.numpy().std()) - np.sqrt(2 / 27)) < 0.05  # lecture He
    assert Conv2d(3, 4, (3, 5), bias=False).bias is None
    assert Conv2d(3, 4, 3, stride=2, padding=1)(dlcore.zeros(1, 3, 28, 28)).shape == (1, 4, 14, 14)
    for init in ("he", "xavier", "normal"):
        Conv2d(1, 2, 3, init=init)
    with pytest.raises(ValueError):
        Conv2d(1, 2, 3, init="bogus")


def test_conv2d_module_trains_with_flatten_and_linear():
    """A conv layer, Flatten and Linear learn a tiny task end to end (gradients flow through all)."""
    import dlcore.nn as nn

    rng = np.random.default_rng(8)
    X = rng.standard_normal((32, 1, 6, 6)).astype(np.float32)
    y = (X[:, 0, :3].sum(axis=(1, 2)) > X[:, 0, 3:].sum(axis=(1, 2))).astype(np.int64)
    model = nn.Sequential(Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 2))
    losses = train_losses(model, X, y, steps=40, lr=0.05)
    assert losses[-1] < 0.5 * losses[0]


# --------------------------------------------------------------------------- errors
def test_conv_error_messages():
    layer = Conv2d(3, 16, 3)
    with pytest.raises(ShapeError, match=r"Conv2d\(3→16, k=3\) expected input with 3 channels \(N, 3, H, W\), got \(8, 1, 28, 28\)"):
        layer(dlcore.zeros(8, 1, 28, 28))
    with pytest.raises(ShapeError, match=r"expected a 4-D input.*got \(3, 28, 28\).*batch dimension"):
        layer(dlcore.zeros(3, 28, 28))
    with pytest.raises(ShapeError, match=r"conv2d expected a 4-D input \(N, C, H, W\), got \(28, 28\)"):
        conv2d(dlcore.zeros(28, 28), dlcore.zeros(1, 1, 3, 3))
    with pytest.raises(ShapeError, match=r"conv2d expected input with 3 channels"):
        conv2d(dlcore.zeros(1, 2, 8, 8), dlcore.zeros(4, 3, 3, 3))
    with pytest.raises(ShapeError, match=r"4-D weight"):
        conv2d(dlcore.zeros(1, 2, 8, 8), dlcore.zeros(4, 2, 3))
    with pytest.raises(ShapeError, match=r"bias of shape \(4,\)"):
        conv2d(dlcore.zeros(1, 2, 8, 8), dlcore.zeros(4, 2, 3, 3), dlcore.zeros(3))
    with pytest.raises(ShapeError, match=r"Conv2d\(1→2, k=5\): kernel 5×5 is larger than the padded input 3×3"):
        Conv2d(1, 2, 5)(dlcore.zeros(1, 1, 3, 3))
    with pytest.raises(ShapeError, match=r"dilation"):
        conv2d(dlcore.zeros(1, 1, 4, 4), dlcore.zeros(1, 1, 3, 3), dilation=2)
    with pytest.raises(ValueError, match=r"padding 'same', 'valid'.*got 'full'"):
        conv2d(dlcore.zeros(1, 1, 4, 4), dlcore.zeros(1, 1, 3, 3), padding="full")
    with pytest.raises(ValueError, match="padding 'same'"):
        Conv2d(1, 2, 3, padding="sme")
    with pytest.raises(ValueError, match="stride"):
        conv2d(dlcore.zeros(1, 1, 4, 4), dlcore.zeros(1, 1, 3, 3), stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv2d(dlcore.zeros(1, 1, 4, 4), dlcore.zeros(1, 1, 3, 3), padding=-1)
    with pytest.raises(DTypeError, match="floating-point"):
        conv2d(dlcore.tensor(np.zeros((1, 1, 4, 4), np.int64)), dlcore.zeros(1, 1, 3, 3))
    with pytest.raises(ShapeError, match=r"Conv2d\(3→16, k=3\) got an empty batch \(0, 3, 8, 8\)"):
        layer(dlcore.zeros(0, 3, 8, 8))
    with pytest.raises(DTypeError, match="one dtype"):
        conv2d(dlcore.zeros(1, 1, 4, 4, dtype=np.float64), dlcore.zeros(1, 1, 3, 3))


# --------------------------------------------------------------------------- internals
def test_buffer_pool_recycles_and_is_safe():
    """The im2col buffers are recycled across calls without changing results."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 8, 20, 20)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    xt, wt = dlcore.tensor(x, requires_grad=True), dlcore.tensor(w, requires_grad=True)
    first = conv2d(xt, wt, padding=1)
    second = conv2d(xt, wt, padding=1)  # both graphs alive: each keeps its own columns
    (first.sum() + 2 * second.sum()).backward()
    grad_w = wt.grad.numpy().copy()
    wt.grad = None
    conv2d(xt, wt, padding=1).sum().backward()
    np.testing.assert_allclose(grad_w, 3 * wt.grad.numpy(), rtol=1e-4)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    np.testing.assert_array_equal(to_numpy(first.array), conv2d(xt, wt, padding=1).numpy())


def test_functional_ops_accept_raw_arrays():
    """NumPy arrays (whose .data is a memoryview, not an array) are wrapped like Tensors."""
    from dlcore.functional.norm import batch_norm
    from dlcore.functional.pool import avg_pool2d, max_pool2d

    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 3, 3), np.float32)
    assert conv2d(x, w, np.zeros(1, np.float32)).tolist() == [[[[45.0, 54.0], [81.0, 90.0]]]]
    assert max_pool2d(x, 2).tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]
    assert avg_pool2d(x, 2).shape == (1, 1, 2, 2)
    rm, rv = np.zeros(1, np.float32), np.ones(1, np.float32)
    batch_norm(x, rm, rv, training=True)
    assert rm[0] == np.float32(0.1 * 7.5)  # running stats of raw arrays are updated in place


def test_buffer_pool_bounds_idle_memory():
    pool = _BufferPool(max_buffers=2, min_bytes=16, max_bytes=1000)
    a, b, c = (pool.take((100,), np.float32) for _ in range(3))  # 400 bytes each
    pool.give(a, b, c)
    assert len(pool._free) == 2 and sum(x.nbytes for x in pool._free) <= 1000
    again = pool.take((10, 10), np.float32)  # a recycled buffer of the same size, reshaped
    assert again.shape == (10, 10) and len(pool._free) == 1
    pool.give(again, again)  # giving twice keeps one copy
    assert len(pool._free) == 2
    small = pool.take((2,), np.float32)  # below min_bytes: never pooled
    pool.give(small)
    assert len(pool._free) == 2


@pytest.mark.parametrize("max_weights", [0, 10**9], ids=["whole-batch GEMM", "per-sample GEMM"])
@pytest.mark.parametrize("w_shape", [(16, 1, 3, 3), (4, 2, 1, 1), (3, 8, 3, 3)])  # C*KH*KW < F, < F, > F
def test_im2col_weight_gradient_in_both_gemm_orientations_matches_torch(w_shape, max_weights, monkeypatch):
    """im2col's dW runs per sample, or over the whole batch as G @ cols^T or (cols @ G^T)^T
    depending on the shape; each against torch."""
    from dlcore.functional import conv as conv_module

    monkeypatch.setattr(conv_module, "PER_SAMPLE_MAX_WEIGHTS", max_weights)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, w_shape[1], 6, 6)), rng.standard_normal(w_shape)
    g = rng.standard_normal((2, w_shape[0], 7 - w_shape[2], 7 - w_shape[3]))
    xd, wd = dlcore.tensor(x, requires_grad=True), dlcore.tensor(w, requires_grad=True)
    with dlcore.cpu.conv_algorithm("im2col"):
        conv2d(xd, wd).backward(dlcore.tensor(g))
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt).backward(torch.tensor(g))
    np.testing.assert_allclose(wd.grad.numpy(), wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)

"""The GPU launchers in ``dlcore.cuda`` against float64 NumPy references.

Needs a GPU: every test that launches a kernel takes the ``cp`` fixture, which skips cleanly
when CuPy is missing or no GPU is usable. The argument-check tests at the end run anywhere.

Each test switches on ``loader.POISON_OUTPUTS``, so every output buffer starts as NaN (int
buffers as -7) and an element a kernel forgot to write fails the comparison. Inputs are
random and never zero (|x| in [0.25, 2]). Tolerances: float64 1e-10, float32 1e-4 (relative,
with an absolute floor scaled by the reference's largest value).
"""

from __future__ import annotations

import numpy as np
import pytest
from op_cases import act_grad_ref, act_ref, conv2d_ref, conv2d_ref_grads, log_softmax_ref, pool_ref

import dlcore
from dlcore.cuda import activation, conv, loader, pool, softmax
from dlcore.errors import DeviceError, DTypeError, ShapeError

DTYPES = [np.float32, np.float64]
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


@pytest.fixture
def cp(monkeypatch):
    """CuPy on a real GPU, else the CPU kernel emulator's stand-in (DLCORE_CUDA_EMULATE=1)."""
    if not dlcore.cuda.is_available():
        monkeypatch.setenv("DLCORE_CUDA_EMULATE", "1")
        if not dlcore.cuda.is_available():
            pytest.skip(f"no GPU and no CUDA emulator: {dlcore.cuda.unavailable_reason()}")
    return dlcore.backend.cupy_module()


@pytest.fixture(autouse=True)
def _poison(monkeypatch):
    monkeypatch.setattr(loader, "POISON_OUTPUTS", True)


def _rand(shape, seed=0, scale=1.0):
    """float64 values with |v| in [0.25, 2] * scale and random signs: never zero."""
    rng = np.random.default_rng(seed)
    mag = rng.uniform(0.25, 2.0, size=shape)
    return scale * mag * rng.choice([-1.0, 1.0], size=shape)


def _on_gpu(cp, a, dtype):
    """(gpu array of dtype, the float64 values it actually holds)."""
    a = np.asarray(a).astype(dtype)
    return cp.asarray(a), a.astype(np.float64)


def assert_close(got, ref, dtype, what=""):
    got = got.get() if hasattr(got, "get") else np.asarray(got)
    rtol = RTOL[np.dtype(dtype)]
    assert got.dtype == np.dtype(dtype), f"{what}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    if np.isnan(ref).any():
        assert np.array_equal(np.isnan(got), np.isnan(ref)), f"{what}: NaN pattern differs"
    else:
        assert not np.isnan(got).any(), f"{what}: NaN in output (an element was never written?)"
    scale = float(np.max(np.abs(ref[np.isfinite(ref)]), initial=1.0))
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * scale, err_msg=what)


# --------------------------------------------------------------------------- activations
# (shape, how): "fresh" is 16-byte aligned (vectorised path when size % width == 0), "offset"
# slices one element off (misaligned: scalar path), "strided" is non-contiguous.
ACT_CASES = [((1000,), "fresh"), ((7, 13), "fresh"), ((1001,), "offset"), ((6, 20), "strided"), ((4, 8, 8), "fresh")]


def _act_input(cp, shape, how, dtype, seed):
    if how == "offset":
        full = _rand((shape[0],), seed) * 3
        g, _ = _on_gpu(cp, full, dtype)
        g = g[1:]
        return g, g.get().astype(np.float64)
    if how == "strided":
        full = _rand((shape[0], shape[1] * 2), seed) * 3
        g, _ = _on_gpu(cp, full, dtype)
        g = g[:, ::2]
        return g, g.get().astype(np.float64)
    return _on_gpu(cp, _rand(shape, seed) * 3, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,how", ACT_CASES)
@pytest.mark.parametrize("name", activation.NAMES)
def test_activation_forward_backward(cp, name, shape, how, dtype):
    slope = 0.1
    x, x64 = _act_input(cp, shape, how, dtype, seed=1)
    y = activation.forward(name, x, slope)
    assert_close(y, act_ref(name, x64, slope), dtype, f"{name} forward")
    g, g64 = _act_input(cp, shape, how, dtype, seed=2)
    saved = x if name in ("relu", "leaky_relu") else y
    dx = activation.backward(name, saved, g, slope)
    assert_close(dx, act_grad_ref(name, x64, g64, slope), dtype, f"{name} backward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_tanh_are_stable_at_extremes(cp, dtype):
    for n in (8, 7):  # vectorised and scalar paths
        x = cp.asarray(np.array([-1000.0, 1000.0, -80.0, 80.0, -1e30, 1e30, -0.5, 0.5][:n], dtype=dtype))
        for name, lo, hi in (("sigmoid", 0.0, 1.0), ("tanh", -1.0, 1.0)):
            y = activation.forward(name, x).get()
            assert np.isfinite(y).all(), f"{name} gave non-finite values {y}"
            assert y[0] == lo and y[1] == hi and (y >= lo).all() and (y <= hi).all()


# --------------------------------------------------------------------------- softmax / CE
# (rows, cols): warp per row (<= 1024 cols), several rows per block and a partial block,
# one block per row (> 1024 cols), a single element.
SOFTMAX_SHAPES = [(5, 7), (70, 33), (3, 1500), (2, 4099), (1, 1), (9, 1024), (4, 1025)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_softmax_and_log_softmax(cp, shape, dtype):
    x, x64 = _on_gpu(cp, _rand(shape, 5, scale=4.0), dtype)
    g, g64 = _on_gpu(cp, _rand(shape, 6), dtype)
    ls_ref = log_softmax_ref(x64)
    sm_ref = np.exp(ls_ref)

    y = softmax.softmax(x)
    assert_close(y, sm_ref, dtype, "softmax")
    dx = softmax.softmax_backward(y, g)
    y64 = y.get().astype(np.float64)
    assert_close(dx, y64 * (g64 - (g64 * y64).sum(axis=1, keepdims=True)), dtype, "softmax backward")

    yl = softmax.log_softmax(x)
    assert_close(yl, ls_ref, dtype, "log_softmax")
    dxl = softmax.log_softmax_backward(yl, g)
    yl64 = yl.get().astype(np.float64)
    assert_close(dxl, g64 - np.exp(yl64) * g64.sum(axis=1, keepdims=True), dtype, "log_softmax backward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_stable_for_large_logits(cp, dtype):
    x64 = np.array([[1000.0, -1000.0, 999.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]])
    x, x64 = _on_gpu(cp, x64, dtype)
    assert_close(softmax.softmax(x), np.exp(log_softmax_ref(x64)), dtype, "softmax large")
    assert_close(softmax.log_softmax(x), log_softmax_ref(x64), dtype, "log_softmax large")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 10), (70, 3), (4, 2000)])
def test_cross_entropy(cp, shape, dtype):
    rows, cols = shape
    x, x64 = _on_gpu(cp, _rand(shape, 7, scale=3.0), dtype)
    t_np = np.random.default_rng(8).integers(0, cols, size=rows)
    t = cp.asarray(t_np.astype(np.int64))
    loss, logp = softmax.cross_entropy_forward(x, t)
    ls_ref = log_softmax_ref(x64)
    assert_close(logp, ls_ref, dtype, "CE log_probs")
    assert_close(loss, -ls_ref[np.arange(rows), t_np], dtype, "CE loss")

    gr, gr64 = _on_gpu(cp, _rand((rows,), 9), dtype)
    dx = softmax.cross_entropy_backward(logp, t, gr)
    lp64 = logp.get().astype(np.float64)
    onehot = np.zeros(shape)
    onehot[np.arange(rows), t_np] = 1
    assert_close(dx, (np.exp(lp64) - onehot) * gr64[:, None], dtype, "CE backward")

    # int32 targets are accepted (converted), and give the same loss
    loss32, _ = softmax.cross_entropy_forward(x, cp.asarray(t_np.astype(np.int32)))
    assert cp.array_equal(loss32, loss)


def test_cross_entropy_out_of_range_target_gives_nan_not_a_bad_read(cp):
    x = cp.asarray(_rand((3, 4), 10))
    loss, _ = softmax.cross_entropy_forward(x, cp.asarray([0, 4, -1], dtype=cp.int64))
    loss = loss.get()
    assert np.isfinite(loss[0]) and np.isnan(loss[1]) and np.isnan(loss[2])


# --------------------------------------------------------------------------- conv2d
def _conv_ref(x, w, b, stride, padding, dilation):
    """op_cases.conv2d_ref with symmetric padding, and a function giving its exact gradients."""
    pad4 = (padding[0], padding[0], padding[1], padding[1])
    return (conv2d_ref(x, w, b, stride, pad4, dilation),
            lambda go: conv2d_ref_grads(x, w, go, stride, pad4, dilation))


# (x shape, w shape, stride, padding, dilation, bias?)
CONV_CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), True),
    ((2, 3, 9, 8), (5, 3, 3, 3), (2, 2), (0, 0), (1, 1), True),
    ((1, 2, 9, 10), (3, 2, 3, 3), (1, 1), (2, 2), (2, 2), False),
    ((3, 2, 8, 7), (2, 2, 2, 3), (2, 1), (1, 0), (1, 2), True),
    ((2, 4, 5, 5), (6, 4, 1, 1), (1, 1), (0, 0), (1, 1), True),
    ((2, 1, 6, 6), (2, 1, 5, 5), (3, 3), (2, 2), (1, 1), False),
    ((1, 3, 4, 4), (2, 3, 4, 4), (1, 1), (0, 0), (1, 1), True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs,ws,stride,padding,dilation,bias", CONV_CASES)
def test_conv2d(cp, xs, ws, stride, padding, dilation, bias, dtype):
    x, x64 = _on_gpu(cp, _rand(xs, 11), dtype)
    w, w64 = _on_gpu(cp, _rand(ws, 12, scale=0.5), dtype)
    b, b64 = _on_gpu(cp, _rand((ws[0],), 13), dtype) if bias else (None, None)
    y_ref, grads = _conv_ref(x64, w64, b64, stride, padding, dilation)
    y = conv.conv2d_forward(x, w, b, stride, padding, dilation)
    assert_close(y, y_ref, dtype, "conv2d forward")

    go, go64 = _on_gpu(cp, _rand(y_ref.shape, 14), dtype)
    dx_ref, dw_ref, db_ref = grads(go64)
    dx, dw, db = conv.conv2d_backward(x, w, go, stride, padding, dilation, needs=(True, True, bias))
    assert_close(dx, dx_ref, dtype, "conv2d dx")
    assert_close(dw, dw_ref, dtype, "conv2d dw")
    if bias:
        assert_close(db, db_ref, dtype, "conv2d db")
    else:
        assert db is None
    # the gather col2im has no atomics: bit-identical on a second run
    dx2, _, _ = conv.conv2d_backward(x, w, go, stride, padding, dilation, needs=(True, False, False))
    assert cp.array_equal(dx, dx2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_chunks_over_the_batch(cp, monkeypatch, dtype):
    xs, ws, stride, padding, dilation = (5, 3, 6, 7), (4, 3, 3, 2), (1, 2), (1, 1), (2, 1)
    x, x64 = _on_gpu(cp, _rand(xs, 15), dtype)
    w, w64 = _on_gpu(cp, _rand(ws, 16), dtype)
    b, b64 = _on_gpu(cp, _rand((4,), 17), dtype)
    y_ref, grads = _conv_ref(x64, w64, b64, stride, padding, dilation)
    go, go64 = _on_gpu(cp, _rand(y_ref.shape, 18), dtype)
    dx_ref, dw_ref, db_ref = grads(go64)
    monkeypatch.setattr(conv, "COL_BUDGET_BYTES", 1)  # one image per chunk
    assert_close(conv.conv2d_forward(x, w, b, stride, padding, dilation), y_ref, dtype, "chunked forward")
    dx, dw, db = conv.conv2d_backward(x, w, go, stride, padding, dilation)
    assert_close(dx, dx_ref, dtype, "chunked dx")
    assert_close(dw, dw_ref, dtype, "chunked dw")
    assert_close(db, db_ref, dtype, "chunked db")
    monkeypatch.setattr(conv, "COL_BUDGET_BYTES", 2 * 3 * 6 * 3 * 4 * np.dtype(dtype).itemsize)  # 2 images
    dx2, dw2, _ = conv.conv2d_backward(x, w, go, stride, padding, dilation)
    assert_close(dx2, dx_ref, dtype, "chunked dx (2 per chunk)")
    assert_close(dw2, dw_ref, dtype, "chunked dw (2 per chunk)")


def test_conv2d_needs_selects_outputs(cp):
    x = cp.asarray(_rand((1, 2, 5, 5), 19))
    w = cp.asarray(_rand((3, 2, 3, 3), 20))
    go = cp.asarray(_rand((1, 3, 3, 3), 21))
    dx, dw, db = conv.conv2d_backward(x, w, go, (1, 1), (0, 0), (1, 1), needs=(False, True, False))
    assert dx is None and db is None and dw.shape == (3, 2, 3, 3)


# --------------------------------------------------------------------------- pooling
def _max_pool_ref(x, kernel, stride, padding, gy):
    y, arg, dx = pool_ref(x, "max", kernel, stride, padding, g=gy)
    return y, arg.astype(np.int32), dx


def _avg_pool_ref(x, kernel, stride, padding, gy):
    y, _, dx = pool_ref(x, "avg", kernel, stride, padding, g=gy)
    return y, dx


# (x shape, kernel, stride, padding): disjoint windows, overlapping windows with padding,
# non-square, a remainder row/column that no window reads, a window as large as the input.
POOL_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0)),
    ((2, 2, 7, 6), (3, 3), (1, 1), (1, 1)),
    ((1, 3, 9, 7), (3, 2), (2, 1), (1, 0)),
    ((2, 2, 7, 7), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 5, 4), (5, 4), (1, 1), (0, 0)),
    ((1, 1, 6, 6), (3, 3), (2, 2), (1, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs,kernel,stride,padding", POOL_CASES)
def test_max_pool2d(cp, xs, kernel, stride, padding, dtype):
    x, x64 = _on_gpu(cp, _rand(xs, 22), dtype)
    y, argmax = pool.max_pool2d_forward(x, kernel, stride, padding)
    gy, gy64 = _on_gpu(cp, _rand(y.shape, 23), dtype)
    y_ref, arg_ref, dx_ref = _max_pool_ref(x64, kernel, stride, padding, gy64)
    assert_close(y, y_ref, dtype, "max_pool2d forward")
    assert argmax.dtype == np.int32
    np.testing.assert_array_equal(argmax.get(), arg_ref)
    dx = pool.max_pool2d_backward(gy, argmax, xs, kernel, stride, padding)
    assert_close(dx, dx_ref, dtype, "max_pool2d backward")


def _ties(shape):
    return np.random.default_rng(24).integers(1, 3, size=shape).astype(np.float64)  # many ties, no zeros


def _nans(shape):
    x = _rand(shape, 26)
    x[np.random.default_rng(27).random(shape) < 0.25] = np.nan  # windows with none, one and several NaNs
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [_ties, _nans], ids=["ties-pick-the-first-tap", "nan-wins-at-its-last-nan"])
def test_max_pool2d_winner_rules(cp, dtype, make):
    """PyTorch's winner: ties keep the first tap (row-major); a NaN wins, the last NaN of the window."""
    x, x64 = _on_gpu(cp, make((2, 2, 6, 6)), dtype)
    for kernel, stride, padding in (((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1))):
        y, argmax = pool.max_pool2d_forward(x, kernel, stride, padding)
        gy, gy64 = _on_gpu(cp, _rand(y.shape, 25), dtype)
        y_ref, arg_ref, dx_ref = _max_pool_ref(x64, kernel, stride, padding, gy64)
        np.testing.assert_array_equal(argmax.get(), arg_ref)
        np.testing.assert_array_equal(np.isnan(y.get()), np.isnan(y_ref))
        assert_close(pool.max_pool2d_backward(gy, argmax, x.shape, kernel, stride, padding), dx_ref, dtype, make.__name__)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs,kernel,stride,padding", POOL_CASES)
def test_avg_pool2d(cp, xs, kernel, stride, padding, dtype):
    x, x64 = _on_gpu(cp, _rand(xs, 26), dtype)
    y = pool.avg_pool2d_forward(x, kernel, stride, padding)
    gy, gy64 = _on_gpu(cp, _rand(y.shape, 27), dtype)
    y_ref, dx_ref = _avg_pool_ref(x64, kernel, stride, padding, gy64)
    assert_close(y, y_ref, dtype, "avg_pool2d forward")
    assert_close(pool.avg_pool2d_backward(gy, xs, kernel, stride, padding), dx_ref, dtype, "avg_pool2d backward")


# --------------------------------------------------------------------------- argument checks
def test_launchers_reject_numpy_arrays_without_touching_cuda():
    x = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(DeviceError, match=r"cuda.activation.forward\('relu'\) expected x as a CuPy array"):
        activation.forward("relu", x)
    with pytest.raises(DeviceError, match="cuda.softmax.softmax"):
        softmax.softmax(x)
    with pytest.raises(DeviceError, match="cuda.conv.conv2d_forward"):
        conv.conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), None, (1, 1), (0, 0), (1, 1))
    with pytest.raises(DeviceError, match="cuda.pool.max_pool2d_forward"):
        pool.max_pool2d_forward(np.ones((1, 1, 4, 4)), (2, 2), (2, 2), (0, 0))


def test_unknown_activation_name():
    with pytest.raises(ValueError, match="expected an activation"):
        activation.forward("gelu", np.ones(3))


def test_launchers_check_dtype_and_shape(cp):
    with pytest.raises(DTypeError, match="float32 or float64"):
        activation.forward("relu", cp.ones(4, dtype=cp.int32))
    with pytest.raises(DTypeError, match="dtype"):
        activation.backward("tanh", cp.ones(4, dtype=cp.float32), cp.ones(4, dtype=cp.float64))
    with pytest.raises(ShapeError, match="grad"):
        activation.backward("tanh", cp.ones(4), cp.ones(5))
    with pytest.raises(ShapeError, match="2 dimensions"):
        softmax.softmax(cp.ones((2, 3, 4)))
    with pytest.raises(ShapeError, match="targets"):
        softmax.cross_entropy_forward(cp.ones((2, 3)), cp.zeros(3, dtype=cp.int64))
    with pytest.raises(DTypeError, match="integer"):
        softmax.cross_entropy_forward(cp.ones((2, 3)), cp.zeros(2))
    with pytest.raises(ShapeError, match="weight"):
        conv.conv2d_forward(cp.ones((1, 2, 5, 5)), cp.ones((3, 4, 3, 3)), None, (1, 1), (0, 0), (1, 1))
    with pytest.raises(ShapeError, match="smaller than"):
        conv.conv2d_forward(cp.ones((1, 1, 2, 2)), cp.ones((1, 1, 3, 3)), None, (1, 1), (0, 0), (1, 1))
    with pytest.raises(ShapeError, match="grad_out"):
        conv.conv2d_backward(cp.ones((1, 1, 5, 5)), cp.ones((1, 1, 3, 3)), cp.ones((1, 1, 2, 2)),
                             (1, 1), (0, 0), (1, 1))
    with pytest.raises(ShapeError, match="argmax"):
        pool.max_pool2d_backward(cp.ones((1, 1, 2, 2)), cp.zeros((1, 1, 3, 3), dtype=cp.int32), (1, 1, 4, 4),
                                 (2, 2), (2, 2), (0, 0))
    with pytest.raises(DTypeError, match="int32"):
        pool.max_pool2d_backward(cp.ones((1, 1, 2, 2)), cp.zeros((1, 1, 2, 2), dtype=cp.int64), (1, 1, 4, 4),
                                 (2, 2), (2, 2), (0, 0))


def test_empty_inputs_launch_nothing(cp):
    assert activation.forward("relu", cp.ones((0, 3), dtype=cp.float32)).shape == (0, 3)
    assert softmax.softmax(cp.ones((0, 5))).shape == (0, 5)
    y, a = pool.max_pool2d_forward(cp.ones((0, 2, 4, 4)), (2, 2), (2, 2), (0, 0))
    assert y.shape == (0, 2, 2, 2) and a.shape == (0, 2, 2, 2)
    assert conv.conv2d_forward(cp.ones((0, 2, 5, 5)), cp.ones((3, 2, 3, 3)), None, (1, 1), (0, 0), (1, 1)).shape == (0, 3, 3, 3)

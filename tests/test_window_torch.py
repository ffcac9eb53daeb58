"""Conv and pooling options against PyTorch (float64, forward, indices and every gradient):
groups, conv1d, ceil_mode, count_include_pad, divisor_override, dilation, return_indices,
adaptive pooling, all -inf windows; plus the argument errors (issues 10, 11 and 14)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.errors import ShapeError
from dlcore.functional.window import conv_output_size

torch = pytest.importorskip("torch")


def _both(fn_dl, fn_torch, *arrays, grad_seed=0):
    """Run fn on dlcore and torch tensors made from float64 ``arrays``; compare outputs and grads."""
    xs = [dlcore.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = fn_dl(*xs), fn_torch(*ts)
    if isinstance(ref, tuple):  # (values, indices)
        np.testing.assert_array_equal(out[1].numpy(), ref[1].numpy())
        out, ref = out[0], ref[0]
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(grad_seed).standard_normal(ref.shape)
    out.backward(dlcore.tensor(g))
    ref.backward(torch.tensor(g))
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def _distinct(shape, seed=0):
    """Distinct values (no ties), so the max is unique and both libraries pick the same tap."""
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 3.0


CONV_CASES = [  # (x shape, w shape, kwargs)
    ((2, 4, 7, 6), (6, 2, 3, 3), dict(groups=2, padding=1)),
    ((1, 6, 8, 8), (6, 1, 3, 2), dict(groups=6, stride=(2, 1), dilation=(1, 2))),
    ((2, 6, 5, 5), (3, 2, 2, 2), dict(groups=3, padding="same")),
    ((2, 3, 6, 7), (4, 3, 3, 3), dict(stride=2, padding=(1, 2))),
]


@pytest.mark.parametrize("xs,ws,kw", CONV_CASES)
def test_conv2d_groups_match_torch(xs, ws, kw):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    _both(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kw), x, w, b)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(dilation=2, groups=2), dict(padding="same")])
def test_conv1d_matches_torch(kw):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 4 // kw.get("groups", 1), 3)), rng.standard_normal(6)
    _both(lambda x, w, b: F.conv1d(x, w, b, **kw), lambda x, w, b: torch.nn.functional.conv1d(x, w, b, **kw), x, w, b)


def test_conv_layers_match_torch_shapes_and_errors():
    assert nn.Conv2d(4, 6, 3, groups=2).weight.shape == tuple(torch.nn.Conv2d(4, 6, 3, groups=2).weight.shape)
    assert nn.Conv1d(4, 6, 5, groups=2).weight.shape == tuple(torch.nn.Conv1d(4, 6, 5, groups=2).weight.shape)
    assert nn.Conv1d(2, 3, 3, padding=1)(dlcore.zeros(5, 2, 9)).shape == (5, 3, 9)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="padding_mode in"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ShapeError, match=r"4 channels \(2 per group x 2 groups\)"):
        F.conv2d(dlcore.zeros(1, 3, 5, 5), dlcore.zeros(4, 2, 3, 3), groups=2)
    with pytest.raises(ShapeError, match="3-D input"):
        F.conv1d(dlcore.zeros(1, 3, 5, 5), dlcore.zeros(4, 3, 3))


@pytest.mark.parametrize("bad,match", [
    (dict(kernel_size=0), "kernel_size >= 1"), (dict(kernel_size=2.5), "kernel_size as an int"),
    (dict(stride=0), "stride >= 1"), (dict(stride=(1, 2, 3)), "stride as an int or a pair"),
    (dict(padding=-1), "padding >= 0"), (dict(dilation=0), "dilation >= 1"), (dict(groups=0), "groups >= 1"),
    (dict(groups=True), "groups as an int"), (dict(padding="full"), "padding 'same', 'valid'"),
])
def test_conv_argument_errors(bad, match):
    args = dict(in_channels=2, out_channels=2, kernel_size=3) | bad
    with pytest.raises(ValueError, match=match):
        nn.Conv2d(**args)


POOL_CASES = [  # (x shape, kwargs) for max_pool2d
    ((2, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 8, 9), dict(kernel_size=2, stride=1, dilation=2)),
    ((1, 1, 9, 8), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), dilation=(2, 3), ceil_mode=True)),
    ((2, 1, 6, 5), dict(kernel_size=2, ceil_mode=True)),
]


@pytest.mark.parametrize("xs,kw", POOL_CASES)
def test_max_pool2d_options_match_torch(xs, kw):
    x = _distinct(xs)
    _both(lambda x: F.max_pool2d(x, return_indices=True, **kw),
          lambda x: torch.nn.functional.max_pool2d(x, return_indices=True, **kw), x)
    layer = nn.MaxPool2d(**kw)
    np.testing.assert_array_equal(layer(dlcore.tensor(x)).numpy(), torch.nn.MaxPool2d(**kw)(torch.tensor(x)).numpy())


@pytest.mark.parametrize("kw", [
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=1, padding=(1, 1), count_include_pad=False),
    dict(kernel_size=2, ceil_mode=True, divisor_override=3),
    dict(kernel_size=3, stride=2, padding=1),
])
def test_avg_pool2d_options_match_torch(kw):
    x = np.random.default_rng(3).standard_normal((2, 2, 7, 6))
    _both(lambda x: F.avg_pool2d(x, **kw), lambda x: torch.nn.functional.avg_pool2d(x, **kw), x)
    layer = nn.AvgPool2d(**kw)
    np.testing.assert_allclose(layer(dlcore.tensor(x)).numpy(), torch.nn.AvgPool2d(**kw)(torch.tensor(x)).numpy())


@pytest.mark.parametrize("size,out", [((7, 5), (3, 2)), ((6, 6), 3), ((5, 9), (None, 4)), ((4, 4), 1), ((3, 5), (5, 7))])
def test_adaptive_pools_match_torch(size, out):
    x = _distinct((2, 3) + size, seed=4)
    _both(lambda x: F.adaptive_avg_pool2d(x, out), lambda x: torch.nn.functional.adaptive_avg_pool2d(x, out), x)
    _both(lambda x: F.adaptive_max_pool2d(x, out, return_indices=True),
          lambda x: torch.nn.functional.adaptive_max_pool2d(x, out, return_indices=True), x)
    y = nn.AdaptiveAvgPool2d(out)(dlcore.tensor(x))
    np.testing.assert_allclose(y.numpy(), torch.nn.AdaptiveAvgPool2d(out)(torch.tensor(x)).numpy(), rtol=1e-12)
    y, i = nn.AdaptiveMaxPool2d(out, return_indices=True)(dlcore.tensor(x))
    np.testing.assert_array_equal(i.numpy(), torch.nn.AdaptiveMaxPool2d(out, return_indices=True)(torch.tensor(x))[1])


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1, padding=1,
                                                                                dilation=2),
                                dict(kernel_size=(3, 2), stride=1, padding=(1, 1), ceil_mode=True)])
def test_max_pool_all_minus_inf_window_keeps_its_gradient(kw):
    """Issue 10: a window whose real values are all -inf sends its gradient to its first real tap."""
    x = np.full((1, 2, 5, 4), -np.inf)
    x[0, 1, 2:, 1:] = _distinct((3, 3))  # channel 1 mixes -inf windows and finite ones
    _both(lambda x: F.max_pool2d(x, return_indices=True, **kw),
          lambda x: torch.nn.functional.max_pool2d(x, return_indices=True, **kw), x)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                dict(kernel_size=(2, 3), stride=(2, 1)), dict(kernel_size=2, stride=1, dilation=2),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)])
def test_max_pool_nan_wins_like_torch(kw):
    """A window holding NaNs gives NaN and sends its gradient to its last NaN, as PyTorch's
    ``val > max || isnan(val)`` (not to the largest number, not to the first NaN)."""
    x = _distinct((2, 2, 6, 8), seed=9)  # kernel_size=2 takes the tiled path (pool_tiled.py)
    x[np.random.default_rng(10).random(x.shape) < 0.2] = np.nan  # windows with none, one and several NaNs
    nan = dict(equal_nan=True)
    xs, ts = dlcore.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for (y, i), (ry, ri) in [(F.max_pool2d(xs, return_indices=True, **kw),
                              torch.nn.functional.max_pool2d(ts, return_indices=True, **kw)),
                             (F.adaptive_max_pool2d(xs, (4, 3), return_indices=True),
                              torch.nn.functional.adaptive_max_pool2d(ts, (4, 3), return_indices=True))]:
        np.testing.assert_array_equal(i.numpy(), ri.numpy())
        np.testing.assert_allclose(y.detach().numpy(), ry.detach().numpy(), **nan)
        g = np.random.default_rng(11).standard_normal(ry.shape)
        xs.grad = ts.grad = None
        y.backward(dlcore.tensor(g))
        ry.backward(torch.tensor(g))
        np.testing.assert_allclose(xs.grad.numpy(), ts.grad.numpy(), rtol=1e-12, **nan)


def test_pool_padding_larger_than_half_the_kernel_raises_like_torch():
    x = np.zeros((1, 1, 8, 8))
    for kw in (dict(kernel_size=2, padding=2), dict(kernel_size=3, padding=2, dilation=2)):
        with pytest.raises(RuntimeError, match="pad should be"):
            torch.nn.functional.max_pool2d(torch.tensor(x), **kw)
        with pytest.raises(ValueError, match="at most half the kernel"):
            F.max_pool2d(dlcore.tensor(x), **kw)
    with pytest.raises(ValueError, match="at most half the kernel"):
        nn.AvgPool2d(2, padding=2)(dlcore.tensor(x))


def test_pool_argument_errors():
    x = dlcore.zeros(1, 1, 6, 6)
    with pytest.raises(ValueError, match="dilation >= 1"):
        F.max_pool2d(x, 2, dilation=0)
    with pytest.raises(ValueError, match="ceil_mode as a bool"):
        F.max_pool2d(x, 2, ceil_mode="yes")
    with pytest.raises(ValueError, match="divisor_override >= 1"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(x, (1, 2, 3))
    with pytest.raises(ValueError, match="output_size >= 1"):
        F.adaptive_max_pool2d(x, 0)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("dims,padding", [(2, 1), (2, (2, 1)), (2, "same"), (1, 2), (1, "same")])
def test_conv_padding_modes_match_torch(mode, dims, padding):
    cls, tcls = (nn.Conv2d, torch.nn.Conv2d) if dims == 2 else (nn.Conv1d, torch.nn.Conv1d)
    kw = dict(in_channels=2, out_channels=3, kernel_size=3 if dims == 2 else 4, padding=padding, padding_mode=mode)
    ours, theirs = cls(**kw), tcls(**kw).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.numpy()))
        theirs.bias.copy_(torch.tensor(ours.bias.numpy() + 0.5))
    ours.bias.array[...] += 0.5
    x = np.random.default_rng(5).standard_normal((2, 2, 6, 5) if dims == 2 else (2, 2, 7))
    ours.weight.array = ours.weight.array.astype(np.float64)
    ours.bias.array = ours.bias.array.astype(np.float64)
    _both(lambda x: ours(x), lambda x: theirs(x), x)
    assert (mode != "zeros") == ("padding_mode" in repr(ours))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pads", [((2, 3, 5, 4), (1, 2, 3, 0)), ((2, 3, 6), (2, 3)), ((1, 2, 4, 5), (0, 0, 2, 1))])
def test_pad_matches_torch(mode, shape, pads):
    x = np.random.default_rng(6).standard_normal(shape)
    _both(lambda x: F.pad(x, pads, mode=mode), lambda x: torch.nn.functional.pad(x, pads, mode=mode), x)


def test_pad_value_and_errors():
    x = np.random.default_rng(7).standard_normal((1, 2, 3))
    _both(lambda x: F.pad(x, (1, 1, 2, 0), value=-2.5), lambda x: torch.nn.functional.pad(x, (1, 1, 2, 0), value=-2.5), x)
    with pytest.raises(ValueError, match="mode in"):
        F.pad(dlcore.tensor(x), (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="needs pads <"):
        F.pad(dlcore.tensor(x), (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="negative"):
        F.pad(dlcore.tensor(x), (-1, 0))
    with pytest.raises(ShapeError, match="pairs"):
        F.pad(dlcore.tensor(x), (1, 1, 1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="even-length"):
        F.pad(dlcore.tensor(x), (1,))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_pool_configurations_match_torch(data):
    """Random kernel / stride / padding / dilation / ceil_mode / count_include_pad against torch."""
    k = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    s = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    p = (data.draw(st.integers(0, k[0] // 2)), data.draw(st.integers(0, k[1] // 2)))
    d = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    ceil = data.draw(st.booleans())
    H = data.draw(st.integers(max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0]), 10))
    W = data.draw(st.integers(max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1]), 10))
    x = _distinct((2, 2, H, W), seed=data.draw(st.integers(0, 99)))
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil)
    # a dilated window made only of padding: torch's gradient then lands outside the plane (an
    # index past it), dlcore's nowhere; both give -inf. Compare only windows with a real tap.
    for size, kk, ss, pp, dd in zip((H, W), k, s, p, d):
        n_out = conv_output_size(size, kk, ss, pp, dd, ceil)
        assume(all(any(0 <= o * ss - pp + j * dd < size for j in range(kk)) for o in range(n_out)))
    _both(lambda x: F.max_pool2d(x, dilation=d, return_indices=True, **kw),
          lambda x: torch.nn.functional.max_pool2d(x, dilation=d, return_indices=True, **kw), x)
    if H + 2 * p[0] >= k[0] and W + 2 * p[1] >= k[1]:
        cip = data.draw(st.booleans())
        _both(lambda x: F.avg_pool2d(x, count_include_pad=cip, **kw),
              lambda x: torch.nn.functional.avg_pool2d(x, count_include_pad=cip, **kw), x)


@pytest.mark.parametrize("cls", ["Conv1d", "Conv2d"])
def test_conv_layers_take_device_and_dtype_like_torch(cls, device):
    layer = getattr(nn, cls)(2, 4, 3, 1, 1, 1, 1, True, "zeros", device=device, dtype=dlcore.float64)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    assert layer.weight.device == dlcore.device(device) and layer.weight.requires_grad
    ref = getattr(torch.nn, cls)(2, 4, 3, 1, 1, 1, 1, True, "zeros", device="cpu", dtype=torch.float64)
    assert layer.weight.shape == tuple(ref.weight.shape)

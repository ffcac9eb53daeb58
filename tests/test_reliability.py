"""Reliability (issues 7 and 11): clear errors for bad input to layers and ops, devices, gradient
clipping and property tests. The other areas have their own modules: test_reliability_args.py
(arguments of fit, callbacks, metrics, scalers, datasets), test_reliability_nonfinite.py (NaN/Inf in
fit), test_reliability_resume.py (load_state_dict, resume, determinism), test_reliability_files.py
(damaged and hostile files), test_fuzz_files.py (fuzzing), test_faults.py (kill -9).

Every bad input must raise a dlcore exception whose message names the layer or op, what it
expected and what it got, and must never change state half-way.
"""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.backend import CPU, Device
from dlcore.datasets import IDXFormatError
from dlcore.errors import (
    CheckpointError,
    DeviceError,
    DlcoreError,
    DTypeError,
    RangeError,
    ShapeError,
)
from dlcore.functional.conv import conv2d
from dlcore.functional.pool import avg_pool2d, max_pool2d
from dlcore.functional.window import conv_output_size
from dlcore.nn import AvgPool2d, Conv2d, MaxPool2d
from dlcore.nn.utils import clip_grad_norm_

T = dlcore.tensor
Z = dlcore.zeros


def ints(*values):
    return T(np.array(values, np.int64))


# --------------------------------------------------------------------------- clear errors
# (id, bad call, exception type, every fragment the message must contain)
BAD_INPUTS = [
    ("linear-3d-input", lambda: nn.Linear(784, 256)(Z(64, 1, 28, 28)), ShapeError,
     ["Linear(784→256) expected input (*, 784), got (64, 1, 28, 28): did you forget Flatten?"]),
    ("linear-1d-wrong-size", lambda: nn.Linear(784, 256)(Z(10)), ShapeError, ["Linear(784→256)", "(*, 784)", "(10,)"]),
    ("linear-scalar", lambda: nn.Linear(3, 2)(T(1.0)), ShapeError, ["Linear(3→2)", "got ()"]),
    ("linear-float64", lambda: nn.Linear(3, 2)(T(np.zeros((2, 3)))), DTypeError, ["Linear(3→2)", "float32", "float64"]),
    ("linear-int", lambda: nn.Linear(3, 2)(ints(1, 2, 3)), DTypeError, ["Linear(3→2)", "int64"]),
    ("linear-empty-batch", lambda: nn.Linear(3, 2)(Z(0, 3)), ShapeError, ["Linear(3→2)", "empty batch (0, 3)"]),
    ("conv-wrong-channels", lambda: Conv2d(3, 8, 3)(Z(2, 1, 28, 28)), ShapeError,
     ["Conv2d(3→8, k=3)", "3 channels (N, 3, H, W)", "got (2, 1, 28, 28)"]),
    ("conv-3d-input", lambda: Conv2d(1, 8, 3)(Z(1, 28, 28)), ShapeError,
     ["Conv2d(1→8, k=3)", "4-D input", "got (1, 28, 28)", "add a batch dimension"]),
    ("conv-2d-input", lambda: Conv2d(1, 8, 3)(Z(28, 28)), ShapeError, ["Conv2d(1→8, k=3)", "4-D input", "(28, 28)"]),
    ("conv2d-fn-3d-input", lambda: conv2d(Z(3, 8, 8), Z(4, 3, 3, 3)), ShapeError, ["conv2d", "4-D input", "(3, 8, 8)"]),
    ("conv-kernel-bigger-than-input", lambda: Conv2d(3, 8, 3)(Z(2, 3, 2, 2)), ShapeError,
     ["Conv2d(3→8, k=3)", "kernel 3×3 is larger than the padded input 2×2"]),
    ("conv-kernel-bigger-than-padded", lambda: Conv2d(3, 8, 7, padding=1)(Z(2, 3, 4, 4)), ShapeError,
     ["kernel 7×7 is larger than the padded input 6×6", "padding (1, 1, 1, 1)"]),
    ("conv-dilated-kernel-too-big", lambda: Conv2d(1, 1, 3, dilation=3)(Z(1, 1, 6, 6)), ShapeError,
     ["spans 7×7", "larger than the padded input 6×6"]),
    ("conv-int-input", lambda: Conv2d(1, 2, 3)(T(np.zeros((1, 1, 5, 5), np.int64))), DTypeError,
     ["Conv2d(1→2, k=3)", "floating-point", "int64"]),
    ("maxpool-3d-input", lambda: MaxPool2d(2)(Z(3, 8, 8)), ShapeError, ["MaxPool2d(2)", "4-D input", "(3, 8, 8)"]),
    ("avgpool-2d-input", lambda: AvgPool2d(2)(Z(8, 8)), ShapeError, ["AvgPool2d(2)", "4-D input", "(8, 8)"]),
    ("maxpool-window-bigger-than-input", lambda: MaxPool2d(5)(Z(1, 1, 4, 4)), ShapeError,
     ["MaxPool2d(5)", "window 5×5 is larger than the padded input 4×4"]),
    ("avg_pool2d-window-bigger-than-input", lambda: avg_pool2d(Z(1, 1, 3, 3), 4), ShapeError,
     ["avg_pool2d", "window 4×4", "3×3"]),
    ("ce-target-too-big", lambda: F.cross_entropy(Z(2, 3), ints(0, 3)), RangeError,
     ["cross_entropy expected class targets in [0, 2], got values in [0, 3]"]),
    ("ce-negative-target", lambda: F.cross_entropy(Z(2, 3), ints(-1, 0)), RangeError, ["[0, 2]", "[-1, 0]"]),
    ("nll-target-too-big", lambda: F.nll_loss(Z(2, 3), ints(0, 5)), RangeError, ["nll_loss", "[0, 2]"]),
    ("ce-float-targets", lambda: F.cross_entropy(Z(2, 3), T([0.0, 1.0])), DTypeError,
     ["cross_entropy expected integer class targets (int64), got dtype float32"]),
    ("ce-one-hot-targets", lambda: F.cross_entropy(Z(2, 3), T(np.eye(3, dtype=np.float32)[:2, :2])), DTypeError,
     ["integer class targets"]),
    ("ce-int-logits", lambda: F.cross_entropy(ints(1, 2, 3).reshape(1, 3), ints(0)), DTypeError,
     ["cross_entropy expected floating-point scores", "int64"]),
    ("ce-1d-scores", lambda: F.cross_entropy(Z(3), ints(0)), ShapeError, ["scores of shape (N, C), got (3,)"]),
    ("ce-targets-n-by-1", lambda: F.cross_entropy(Z(4, 2), T(np.zeros((4, 1), np.int64))), ShapeError,
     ["targets of shape (4,)", "got (4, 1)"]),
    ("ce-empty-batch", lambda: F.cross_entropy(Z(0, 3), T(np.zeros(0, np.int64))), ShapeError,
     ["cross_entropy got an empty batch (0, 3)"]),
    ("mse-empty-batch", lambda: F.mse_loss(Z(0), Z(0)), ShapeError, ["mse_loss got an empty batch"]),
    ("mse-shape-mismatch", lambda: F.mse_loss(Z(4, 1), Z(4)), ShapeError, ["input (4, 1) and target (4,)"]),
    ("bce-not-probabilities", lambda: F.binary_cross_entropy(T([2.0]), T([1.0])), RangeError,
     ["binary_cross_entropy expected probabilities in [0, 1]", "sigmoid"]),
    ("int-requires-grad", lambda: T([1, 2], requires_grad=True), DTypeError,
     ["requires_grad needs a floating-point tensor, got dtype int64"]),
    ("int-requires-grad_", lambda: ints(1, 2).requires_grad_(), DTypeError, ["floating-point", "int64"]),
    ("bool-parameter", lambda: nn.Parameter(np.zeros(2, bool)), DTypeError, ["floating-point", "bool"]),
    ("add-not-broadcastable", lambda: Z(2, 3) + Z(4), ShapeError, ["add cannot broadcast shapes (2, 3) and (4,)"]),
    ("mul-not-broadcastable", lambda: Z(2, 3) * Z(3, 2), ShapeError, ["mul cannot broadcast shapes (2, 3) and (3, 2)"]),
    ("matmul-inner-mismatch", lambda: Z(2, 3) @ Z(4, 5), ShapeError, ["matmul", "(3)", "(4)", "(2, 3) @ (4, 5)"]),
    ("matmul-batch-mismatch", lambda: Z(2, 2, 3) @ Z(3, 3, 2), ShapeError, ["batch dimensions (2,) and (3,)"]),
    ("reshape-wrong-size", lambda: Z(2, 3).reshape(4), ShapeError, ["reshape cannot turn (2, 3) (6 elements) into (4,)"]),
    ("flatten-1d", lambda: nn.Flatten()(Z(3)), ShapeError, ["Flatten(start_dim=1)", "(3,)"]),
    ("unknown-device", lambda: dlcore.device("gpu"), DeviceError, ["'cpu', 'cuda', 'cuda:N' or 'auto'", "'gpu'"]),
]


@pytest.mark.parametrize("call,exc,fragments", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_raises_a_clear_dlcore_error(call, exc, fragments):
    with pytest.raises(exc) as info:
        call()
    assert isinstance(info.value, DlcoreError), f"{type(info.value).__name__} is not a DlcoreError"
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


def test_linear_message_is_exactly_the_documented_one():
    with pytest.raises(ShapeError) as info:
        nn.Linear(784, 256)(Z(64, 1, 28, 28))
    assert str(info.value) == "Linear(784→256) expected input (*, 784), got (64, 1, 28, 28): did you forget Flatten?"


def test_error_types_keep_their_builtin_bases():
    assert issubclass(ShapeError, ValueError) and issubclass(RangeError, ValueError)
    assert issubclass(DTypeError, TypeError) and issubclass(DeviceError, RuntimeError)
    assert issubclass(CheckpointError, ValueError) and issubclass(IDXFormatError, ValueError)


def test_one_sample_and_python_lists_are_fine():
    layer = nn.Linear(4, 2)
    assert layer(Z(4)).shape == (2,)  # (*, 4) includes a single unbatched sample, as in PyTorch
    assert layer([[0.5, 1.0, 1.5, 2.0]]).dtype == np.float32  # a list of floats is float32, not float64


def test_conv_window_that_fits_exactly_and_a_stride_bigger_than_the_input_are_valid():
    assert Conv2d(1, 2, 4)(Z(1, 1, 4, 4)).shape == (1, 2, 1, 1)
    assert Conv2d(1, 2, 1, stride=10)(Z(1, 1, 4, 4)).shape == (1, 2, 1, 1)  # floor((4-1)/10)+1, as in PyTorch
    assert MaxPool2d(2, stride=10)(Z(1, 1, 4, 4)).shape == (1, 1, 1, 1)


@pytest.mark.parametrize("layer", [Conv2d(3, 8, 3), MaxPool2d(2), AvgPool2d(2)], ids=["conv", "maxpool", "avgpool"])
def test_empty_batch_to_conv_and_pool_is_a_shape_error(layer):
    with pytest.raises(ShapeError, match="empty batch"):
        layer(Z(0, 3, 8, 8))


# --------------------------------------------------------------------------- devices
class FakeCudaArray(np.ndarray):
    """A NumPy array that the patched device_of reports as living on cuda:0."""


def fake_device_of(a):
    return Device("cuda", 0) if isinstance(a, FakeCudaArray) else CPU


@pytest.fixture
def fake_gpu(monkeypatch):
    """Make arrays of type FakeCudaArray look like GPU arrays to the device checks, without a GPU."""
    monkeypatch.setattr(sys.modules["dlcore.autograd"], "device_of", fake_device_of)
    monkeypatch.setattr(sys.modules["dlcore.tensor"], "device_of", fake_device_of)
    return lambda *shape: dlcore.Tensor(np.zeros(shape, np.float32).view(FakeCudaArray))


def test_device_check_helper_with_fake_devices(fake_gpu):
    from dlcore.autograd import _check_same_device

    cpu, gpu = np.zeros(2, np.float32), np.zeros(2, np.float32).view(FakeCudaArray)
    _check_same_device("Add", [cpu, None, cpu])  # one device: fine
    with pytest.raises(DeviceError, match=r"Add expected all inputs on one device, got \['cpu', 'cuda:0'\]"):
        _check_same_device("Add", [cpu, gpu])


def test_mixing_devices_in_an_op_is_a_device_error(fake_gpu):
    with pytest.raises(DeviceError, match=r"Mul expected all inputs on one device.*\.to\(device\)"):
        T([1.0, 2.0]) * fake_gpu(2)
    with pytest.raises(DeviceError, match="CrossEntropy"):
        F.cross_entropy(fake_gpu(2, 3), ints(0, 1))


def test_cpu_layer_fed_a_gpu_tensor_names_the_layer(fake_gpu):
    with pytest.raises(DeviceError) as info:
        nn.Linear(3, 2, device="cpu")(fake_gpu(4, 3))
    assert str(info.value) == ("Linear(3→2) has its weights on cpu but got input on cuda:0: move the input with "
                               "x.to('cpu') or the model with model.to('cuda:0')")


def test_dlcore_device_cuda_without_a_usable_gpu_is_a_clear_error(monkeypatch):
    if dlcore.cuda.is_available():
        pytest.skip("a GPU is usable here")
    monkeypatch.setenv("DLCORE_DEVICE", "cuda")
    with pytest.raises(DeviceError, match="CUDA was requested but is not usable: "):
        T([1.0])


@pytest.mark.skipif(not dlcore.cuda.is_available(), reason="needs a GPU")
def test_real_gpu_mixing_is_a_device_error(monkeypatch):
    monkeypatch.setenv("DLCORE_DEVICE", "cpu")
    model, conv = nn.Linear(3, 2), Conv2d(1, 2, 3)  # built on the CPU
    monkeypatch.setenv("DLCORE_DEVICE", "cuda")
    x = dlcore.ones(4, 3)  # made on the GPU by DLCORE_DEVICE
    assert x.device.type == "cuda"
    with pytest.raises(DeviceError, match=r"Linear\(3→2\) has its weights on cpu but got input on cuda:0"):
        model(x)
    with pytest.raises(DeviceError, match="one device"):
        F.cross_entropy(dlcore.zeros(2, 3), ints(0, 1).to("cpu"))
    with pytest.raises(DeviceError, match="one device"):
        conv(dlcore.zeros(1, 1, 5, 5))


# --------------------------------------------------------------------------- gradient clipping
def test_clip_grad_norm_by_hand():
    a, b = nn.Parameter(np.zeros(2, np.float32)), nn.Parameter(np.zeros(1, np.float32))
    a.grad, b.grad = T([3.0, 4.0]), T([12.0])
    assert clip_grad_norm_([a, b], max_norm=100.0).item() == pytest.approx(13.0)
    assert a.grad.tolist() == [3.0, 4.0] and b.grad.tolist() == [12.0]  # under the limit: untouched
    total = clip_grad_norm_([a, b], max_norm=6.5).item()
    scale = np.float32(6.5 / (13.0 + 1e-6))
    assert total == pytest.approx(13.0)
    np.testing.assert_allclose(a.grad.numpy(), np.float32([3.0, 4.0]) * scale, rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), [12.0 * scale], rtol=1e-6)
    a.grad, b.grad = T([3.0, -4.0]), T([1.0])
    assert clip_grad_norm_([a, b], max_norm=2.0, norm_type=float("inf")).item() == 4.0
    np.testing.assert_allclose(a.grad.numpy(), [1.5, -2.0], rtol=1e-6)
    a.grad = T([np.nan, 1.0])
    assert not np.isfinite(clip_grad_norm_([a, b], max_norm=1.0).item())  # the caller can see it


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (4,), (2, 4)]]
    ours = [nn.Parameter(np.zeros_like(g)) for g in grads]
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = T(g.copy()), torch.tensor(g.copy())
    total = clip_grad_norm_(ours, max_norm=0.5, norm_type=norm_type).item()
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm=0.5, norm_type=norm_type)
    assert total == pytest.approx(float(expected), rel=1e-5)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- property tests
OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b}


@given(st.data())
def test_broadcast_arithmetic_and_gradients_match_torch(data):
    # test_autograd.py checks shapes for mul and fixed-shape gradchecks; this checks values for all four
    torch = pytest.importorskip("torch")
    name = data.draw(st.sampled_from(sorted(OPS)))
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    other = data.draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=3, max_side=3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    f64 = lambda v: np.asarray(v, np.float64)  # noqa: E731  (0-d draws come back as Python floats)
    a, b = f64(rng.standard_normal(shape)), f64(rng.uniform(0.5, 2.0, other) * rng.choice([-1, 1], other))
    w = f64(rng.standard_normal(np.broadcast_shapes(shape, other)))
    x, z = T(a, requires_grad=True), T(b, requires_grad=True)
    (OPS[name](x, z) * T(w)).sum().backward()
    tx, tz = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out = OPS[name](tx, tz)
    (out * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(OPS[name](x, z).numpy(), out.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-10, atol=1e-12)


@given(n=st.integers(1, 2), c=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9), f=st.integers(1, 2),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)), s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       p=st.tuples(st.integers(0, 2), st.integers(0, 2)), d=st.tuples(st.integers(1, 2), st.integers(1, 2)))
def test_conv_output_shape_follows_the_formula(n, c, h, w, f, k, s, p, d):
    x = dlcore.randn(n, c, h, w, requires_grad=True)
    weight = dlcore.randn(f, c, *k, requires_grad=True)
    fits = all(size + 2 * pad >= dil * (kk - 1) + 1 for size, pad, dil, kk in zip((h, w), p, d, k))
    if not fits:
        with pytest.raises(ShapeError, match="larger than the padded input"):
            conv2d(x, weight, stride=s, padding=p, dilation=d)
        return
    y = conv2d(x, weight, stride=s, padding=p, dilation=d)
    expected = tuple(conv_output_size(size, kk, ss, pp, dd) for size, kk, ss, pp, dd in zip((h, w), k, s, p, d))
    assert y.shape == (n, f) + expected
    assert expected == tuple((size + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                             for size, kk, ss, pp, dd in zip((h, w), k, s, p, d))
    y.sum().backward()
    assert x.grad.shape == x.shape and weight.grad.shape == weight.shape


@given(h=st.integers(1, 9), w=st.integers(1, 9), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), data=st.data(), kind=st.sampled_from(["max", "avg"]))
def test_pool_output_shape_follows_the_formula(h, w, k, s, data, kind):
    p = (data.draw(st.integers(0, k[0] // 2)), data.draw(st.integers(0, k[1] // 2)))
    x = dlcore.randn(2, 3, h, w, requires_grad=True)
    pool = max_pool2d if kind == "max" else avg_pool2d
    if h + 2 * p[0] < k[0] or w + 2 * p[1] < k[1]:
        with pytest.raises(ShapeError, match="larger than the padded input"):
            pool(x, k, s, p)
        return
    y = pool(x, k, s, p)
    assert y.shape == (2, 3, (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1)
    y.sum().backward()
    assert x.grad.shape == x.shape


leaves = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=6)
          | hnp.arrays(st.sampled_from([np.float32, np.float64, np.int32, np.uint8, np.bool_]),
                       hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)))
trees = st.recursive(leaves, lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.text(min_size=1, max_size=6).filter(lambda k: k != "__ndarray__"), kids,
                                       max_size=3), max_leaves=12)


def same_tree(a, b):
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@given(tree=trees)
def test_nested_checkpoints_round_trip(tmp_path_factory, tree):
    # test_serialization.py round-trips flat dicts of arrays; this adds nesting, lists and scalars
    path = tmp_path_factory.mktemp("tree") / "t.npz"
    dlcore.save({"root": tree}, path)
    assert same_tree(dlcore.load(path), {"root": tree})

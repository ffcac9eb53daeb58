"""Reliability (issue 7): clear errors for bad input, NaN handling, safe checkpoints, bit-exact
resuming, determinism, and property tests. The subprocess (kill) tests are in test_faults.py.

Every bad input must raise a dlcore exception whose message names the layer or op, what it
expected and what it got, and must never change state half-way.
"""

import json
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.backend import CPU, Device
from dlcore.data import DataLoader, TensorDataset
from dlcore.datasets import IDXFormatError, playground, read_idx
from dlcore.errors import (
    CheckpointError,
    DeviceError,
    DlcoreError,
    DTypeError,
    NonFiniteLossError,
    RangeError,
    ShapeError,
)
from dlcore.functional.conv import conv2d
from dlcore.functional.pool import avg_pool2d, max_pool2d
from dlcore.functional.window import conv_output_size
from dlcore.nn import AvgPool2d, Conv2d, MaxPool2d
from dlcore.nn.utils import clip_grad_norm_
from dlcore.optim.lr_scheduler import StepLR
from dlcore.train import Callback, ModelCheckpoint, fit

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
    ("ce-one-hot-targets", lambda: F.cross_entropy(Z(2, 3), T(np.eye(3, dtype=np.float32)[:2])), DTypeError,
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
        nn.Linear(3, 2)(fake_gpu(4, 3))
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


# --------------------------------------------------------------------------- load_state_dict
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.second = nn.Linear(4, 2)

    def forward(self, x):
        return self.second(self.first(x))


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    net = Net()
    before = weights(net)
    state = {k: v + 1.0 for k, v in weights(net).items()}
    del state["first.bias"]
    state["extra"] = np.zeros(1)
    state["second.weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ShapeError) as info:
        net.load_state_dict(state)
    assert str(info.value) == ("Net.load_state_dict: wrong shapes: second.weight: expected (2, 4), got (3, 3) | "
                               "missing keys: ['first.bias'] | unexpected keys: ['extra']")
    for k, v in weights(net).items():  # first.weight was fine, but nothing was copied
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_bad_dtype_is_reported_before_anything_is_copied():
    net = Net()
    before = weights(net)
    state = {k: v + 1.0 for k, v in weights(net).items()}
    state["second.bias"] = np.array(["a", "b"])
    with pytest.raises(DTypeError, match="Net.load_state_dict: second.bias: expected a numeric array, got dtype <U1"):
        net.load_state_dict(state)
    np.testing.assert_array_equal(net.first.weight.numpy(), before["first.weight"])


def test_load_state_dict_strict_false_applies_the_rest_but_never_a_wrong_shape():
    src, dst = Net(), Net()
    state = weights(src)
    del state["second.bias"]
    state["stray"] = np.ones(3)
    result = dst.load_state_dict(state, strict=False)
    assert result.missing_keys == ["second.bias"] and result.unexpected_keys == ["stray"]
    np.testing.assert_array_equal(dst.second.weight.numpy(), src.second.weight.numpy())
    state["first.weight"] = np.zeros((5, 4), np.float32)
    with pytest.raises(ShapeError, match=r"first.weight: expected \(4, 4\), got \(5, 4\)"):
        dst.load_state_dict(state, strict=False)


def test_load_state_dict_given_a_training_checkpoint_or_a_list(tmp_path):
    X, y = blobs(16)
    model = mlp()
    fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1, batch_size=8,
        progress=False, callbacks=[ModelCheckpoint(tmp_path / "c.npz")])
    ckpt = dlcore.load(tmp_path / "c.npz")
    with pytest.raises(ShapeError, match=r"got a whole training checkpoint .*: pass its model part, state\['model'\]"):
        mlp().load_state_dict(ckpt)
    mlp().load_state_dict(ckpt["model"])
    with pytest.raises(TypeError, match="expected a dict of arrays by name, got list"):
        mlp().load_state_dict([1, 2])


def test_optimizer_state_of_another_type_is_refused():
    model = Net()
    state = dlcore.optim.SGD(model.parameters(), lr=0.1, momentum=0.9).state_dict()
    with pytest.raises(CheckpointError, match="Adam.load_state_dict got state saved by SGD"):
        dlcore.optim.Adam(model.parameters()).load_state_dict(state)


# --------------------------------------------------------------------------- files
def idx_bytes(array, magic=None):
    codes = {np.dtype(np.uint8): 0x08}
    head = bytes([0, 0, codes[array.dtype], array.ndim]) if magic is None else magic.to_bytes(4, "big")
    return head + b"".join(int(n).to_bytes(4, "big") for n in array.shape) + array.tobytes()


@pytest.mark.parametrize("name,payload,kw,fragment", [
    ("train-images-idx3-ubyte", idx_bytes(np.zeros((2, 4, 4), np.uint8))[:-5], {}, "is truncated"),
    ("picture.png", b"\x89PNG\r\n\x1a\n" + bytes(16), {}, "is not an IDX file"),
    ("train-labels-idx1-ubyte", idx_bytes(np.zeros(3, np.uint8)), {"expect_magic": 0x803}, "expected 0x00000803"),
])
def test_bad_idx_files_name_the_file(tmp_path, name, payload, kw, fragment):
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(IDXFormatError) as info:
        read_idx(path, **kw)
    assert str(path) in str(info.value) and fragment in str(info.value)


def checkpoint_with_meta(path, meta, member=None):
    """A zip laid out like a dlcore checkpoint, with the given metadata (dict or object array)."""
    with zipfile.ZipFile(path, "w") as z:
        with z.open("__dlcore__.npy", "w") as f:
            if isinstance(meta, dict):
                np.lib.format.write_array(f, np.frombuffer(json.dumps(meta).encode(), np.uint8))
            else:
                np.lib.format.write_array(f, meta, allow_pickle=True)
        if member is not None:
            with z.open("a0.npy", "w") as f:
                np.lib.format.write_array(f, member)


def test_checkpoint_format_version_is_checked(tmp_path):
    tree = {"w": {"__ndarray__": "a0"}}
    checkpoint_with_meta(tmp_path / "ok.npz", {"format": "dlcore-checkpoint", "version": 1, "tree": tree}, np.ones(2))
    np.testing.assert_array_equal(dlcore.load(tmp_path / "ok.npz")["w"], np.ones(2))  # the crafted layout is right
    checkpoint_with_meta(tmp_path / "v2.npz", {"format": "dlcore-checkpoint", "version": 2, "tree": tree}, np.ones(2))
    with pytest.raises(CheckpointError, match="v2.npz has format version 2, this dlcore reads version 1"):
        dlcore.load(tmp_path / "v2.npz")
    checkpoint_with_meta(tmp_path / "other.npz", {"format": "something-else", "version": 1, "tree": tree}, np.ones(2))
    with pytest.raises(CheckpointError, match="has format 'something-else', expected 'dlcore-checkpoint'"):
        dlcore.load(tmp_path / "other.npz")


class MakesMarker:
    path = None

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_metadata_member_is_refused_and_never_runs(tmp_path):
    # test_serialization.py covers a pickle file and a pickled weight; here the metadata itself is pickled
    marker = tmp_path / "ran"
    MakesMarker.path = str(marker)
    checkpoint_with_meta(tmp_path / "evil.npz", np.array([MakesMarker()], dtype=object))
    with pytest.raises(CheckpointError):
        dlcore.load(tmp_path / "evil.npz")
    assert not marker.exists()


def test_damaged_checkpoints_are_checkpoint_errors(tmp_path):
    path = tmp_path / "c.npz"
    dlcore.save({"w": np.arange(5000.0)}, path)
    data = path.read_bytes()
    cases = {
        "cut.npz": (data[: len(data) // 2], "is truncated or corrupt"),
        "tiny.npz": (data[:10], "is truncated or corrupt"),
        "empty.npz": (b"", "is empty (0 bytes)"),
        "flipped.npz": (data[:2000] + bytes([data[2000] ^ 0xFF]) + data[2001:], "Bad CRC-32"),
        "pickle.npz": (b"\x80\x04K\x01.", "is a pickle file, not a dlcore checkpoint"),
        "text.npz": (b"hello", "is not a dlcore checkpoint"),
    }
    for name, (payload, fragment) in cases.items():
        (tmp_path / name).write_bytes(payload)
        with pytest.raises(CheckpointError) as info:
            dlcore.load(tmp_path / name)
        assert name in str(info.value) and fragment in str(info.value), str(info.value)
    with pytest.raises(FileNotFoundError, match="nope.npz does not exist"):
        dlcore.load(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        dlcore.load(tmp_path)
    np.testing.assert_array_equal(dlcore.load(path)["w"], np.arange(5000.0))


def test_a_torch_file_is_refused_without_unpickling(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="holds pickled data .*never unpickles"):
        dlcore.load(tmp_path / "model.pt")


def test_reserved_key_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        dlcore.save({"x": {"__ndarray__": "a0"}}, tmp_path / "c.npz")
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- NaN / Inf in fit
def blobs(n=40, seed=0):
    X, y = playground("gauss", n, noise=0.0, seed=seed)
    return X / 4, y


def mlp(dropout=0.0):
    layers = [nn.Linear(2, 8), nn.Tanh()] + ([nn.Dropout(dropout)] if dropout else []) + [nn.Linear(8, 2)]
    return nn.Sequential(*layers)


class Poison(Callback):
    """After epoch 1, snapshot the weights and put NaN into some training rows (in place)."""

    def __init__(self, X, rows):
        self.X, self.rows, self.after_epoch_1 = X, rows, None

    def on_epoch_end(self, run, epoch, logs):
        if epoch == 1:
            self.after_epoch_1 = weights(run.model)
            self.X[self.rows] = np.nan


def batch_with_nan(X, y, batch_size, seed, epoch_index):
    """Which 1-based batch of that epoch holds the first NaN row, from the public DataLoader."""
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True, seed=seed)
    loader.set_epoch(epoch_index)
    for b, (xb, _) in enumerate(loader, start=1):
        if np.isnan(xb.numpy()).any():
            return b, len(loader)


def test_nan_in_epoch_2_stops_naming_epoch_and_batch_and_keeps_the_epoch_1_checkpoint(tmp_path):
    X, y = blobs(40)
    dlcore.manual_seed(0)
    model = mlp()
    poison = Poison(X, [17])
    path = tmp_path / "last.npz"
    with pytest.raises(NonFiniteLossError) as info:
        fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), (X, y), epochs=4,
            batch_size=8, progress=False, seed=3, callbacks=[ModelCheckpoint(path), poison])
    batch, count = batch_with_nan(X, y, batch_size=8, seed=3, epoch_index=1)  # X now holds the NaN row
    assert f"the loss is nan at epoch 2, batch {batch} of {count}" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["last.npz"]  # no temp file, no epoch-2 checkpoint
    ckpt = dlcore.load(path)
    assert ckpt["epoch"] == 1
    for k, v in ckpt["model"].items():
        np.testing.assert_array_equal(v, poison.after_epoch_1[k])
    fresh = mlp()
    fresh.load_state_dict(ckpt["model"])
    assert all(np.isfinite(v).all() for v in weights(model).values())  # the NaN batch made no update


class CountingSGD(dlcore.optim.SGD):
    steps = 0

    def step(self):
        CountingSGD.steps += 1
        super().step()


def test_nan_batches_can_be_skipped_and_the_weights_stay_finite(caplog):
    X, y = blobs(40)
    dlcore.manual_seed(0)
    model = mlp()
    CountingSGD.steps = 0
    h = fit(model, F.cross_entropy, CountingSGD(model.parameters(), lr=0.1, momentum=0.9), (X, y), epochs=3,
            batch_size=8, progress=False, seed=3, on_nonfinite="skip", callbacks=[Poison(X, [3, 4])])
    assert 5 + 2 * 3 <= CountingSGD.steps <= 5 + 2 * 4  # rows 3 and 4 spoil one or two of 5 batches
    assert all(np.isfinite(v).all() for v in weights(model).values())
    assert np.isfinite(h["loss"]).all()


def test_skip_gives_up_when_every_batch_is_nan():
    X, y = blobs(16)
    model = mlp()
    with pytest.raises(NonFiniteLossError, match="every batch of epoch 2 .*had a non-finite loss"):
        fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=3, batch_size=8,
            progress=False, on_nonfinite="skip", callbacks=[Poison(X, slice(None))])


def test_empty_datasets_are_refused_by_fit():
    model = mlp()
    opt = dlcore.optim.SGD(model.parameters(), lr=0.1)
    empty = (np.zeros((0, 2), np.float32), np.zeros(0, np.int64))
    with pytest.raises(ShapeError, match=r"fit: train_data is empty \(0 samples, 0 batches\)"):
        fit(model, F.cross_entropy, opt, empty, epochs=1, progress=False)
    with pytest.raises(ShapeError, match=r"fit: val_data is empty"):
        fit(model, F.cross_entropy, opt, blobs(8), epochs=1, progress=False, val_data=empty)


# --------------------------------------------------------------------------- gradient clipping
def test_clip_grad_norm_by_hand():
    a, b = nn.Parameter(np.zeros(2, np.float32)), nn.Parameter(np.zeros(1, np.float32))
    a.grad, b.grad = T([3.0, 4.0]), T([12.0])
    assert clip_grad_norm_([a, b], max_norm=100.0) == pytest.approx(13.0)
    assert a.grad.tolist() == [3.0, 4.0] and b.grad.tolist() == [12.0]  # under the limit: untouched
    total = clip_grad_norm_([a, b], max_norm=6.5)
    scale = np.float32(6.5 / (13.0 + 1e-6))
    assert total == pytest.approx(13.0)
    np.testing.assert_allclose(a.grad.numpy(), np.float32([3.0, 4.0]) * scale, rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), [12.0 * scale], rtol=1e-6)
    a.grad, b.grad = T([3.0, -4.0]), T([1.0])
    assert clip_grad_norm_([a, b], max_norm=2.0, norm_type=float("inf")) == 4.0
    np.testing.assert_allclose(a.grad.numpy(), [1.5, -2.0], rtol=1e-6)
    a.grad = T([np.nan, 1.0])
    assert not np.isfinite(clip_grad_norm_([a, b], max_norm=1.0))  # the caller can see it


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (4,), (2, 4)]]
    ours = [nn.Parameter(np.zeros_like(g)) for g in grads]
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = T(g.copy()), torch.tensor(g.copy())
    total = clip_grad_norm_(ours, max_norm=0.5, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm=0.5, norm_type=norm_type)
    assert total == pytest.approx(float(expected), rel=1e-5)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- resume and determinism
def resumable_setup():
    dlcore.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    opt = dlcore.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, StepLR(opt, step_size=1, gamma=0.5)


@pytest.mark.usefixtures("cpu_only")
@pytest.mark.parametrize("seed", [None, 7])
def test_resume_is_bit_exact_on_cpu(tmp_path, seed):
    X, y = playground("spiral", 96, noise=0.1, seed=1)

    def run(model, opt, sched, epochs, **kw):
        return fit(model, F.cross_entropy, opt, (X, y), epochs=epochs, batch_size=10, scheduler=sched,
                   progress=False, seed=seed, **kw)

    straight = resumable_setup()
    full = run(*straight, 4)

    first = resumable_setup()
    run(*first, 2, callbacks=[ModelCheckpoint(tmp_path / "c.npz")])
    dlcore.manual_seed(99)  # another init and RNG state: the checkpoint must replace all of it
    model, opt, sched = resumable_setup()
    dlcore.manual_seed(99)
    resumed = run(model, opt, sched, 4, resume_from=tmp_path / "c.npz")

    assert resumed["loss"] == full["loss"] and resumed["lr"] == full["lr"]
    for k, v in weights(straight[0]).items():
        np.testing.assert_array_equal(weights(model)[k], v)
    for s_full, s_res in zip(straight[1].state_dict()["state"], opt.state_dict()["state"]):
        np.testing.assert_array_equal(s_full["momentum_buffer"], s_res["momentum_buffer"])


def small_cnn():
    from dlcore.nn.norm import BatchNorm2d

    return nn.Sequential(Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), nn.ReLU(), MaxPool2d(2), nn.Flatten(),
                         nn.Dropout(0.25), nn.Linear(4 * 4 * 4, 3))


@pytest.mark.usefixtures("cpu_only")
def test_manual_seed_makes_cpu_training_bit_reproducible():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((48, 1, 8, 8)).astype(np.float32), rng.integers(0, 3, 48)
    runs = []
    for _ in range(2):
        dlcore.manual_seed(5)
        model = small_cnn()
        opt = dlcore.optim.Adam(model.parameters(), lr=0.01)
        h = fit(model, F.cross_entropy, opt, (X, y), epochs=2, batch_size=8, progress=False)  # global-RNG shuffle
        runs.append((h["loss"], weights(model)))
    assert runs[0][0] == runs[1][0]
    for k, v in runs[0][1].items():
        np.testing.assert_array_equal(runs[1][1][k], v)


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
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
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

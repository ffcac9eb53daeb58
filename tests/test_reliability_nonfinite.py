"""Issue 11 item 1: NaN/Inf never reach parameters, buffers or checkpoints.

fit checks the loss, every gradient and every buffer before each optimizer step; the error names
the epoch, the batch and what was non-finite; on_nonfinite="skip" changes nothing; ModelCheckpoint
never writes a non-finite model.
"""

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.data import DataLoader, TensorDataset
from dlcore.datasets import playground
from dlcore.errors import NonFiniteLossError, ShapeError
from dlcore.finite import all_finite, nonfinite_names
from dlcore.nn.norm import BatchNorm1d
from dlcore.train import Callback, ModelCheckpoint, fit


def blobs(n=32, seed=0):
    X, y = playground("gauss", n, noise=0.0, seed=seed)
    return X / 4, y


def state(model, opt):
    """Every number fit may change: parameters, buffers and the optimizer's state."""
    out = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    for i, entry in opt.state_dict()["state"].items():
        out.update({f"opt{i}.{k}": np.array(v, copy=True) for k, v in entry.items()})
    return out


def assert_same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def device_data(X):
    """X as a Tensor on the default device: fit trains on this very memory (no copy), so a callback
    that poisons it in place reaches the run under DLCORE_DEVICE=cuda too (a NumPy X is copied once)."""
    return dlcore.tensor(X)


def batch_of_row(X, y, row, batch_size, seed, epoch_index):
    """Which 1-based batch of that epoch holds ``row``, from the public DataLoader."""
    marker = X.copy()
    marker[:] = 0
    marker[row] = 1
    loader = DataLoader(TensorDataset(marker, y), batch_size=batch_size, shuffle=True, seed=seed)
    loader.set_epoch(epoch_index)
    for b, (xb, _) in enumerate(loader, start=1):
        if xb.numpy().any():
            return b, len(loader)


class Snapshot(Callback):
    """Records the model and optimizer state after each epoch, then runs ``action(epoch)``."""

    def __init__(self, action=None):
        self.states, self.action = {}, action

    def on_epoch_end(self, run, epoch, logs):
        self.states[epoch] = state(run.model, run.optimizer)
        if self.action:
            self.action(run, epoch)


def tanh_net():
    dlcore.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))


def test_fused_check_finds_nan_and_inf_and_names_them():
    assert all_finite([np.ones(3, np.float32), np.arange(3)])  # integers are always finite
    assert not all_finite([np.ones(3, np.float32), np.array([np.inf, -np.inf], np.float32)])
    assert all_finite([np.array([1e308, 1e308])])  # the float64 sum overflows, the values do not
    assert nonfinite_names([("a", np.ones(2)), ("b", np.array([0.0, np.nan])), ("c", np.array([np.inf]))]) == ["b", "c"]


def test_inf_input_with_finite_loss_is_caught_at_its_own_batch_naming_the_gradient(tmp_path):
    """tanh saturates so the loss stays finite, but the gradient of the first layer is NaN."""
    X, y = blobs()
    row = 5
    model = tanh_net()
    opt = dlcore.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    Xd = device_data(X)
    snap = Snapshot(lambda run, epoch: Xd.__setitem__((row, 0), float("inf")) if epoch == 1 else None)
    path = tmp_path / "last.npz"
    with pytest.raises(NonFiniteLossError) as info:
        fit(model, F.cross_entropy, opt, (Xd, y), epochs=3, batch_size=8, seed=2, progress=False,
            callbacks=[snap, ModelCheckpoint(path)])
    batch, count = batch_of_row(X, y, row, 8, seed=2, epoch_index=1)
    message = str(info.value)
    assert "the gradient of 0.weight is NaN or Inf while the loss" in message
    assert f"at epoch 2, batch {batch} of {count}" in message
    assert dlcore.load(path)["epoch"] == 1  # the good checkpoint stays
    assert all_finite([p.array for p in model.parameters()])
    for k, v in dlcore.load(path)["model"].items():
        np.testing.assert_array_equal(v, snap.states[1][k])


def test_skip_drops_a_batch_with_nan_gradients_and_changes_nothing():
    """Train the same data with and without the poisoned batch: skipping it must equal leaving it out."""
    X, y = blobs(16)
    X_bad = X.copy()
    X_bad[8:, 0] = np.inf  # batch 2 of 2 (no shuffle): finite loss through tanh, NaN gradients
    results = []
    for data in ((X_bad, y), (X[:8], y[:8])):
        model = tanh_net()
        opt = dlcore.optim.Adam(model.parameters(), lr=0.01)
        loader = DataLoader(TensorDataset(*data), batch_size=8)
        fit(model, F.cross_entropy, opt, loader, epochs=2, progress=False, on_nonfinite="skip")
        results.append(state(model, opt))
    assert_same(*results)


def bn_net():
    dlcore.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 4), BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_nan_batch_leaves_batchnorm_statistics_and_the_checkpoint_as_they_were(tmp_path):
    X, y = blobs(16)
    X_bad = X.copy()
    X_bad[8, 1] = np.nan
    results = []
    for data in ((X_bad, y), (X[:8], y[:8])):
        model = bn_net()
        opt = dlcore.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        fit(model, F.cross_entropy, opt, DataLoader(TensorDataset(*data), batch_size=8), epochs=2,
            progress=False, on_nonfinite="skip", callbacks=[ModelCheckpoint(tmp_path / "ck.npz")])
        results.append(state(model, opt))
        saved = dlcore.load(tmp_path / "ck.npz")["model"]
        assert all(np.isfinite(v).all() for v in saved.values())
    assert_same(*results)  # running_mean, running_var, num_batches_tracked included


def test_nan_batch_with_batchnorm_raises_at_that_batch_and_restores_the_statistics():
    X, y = blobs(16)
    X[8, 1] = np.nan
    model = bn_net()
    opt = dlcore.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(NonFiniteLossError, match="at epoch 1, batch 2 of 2") as info:
        fit(model, F.cross_entropy, opt, DataLoader(TensorDataset(X, y), batch_size=8), epochs=1, progress=False)
    assert "nothing was updated" in str(info.value)
    buffers = {k: v.numpy() for k, v in model.named_buffers()}
    assert np.isfinite(buffers["1.running_mean"]).all() and np.isfinite(buffers["1.running_var"]).all()
    assert int(buffers["1.num_batches_tracked"]) == 1  # batch 1 counted, batch 2 not


class RunningMax(nn.Module):
    """A buffer that tracks the largest input seen, in the forward pass (as BatchNorm tracks statistics)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("running_max", dlcore.zeros(()))  # on the default device, as torch.zeros

    def forward(self, x):
        if self.training:
            self.running_max.array[...] = self.running_max.xp.maximum(self.running_max.array, x.array.max())
        return x


def test_a_buffer_that_turns_non_finite_is_named_even_when_loss_and_gradients_are_finite():
    X, y = blobs(16)
    X[9, 0] = np.inf  # tanh(inf) = 1 and tanh'(inf) = 0: only the buffer sees the infinity
    dlcore.manual_seed(0)
    model = nn.Sequential(RunningMax(), nn.Tanh(), nn.Linear(2, 2))
    with pytest.raises(NonFiniteLossError, match="at epoch 1, batch 2 of 2") as info:
        fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1),
            DataLoader(TensorDataset(X, y), batch_size=8), epochs=1, progress=False)
    assert "the buffer 0.running_max (e.g. BatchNorm statistics) became NaN or Inf" in str(info.value)
    assert "while the loss" in str(info.value) and "gradient" not in str(info.value)
    assert np.isfinite(model[0].running_max.numpy())  # put back as it was before that batch


def test_a_step_that_overflows_the_weights_is_named_and_never_checkpointed(tmp_path):
    X, y = blobs(16)
    model = tanh_net()
    opt = dlcore.optim.SGD(model.parameters(), lr=1e39)  # finite gradients, infinite weights
    path = tmp_path / "ck.npz"
    with pytest.raises(NonFiniteLossError, match=r"parameter .*weight.* became NaN or Inf .* epoch 1"):
        fit(model, F.cross_entropy, opt, (X, y), epochs=2, batch_size=16, progress=False,
            callbacks=[ModelCheckpoint(path)])
    assert not path.exists()


def test_model_checkpoint_never_writes_non_finite_weights_over_a_good_file(tmp_path, caplog):
    X, y = blobs(16)
    model = tanh_net()
    path = tmp_path / "ck.npz"

    class PoisonAfterEpoch2(Callback):  # a callback (not fit) puts NaN into a weight
        def on_epoch_end(self, run, epoch, logs):
            if epoch == 2:
                run.model[0].weight.array[0, 0] = np.nan
                run.stop_training = True

    ckpt = ModelCheckpoint(path)
    fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=3, batch_size=8,
        progress=False, callbacks=[PoisonAfterEpoch2(), ckpt])
    saved = dlcore.load(path)
    assert saved["epoch"] == 1 and np.isfinite(saved["model"]["0.weight"]).all()
    assert "not saving epoch 2: 0.weight hold NaN or Inf" in caplog.text


# ------------------------------------------------------------------ moved from test_reliability.py
# --------------------------------------------------------------------------- NaN / Inf in fit
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
            self.X[self.rows] = float("nan")


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
    Xd = device_data(X)
    poison = Poison(Xd, [17])
    path = tmp_path / "last.npz"
    with pytest.raises(NonFiniteLossError) as info:
        fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), (Xd, y), epochs=4,
            batch_size=8, progress=False, seed=3, callbacks=[ModelCheckpoint(path), poison])
    batch, count = batch_with_nan(Xd.numpy(), y, batch_size=8, seed=3, epoch_index=1)  # Xd now holds the NaN row
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
    Xd = device_data(X)
    h = fit(model, F.cross_entropy, CountingSGD(model.parameters(), lr=0.1, momentum=0.9), (Xd, y), epochs=3,
            batch_size=8, progress=False, seed=3, on_nonfinite="skip", callbacks=[Poison(Xd, [3, 4])])
    assert 5 + 2 * 3 <= CountingSGD.steps <= 5 + 2 * 4  # rows 3 and 4 spoil one or two of 5 batches
    assert all(np.isfinite(v).all() for v in weights(model).values())
    assert np.isfinite(h["loss"]).all()


def test_skip_gives_up_when_every_batch_is_nan():
    X, y = blobs(16)
    model = mlp()
    Xd = device_data(X)
    with pytest.raises(NonFiniteLossError, match="every batch of epoch 2 .*had a non-finite loss"):
        fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1), (Xd, y), epochs=3, batch_size=8,
            progress=False, on_nonfinite="skip", callbacks=[Poison(Xd, slice(None))])


def test_empty_datasets_are_refused_by_fit():
    model = mlp()
    opt = dlcore.optim.SGD(model.parameters(), lr=0.1)
    empty = (np.zeros((0, 2), np.float32), np.zeros(0, np.int64))
    with pytest.raises(ShapeError, match=r"fit: train_data is empty \(0 samples, 0 batches\)"):
        fit(model, F.cross_entropy, opt, empty, epochs=1, progress=False)
    with pytest.raises(ShapeError, match=r"fit: val_data is empty"):
        fit(model, F.cross_entropy, opt, blobs(8), epochs=1, progress=False, val_data=empty)




def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}

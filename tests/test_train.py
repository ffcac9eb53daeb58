"""fit / evaluate / predict, callbacks, checkpoints and resuming."""

import io
import logging
import sys

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.data import DataLoader, TensorDataset
from dlcore.datasets import linear, playground
from dlcore.errors import NonFiniteLossError, RangeError
from dlcore.train import EarlyStopping, History, ModelCheckpoint, evaluate, fit, predict


def blobs(n=64, seed=0):
    X, y = playground("gauss", n, noise=0.0, seed=seed)
    return X / 4, y


def classifier(seed=0, device="cpu"):
    dlcore.manual_seed(seed)
    return nn.MLP([2, 8, 2], activation="tanh").to(device)


def params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


class CountingSGD(dlcore.optim.SGD):
    steps = 0

    def step(self):
        CountingSGD.steps += 1
        super().step()


@pytest.mark.parametrize("batch_size,steps", [(None, 1), (1, 20), (8, 3)])
def test_batch_modes_make_the_right_number_of_updates(batch_size, steps):
    X, y = linear(20, seed=0)
    model = nn.Linear(1, 1)
    CountingSGD.steps = 0
    fit(model, F.mse_loss, CountingSGD(model.parameters(), lr=0.01), (X, y), epochs=2, batch_size=batch_size,
        metrics=None, progress=False)
    assert CountingSGD.steps == 2 * steps


def test_linear_regression_recovers_w_and_b():
    X, y = linear(100, w=-3.0, b=0.5, noise=0.0, seed=1)
    model = nn.Linear(1, 1)
    history = fit(model, F.mse_loss, dlcore.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=30,
                  batch_size=10, metrics=None, progress=False, seed=0)
    assert set(history) == {"loss", "lr", "time"} and history.epochs == 30
    assert history["loss"][-1] < 1e-4
    assert model.weight.item() == pytest.approx(-3.0, abs=1e-2)
    assert model.bias.item() == pytest.approx(0.5, abs=1e-2)


def test_classification_history_and_validation(device):
    X, y = blobs(128)
    model = classifier(device=device)
    history = fit(model, F.cross_entropy, dlcore.optim.Adam(model.parameters(), lr=0.05), (X[:96], y[:96]),
                  epochs=5, batch_size=16, val_data=(X[96:], y[96:]), progress=False, seed=0)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert all(len(v) == 5 for v in history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.9
    result = evaluate(model, (X[96:], y[96:]), F.cross_entropy)
    assert result["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)
    assert result["accuracy"] == pytest.approx(history["val_accuracy"][-1])


def test_same_seed_same_run():
    X, y = blobs()
    runs = []
    for _ in range(2):
        model = classifier()
        h = fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=3,
                batch_size=8, progress=False, seed=5)
        runs.append((h["loss"], params(model)))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])


def test_binary_accuracy_with_logits_and_probabilities():
    X, y = blobs(64)
    yf = y.astype(np.float32)[:, None]
    dlcore.manual_seed(0)
    logits = nn.MLP([2, 4, 1], activation="tanh")
    h = fit(logits, F.binary_cross_entropy_with_logits, dlcore.optim.Adam(logits.parameters(), lr=0.05),
            (X, yf), epochs=10, batch_size=16, progress=False, seed=0)
    assert h["accuracy"][-1] >= 0.95
    dlcore.manual_seed(0)
    probs = nn.MLP([2, 4, 1], activation="tanh", out_activation="sigmoid")
    h = fit(probs, F.binary_cross_entropy, dlcore.optim.Adam(probs.parameters(), lr=0.05),
            (X, yf), epochs=10, batch_size=16, progress=False, seed=0)
    assert h["accuracy"][-1] >= 0.95


def nan_data():
    X, y = linear(16, seed=0)
    X[5, 0] = np.nan
    return X, y


def test_nonfinite_loss_raises_naming_epoch_and_batch(tmp_path):
    model = nn.Linear(1, 1)
    ckpt = ModelCheckpoint(tmp_path / "ckpt-{epoch}.npz")
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, batch \d+ of 4"):
        fit(model, F.mse_loss, dlcore.optim.SGD(model.parameters(), lr=0.1), nan_data(), epochs=2,
            batch_size=4, metrics=None, progress=False, callbacks=[ckpt], seed=0)
    assert list(tmp_path.iterdir()) == []  # no checkpoint for the broken epoch
    assert np.isfinite(model.weight.numpy()).all()


def test_nonfinite_loss_skip(caplog):
    model = nn.Linear(1, 1)
    CountingSGD.steps = 0
    with caplog.at_level(logging.WARNING, logger="dlcore.train"):
        h = fit(model, F.mse_loss, CountingSGD(model.parameters(), lr=0.1), nan_data(), epochs=3,
                batch_size=4, metrics=None, progress=False, on_nonfinite="skip", seed=0)
    assert CountingSGD.steps == 3 * 3  # one of the four batches skipped per epoch
    assert np.isfinite(model.weight.numpy()).all() and np.isfinite(h["loss"]).all()
    assert "skipping batch" in caplog.text


def test_early_stopping():
    X, y = blobs()
    model = classifier()
    stop = EarlyStopping(monitor="loss", patience=2)
    h = fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.0), (X, y), epochs=20,
            batch_size=None, progress=False, callbacks=[stop])
    assert h.epochs == 3 and stop.stopped_epoch == 3  # best at 1, no improvement at 2 and 3
    assert EarlyStopping("val_accuracy").tracker.mode == "max"
    before = params(model)
    with pytest.raises(RangeError, match="EarlyStopping uses 'val_loss'.*need val_data"):  # before any epoch
        fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1,
            progress=False, callbacks=[EarlyStopping()])
    for k, v in params(model).items():
        np.testing.assert_array_equal(v, before[k])


def test_early_stopping_restores_best_weights():
    X, y = blobs()
    model = classifier()
    lr_up = dlcore.optim.SGD(model.parameters(), lr=0.05)
    stop = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)

    class Explode(dlcore.train.Callback):  # after epoch 2, make training diverge
        def on_epoch_end(self, run, epoch, logs):
            if epoch == 2:
                self.best = params(run.model)
                run.optimizer.param_groups[0]["lr"] = -5.0

    explode = Explode()
    fit(model, F.cross_entropy, lr_up, (X, y), epochs=10, batch_size=None, progress=False,
        val_data=(X, y), callbacks=[explode, stop])
    assert stop.best_epoch == 2
    for k, v in params(model).items():
        np.testing.assert_array_equal(v, explode.best[k])


@pytest.mark.usefixtures("cpu_only")
@pytest.mark.parametrize("seed", [3, None])
def test_checkpoint_and_resume_matches_an_uninterrupted_run(tmp_path, seed):
    X, y = blobs(48)

    def setup():
        model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 2))
        opt = dlcore.optim.Adam(model.parameters(), lr=0.02)
        return model, opt, dlcore.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)

    def run(model, opt, sched, epochs, **kw):
        return fit(model, F.cross_entropy, opt, (X, y), epochs=epochs, batch_size=8, scheduler=sched,
                   progress=False, seed=seed, **kw)

    dlcore.manual_seed(0)
    model, opt, sched = setup()
    if seed is None:
        dlcore.manual_seed(11)
    full = run(model, opt, sched, 4)

    dlcore.manual_seed(0)
    model_a, opt_a, sched_a = setup()
    if seed is None:
        dlcore.manual_seed(11)
    path = tmp_path / "last.npz"
    run(model_a, opt_a, sched_a, 2, callbacks=[ModelCheckpoint(path)])
    assert dlcore.load(path)["epoch"] == 2

    dlcore.manual_seed(123)  # a different init and RNG state, all replaced by the checkpoint
    model_b, opt_b, sched_b = setup()
    resumed = run(model_b, opt_b, sched_b, 4, resume_from=path)
    assert resumed.epochs == 4
    np.testing.assert_allclose(resumed["loss"], full["loss"], rtol=1e-6)
    assert resumed["lr"] == full["lr"]
    for k, v in params(model_b).items():
        np.testing.assert_allclose(v, params(model)[k], rtol=1e-6, atol=1e-7)


def test_checkpoint_save_best_only(tmp_path):
    X, y = blobs()
    model = classifier()
    ckpt = ModelCheckpoint(tmp_path / "best-{epoch}.npz", monitor="loss", save_best_only=True)
    h = fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.0), (X, y), epochs=3,
            batch_size=None, progress=False, callbacks=[ckpt])
    assert [p.name for p in tmp_path.iterdir()] == ["best-1.npz"]  # lr 0: only epoch 1 is "best"
    assert dlcore.load(tmp_path / "best-1.npz")["history"]["loss"] == h["loss"][:1]
    with pytest.raises(ValueError, match="monitor"):
        ModelCheckpoint(tmp_path / "x.npz", save_best_only=True)


def test_resume_from_a_foreign_file(tmp_path):
    path = tmp_path / "other.npz"
    dlcore.save({"w": np.ones(2)}, path)
    model = nn.Linear(1, 1)
    with pytest.raises(dlcore.CheckpointError, match="ModelCheckpoint"):
        fit(model, F.mse_loss, dlcore.optim.SGD(model.parameters()), linear(4), epochs=1, resume_from=path,
            progress=False, metrics=None)


def test_evaluate_and_predict_use_eval_mode_and_restore_it():
    X, y = blobs(32)
    model = nn.Sequential(nn.Linear(2, 16), nn.Dropout(0.5), nn.Linear(16, 2))
    model.train()
    a, b = predict(model, X, batch_size=5), predict(model, X)
    assert isinstance(a, np.ndarray) and a.shape == (32, 2)
    np.testing.assert_allclose(a, b, rtol=1e-6)  # dropout off
    assert model.training
    model.eval()
    evaluate(model, (X, y))
    assert not model.training
    assert set(evaluate(model, (X, y), F.cross_entropy)) == {"loss", "accuracy"}
    assert set(evaluate(model, (X, y), metrics=None)) == set()


def test_dataloader_input():
    X, y = blobs()
    model = classifier()
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True, seed=0)
    h = fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1), loader, epochs=2,
            progress=False, val_data=loader)
    assert isinstance(h, History) and h.epochs == 2


def test_progress_logs_when_stdout_is_not_a_tty(caplog, capsys):
    X, y = blobs()
    model = classifier()
    with caplog.at_level(logging.INFO, logger="dlcore.train"):
        fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=2)
    assert "epoch 2/2" in caplog.text and "samples/s" in caplog.text
    assert capsys.readouterr().out == ""


def test_progress_bar_on_a_tty(monkeypatch):
    class TTY(io.StringIO):
        def isatty(self):
            return True

    out = TTY()
    monkeypatch.setattr(sys, "stdout", out)
    import tqdm.auto

    class EveryBatch(tqdm.auto.tqdm):  # redraw on every batch (TQDM_MININTERVAL would be read only if tqdm
        def __init__(self, *args, **kwargs):  # were not imported yet, and torch imports it)
            super().__init__(*args, **{**kwargs, "mininterval": 0})

    monkeypatch.setattr(tqdm.auto, "tqdm", EveryBatch)
    X, y = blobs()
    model = classifier()
    fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=2, batch_size=8)
    text = out.getvalue()
    assert "epoch 1/2" in text and "loss=" in text and "samples_s=" in text
    assert "epoch 2/2 - loss" in text  # the summary line


def test_bad_arguments():
    model = nn.Linear(1, 1)
    opt = dlcore.optim.SGD(model.parameters())
    with pytest.raises(ValueError, match="on_nonfinite"):
        fit(model, F.mse_loss, opt, linear(4), epochs=1, on_nonfinite="ignore")
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, F.mse_loss, opt, linear(4), epochs=1, batch_size=0)
    with pytest.raises(RangeError, match="DataLoader"):
        fit(model, F.mse_loss, opt, np.zeros((4, 1)), epochs=1)


def test_checkpoint_creates_its_folder(tmp_path):
    X, y = blobs()
    model = classifier()
    path = tmp_path / "runs" / "nested" / "ckpt.npz"
    fit(model, F.cross_entropy, dlcore.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1,
        progress=False, callbacks=[ModelCheckpoint(path)])
    assert dlcore.load(path)["epoch"] == 1


def test_fit_steps_reduce_lr_on_plateau_on_the_validation_loss():
    """ReduceLROnPlateau needs a metric: fit gives it val_loss (loss without validation data), as Keras."""
    from dlcore.optim.lr_scheduler import ReduceLROnPlateau

    X = np.zeros((8, 2), np.float32)
    y = np.zeros(8, np.int64)
    model = dlcore.nn.Linear(2, 2, bias=False)  # zero inputs, no bias: the loss stays log 2
    opt = dlcore.optim.SGD(model.parameters(), lr=0.1)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=0)
    h = dlcore.fit(model, dlcore.nn.functional.cross_entropy, opt, (X, y), epochs=3, batch_size=4,
                   val_data=(X, y), scheduler=sched, progress=False)
    assert h["lr"][1] == h["lr"][0] and h["lr"][2] == pytest.approx(h["lr"][0] / 2)

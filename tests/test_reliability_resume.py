"""Issue 11 item 2: all or nothing. load_state_dict and fit(resume_from=) check everything first;
on any error the model, optimizer and run are exactly as before and the error is a CheckpointError.
EarlyStopping's best weights are in the checkpoint, so resume is bit-exact with them too.
"""

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.backend import get_rng_state
from dlcore.callbacks import TrainingRun
from dlcore.datasets import playground
from dlcore.errors import CheckpointError, DTypeError, ShapeError, StateDictError
from dlcore.nn.norm import BatchNorm1d
from dlcore.optim.lr_scheduler import StepLR
from dlcore.train import Callback, EarlyStopping, ModelCheckpoint, fit


def bn_net():
    return nn.Sequential(nn.Linear(2, 4), BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def numbers(model, opt=None, sched=None):
    out = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    if opt is not None:
        out["opt"] = repr(opt.state_dict())
    if sched is not None:
        out["sched"] = repr(sched.state_dict())
    out["rng"] = repr(get_rng_state())
    return out


def assert_same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        if isinstance(a[k], str):
            assert a[k] == b[k], k
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# --------------------------------------------------------------------------- load_state_dict
@pytest.mark.parametrize("bad", [np.array(1.5), np.array(np.nan), np.array(2.0**70), np.array("3"), "3", None],
                         ids=["fraction", "nan", "too-big", "string-array", "string", "none"])
def test_bad_integer_buffer_value_is_refused_before_anything_is_copied(bad):
    model = bn_net()
    state = {k: v.numpy() + 1 for k, v in model.state_dict().items()}
    state["1.num_batches_tracked"] = bad
    before = numbers(model)
    with pytest.raises(StateDictError, match="1.num_batches_tracked") as info:
        model.load_state_dict(state)
    assert isinstance(info.value, CheckpointError)
    assert_same(numbers(model), before)


def test_integer_buffer_accepts_whole_floats_and_state_dict_error_is_all_three_kinds():
    model = bn_net()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    state["1.num_batches_tracked"] = np.array(7.0)
    model.load_state_dict(state)
    assert int(model[1].num_batches_tracked.item()) == 7
    assert issubclass(StateDictError, ShapeError) and issubclass(StateDictError, DTypeError)


# --------------------------------------------------------------------------- fit(resume_from=)
def blobs(n=24):
    X, y = playground("gauss", n, noise=0.0, seed=0)
    return X / 4, y


def setup(opt_type=dlcore.optim.SGD, scheduler=True):
    dlcore.manual_seed(0)
    model = bn_net()
    opt = opt_type(model.parameters(), lr=0.05)
    return model, opt, (StepLR(opt, step_size=1, gamma=0.5) if scheduler else None)


@pytest.fixture
def checkpoint(tmp_path):
    X, y = blobs()
    model, opt, sched = setup()
    path = tmp_path / "ck.npz"
    fit(model, F.cross_entropy, opt, (X, y), epochs=2, batch_size=8, scheduler=sched, progress=False,
        callbacks=[ModelCheckpoint(path), EarlyStopping("loss", restore_best_weights=True)])
    return path


def corrupt(path, change):
    state = dlcore.load(path)
    change(state)
    dlcore.save(state, path)
    return path


BAD_CHECKPOINTS = [
    ("wrong-optimizer", lambda s: None, dict(opt_type=dlcore.optim.Adam), "saved by SGD, this run uses Adam"),
    ("no-scheduler-in-run", lambda s: None, dict(scheduler=False), "has a scheduler state, this run has no"),
    ("missing-part", lambda s: s.pop("rng"), {}, "lacks ['rng']"),
    ("bad-rng", lambda s: s["rng"].update(state={"state": "x", "inc": 1}), {}, "RNG state is damaged"),
    ("foreign-rng", lambda s: s["rng"].update(bit_generator="MT19937"), {}, "RNG state is for 'MT19937'"),
    ("bad-epoch", lambda s: s.update(epoch=-1), {}, "epoch should be an int >= 0"),
    ("float-epoch", lambda s: s.update(epoch=1.5), {}, "epoch should be an int >= 0"),
    ("model-shape", lambda s: s["model"].update({"3.weight": np.zeros((3, 4), np.float32)}), {}, "3.weight"),
    ("model-int-buffer", lambda s: s["model"].update({"1.num_batches_tracked": np.array(0.5)}), {},
     "num_batches_tracked"),
    ("model-missing-key", lambda s: s["model"].pop("0.bias"), {}, "missing keys: ['0.bias']"),
    ("callback-types", lambda s: s.update(callback_types=["EarlyStopping", "ModelCheckpoint"]), {},
     "callbacks are ['EarlyStopping', 'ModelCheckpoint']"),
    ("history-type", lambda s: s.update(history=[1, 2]), {}, "history should map names"),
]


@pytest.mark.parametrize("change,kw,fragment", [c[1:] for c in BAD_CHECKPOINTS], ids=[c[0] for c in BAD_CHECKPOINTS])
def test_failed_resume_changes_nothing_and_says_what(checkpoint, change, kw, fragment):
    X, y = blobs()
    corrupt(checkpoint, change)
    dlcore.manual_seed(42)
    model, opt, sched = setup(**kw)
    callbacks = [ModelCheckpoint(checkpoint.parent / "new.npz"), EarlyStopping("loss", restore_best_weights=True)]
    before = numbers(model, opt, sched)
    with pytest.raises(CheckpointError) as info:
        fit(model, F.cross_entropy, opt, (X, y), epochs=4, batch_size=8, scheduler=sched, progress=False,
            callbacks=callbacks, resume_from=checkpoint)
    assert fragment in str(info.value)
    assert_same(numbers(model, opt, sched), before)
    assert callbacks[1].state_dict()["best_weights"] is None and callbacks[1].wait == 0


class FailingLoad(Callback):
    """A callback whose state cannot be restored: resume must roll back model, optimizer, scheduler, RNG."""

    def state_dict(self):
        return {"x": 1}

    def load_state_dict(self, state):
        raise RuntimeError("cannot restore me")


def test_failure_late_in_applying_rolls_every_part_back(tmp_path):
    X, y = blobs()
    model, opt, sched = setup()
    path = tmp_path / "ck.npz"
    fit(model, F.cross_entropy, opt, (X, y), epochs=1, batch_size=8, scheduler=sched, progress=False,
        callbacks=[ModelCheckpoint(path), FailingLoad()])
    dlcore.manual_seed(5)
    model, opt, sched = setup()
    before = numbers(model, opt, sched)
    with pytest.raises(CheckpointError, match="applying its callback 1 .FailingLoad. state failed .*cannot restore me.*rolled back"):
        fit(model, F.cross_entropy, opt, (X, y), epochs=2, batch_size=8, scheduler=sched, progress=False,
            callbacks=[ModelCheckpoint(path), FailingLoad()], resume_from=path)
    assert_same(numbers(model, opt, sched), before)


def test_training_run_is_public_and_restores_its_own_checkpoint(tmp_path):
    model, opt, sched = setup()
    run = TrainingRun(model, opt, sched)
    dlcore.save(run.checkpoint(epoch=4), tmp_path / "c.npz")
    assert run.restore(tmp_path / "c.npz") == 4


@pytest.mark.usefixtures("cpu_only")
def test_resume_with_restore_best_weights_is_bit_exact(tmp_path):
    X, y = playground("spiral", 48, noise=0.2, seed=1)
    val = playground("spiral", 24, noise=0.2, seed=2)

    def run(epochs, **kw):
        model, opt, sched = setup(scheduler=False)
        opt.param_groups[0]["lr"] = 2.0  # large steps: the validation loss goes up and down
        stop = EarlyStopping("val_loss", patience=10, restore_best_weights=True)
        dlcore.manual_seed(1)
        history = fit(model, F.cross_entropy, opt, (X, y), epochs=epochs, batch_size=8, scheduler=sched, seed=3,
                      val_data=val, progress=False, callbacks=[ModelCheckpoint(tmp_path / "ck.npz"), stop], **kw)
        return model, stop, history

    full_model, full_stop, _ = run(6)
    assert full_stop.best_epoch is not None and full_stop.best_epoch < 6  # the restore matters
    run(3)
    resumed_model, resumed_stop, _ = run(6, resume_from=tmp_path / "ck.npz")
    assert resumed_stop.best_epoch == full_stop.best_epoch
    assert_same(numbers(resumed_model), numbers(full_model))

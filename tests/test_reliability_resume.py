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
from dlcore.nn import Conv2d, MaxPool2d
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


# ------------------------------------------------------------------ moved from test_reliability.py
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


def mlp():
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))


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
    full_state, resumed_state = straight[1].state_dict()["state"], opt.state_dict()["state"]
    assert full_state.keys() == resumed_state.keys() and full_state
    for i in full_state:
        np.testing.assert_array_equal(full_state[i]["momentum_buffer"].numpy(), resumed_state[i]["momentum_buffer"].numpy())


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


def test_early_stopping_reads_a_checkpoint_from_before_best_weights_were_saved():
    stop = EarlyStopping("loss", restore_best_weights=True)
    stop.load_state_dict({"best": 0.5, "best_epoch": 2, "wait": 1})  # the format of earlier dlcore versions
    assert stop.tracker.best == 0.5 and stop.wait == 1 and stop.state_dict()["best_weights"] is None
    with pytest.raises(CheckpointError, match="expected keys"):
        stop.load_state_dict({"best": 0.5})
    with pytest.raises(CheckpointError, match="'wait' should be int, got bool"):
        stop.load_state_dict({"best": 0.5, "best_epoch": 2, "wait": True})

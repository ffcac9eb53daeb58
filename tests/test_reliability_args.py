"""Issue 11 items 4 and 5 for training, metrics, preprocessing and datasets: every bad argument is a
DlcoreError naming the function, the argument, what it accepts and what it got; the scalers treat
NaN as scikit-learn does; a checkpoint template that needs validation data says so before epoch 1.
"""

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import digits, linear, mnist, playground
from dlcore.errors import DlcoreError, DTypeError, RangeError, ShapeError
from dlcore.metrics import accuracy, confusion_matrix
from dlcore.preprocessing import PCA, MinMaxScaler, StandardScaler, train_test_split
from dlcore.train import EarlyStopping, ModelCheckpoint, evaluate, fit, predict


def data(n=8):
    X, y = playground("gauss", n, seed=0)
    return X / 4, y


def model():
    return nn.Linear(2, 2)


def run_fit(**kw):
    m = model()
    args = dict(epochs=1, batch_size=4, progress=False)
    args.update(kw)
    return fit(m, F.cross_entropy, dlcore.optim.SGD(m.parameters(), lr=0.1), data(), **args)


# (id, call, exception, fragments of the message)
BAD_ARGUMENTS = [
    ("fit-epochs-float", lambda: run_fit(epochs=2.0), RangeError, ["fit", "epochs", "positive int", "2.0 (float)"]),
    ("fit-epochs-zero", lambda: run_fit(epochs=0), RangeError, ["epochs", "0 (int)"]),
    ("fit-epochs-bool", lambda: run_fit(epochs=True), RangeError, ["epochs", "True (bool)"]),
    ("fit-batch-size-str", lambda: run_fit(batch_size="32"), RangeError, ["batch_size", "'32' (str)"]),
    ("fit-batch-size-negative", lambda: run_fit(batch_size=-1), RangeError, ["batch_size", "-1"]),
    ("fit-eval-batch-size", lambda: run_fit(eval_batch_size=0.5), RangeError, ["eval_batch_size", "0.5"]),
    ("fit-on-nonfinite", lambda: run_fit(on_nonfinite="ignore"), RangeError, ["on_nonfinite", "'raise', 'skip'",
                                                                               "'ignore'"]),
    ("fit-progress", lambda: run_fit(progress="yes"), RangeError, ["progress", "True or False"]),
    ("fit-callback-not-a-callback", lambda: run_fit(callbacks=[print]), RangeError, ["Callback instances"]),
    ("fit-model-not-a-module", lambda: fit(lambda x: x, F.mse_loss, None, data(), epochs=1), RangeError,
     ["model", "dlcore.nn.Module", "function"]),
    ("fit-loss-not-callable", lambda: fit(model(), "mse", dlcore.optim.SGD(model().parameters(), lr=0.1), data(),
                                          epochs=1), RangeError, ["loss_fn", "'mse'"]),
    ("fit-optimizer-missing", lambda: fit(model(), F.mse_loss, None, data(), epochs=1), RangeError,
     ["optimizer", "NoneType"]),
    ("fit-seed-negative", lambda: run_fit(seed=-1), RangeError, ["seed", "-1"]),
    ("fit-resume-from-number", lambda: run_fit(resume_from=3), RangeError, ["resume_from", "int"]),
    ("fit-metrics-string", lambda: run_fit(metrics="accuracy"), RangeError, ["metrics", "list or tuple"]),
    ("fit-data-triple", lambda: fit(model(), F.cross_entropy, dlcore.optim.SGD(model().parameters(), lr=0.1),
                                    (1, 2, 3), epochs=1), RangeError, ["train_data", "(X, y)", "tuple of 3"]),
    ("evaluate-unknown-metric", lambda: evaluate(model(), data(), metrics=["f1"]), RangeError, ["unknown metric"]),
    ("evaluate-batch-size", lambda: evaluate(model(), data(), batch_size=0), RangeError, ["evaluate", "batch_size"]),
    ("predict-batch-size", lambda: predict(model(), data()[0], batch_size=2.5), RangeError, ["predict", "batch_size"]),
    ("early-stopping-patience", lambda: EarlyStopping(patience=-1), RangeError, ["patience", "int >= 0", "-1"]),
    ("early-stopping-min-delta", lambda: EarlyStopping(min_delta=float("nan")), RangeError, ["min_delta"]),
    ("early-stopping-mode", lambda: EarlyStopping(mode="up"), RangeError, ["mode", "'up'"]),
    ("checkpoint-positional-field", lambda: ModelCheckpoint("ck-{}.npz"), RangeError, ["named fields"]),
    ("checkpoint-bad-template", lambda: ModelCheckpoint("ck-{epoch.npz"), RangeError, ["malformed"]),
    ("accuracy-fractional-binary-target", lambda: accuracy(np.array([0.2, 0.9]), np.array([0.7, 1.0])), RangeError,
     ["binary targets in {0, 1} or {-1, 1}", "0.7"]),
    ("accuracy-nan-label", lambda: accuracy(np.eye(3), np.array([0.0, np.nan, 2.0])), RangeError,
     ["whole-number class labels", "nan"]),
    ("accuracy-string-labels", lambda: accuracy(np.eye(2), np.array(["a", "b"])), DTypeError, ["integer class labels"]),
    ("confusion-absurd-label", lambda: confusion_matrix([0, 10**12], [0, 1]), RangeError,
     ["10000000000", "at most 4096"]),
    ("confusion-absurd-float-label", lambda: confusion_matrix(np.array([0.0, 1e300]), [0, 1]), RangeError,
     ["class labels"]),
    ("confusion-num-classes-float", lambda: confusion_matrix([0, 1], [0, 1], num_classes=2.0), RangeError,
     ["num_classes", "2.0 (float)"]),
    ("confusion-num-classes-huge", lambda: confusion_matrix([0, 1], [0, 1], num_classes=10**9), RangeError,
     ["at most 4096"]),
    ("confusion-negative", lambda: confusion_matrix([0, -1], [0, 1]), RangeError, ["-1"]),
    ("scaler-zero-samples", lambda: StandardScaler().fit(np.zeros((0, 3))), ShapeError, ["at least one sample",
                                                                                       "(0, 3)"]),
    ("scaler-zero-features", lambda: MinMaxScaler().fit(np.zeros((4, 0))), ShapeError, ["one feature", "(4, 0)"]),
    ("scaler-infinity", lambda: StandardScaler().fit(np.array([[1.0], [np.inf]])), RangeError, ["infinite"]),
    ("scaler-strings", lambda: StandardScaler().fit(np.array([["a"], ["b"]])), DTypeError, ["real numbers"]),
    ("scaler-bad-range", lambda: MinMaxScaler(feature_range=(1, 0)), RangeError, ["lo < hi"]),
    ("scaler-range-not-pair", lambda: MinMaxScaler(feature_range=3), RangeError, ["pair"]),
    ("pca-zero-features", lambda: PCA().fit(np.zeros((5, 0))), ShapeError, ["PCA.fit", "one feature"]),
    ("pca-nan", lambda: PCA().fit(np.array([[1.0, 2.0], [np.nan, 1.0], [0.0, 0.0]])), RangeError, ["NaN"]),
    ("pca-bool-components", lambda: PCA(n_components=True), RangeError, ["n_components", "True"]),
    ("linear-n-float", lambda: linear(2.5), RangeError, ["linear", "n", "2.5"]),
    ("linear-negative-noise", lambda: linear(5, noise=-1.0), RangeError, ["noise", "-1.0"]),
    ("playground-name", lambda: playground("moons"), RangeError, ["name", "'moons'", "'spiral'"]),
    ("playground-n", lambda: playground("xor", n=1), RangeError, ["n >= 2"]),
    ("playground-noise-nan", lambda: playground("xor", noise=float("nan")), RangeError, ["noise"]),
    ("playground-seed", lambda: playground("xor", seed=-3), RangeError, ["seed", "-3"]),
    ("digits-images", lambda: digits(images="yes"), RangeError, ["images", "True or False"]),
    ("split-test-size-one", lambda: train_test_split(np.arange(4), test_size=1.0), RangeError, ["test_size", "1.0"]),
    ("split-test-size-bool", lambda: train_test_split(np.arange(4), test_size=True), RangeError, ["test_size"]),
    ("split-seed", lambda: train_test_split(np.arange(4), seed=-1), RangeError, ["seed", "-1"]),
    ("mnist-split", lambda: mnist("/nonexistent", split="val"), RangeError, ["split", "'val'"]),
]


@pytest.mark.parametrize("call,exc,fragments", [c[1:] for c in BAD_ARGUMENTS], ids=[c[0] for c in BAD_ARGUMENTS])
def test_bad_argument_is_a_clear_dlcore_error(call, exc, fragments):
    with pytest.raises(exc) as info:
        call()
    assert isinstance(info.value, DlcoreError)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


def test_good_edge_arguments_still_work():
    run_fit(batch_size=np.int64(4), epochs=np.int32(1))
    assert confusion_matrix(np.array([0.0, 1.0]), np.array([1, 1])).tolist() == [[0, 1], [0, 1]]
    assert accuracy(np.array([0.2, 0.9]), np.array([-1, 1])) == 1.0


@pytest.mark.parametrize("template", ["ck-{epoch:02d}-{val_loss:.2f}.npz", "ck-{val_accuracy}.npz"])
def test_checkpoint_template_needing_validation_data_fails_before_any_epoch(tmp_path, template):
    ran = []

    class Count(dlcore.train.Callback):
        def on_epoch_end(self, run, epoch, logs):
            ran.append(epoch)

    with pytest.raises(RangeError, match="val_.*need val_data"):
        run_fit(callbacks=[Count(), ModelCheckpoint(tmp_path / template)])
    assert ran == [] and not list(tmp_path.iterdir())


def test_checkpoint_template_with_validation_data_names_the_file(tmp_path):
    X, y = data()
    run_fit(epochs=2, val_data=(X, y), callbacks=[ModelCheckpoint(tmp_path / "ck-{epoch:02d}-{val_loss:.2f}.npz")])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[0].startswith("ck-01-") and names[1].startswith("ck-02-")


# --------------------------------------------------------------------------- scalers and NaN, against scikit-learn
def test_scalers_ignore_nan_like_scikit_learn():
    sk = pytest.importorskip("sklearn.preprocessing")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 4))
    X[rng.random((20, 4)) < 0.2] = np.nan
    X[:, 3] = np.nan  # an all-NaN feature
    for ours, theirs, attrs in ((StandardScaler(), sk.StandardScaler(), ("mean_", "var_", "scale_")),
                                (MinMaxScaler(), sk.MinMaxScaler(), ("data_min_", "data_max_", "scale_", "min_"))):
        ours.fit(X)
        with np.errstate(all="ignore"):
            theirs.fit(X)
        for a in attrs:
            np.testing.assert_allclose(getattr(ours, a), getattr(theirs, a), rtol=1e-12, err_msg=a)
        np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=1e-12)
        np.testing.assert_allclose(ours.inverse_transform(ours.transform(X)), X, rtol=1e-12)

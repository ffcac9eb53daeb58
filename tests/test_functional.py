"""Activations, losses, linear and dropout: values, stability, gradients (float64 finite differences) and errors."""

import warnings

import numpy as np
import pytest
from gradcheck import gradcheck

import dlcore
import dlcore.functional as F

rng = np.random.default_rng(1)


def r(*shape):
    return rng.standard_normal(shape)


ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "softmax": lambda x: F.softmax(x, axis=-1),
    "softmax_axis0": lambda x: F.softmax(x, axis=0),
    "log_softmax": lambda x: F.log_softmax(x, dim=-1),
    "identity": F.identity,
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradcheck(name, device):
    x = r(4, 5)
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU's kink away from the finite-difference step
    gradcheck(ACTIVATIONS[name], x, device=device)


def test_activation_values():
    x = dlcore.tensor([-2.0, 0.5])
    assert F.relu(x).tolist() == [0.0, 0.5]
    assert F.leaky_relu(x, 0.1).numpy() == pytest.approx([-0.2, 0.5])
    assert F.sigmoid(x).numpy() == pytest.approx(1 / (1 + np.exp([2.0, -0.5])))
    assert F.tanh(x).numpy() == pytest.approx(np.tanh([-2.0, 0.5]))
    s = F.softmax(dlcore.tensor([[1.0, 2.0, 3.0]]), dim=1).numpy()[0]
    assert s == pytest.approx(np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    assert F.leaky_relu(x).numpy()[0] == pytest.approx(-0.02)  # default slope 0.01, as lecture 000


@pytest.mark.parametrize("fn", [F.sigmoid, F.tanh, F.relu, lambda x: F.softmax(x, dim=-1),
                                lambda x: F.log_softmax(x, dim=-1)], ids=["sigmoid", "tanh", "relu", "softmax", "log_softmax"])
def test_activations_are_stable_at_extremes(fn, device):
    x = dlcore.tensor([[-1000.0, 1000.0, 0.0]], device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = fn(x)
            y.sum().backward()
    assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()
    if fn is F.sigmoid:
        assert y.numpy().tolist() == [[0.0, 1.0, 0.5]]


def test_linear_gradcheck_and_values(device):
    gradcheck(lambda x, w, b: F.linear(x, w, b), r(3, 4), r(2, 4), r(2), device=device)
    gradcheck(lambda x, w: F.linear(x, w), r(2, 3, 4), r(5, 4), device=device)


def test_dropout_scales_and_is_identity_in_eval():
    x = dlcore.ones(1000, 100)
    y = F.dropout(x, 0.3, training=True).numpy()
    assert set(np.unique(y).tolist()) <= {0.0, float(np.float32(1 / 0.7))}
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert F.dropout(x, 0.3, training=False) is x


def test_dropout_gradcheck(device):
    def fn(x):
        dlcore.manual_seed(3)  # the same mask at every evaluation
        return F.dropout(x, 0.4)
    gradcheck(fn, r(4, 6), device=device)


LOSSES = {
    "mse": (F.mse_loss, lambda: (r(4, 3), r(4, 3))),
    "l1": (F.l1_loss, lambda: (r(4, 3), r(4, 3))),
    "bce": (F.binary_cross_entropy, lambda: (rng.uniform(0.05, 0.95, (5, 1)), rng.integers(0, 2, (5, 1)).astype(float))),
    "bce_logits": (F.binary_cross_entropy_with_logits, lambda: (r(5, 2), rng.integers(0, 2, (5, 2)).astype(float))),
    "logistic": (F.logistic_loss, lambda: (r(6), rng.choice([-1.0, 1.0], 6))),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_elementwise_loss_gradcheck(name, reduction, device):
    fn, make = LOSSES[name]
    inp, tgt = make()
    gradcheck(lambda i, t: fn(i, t, reduction=reduction), inp, tgt, device=device, check=(0,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_gradcheck(reduction, device):
    logits, targets = r(5, 4), rng.integers(0, 4, 5)
    gradcheck(lambda z, t: F.cross_entropy(z, t, reduction=reduction), logits, targets, device=device, check=(0,))
    gradcheck(lambda z, t: F.nll_loss(F.log_softmax(z, dim=1), t, reduction=reduction), logits, targets, device=device, check=(0,))


def test_loss_values_match_their_formulas():
    z = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    t = np.array([0, 2])
    expected = -np.log(np.exp(z[[0, 1], t]) / np.exp(z).sum(1)).mean()
    assert F.cross_entropy(dlcore.tensor(z), dlcore.tensor(t)).item() == pytest.approx(expected)
    assert F.nll_loss(F.log_softmax(dlcore.tensor(z), dim=1), dlcore.tensor(t)).item() == pytest.approx(expected)
    f, y = np.array([0.3, -2.0]), np.array([1.0, -1.0])
    assert F.logistic_loss(dlcore.tensor(f), dlcore.tensor(y)).item() == pytest.approx(np.log1p(np.exp(-y * f)).mean())
    p, q = np.array([0.9, 0.2]), np.array([1.0, 0.0])
    bce = -(q * np.log(p) + (1 - q) * np.log(1 - p)).mean()
    assert F.binary_cross_entropy(dlcore.tensor(p), dlcore.tensor(q)).item() == pytest.approx(bce)
    logits = np.log(p / (1 - p))
    assert F.binary_cross_entropy_with_logits(dlcore.tensor(logits), dlcore.tensor(q)).item() == pytest.approx(bce)
    assert F.l1_loss(dlcore.tensor([1.0, -1.0]), dlcore.tensor([0.0, 0.0]), reduction="sum").item() == 2.0


def test_losses_are_stable_for_extreme_inputs():
    big = dlcore.tensor([[1000.0, -1000.0]])
    assert F.cross_entropy(big, dlcore.tensor([1])).item() == pytest.approx(2000.0)
    assert F.binary_cross_entropy_with_logits(dlcore.tensor([-1000.0]), dlcore.tensor([1.0])).item() == pytest.approx(1000.0)
    assert F.binary_cross_entropy(dlcore.tensor([0.0]), dlcore.tensor([1.0])).item() == pytest.approx(100.0)
    assert F.logistic_loss(dlcore.tensor([1000.0]), dlcore.tensor([-1.0])).item() == pytest.approx(1000.0)


def test_cross_entropy_rejects_float_and_out_of_range_targets():
    z = dlcore.tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(dlcore.DTypeError, match="integer class targets"):
        F.cross_entropy(z, dlcore.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 2\], got values in \[0, 3\]"):
        F.cross_entropy(z, dlcore.tensor([0, 3]))
    with pytest.raises(dlcore.ShapeError, match=r"targets of shape \(2,\)"):
        F.cross_entropy(z, dlcore.tensor([0, 1, 1]))


def test_losses_reject_mismatched_shapes_and_bad_reduction():
    with pytest.raises(dlcore.ShapeError, match=r"input \(4, 1\) and target \(4,\)"):
        F.mse_loss(dlcore.zeros(4, 1), dlcore.zeros(4))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(dlcore.zeros(2), dlcore.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="probabilities"):
        F.binary_cross_entropy(dlcore.tensor([2.0]), dlcore.tensor([1.0]))
    with pytest.raises(ValueError, match="-1, \\+1"):
        F.logistic_loss(dlcore.tensor([0.5]), dlcore.tensor([0.0]))


def test_linear_errors_name_the_layer():
    w = dlcore.zeros(256, 784)
    with pytest.raises(dlcore.ShapeError, match=r"expected input \(\*, 784\), got \(64, 1, 28, 28\): did you forget Flatten"):
        F.linear(dlcore.zeros(64, 1, 28, 28), w, layer="Linear(784→256)")
    with pytest.raises(dlcore.DTypeError, match="float32"):
        F.linear(dlcore.tensor(np.zeros((2, 784))), w)

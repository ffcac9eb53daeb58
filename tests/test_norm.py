"""batch_norm and BatchNorm1d/2d: formulas, running statistics (PyTorch convention), train/eval
modes, finite-difference gradchecks, buffers and errors."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import gradcheck
from training import train_losses

import dlcore
from dlcore.errors import ShapeError
from dlcore.functional.norm import batch_norm
from dlcore.nn.norm import BatchNorm1d, BatchNorm2d


def reference(x, mean, var, w, b, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) + b.reshape(shape)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 6), (5, 2, 7)])
def test_batch_norm_training_and_running_stats(device, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 2
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    rm, rv = dlcore.zeros(shape[1], dtype=np.float64, device=device), dlcore.ones(shape[1], dtype=np.float64, device=device)
    y = batch_norm(dlcore.tensor(x, device=device), rm, rv, dlcore.tensor(w, device=device),
                   dlcore.tensor(b, device=device), training=True, momentum=0.1)
    axes = (0,) + tuple(range(2, x.ndim))
    mean, var = x.mean(axis=axes), x.var(axis=axes)  # biased variance normalises
    np.testing.assert_allclose(y.numpy(), reference(x, mean, var, w, b), rtol=1e-10, atol=1e-10)
    m = x.size // shape[1]
    np.testing.assert_allclose(rm.numpy(), 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.9 + 0.1 * var * m / (m - 1), rtol=1e-12)  # unbiased running var
    # normalised output: per-channel mean b and std |w| (up to eps)
    np.testing.assert_allclose(y.numpy().mean(axis=axes), b, atol=1e-10)


def test_batch_norm_eval_uses_running_stats(device):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3, 4, 4))
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    rm_t, rv_t = dlcore.tensor(rm, device=device), dlcore.tensor(rv, device=device)
    y = batch_norm(dlcore.tensor(x, device=device), rm_t, rv_t, dlcore.tensor(w, device=device),
                   dlcore.tensor(b, device=device), training=False)
    np.testing.assert_allclose(y.numpy(), reference(x, rm, rv, w, b), rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(rm_t.numpy(), rm)  # eval never updates the running stats
    np.testing.assert_array_equal(rv_t.numpy(), rv)


def test_batch_norm_without_running_stats_or_affine():
    x = np.random.default_rng(2).standard_normal((5, 4))
    for training in (True, False):  # no running stats: batch statistics in both modes
        y = batch_norm(dlcore.tensor(x), None, None, None, None, training=training).numpy()
        np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)


@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 3, 4)])
def test_batch_norm_gradcheck_train(shape):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    rm, rv = np.zeros(shape[1]), np.ones(shape[1])
    gradcheck(lambda x, w, b: batch_norm(x, rm, rv, w, b, training=True), x, w, b, atol=1e-5)
    gradcheck(lambda x: batch_norm(x, None, None, None, None, training=True), x, atol=1e-5)


@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 3, 4)])
def test_batch_norm_gradcheck_eval(device, shape):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    rm = dlcore.tensor(rng.standard_normal(shape[1]), device=device)
    rv = dlcore.tensor(rng.random(shape[1]) + 0.5, device=device)
    gradcheck(lambda x, w, b: batch_norm(x, rm, rv, w, b, training=False), x, w, b, device=device)


def test_batch_norm_float32_stays_float32():
    bn = BatchNorm2d(3)
    x = dlcore.randn(4, 3, 5, 5, requires_grad=True)
    y = bn(x)
    assert y.dtype == np.float32 and bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_batchnorm2d_module_buffers_modes_and_state_dict():
    bn = BatchNorm2d(4)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((8, 4, 3, 3)) * 2 + 1).astype(np.float32)
    for _ in range(3):
        bn(dlcore.tensor(x))
    assert int(bn.num_batches_tracked.item()) == 3
    mean = x.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(bn.running_mean.numpy(), (1 - 0.9 ** 3) * mean, rtol=1e-5)
    assert "running_var" in bn.state_dict() and "num_batches_tracked" in bn.state_dict()

    bn.eval()
    y = bn(dlcore.tensor(x)).numpy()
    assert int(bn.num_batches_tracked.item()) == 3  # eval does not count batches
    ref = (x - bn.running_mean.numpy().reshape(1, -1, 1, 1)) / np.sqrt(bn.running_var.numpy().reshape(1, -1, 1, 1) + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)

    other = BatchNorm2d(4)
    other.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(other.running_var.numpy(), bn.running_var.numpy())
    other.eval()
    np.testing.assert_allclose(other(dlcore.tensor(x)).numpy(), y)


def test_batchnorm_modules_train_in_a_network():
    """BatchNorm between conv/linear layers: gradients reach every parameter and the loss drops."""
    import dlcore.nn as nn
    from dlcore.nn.conv import Conv2d

    rng = np.random.default_rng(6)
    X = rng.standard_normal((32, 1, 6, 6)).astype(np.float32)
    y = (X.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    model = nn.Sequential(Conv2d(1, 4, 3), BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 8),
                          BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    losses = train_losses(model, X, y, steps=30, lr=0.1, check_grads=True)
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    assert model(dlcore.tensor(X[:1])).shape == (1, 2)  # eval works on a batch of one


def test_batchnorm1d_accepts_2d_and_3d():
    bn = BatchNorm1d(3)
    assert bn(dlcore.randn(4, 3)).shape == (4, 3)
    assert bn(dlcore.randn(4, 3, 7)).shape == (4, 3, 7)
    no_affine = BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(no_affine.parameters()) == [] and list(no_affine.named_buffers()) == []
    assert no_affine(dlcore.randn(4, 3)).shape == (4, 3)


def test_batch_norm_errors():
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(4\) expected input \(N, 4, H, W\), got \(8, 3, 5, 5\)"):
        BatchNorm2d(4)(dlcore.zeros(8, 3, 5, 5))
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(4\) expected input \(N, 4, H, W\), got \(8, 4\)"):
        BatchNorm2d(4)(dlcore.zeros(8, 4))
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(4\) expected input \(N, 4\) or \(N, 4, L\)"):
        BatchNorm1d(4)(dlcore.zeros(8, 4, 2, 2))
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        BatchNorm1d(4)(dlcore.zeros(1, 4))
    with pytest.raises(ShapeError, match=r"batch_norm expected running_mean of shape \(3,\)"):
        batch_norm(dlcore.zeros(2, 3), np.zeros(2), np.ones(3), training=True)
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm2d(0)

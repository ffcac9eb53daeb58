"""The tiled max-pool path (stride == kernel, no padding; dlcore/functional/pool_tiled.py).

Against PyTorch (float32 and float64, values, indices and gradients) on inputs with many ties
(ReLU-like zeros, small integers), where the first maximum of each window must win; and bit for
bit against the separable path on NaN / -inf inputs, where the two must keep agreeing. Each
runs on the NumPy kernels and on the compiled ones (dlcore/cpu_kernels.py)."""

from __future__ import annotations

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
from dlcore import cpu_jit
from dlcore.functional import pool_tiled
from dlcore.functional.window import Window

torch = pytest.importorskip("torch")

SHAPES = [((3, 4, 8, 6), 2), ((2, 3, 9, 9), 3), ((2, 2, 6, 8), (2, 4)), ((1, 1, 4, 6), (1, 3)),
          ((2, 3, 5, 4), 1), ((64, 3, 28, 28), 2)]


def _run(xa: np.ndarray, k, g: np.ndarray | None = None):
    x = dlcore.tensor(xa, requires_grad=True)
    y, i = F.max_pool2d(x, k, return_indices=True)
    g = np.random.default_rng(7).standard_normal(y.shape).astype(xa.dtype) if g is None else g
    y.backward(dlcore.tensor(g))
    return y.numpy(), i.numpy(), x.grad.numpy(), g


@pytest.mark.parametrize("shape,k", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_max_pool_with_ties_matches_torch(shape, k, dtype, cpu_kernels):
    rng = np.random.default_rng(0)
    xa = np.maximum(rng.integers(-2, 3, shape), 0).astype(dtype)  # ~60 % zeros: many tied windows
    assert pool_tiled.applies(xa, Window.of(shape, *(((k, k) if isinstance(k, int) else k),) * 2, (0, 0, 0, 0)))
    assert cpu_jit.enabled(xa) == (cpu_kernels == "compiled")
    y, i, dx, g = _run(xa, k)
    xt = torch.tensor(xa, requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, k, return_indices=True)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(i, it.numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())


@pytest.mark.parametrize("shape,k", SHAPES)
def test_tiled_max_pool_equals_the_separable_path(shape, k, monkeypatch, cpu_kernels):
    rng = np.random.default_rng(1)
    xa = rng.standard_normal(shape).astype(np.float32)
    xa[rng.random(shape) < 0.1] = np.nan
    xa[rng.random(shape) < 0.2] = -np.inf
    tiled = _run(xa, k)
    monkeypatch.setattr(pool_tiled, "applies", lambda *a: False)
    separable = _run(xa, k, g=tiled[3])
    for a, b in zip(tiled[:3], separable[:3]):
        np.testing.assert_array_equal(a, b)


def test_tiled_path_is_not_taken_where_windows_overlap_or_pad():
    x = np.zeros((1, 1, 6, 6), np.float32)
    assert not pool_tiled.applies(x, Window.of(x.shape, (2, 2), (1, 1), (0, 0, 0, 0)))   # overlap
    assert not pool_tiled.applies(x, Window.of(x.shape, (2, 2), (2, 2), (1, 1, 1, 1)))   # padding
    assert not pool_tiled.applies(x[:, :, :5, :5], Window.of((1, 1, 5, 5), (2, 2), (2, 2), (0, 0, 0, 0)))

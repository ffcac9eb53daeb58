"""The one-pass C element-wise kernels (dlcore/native/elementwise.c) against torch and NumPy.

ReLU and its backward pass must equal torch's bit for bit (including NaN, inf, -0), and axpby
must equal the NumPy path ``y *= a; y += b * x`` bit for bit (no fused multiply-add), on one
thread and split over several, with the odd lengths that leave a vector loop's tail.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import dlcore
from dlcore import cpu, cpu_native, cpu_threads, native_elementwise

pytestmark = pytest.mark.skipif(not native_elementwise.usable(np.zeros(1, np.float32)) and not os.environ.get("CI"),
                                reason="no C compiler here (in CI this fails instead)")

SIZES = [1, 15, 17, 1000, 300_001]


def _special(n: int, seed: int) -> np.ndarray:
    x = (np.random.default_rng(seed).standard_normal(n) * 4).astype(np.float32)
    x[: min(n, 6)] = [np.nan, 0.0, -0.0, np.inf, -np.inf, -np.nan][: min(n, 6)]
    return x


@pytest.fixture(params=[1, 1024], ids=["whole", "split"])
def split(request, monkeypatch):
    """One call (threshold never reached) or many blocks over two threads."""
    monkeypatch.setenv("DLCORE_NUM_THREADS", "2")
    monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", 1 << 40 if request.param == 1 else request.param)
    monkeypatch.setattr(cpu, "ONE_PASS_BLOCK", 4096 if request.param > 1 else cpu.ONE_PASS_BLOCK)


@pytest.mark.parametrize("n", SIZES)
def test_relu_and_its_backward_equal_torch_bitwise(n, split):
    torch = pytest.importorskip("torch")
    x, g = _special(n, 0), _special(n, 1)[::-1].copy()
    assert native_elementwise.usable(x, g)
    y, dx = cpu.relu(x), cpu.relu_backward(g, x)
    ty = torch.relu(torch.from_numpy(x))
    tdx = torch.ops.aten.threshold_backward(torch.from_numpy(g), torch.from_numpy(x), 0)
    np.testing.assert_array_equal(y.view(np.uint32)[~np.isnan(y)], ty.numpy().view(np.uint32)[~np.isnan(y)])
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ty.numpy()))
    np.testing.assert_array_equal(dx, tdx.numpy())  # NaN positions equal too
    assert y.shape == dx.shape == (n,) and y.dtype == dx.dtype == np.float32


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("a, b", [(1.0, -0.01), (0.9, 1.0), (0.9, 0.1), (0.999, 1e-3)])
def test_axpby_equals_the_numpy_path_bitwise(n, a, b, split):
    y0, x = _special(n, 2), _special(n, 3)
    y = y0.copy()
    cpu.axpby_(y, a, x, b)
    expected = y0.copy()
    with np.errstate(invalid="ignore"):
        if a != 1:
            expected *= np.float32(a)
        expected += np.float32(b) * x
    np.testing.assert_array_equal(y, expected)


def test_the_numpy_paths_run_without_the_library(monkeypatch):
    x = _special(1001, 4)
    with cpu_native.native(True):
        fast = cpu.relu(x), cpu.relu_backward(x[::-1].copy(), x)
    with cpu_native.native(False):
        assert not native_elementwise.usable(x)
        slow = cpu.relu(x), cpu.relu_backward(x[::-1].copy(), x)
    for f, s in zip(fast, slow):
        np.testing.assert_array_equal(f, s)


def test_other_dtypes_and_layouts_take_numpy():
    assert not native_elementwise.usable(np.zeros(3, np.float64))
    assert not native_elementwise.usable(np.zeros(3, np.float32), np.zeros(3, np.float64))
    x = np.arange(-3.0, 3.0)
    assert cpu.relu(x).tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]
    y = np.ones((4, 4), np.float32)[:, ::2]  # strided: the NumPy kernel, same answer
    cpu.axpby_(y, 0.5, np.ones((4, 2), np.float32), 2.0)
    assert (y == 2.5).all()


def test_sgd_momentum_with_the_kernels_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal(5000).astype(np.float32)
    grads = [rng.standard_normal(5000).astype(np.float32) for _ in range(4)]
    p = dlcore.tensor(w0.copy(), requires_grad=True)
    opt = dlcore.optim.SGD([p], lr=0.05, momentum=0.9)
    tp = torch.tensor(w0.copy(), requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.05, momentum=0.9)
    for g in grads:
        p.grad = dlcore.tensor(g)
        opt.step()
        tp.grad = torch.from_numpy(g.copy())
        topt.step()
    np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-6, atol=1e-6)

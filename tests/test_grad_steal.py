"""A leaf's first gradient from an op that returns fresh arrays becomes its .grad without a copy
(as torch's AccumulateGrad steals an unreferenced gradient), and never when something else holds it."""

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
from dlcore.functional import pool


def _leaf(shape, seed=0):
    return dlcore.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32), requires_grad=True)


def test_the_pool_gradient_becomes_the_leafs_grad_without_a_copy(monkeypatch):
    returned = []
    backward = pool.MaxPool2d.run_backward  # the CPU or the GPU backward, whichever runs

    def spy(self, grad):
        out = backward(self, grad)
        returned.append(out[0])
        return out

    monkeypatch.setattr(pool.MaxPool2d, "run_backward", spy)
    x = _leaf((2, 3, 8, 8))
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.array is returned[0]
    expected = x.grad.numpy().copy()
    F.max_pool2d(x, 2).sum().backward()  # the second backward adds into it
    np.testing.assert_array_equal(x.grad.numpy(), 2 * expected)
    assert returned[1] is not x.grad.array


def test_a_gradient_passed_to_two_leaves_is_copied_for_each():
    a, b = _leaf((4, 5), 1), _leaf((4, 5), 2)
    F.relu(a + b).sum().backward()  # Add hands the same array to both
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad.mul_(0)
    assert b.grad.numpy().any()


def test_the_users_gradient_is_never_taken():
    x = _leaf((3, 4))
    g = dlcore.ones(3, 4)
    x.backward(g)  # the root is the leaf itself
    assert not np.shares_memory(x.grad.numpy(), g.numpy())
    y = F.relu(x)
    y.backward(g)
    g.mul_(5)
    assert float(x.grad.numpy().max()) <= 2.0


def test_a_leaf_used_twice_gets_the_sum():
    torch = pytest.importorskip("torch")
    x = _leaf((2, 2, 4, 4))
    (F.max_pool2d(x, 2).sum() + F.relu(x).sum() * 2).backward()
    xt = torch.tensor(x.numpy(), requires_grad=True)
    (torch.nn.functional.max_pool2d(xt, 2).sum() + torch.relu(xt).sum() * 2).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


def test_a_parameters_stolen_grad_is_its_own_writeable_array():
    lin = dlcore.nn.Linear(6, 3)
    lin(_leaf((5, 6))).sum().backward()
    for p in lin.parameters():
        assert p.grad.array.flags.writeable and p.grad.shape == p.shape and p.grad.dtype == p.dtype
        assert not any(np.shares_memory(p.grad.numpy(), q.numpy()) for q in lin.parameters())

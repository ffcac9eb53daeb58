"""The element-wise math, in-place forms, products, index shuffles and ``out=`` beyond issue 14's
list (``dlcore.add(x, y, out=r)``, ``square``, ``floor``, ``erf``, ``exp_``, ``bmm``, ``flip``,
``roll``, ``tril``, ``nonzero``...) against PyTorch in float64: values, dtypes and gradients, on
every device."""

from __future__ import annotations

import numpy as np
import pytest

import dlcore
from dlcore.autograd import AutogradError
from dlcore.errors import ShapeError

torch = pytest.importorskip("torch")

X = np.random.default_rng(5).uniform(0.2, 2.0, (3, 4)) * np.array([1, -1, 1, -1])  # both signs, no zeros
POSITIVE = np.abs(X)

# (name, call, input): call(lib, tensor) on dlcore and torch
UNARY = [
    ("square", lambda L, t: L.square(t), X), ("rsqrt", lambda L, t: t.rsqrt(), POSITIVE),
    ("reciprocal", lambda L, t: L.reciprocal(t), X), ("neg", lambda L, t: L.neg(t), X),
    ("negative", lambda L, t: t.negative(), X), ("floor", lambda L, t: L.floor(t * 3), X),
    ("ceil", lambda L, t: t.ceil(), X * 3), ("round", lambda L, t: L.round(t * 4), X),
    ("round decimals", lambda L, t: t.round(decimals=1), X), ("trunc", lambda L, t: L.trunc(t * 3), X),
    ("log2", lambda L, t: L.log2(t), POSITIVE), ("log10", lambda L, t: t.log10(), POSITIVE),
    ("tan", lambda L, t: L.tan(t), X / 2), ("erf", lambda L, t: L.erf(t), X),
    ("add alpha", lambda L, t: L.add(t, t * t, alpha=3), X), ("sub", lambda L, t: L.sub(t, 2.0), X),
    ("mul", lambda L, t: L.mul(t, t), X), ("div", lambda L, t: L.div(1.0, t) if L is torch else L.div(t * 0 + 1, t), X),
    ("true_divide", lambda L, t: L.true_divide(t, 3), X),
    ("mm", lambda L, t: L.mm(t, t.T), X), ("bmm", lambda L, t: L.bmm(t.reshape(2, 2, 3), t.reshape(2, 3, 2)), X),
    ("outer", lambda L, t: L.outer(t[0], t[1]), X),
    ("flip", lambda L, t: L.flip(t, [0, 1]), X), ("flip method", lambda L, t: t.flip(1), X),
    ("roll", lambda L, t: L.roll(t, 1, 0), X), ("roll dims", lambda L, t: t.roll((1, -3), (0, 1)), X),
    ("roll flat", lambda L, t: L.roll(t, 5), X), ("tril", lambda L, t: L.tril(t), X),
    ("triu", lambda L, t: t.triu(1), X), ("tril -1", lambda L, t: t.tril(-1), X),
    ("diagonal", lambda L, t: t.diagonal(1), X), ("diag of a vector", lambda L, t: L.diag(t[0], -1), X),
    ("diag of a matrix", lambda L, t: L.diag(t, -1), X), ("trace", lambda L, t: L.trace(t), X),
    ("addmm", lambda L, t: L.addmm(t[0, :3], t[:, :2], t[:2, :3], beta=0.5, alpha=2), X),
    ("var_mean", lambda L, t: L.stack(L.var_mean(t, 1)), X), ("std_mean", lambda L, t: L.stack(L.std_mean(t, 0)), X),
]


@pytest.mark.parametrize("name,call,x", UNARY, ids=[u[0] for u in UNARY])
def test_math_matches_torch(name, call, x, device):
    ours = dlcore.tensor(x, requires_grad=True, device=device)
    theirs = torch.tensor(x, requires_grad=True)
    y, ty = call(dlcore, ours), call(torch, theirs)
    assert y.device == ours.device and str(y.dtype) == str(ty.dtype).replace("torch.", "")
    np.testing.assert_allclose(y.detach().cpu().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(6).standard_normal(ty.shape)
    y.backward(dlcore.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.cpu().numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


INPLACE = ["exp_", "log_", "sqrt_", "rsqrt_", "abs_", "neg_", "sign_", "square_", "reciprocal_", "sin_", "cos_",
           "tan_", "erf_", "log2_", "log10_", "tanh_", "sigmoid_", "relu_", "floor_", "ceil_", "round_", "trunc_"]


@pytest.mark.parametrize("name", INPLACE)
def test_in_place_forms_match_torch_and_keep_the_graph(name, device):
    x = POSITIVE if name in ("log_", "sqrt_", "rsqrt_", "log2_", "log10_") else X
    leaf, tleaf = dlcore.tensor(x, requires_grad=True, device=device), torch.tensor(x, requires_grad=True)
    y, ty = leaf * 1.5, tleaf * 1.5
    assert getattr(y, name)() is y
    getattr(ty, name)()
    np.testing.assert_allclose(y.detach().cpu().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(leaf.grad.cpu().numpy(), tleaf.grad.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(AutogradError, match="leaf tensor that requires grad"):
        getattr(leaf, name)()


def test_pow_in_place_and_integer_rounding():
    t = dlcore.tensor([2.0, 3.0])
    assert t.pow_(2).tolist() == [4.0, 9.0]
    ints = dlcore.tensor([3, -2])
    for name in ("floor", "ceil", "round", "trunc"):
        out, ref = getattr(ints, name)(), getattr(torch.tensor([3, -2]), name)()
        assert out.tolist() == ref.tolist() and out.dtype == np.int64


def test_out_argument_like_torch(device):
    x, y = dlcore.tensor(X, device=device), dlcore.tensor(X * 2, device=device)
    result = dlcore.empty(3, 4, device=device)
    assert dlcore.add(x, y, out=result) is result
    np.testing.assert_allclose(result.cpu().numpy(), X * 3)
    small = dlcore.empty(1, device=device)  # resized, as PyTorch resizes out
    dlcore.mul(x, 2, out=small)
    assert small.shape == (3, 4) and small.device == x.device
    ints = dlcore.zeros(3, 4, dtype=dlcore.int64, device=device)
    with pytest.raises(dlcore.DTypeError, match="can't be cast"):
        dlcore.add(x, 0.5, out=ints)  # float into an int out, as PyTorch refuses
    with pytest.raises(AutogradError, match="out=... arguments don't support automatic differentiation"):
        dlcore.exp(dlcore.ones(2, requires_grad=True), out=dlcore.empty(2))


def test_nonzero_and_shape_errors_like_torch():
    x = np.array([[0, 1, 0], [2, 0, 3]])
    assert dlcore.nonzero(dlcore.tensor(x)).tolist() == torch.nonzero(torch.tensor(x)).tolist()
    ours = dlcore.tensor(x).nonzero(as_tuple=True)
    assert [t.tolist() for t in ours] == [t.tolist() for t in torch.tensor(x).nonzero(as_tuple=True)]
    with pytest.raises(ShapeError, match="bmm expected two 3-D tensors"):
        dlcore.bmm(dlcore.ones(2, 3), dlcore.ones(3, 2))
    with pytest.raises(ShapeError, match="outer expected two 1-D tensors"):
        dlcore.outer(dlcore.ones(2, 2), dlcore.ones(2))
    with pytest.raises(ShapeError, match="tril expected a tensor with at least 2 dims"):
        dlcore.tril(dlcore.ones(3))
    with pytest.raises(ShapeError, match="flip: dim 2 is out of range"):
        dlcore.ones(2, 2).flip(2)


def test_one_hot_matches_torch(device):
    import dlcore.nn.functional as F

    labels = np.array([[0, 3], [2, 1]])
    for n in (-1, 5):
        ours = F.one_hot(dlcore.tensor(labels, device=device), n)
        ref = torch.nn.functional.one_hot(torch.tensor(labels), n)
        assert ours.device == dlcore.device(device) and ours.dtype == np.int64
        np.testing.assert_array_equal(ours.cpu().numpy(), ref.numpy())
    with pytest.raises(dlcore.RangeError, match=r"class values must be in \[0, 3\)"):
        F.one_hot(dlcore.tensor([0, 3]), 3)
    with pytest.raises(dlcore.DTypeError, match="integer tensor"):
        F.one_hot(dlcore.tensor([0.0]))


def test_unique_like_torch(device):
    x = np.array([[3, 1], [3, 7]])
    ours = dlcore.unique(dlcore.tensor(x, device=device), return_inverse=True, return_counts=True)
    theirs = torch.unique(torch.tensor(x), return_inverse=True, return_counts=True)
    for a, b in zip(ours, theirs):
        assert a.device == dlcore.device(device) and a.tolist() == b.tolist()

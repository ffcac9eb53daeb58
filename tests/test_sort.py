"""sort / argsort / topk / msort against PyTorch (float64 values, indices and gradients), with
ties, NaN and every dim; and topk's errors."""

from __future__ import annotations

import numpy as np
import pytest

import dlcore
from dlcore.errors import RangeError

torch = pytest.importorskip("torch")


def _data(kind):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(3, 5, 4)).astype(np.float64)  # many ties
    if kind.startswith("distinct"):
        x = rng.permutation(x.size).reshape(x.shape).astype(np.float64)
    if kind.endswith("nan"):
        x[rng.random(x.shape) < 0.2] = np.nan
        x[0, 0, 0] = np.inf
    return x


def _compare(fn, x):
    """fn(lib, tensor) -> (values, indices) on dlcore and torch: equal indices, values, gradients."""
    ours_x, theirs_x = dlcore.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (v, i), (tv, ti) = fn(dlcore, ours_x), fn(torch, theirs_x)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_array_equal(v.detach().numpy(), tv.detach().numpy())
    g = np.random.default_rng(4).standard_normal(tv.shape)
    v.backward(dlcore.tensor(g))
    tv.backward(torch.tensor(g))
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["ties", "nan", "distinct", "distinct-nan"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_torch_stable(kind, dim, descending):
    _compare(lambda lib, t: lib.sort(t, dim=dim, descending=descending, stable=True), _data(kind))
    x = _data(kind)
    np.testing.assert_array_equal(dlcore.tensor(x).argsort(dim=dim, descending=descending).numpy(),
                                  torch.argsort(torch.tensor(x), dim=dim, descending=descending, stable=True).numpy())


@pytest.mark.parametrize("k,dim,largest", [(2, -1, True), (3, 1, False), (1, 0, True), (0, 2, True), (5, 1, True)])
def test_topk_matches_torch(k, dim, largest):
    _compare(lambda lib, t: t.topk(k, dim=dim, largest=largest), _data("distinct"))
    # with NaN (the largest value): the same values and the same set of indices (torch's order
    # among equal values, here several NaNs, is unspecified)
    x = _data("distinct-nan")
    (v, i), (tv, ti) = dlcore.tensor(x).topk(k, dim, largest), torch.tensor(x).topk(k, dim, largest)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(np.sort(i.numpy(), axis=dim), np.sort(ti.numpy(), axis=dim))


def test_msort_and_scalars():
    x = _data("distinct")
    np.testing.assert_array_equal(dlcore.msort(dlcore.tensor(x)).numpy(), torch.msort(torch.tensor(x)).numpy())
    s = dlcore.tensor(2.0)
    assert s.sort().values.item() == 2.0 and s.topk(1).indices.item() == 0


@pytest.mark.parametrize("k", [-1, 6, 2.0, True])
def test_topk_refuses_a_bad_k(k):
    with pytest.raises(RangeError, match=r"topk expected k in \[0, 5\]"):
        dlcore.zeros(2, 5).topk(k)

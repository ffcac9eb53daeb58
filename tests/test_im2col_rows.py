"""The stride-1 row-column im2col (dlcore/functional/im2col_rows.py) against PyTorch float64:
output and all three gradients, symmetric / asymmetric / no padding, batches big enough to be
split over threads (the chunk boundaries of the fill, copy and col2im passes)."""

from __future__ import annotations

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
from dlcore.cpu import conv_algorithm

torch = pytest.importorskip("torch")

CASES = [((64, 16, 14, 14), (32, 16, 3, 3), 1), ((64, 1, 28, 28), (16, 1, 3, 3), 1),
         ((3, 2, 7, 9), (4, 2, 2, 3), "same"), ((2, 3, 6, 5), (2, 3, 3, 1), 0), ((2, 2, 5, 5), (3, 2, 5, 5), 2)]


@pytest.mark.parametrize("xs,ws,padding", CASES)
def test_row_im2col_matches_torch(xs, ws, padding):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    g = rng.standard_normal((xs[0], ws[0]) + tuple(torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(w), padding=padding).shape[2:]))
    ours = [dlcore.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    with conv_algorithm("im2col"):
        y = F.conv2d(*ours, padding=padding)
        y.backward(dlcore.tensor(g))
    t = torch.nn.functional.conv2d(*theirs, padding=padding)
    t.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-10)
    for a, r in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), r.grad.numpy(), rtol=1e-10, atol=1e-9)


def test_row_im2col_float32_close_to_float64():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((64, 16, 14, 14)), rng.standard_normal((32, 16, 3, 3)) * 0.1
    out = []
    for dt in (np.float32, np.float64):
        xt, wt = dlcore.tensor(x.astype(dt), requires_grad=True), dlcore.tensor(w.astype(dt), requires_grad=True)
        y = F.conv2d(xt, wt, padding=1)
        y.sum().backward()
        out.append([y.numpy(), xt.grad.numpy(), wt.grad.numpy()])
    for a, b in zip(*out):
        assert np.max(np.abs(a - b)) <= 1e-4 * np.max(np.abs(b))

"""Batch norm's threaded epilogues (functional.norm.channel_affine) with the batch split over
threads (forced), against torch float64: output, running statistics and all three gradients."""

from __future__ import annotations

import numpy as np
import pytest

import dlcore
from dlcore import cpu_threads
from dlcore.functional.norm import batch_norm

torch = pytest.importorskip("torch")


@pytest.mark.usefixtures("cpu_only")  # the threaded epilogue is the CPU path
@pytest.mark.parametrize("shape", [(16, 8, 10, 10), (33, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_split_over_threads_matches_torch(shape, training, monkeypatch):
    monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", 64)
    rng = np.random.default_rng(0)
    C = shape[1]
    x, w, b, g = rng.standard_normal(shape), rng.standard_normal(C), rng.standard_normal(C), rng.standard_normal(shape)
    rm, rv = rng.standard_normal(C), rng.random(C) + 0.5
    ours = [dlcore.tensor(a, requires_grad=True) for a in (x, w, b)]
    rm_o, rv_o = rm.copy(), rv.copy()
    y = batch_norm(ours[0], rm_o, rv_o, ours[1], ours[2], training=training)
    y.backward(dlcore.tensor(g))
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    t = torch.nn.functional.batch_norm(theirs[0], rm_t, rv_t, theirs[1], theirs[2], training=training)
    t.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-10)
    for a, r in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), r.grad.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(rm_o, rm_t.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv_o, rv_t.numpy(), rtol=1e-12)

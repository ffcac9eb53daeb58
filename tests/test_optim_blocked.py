"""The cache-blocked, threaded optimizer updates (dlcore.cpu.in_place) on parameters big enough to
be split into many blocks over threads: bit for bit equal to the whole-array NumPy formulas
(written out here, PyTorch's order of operations), and close to torch.optim in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dlcore
from dlcore import cpu, cpu_threads

torch = pytest.importorskip("torch")

N = 3 * cpu.BLOCK + 123  # several blocks and a ragged last one


def _adam_reference(w, grads, lr, b1, b2, eps, wd, decoupled, amsgrad, maximize):
    m, v, vmax = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g
        if decoupled:
            w *= 1 - lr * wd
        elif wd:
            g = g + wd * w
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        used = np.maximum(vmax, v, out=vmax) if amsgrad else v
        denom = np.sqrt(used)
        denom /= math.sqrt(1 - b2**t)
        denom += eps
        w -= (m / denom) * (lr / (1 - b1**t))
    return w


@pytest.mark.parametrize("name,kw", [("Adam", {}), ("Adam", {"weight_decay": 0.1, "amsgrad": True}),
                                     ("AdamW", {}), ("AdamW", {"maximize": True, "amsgrad": True})])
def test_blocked_adam_equals_the_whole_array_update(name, kw, monkeypatch):
    monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", 1024)  # split even here, on any machine
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(N).astype(np.float32)
    grads = [rng.standard_normal(N).astype(np.float32) for _ in range(3)]
    p = dlcore.tensor(w0.copy(), requires_grad=True)
    opt = getattr(dlcore.optim, name)([p], lr=0.01, **kw)
    for g in grads:
        p.grad = dlcore.tensor(g)
        opt.step()
    full = dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-8, wd=kw.get("weight_decay", 0.01 if name == "AdamW" else 0),
                decoupled=name == "AdamW", amsgrad=kw.get("amsgrad", False), maximize=kw.get("maximize", False))
    np.testing.assert_array_equal(p.numpy(), _adam_reference(w0.copy(), grads, **full))
    pt = torch.tensor(w0.astype(np.float64), requires_grad=True)
    topt = getattr(torch.optim, name)([pt], lr=0.01, **kw)
    for g in grads:
        pt.grad = torch.tensor(g.astype(np.float64))
        topt.step()
    np.testing.assert_allclose(p.numpy(), pt.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_blocked_sgd_momentum_equals_the_whole_array_update(monkeypatch):
    monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", 1024)
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(N).astype(np.float32)
    grads = [rng.standard_normal(N).astype(np.float32) for _ in range(3)]
    p = dlcore.tensor(w0.copy(), requires_grad=True)
    opt = dlcore.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1)
    w, buf = w0.copy(), None
    for g in grads:
        p.grad = dlcore.tensor(g)
        opt.step()
        if buf is None:
            buf = g.copy()
        else:
            buf *= np.float32(0.9)
            buf += np.float32(0.9) * g
        w += np.float32(-0.1) * buf
    np.testing.assert_array_equal(p.numpy(), w)


@pytest.mark.parametrize("name,kw", [("RMSprop", {}), ("RMSprop", {"centered": True, "momentum": 0.9}),
                                     ("RMSprop", {"weight_decay": 0.1, "maximize": True, "momentum": 0.5}),
                                     ("Adam", {"amsgrad": True, "weight_decay": 0.1})])
def test_split_over_threads_equals_one_call_and_torch(name, kw, monkeypatch):
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal(N).astype(np.float32)
    grads = [rng.standard_normal(N).astype(np.float32) for _ in range(3)]
    out = []
    for min_work in (1024, 1 << 40):  # many blocks on threads / one whole-array call
        monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", min_work)
        p = dlcore.tensor(w0.copy(), requires_grad=True)
        opt = getattr(dlcore.optim, name)([p], lr=0.01, **kw)
        for g in grads:
            p.grad = dlcore.tensor(g)
            opt.step()
        out.append(p.numpy())
    np.testing.assert_array_equal(out[0], out[1])
    pt = torch.tensor(w0.astype(np.float64), requires_grad=True)
    topt = getattr(torch.optim, name)([pt], lr=0.01, **kw)
    for g in grads:
        pt.grad = torch.tensor(g.astype(np.float64))
        topt.step()
    np.testing.assert_allclose(out[0], pt.detach().numpy(), rtol=1e-4, atol=1e-5)

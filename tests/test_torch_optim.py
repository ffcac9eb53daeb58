"""Optimizer trajectories and scheduler lr sequences against PyTorch (float64, every option)."""


import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
import dlcore.optim as optim

torch = pytest.importorskip("torch")

OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-5, weight_decay=0.1, momentum=0.5)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, maximize=True)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.05, initial_accumulator_value=0.2, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, maximize=True)),
]


def _grad(w, t, k):
    """A gradient that depends on the current weights (so an error propagates) and the step."""
    return np.sin(w * (k + 1)) + 0.3 * np.cos(t + np.arange(w.size).reshape(w.shape))


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=lambda v: str(v))
def test_trajectory_matches_torch_with_two_param_groups(name, kwargs):
    rng = np.random.default_rng(0)
    inits = [rng.normal(size=(3, 2)), rng.normal(size=(4,)), rng.normal(size=(2,))]
    ours = [nn.Parameter(w.copy()) for w in inits]
    theirs = [torch.nn.Parameter(torch.tensor(w.copy())) for w in inits]
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": kwargs.get("lr", 1.0) * 0.5}]  # noqa: E731
    opt = getattr(optim, name)(groups(ours), **kwargs)
    topt = getattr(torch.optim, name)(groups(theirs), **kwargs)
    for t in range(6):
        for k, (p, q) in enumerate(zip(ours, theirs)):
            if t == 2 and k == 1:  # a parameter without a gradient this step is left alone
                p.grad, q.grad = None, None
                continue
            g = _grad(p.numpy(), t, k)
            p.grad, q.grad = dlcore.Tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert [{k: v for k, v in g.items()} for g in sd["param_groups"]] == tsd["param_groups"]
    assert sd["state"].keys() == tsd["state"].keys()
    for i, entry in tsd["state"].items():
        assert sd["state"][i].keys() == entry.keys()
        for key, value in entry.items():
            np.testing.assert_allclose(np.asarray(sd["state"][i][key].numpy() if hasattr(sd["state"][i][key], "numpy")
                                                  else sd["state"][i][key]), value.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kwargs", [OPTIMIZERS[3], OPTIMIZERS[5], OPTIMIZERS[12], OPTIMIZERS[15], OPTIMIZERS[18]],
                         ids=lambda v: str(v))
def test_float32_trajectory_close_to_torch(name, kwargs):
    w = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    p, q = nn.Parameter(w.copy()), torch.nn.Parameter(torch.tensor(w.copy()))
    opt, topt = getattr(optim, name)([p], **kwargs), getattr(torch.optim, name)([q], **kwargs)
    for t in range(4):
        g = _grad(p.numpy().astype(np.float64), t, 0).astype(np.float32)
        p.grad, q.grad = dlcore.Tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)

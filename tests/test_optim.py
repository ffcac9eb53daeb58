"""Optimizers against updates computed by hand, schedulers, and optimizer state round trips."""

import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
from dlcore.optim import SGD, Adam
from dlcore.optim.lr_scheduler import CosineAnnealingLR, StepLR


def param(values):
    return nn.Parameter(np.array(values, dtype=np.float64))


def set_grad(p, values):
    p.grad = dlcore.Tensor(np.array(values, dtype=np.float64))


def test_plain_sgd_step_by_hand():
    p = param([1.0, -2.0])
    opt = SGD([p], lr=0.1)
    set_grad(p, [0.5, 1.0])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.05, -2.0 - 0.1])


def test_sgd_momentum_weight_decay_by_hand():
    p = param([1.0])
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    set_grad(p, [0.5])
    opt.step()  # g = 0.5 + 0.01*1 = 0.51; buf = 0.51; w = 1 - 0.051
    assert p.item() == pytest.approx(0.949)
    set_grad(p, [0.5])
    opt.step()  # g = 0.5 + 0.00949; buf = 0.9*0.51 + 0.50949 = 0.96849; w = 0.949 - 0.096849
    assert p.item() == pytest.approx(0.949 - 0.1 * (0.9 * 0.51 + 0.5 + 0.01 * 0.949))


def test_sgd_nesterov_by_hand():
    p = param([1.0])
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    set_grad(p, [1.0])
    opt.step()  # buf = 1; step = g + 0.9 buf = 1.9
    assert p.item() == pytest.approx(1.0 - 0.19)


def test_adam_two_steps_by_hand():
    p = param([1.0, 2.0])
    opt = Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    w = np.array([1.0, 2.0])
    m = v = np.zeros(2)
    for t, g in enumerate([np.array([0.1, -0.2]), np.array([0.3, 0.1])], start=1):
        set_grad(p, g)
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        np.testing.assert_allclose(p.numpy(), w, rtol=1e-12)
    # first Adam step moves each weight by lr in the direction of -sign(g)


def test_zero_grad_and_parameters_without_grad_are_skipped():
    p, q = param([1.0]), param([2.0])
    opt = SGD([p, q], lr=1.0)
    set_grad(p, [1.0])
    opt.step()
    assert p.item() == 0.0 and q.item() == 2.0
    opt.zero_grad()
    assert p.grad is None


def test_step_lr_and_cosine():
    p = param([0.0])
    opt = SGD([p], lr=1.0)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]
    opt2 = SGD([param([0.0])], lr=1.0)
    cos = CosineAnnealingLR(opt2, T_max=4, eta_min=0.0)
    got = []
    for _ in range(4):
        cos.step()
        got.append(opt2.param_groups[0]["lr"])
    np.testing.assert_allclose(got, [(1 + np.cos(np.pi * k / 4)) / 2 for k in range(1, 5)], atol=1e-12)


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps, lr=0.01)])
def test_optimizer_state_dict_round_trip_continues_identically(make, tmp_path):
    def run(resume):
        dlcore.manual_seed(0)
        model = nn.Linear(3, 2)
        opt = make(list(model.parameters()))
        x = dlcore.randn(8, 3)
        for step in range(6):
            if resume and step == 3:
                dlcore.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "c.npz")
                model = nn.Linear(3, 2)
                opt = make(list(model.parameters()))
                state = dlcore.load(tmp_path / "c.npz")
                model.load_state_dict(state["model"])
                opt.load_state_dict(state["opt"])
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
        return model.weight.numpy()

    np.testing.assert_array_equal(run(False), run(True))


def test_optimizer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([param([1.0])], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="require grad"):
        SGD([dlcore.tensor([1.0])], lr=0.1)

"""Optimizer trajectories and scheduler lr sequences against PyTorch (float64, every option)."""


import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
import dlcore.optim as optim
from dlcore.optim import lr_scheduler as dl_sched

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)` before")

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


# ---------------------------------------------------------------- schedulers: lr sequences against torch
def _pair(opt_name="SGD", **opt_kwargs):
    """The same two-group optimizer in dlcore and torch."""
    ours = [nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))]
    theirs = [torch.nn.Parameter(torch.ones(2, dtype=torch.float64)), torch.nn.Parameter(torch.ones(3, dtype=torch.float64))]
    make = lambda lib, ps: getattr(lib, opt_name)([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}],  # noqa: E731
                                                  lr=0.1, **opt_kwargs)
    return make(optim, ours), make(torch.optim, theirs)


def _both(sched, opt, topt, *args, **kwargs):
    return sched(opt, *args, **kwargs), getattr(torch.optim.lr_scheduler, sched.__name__)(topt, *args, **kwargs)


def _hyper(opt):
    return [(g["lr"], g.get("momentum"), tuple(g["betas"]) if "betas" in g else None) for g in opt.param_groups]


def _compare(ours, theirs, opt, topt, steps, metrics=None):
    assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
    for t in range(steps):
        if metrics is None:
            ours.step()
            theirs.step()
        else:
            ours.step(metrics[t])
            theirs.step(metrics[t])
        assert getattr(ours, "last_epoch", None) == getattr(theirs, "last_epoch", None)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12, abs=1e-15), f"step {t + 1}"
        for ours_g, theirs_g in zip(_hyper(opt), _hyper(topt)):
            for a, b in zip(ours_g, theirs_g):
                assert (a is None and b is None) or a == pytest.approx(b, rel=1e-12, abs=1e-15), f"step {t + 1}"


SCHEDULES = [
    ("StepLR", (), dict(step_size=3, gamma=0.5), 10),
    ("StepLR", (), dict(step_size=1), 4),
    ("MultiStepLR", (), dict(milestones=[2, 5, 5], gamma=0.3), 8),
    ("ExponentialLR", (), dict(gamma=0.9), 6),
    ("CosineAnnealingLR", (), dict(T_max=4, eta_min=0.01), 13),
    ("CosineAnnealingLR", (), dict(T_max=3), 7),
    ("LambdaLR", (), dict(lr_lambda=lambda e: 0.9**e), 5),
    ("LambdaLR", (), dict(lr_lambda=[lambda e: 1 / (e + 1), lambda e: 2.0 ** -e]), 5),
    ("LinearLR", (), dict(), 8),
    ("LinearLR", (), dict(start_factor=0.25, end_factor=0.9, total_iters=4), 7),
    ("OneCycleLR", (), dict(max_lr=1.0, total_steps=10), 10),
    ("OneCycleLR", (), dict(max_lr=[1.0, 0.4], epochs=3, steps_per_epoch=4, pct_start=0.4, anneal_strategy="linear",
                            three_phase=True, base_momentum=0.8, max_momentum=0.9, div_factor=10.0,
                            final_div_factor=100.0), 12),
    ("OneCycleLR", (), dict(max_lr=0.5, total_steps=7, cycle_momentum=False), 7),
    ("ConstantLR", (), dict(), 8),
    ("ConstantLR", (), dict(factor=0.5, total_iters=2), 5),
    ("PolynomialLR", (), dict(total_iters=4, power=2.0), 7),
    ("MultiplicativeLR", (), dict(lr_lambda=lambda e: 0.95), 5),
    ("CosineAnnealingWarmRestarts", (), dict(T_0=3), 10),
    ("CosineAnnealingWarmRestarts", (), dict(T_0=2, T_mult=2, eta_min=0.01), 16),
]


@pytest.mark.parametrize("name,args,kwargs,steps", SCHEDULES, ids=lambda v: str(v)[:40])
def test_schedule_matches_torch(name, args, kwargs, steps):
    opt, topt = _pair(momentum=0.9)
    ours, theirs = _both(getattr(dl_sched, name), opt, topt, *args, **kwargs)
    _compare(ours, theirs, opt, topt, steps)


def test_one_cycle_cycles_adam_beta1_like_torch():
    opt, topt = _pair("Adam", betas=(0.9, 0.99))
    ours, theirs = _both(dl_sched.OneCycleLR, opt, topt, max_lr=0.01, total_steps=6)
    _compare(ours, theirs, opt, topt, 6)


@pytest.mark.parametrize("kwargs,metrics", [
    (dict(patience=1), [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.86, 0.87]),
    (dict(mode="max", factor=0.5, patience=0, threshold=0.1, threshold_mode="abs", cooldown=2, min_lr=[0.01, 0.02]),
     [1.0, 1.05, 1.2, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    (dict(patience=2, eps=0.05, min_lr=0.04), [1.0] * 12),
])
def test_reduce_on_plateau_matches_torch(kwargs, metrics):
    opt, topt = _pair()
    ours, theirs = _both(dl_sched.ReduceLROnPlateau, opt, topt, **kwargs)
    _compare(ours, theirs, opt, topt, len(metrics), metrics=metrics)


@pytest.mark.parametrize("build", [
    lambda lib, o: ([lib.LinearLR(o, start_factor=0.5, total_iters=3), lib.ExponentialLR(o, gamma=0.9)], [3]),
    lambda lib, o: ([lib.LinearLR(o, total_iters=2), lib.StepLR(o, step_size=2, gamma=0.5),
                     lib.CosineAnnealingLR(o, T_max=4)], [2, 5]),
])
def test_sequential_matches_torch(build):
    opt, topt = _pair()
    ours = dl_sched.SequentialLR(opt, *build(dl_sched, opt))
    theirs = torch.optim.lr_scheduler.SequentialLR(topt, *build(torch.optim.lr_scheduler, topt))
    _compare(ours, theirs, opt, topt, 12)


def test_two_chained_schedules_and_a_manual_lr_change_match_torch():
    opt, topt = _pair()
    pairs = [_both(dl_sched.StepLR, opt, topt, step_size=2, gamma=0.5), _both(dl_sched.ExponentialLR, opt, topt, 0.9)]
    for t in range(6):
        if t == 3:
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.3
        for ours, theirs in pairs:
            ours.step()
            theirs.step()
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("name,kwargs", [("StepLR", dict(step_size=2)), ("MultiStepLR", dict(milestones=[1, 3])),
                                         ("ExponentialLR", dict(gamma=0.5)), ("CosineAnnealingLR", dict(T_max=5)),
                                         ("LinearLR", dict(total_iters=3))])
def test_closed_form_step_epoch_and_resume_with_last_epoch_match_torch(name, kwargs):
    opt, topt = _pair()
    ours, theirs = _both(getattr(dl_sched, name), opt, topt, **kwargs)
    for epoch in (4, 2, 5):
        with pytest.warns(UserWarning):
            ours.step(epoch)
        with pytest.warns(UserWarning):
            theirs.step(epoch)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
    ours, theirs = _both(getattr(dl_sched, name), opt, topt, last_epoch=3, **kwargs)  # groups have initial_lr now
    _compare(ours, theirs, opt, topt, 4)


@pytest.mark.parametrize("name,kwargs", [OPTIMIZERS[2], OPTIMIZERS[5], OPTIMIZERS[9], OPTIMIZERS[12], OPTIMIZERS[15],
                                         OPTIMIZERS[18]], ids=lambda v: str(v))
def test_repr_matches_torch(name, kwargs):
    ours = getattr(optim, name)([nn.Parameter(np.ones(1))], **kwargs)
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **kwargs)
    assert repr(ours) == repr(theirs)


def test_chained_scheduler_matches_torch():
    opt, topt = _pair()
    build = lambda lib, o: [lib.ConstantLR(o, factor=0.5, total_iters=2), lib.ExponentialLR(o, gamma=0.9)]  # noqa: E731
    ours = dl_sched.ChainedScheduler(build(dl_sched, opt))
    theirs = torch.optim.lr_scheduler.ChainedScheduler(build(torch.optim.lr_scheduler, topt))
    _compare(ours, theirs, opt, topt, 6)


def test_warm_restarts_step_with_a_fractional_epoch_matches_torch():
    opt, topt = _pair()
    ours, theirs = _both(dl_sched.CosineAnnealingWarmRestarts, opt, topt, T_0=2, T_mult=2)
    for epoch in (0.5, 1.5, 2.25, 5.0, 9.5, 1.0):
        ours.step(epoch)
        theirs.step(epoch)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)


def test_named_parameters_are_accepted_like_torch():
    ours_model, theirs_model = nn.Linear(2, 1), torch.nn.Linear(2, 1)
    ours = optim.Adam(ours_model.named_parameters(), lr=0.1)
    theirs = torch.optim.Adam(theirs_model.named_parameters(), lr=0.1)
    assert ours.state_dict()["param_groups"] == theirs.state_dict()["param_groups"]
    assert ours.param_groups[0]["param_names"] == ["weight", "bias"]
    with pytest.raises(ValueError, match="with names"):
        ours.add_param_group({"params": [nn.Parameter(np.ones(1))]})
    with pytest.raises(ValueError):
        theirs.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))]})
    fresh = optim.Adam(nn.Linear(2, 1).parameters())
    fresh.load_state_dict(ours.state_dict())
    assert fresh.param_groups[0]["param_names"] == ["weight", "bias"]

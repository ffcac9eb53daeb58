"""Optimizers against updates computed by hand, schedulers, and optimizer state round trips."""

import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
from dlcore.backend import device_of, to_numpy
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
    with pytest.raises(TypeError, match="only optimise Tensors"):
        SGD([np.ones(2)], lr=0.1)


# ---------------------------------------------------------------- hyper-parameter validation
from dlcore.errors import CheckpointError, DlcoreError, DTypeError, RangeError  # noqa: E402
from dlcore.optim import Adadelta, Adagrad, AdamW, RMSprop  # noqa: E402

BAD_HYPER_PARAMETERS = [
    (SGD, dict(lr=-0.1), "lr"), (SGD, dict(momentum=-0.5), "momentum"), (SGD, dict(weight_decay=-1), "weight_decay"),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (Adam, dict(lr=-1e-3), "lr"), (Adam, dict(eps=-1e-8), "eps"), (Adam, dict(weight_decay=-0.1), "weight_decay"),
    (Adam, dict(betas=(1.0, 0.999)), r"betas\[0\]"), (Adam, dict(betas=(0.9, -0.1)), r"betas\[1\]"),
    (AdamW, dict(betas=(0.9, 1.5)), r"betas\[1\]"), (AdamW, dict(weight_decay=-0.01), "weight_decay"),
    (RMSprop, dict(alpha=-0.1), "alpha"), (RMSprop, dict(momentum=-1), "momentum"), (RMSprop, dict(eps=-1), "eps"),
    (Adagrad, dict(lr_decay=-1), "lr_decay"), (Adagrad, dict(initial_accumulator_value=-1), "initial_accumulator"),
    (Adadelta, dict(rho=1.5), "rho"), (Adadelta, dict(lr=-1), "lr"),
    (Adam, dict(betas=(0.9,)), "exactly two"), (Adam, dict(betas=(0.9, 0.99, 0.999)), "exactly two"),
    (SGD, dict(lr=float("nan")), "lr"),  # stricter than PyTorch from here on: it accepts these or fails later
]
TORCH_ACCEPTS = 3


@pytest.mark.parametrize("cls,kwargs,name", BAD_HYPER_PARAMETERS, ids=lambda v: str(v))
def test_bad_hyper_parameters_raise_range_error_naming_them(cls, kwargs, name):
    with pytest.raises(RangeError, match=name) as info:
        cls([param([1.0])], **kwargs)
    assert isinstance(info.value, ValueError)
    if BAD_HYPER_PARAMETERS.index((cls, kwargs, name)) >= len(BAD_HYPER_PARAMETERS) - TORCH_ACCEPTS:
        return
    torch = pytest.importorskip("torch")  # PyTorch refuses the same values (with a ValueError)
    with pytest.raises(ValueError):
        getattr(torch.optim, cls.__name__)([torch.nn.Parameter(torch.ones(1))], **kwargs)


@pytest.mark.parametrize("value", ["0.1", None, True, [0.1]])
def test_non_numeric_lr_is_a_type_error(value):
    with pytest.raises(DTypeError, match="lr expected a real number"):
        SGD([param([1.0])], lr=value)


def test_a_group_hyper_parameter_is_validated_too():
    with pytest.raises(RangeError, match="lr"):
        SGD([{"params": [param([1.0])], "lr": -1.0}], lr=0.1)
    with pytest.raises(DTypeError, match="maximize expected a bool"):
        Adam([param([1.0])], maximize="yes")
    with pytest.raises(RangeError, match="differentiable"):
        Adam([param([1.0])], differentiable=True)


def test_parameter_in_two_groups_or_twice_is_an_error():
    p, q = param([1.0]), param([2.0])
    with pytest.raises(RangeError, match="more than one parameter group"):
        SGD([{"params": [p]}, {"params": [q, p]}], lr=0.1)
    opt = SGD([p], lr=0.1)
    with pytest.raises(RangeError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})
    assert len(opt.param_groups) == 1
    with pytest.raises(RangeError, match="more than once"):
        SGD([p, p], lr=0.1)
    with pytest.raises(DTypeError, match="not a set"):
        SGD([{"params": {p, q}}], lr=0.1)
    with pytest.raises(DTypeError, match="not a set"):
        SGD({p, q}, lr=0.1)
    with pytest.raises(DTypeError, match="got a single Parameter"):
        SGD(p, lr=0.1)
    with pytest.raises(RangeError, match="non-leaf"):
        SGD([p * 2], lr=0.1)


def test_add_param_group_uses_defaults_and_params_need_not_require_grad():
    p, frozen = param([1.0]), dlcore.tensor([5.0])  # PyTorch accepts frozen parameters: they just have no grad
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": frozen, "lr": 0.01})
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[1]["momentum"] == 0.9
    assert opt.param_groups[1]["params"] == [frozen] or opt.param_groups[1]["params"][0] is frozen
    set_grad(p, [1.0])
    opt.step()
    assert frozen.item() == 5.0 and p.item() == pytest.approx(0.9)


def test_zero_grad_set_to_none_false_zeroes_in_place():
    p = param([1.0, 2.0])
    opt = SGD([p], lr=0.1)
    set_grad(p, [3.0, 4.0])
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and grad.numpy().tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_its_loss_and_uses_its_gradients():
    p = param([3.0])
    opt = SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with dlcore.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0 and p.item() == pytest.approx(3.0 - 0.25 * 6.0)


# ---------------------------------------------------------------- state_dict: PyTorch's structure, all or nothing
def _trained(make, steps=2):
    dlcore.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = make(model.parameters())
    x = dlcore.randn(4, 3)
    for _ in range(steps):
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()
    return model, opt


def _snapshot(opt):
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    state = {id(p): {k: (v.copy() if hasattr(v, "copy") else v) for k, v in s.items()} for p, s in opt.state.items()}
    return groups, state


def _same(opt, snap):
    groups, state = _snapshot(opt)
    assert groups == snap[0] and state.keys() == snap[1].keys()
    for key, entry in state.items():
        for k, v in entry.items():
            np.testing.assert_array_equal(to_numpy(v), to_numpy(snap[1][key][k]))


def test_state_dict_has_pytorchs_structure():
    _, opt = _trained(lambda ps: Adam(ps, lr=0.01))
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["params"] == [0, 1] and sd["param_groups"][0]["lr"] == 0.01
    assert set(sd["state"]) == {0, 1} and set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][0]["step"] == 2 and sd["state"][0]["exp_avg"].shape == (2, 3)


BAD_STATES = [
    ("not a dict", lambda sd: [1, 2], "expected a dict"),
    ("no state", lambda sd: {"param_groups": sd["param_groups"]}, "'state' and 'param_groups'"),
    ("group count", lambda sd: {**sd, "param_groups": sd["param_groups"] * 2}, "2 parameter group"),
    ("param count", lambda sd: {**sd, "param_groups": [{**sd["param_groups"][0], "params": [0]}]}, "1 parameters"),
    ("bad lr", lambda sd: {**sd, "param_groups": [{**sd["param_groups"][0], "lr": -1.0}]}, "lr"),
    ("bad betas", lambda sd: {**sd, "param_groups": [{**sd["param_groups"][0], "betas": [0.9]}]}, "betas"),
    ("bad shape", lambda sd: {**sd, "state": {**sd["state"], 1: {**sd["state"][1], "exp_avg": np.zeros(3)}}},
     r"shape \(2,\)"),
    ("bad step", lambda sd: {**sd, "state": {**sd["state"], 1: {**sd["state"][1], "step": -2}}}, "step"),
    ("text state", lambda sd: {**sd, "state": {**sd["state"], 1: {**sd["state"][1], "exp_avg_sq": "x"}}},
     "numeric array"),
    ("unknown key", lambda sd: {**sd, "state": {**sd["state"], 1: {**sd["state"][1], "momentum_buffer": None}}},
     "does not keep"),
    ("bad index", lambda sd: {**sd, "state": {**sd["state"], 7: sd["state"][1]}}, "state\\[7\\]"),
    ("twice", lambda sd: {**sd, "param_groups": [{**sd["param_groups"][0], "params": [0, 0]}]}, "twice"),
    ("other type", lambda sd: SGD([param([1.0])], momentum=0.9).state_dict(), "saved by SGD"),
]


@pytest.mark.parametrize("what,spoil,match", BAD_STATES, ids=[b[0] for b in BAD_STATES])
def test_bad_state_raises_checkpoint_error_and_changes_nothing(what, spoil, match):
    _, donor = _trained(lambda ps: Adam(ps, lr=0.05, amsgrad=False), steps=3)
    _, opt = _trained(lambda ps: Adam(ps, lr=0.01))
    before = _snapshot(opt)
    with pytest.raises(CheckpointError, match=match):
        opt.load_state_dict(spoil(donor.state_dict()))
    _same(opt, before)


def test_load_state_dict_after_a_save_round_trip_and_across_dtypes(tmp_path):
    _, donor = _trained(lambda ps: RMSprop(ps, lr=0.01, momentum=0.9, centered=True))
    dlcore.save(donor.state_dict(), tmp_path / "o.npz")
    loaded = dlcore.load(tmp_path / "o.npz")
    assert set(loaded["state"]) == {"0", "1"}  # JSON keys come back as strings
    model = nn.Linear(3, 2)
    opt = RMSprop(model.parameters(), lr=0.5)
    opt.load_state_dict(loaded)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["centered"] is True
    for p, q in zip(model.parameters(), donor.param_groups[0]["params"]):
        for k, v in donor.state[q].items():
            got = opt.state[p][k]
            np.testing.assert_array_equal(to_numpy(got), to_numpy(v))
            if k != "step":
                assert got.dtype == p.dtype and got is not v and device_of(got) == p.device


def test_adagrad_has_state_before_the_first_step_like_pytorch():
    opt = Adagrad([param([1.0, 2.0])], initial_accumulator_value=0.5)
    assert opt.state_dict()["state"][0]["step"] == 0
    np.testing.assert_array_equal(opt.state_dict()["state"][0]["sum"].numpy(), [0.5, 0.5])


def test_errors_are_dlcore_errors():
    with pytest.raises(DlcoreError):
        SGD([param([1.0])], lr=-1)


# ---------------------------------------------------------------- schedulers: arguments, state round trips
from dlcore.optim import lr_scheduler as S  # noqa: E402


class Warmup:
    """A callable object: LambdaLR keeps its attributes in the state_dict (a lambda is not kept)."""

    def __init__(self, epochs):
        self.epochs = epochs

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.epochs)


SCHEDULERS = {
    "StepLR": lambda o: S.StepLR(o, step_size=2, gamma=0.5),
    "MultiStepLR": lambda o: S.MultiStepLR(o, milestones=[2, 4, 4], gamma=0.5),
    "ExponentialLR": lambda o: S.ExponentialLR(o, gamma=0.8),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=0.001),
    "LambdaLR": lambda o: S.LambdaLR(o, [Warmup(4), lambda e: 0.5**e]),
    "LinearLR": lambda o: S.LinearLR(o, start_factor=0.2, total_iters=4),
    "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=9, three_phase=True),
    "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, patience=0, cooldown=1, factor=0.5),
    "SequentialLR": lambda o: S.SequentialLR(o, [S.LinearLR(o, total_iters=2), S.StepLR(o, step_size=1, gamma=0.5)],
                                             milestones=[3]),
    "ChainedScheduler": lambda o: S.ChainedScheduler([S.ConstantLR(o, total_iters=4), S.ExponentialLR(o, 0.9)]),
    "ConstantLR": lambda o: S.ConstantLR(o, factor=0.25, total_iters=4),
    "PolynomialLR": lambda o: S.PolynomialLR(o, total_iters=6, power=0.5),
    "MultiplicativeLR": lambda o: S.MultiplicativeLR(o, [Warmup(4), lambda e: 0.9]),
    "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2),
}
METRIC = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7]


def _step(sched, t):
    sched.step(METRIC[t]) if isinstance(sched, S.ReduceLROnPlateau) else sched.step()


def _optimizer():
    return SGD([{"params": [param([1.0])]}, {"params": [param([2.0])], "lr": 0.05}], lr=0.1, momentum=0.9)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_state_round_trip_through_a_file_continues_identically(name, tmp_path):
    opt = _optimizer()
    sched = SCHEDULERS[name](opt)
    straight = []
    for t in range(8):
        _step(sched, t)
        straight.append(sched.get_last_lr())
    opt = _optimizer()
    sched = SCHEDULERS[name](opt)
    for t in range(3):
        _step(sched, t)
    dlcore.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "s.npz")
    state = dlcore.load(tmp_path / "s.npz")
    opt = _optimizer()
    sched = SCHEDULERS[name](opt)
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    resumed = [sched.get_last_lr()]
    for t in range(3, 8):
        _step(sched, t)
        resumed.append(sched.get_last_lr())
    assert resumed == straight[2:]  # bit-exact


def test_lambda_lr_keeps_callable_objects_state_not_lambdas():
    opt = _optimizer()
    sched = S.LambdaLR(opt, [Warmup(4), lambda e: 1.0])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"epochs": 4}, None]
    other = S.LambdaLR(_optimizer(), [Warmup(10), lambda e: 1.0])
    other.load_state_dict(state)
    assert other.lr_lambdas[0].epochs == 4


@pytest.mark.parametrize("name", SCHEDULERS)
def test_bad_scheduler_state_raises_checkpoint_error_and_changes_nothing(name):
    sched = SCHEDULERS[name](_optimizer())
    _step(sched, 0)
    before = {k: repr(v) for k, v in sched.__dict__.items()}
    good = sched.state_dict()
    spoiled = [
        ["not", "a", "dict"],
        {k: v for k, v in good.items() if k != "last_epoch"},
        {**good, "unexpected": 1},
        {**good, "last_epoch": "three"},
        {**good, "last_epoch": 2.5},
        {**good, "base_lrs": [0.1]} if "base_lrs" in good else {**good, "min_lrs": [0.0]},
    ]
    if name in ("SequentialLR", "ChainedScheduler"):
        spoiled.append({**good, "_schedulers": good["_schedulers"][:1]})
        spoiled.append({**good, "_schedulers": [good["_schedulers"][0], {**good["_schedulers"][1], "gamma": "x"}]})
    if name == "ReduceLROnPlateau":
        spoiled.append({**good, "mode": "sideways"})
    for bad in spoiled:
        if bad == good:  # ChainedScheduler has no last_epoch of its own
            continue
        with pytest.raises(CheckpointError):
            sched.load_state_dict(bad)
        assert {k: repr(v) for k, v in sched.__dict__.items()} == before


def test_other_scheduler_state_is_refused():
    opt = _optimizer()
    with pytest.raises(CheckpointError, match="another scheduler"):
        S.StepLR(opt, step_size=2).load_state_dict(S.CosineAnnealingLR(_optimizer(), T_max=3).state_dict())


BAD_SCHEDULER_ARGUMENTS = [
    (lambda o: S.StepLR(o, step_size=0), RangeError, "step_size expected an int >= 1, got 0"),
    (lambda o: S.StepLR(o, step_size=2.0), DTypeError, "step_size expected an int"),
    (lambda o: S.StepLR(o, step_size=True), DTypeError, "step_size"),
    (lambda o: S.StepLR(o, step_size=2, gamma=0), RangeError, "gamma expected a number > 0"),
    (lambda o: S.StepLR(o, step_size=2, gamma=-0.5), RangeError, "gamma"),
    (lambda o: S.MultiStepLR(o, milestones=[2, 0]), RangeError, "milestones"),
    (lambda o: S.MultiStepLR(o, milestones=3), DTypeError, "milestones"),
    (lambda o: S.ExponentialLR(o, gamma="0.9"), DTypeError, "gamma"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), RangeError, "T_max expected an int >= 1, got 0"),
    (lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=-1), RangeError, "eta_min"),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), RangeError, "one function per parameter group"),
    (lambda o: S.LambdaLR(o, 0.5), DTypeError, "lr_lambda"),
    (lambda o: S.LinearLR(o, start_factor=0), RangeError, "start_factor"),
    (lambda o: S.LinearLR(o, end_factor=1.5), RangeError, "end_factor"),
    (lambda o: S.LinearLR(o, total_iters=0), RangeError, "total_iters"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0), RangeError, "total_steps"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=0), RangeError, "total_steps"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1.5), RangeError, "pct_start"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"), RangeError, "anneal_strategy"),
    (lambda o: S.OneCycleLR(o, max_lr=[1.0], total_steps=5), RangeError, "one value per parameter group"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), RangeError, "factor"),
    (lambda o: S.ReduceLROnPlateau(o, mode="up"), RangeError, "mode"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="x"), RangeError, "threshold_mode"),
    (lambda o: S.ReduceLROnPlateau(o, patience=-1), RangeError, "patience"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.1]), RangeError, "min_lr"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2)], milestones=[1]), RangeError, "milestone"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.ReduceLROnPlateau(o)], milestones=[1]), DTypeError, "ReduceLR"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(_optimizer(), 2)], milestones=[1]), RangeError,
     "another optimizer"),
    (lambda o: S.StepLR(o, step_size=2, last_epoch=-2), RangeError, "last_epoch"),
    (lambda o: S.StepLR("opt", step_size=2), DTypeError, "expected a dlcore.optim Optimizer"),
    (lambda o: S.ConstantLR(o, factor=1.5), RangeError, "factor"),
    (lambda o: S.ConstantLR(o, factor=0), RangeError, "factor"),
    (lambda o: S.PolynomialLR(o, total_iters=0), RangeError, "total_iters"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), RangeError, "T_0"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5), DTypeError, "T_mult"),
    (lambda o: S.ChainedScheduler([]), RangeError, "non-empty"),
    (lambda o: S.ChainedScheduler([S.StepLR(o, 2), S.StepLR(_optimizer(), 2)]), RangeError, "another optimizer"),
]


@pytest.mark.parametrize("make,error,match", BAD_SCHEDULER_ARGUMENTS,
                         ids=[str(i) for i in range(len(BAD_SCHEDULER_ARGUMENTS))])
def test_bad_scheduler_arguments_name_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make(_optimizer())


def test_resuming_with_last_epoch_needs_initial_lr():
    with pytest.raises(RangeError, match="initial_lr"):
        S.StepLR(_optimizer(), step_size=2, last_epoch=3)


def test_reduce_on_plateau_accepts_a_tensor_metric():
    opt = _optimizer()
    sched = S.ReduceLROnPlateau(opt, patience=0)
    sched.step(dlcore.tensor(1.0))
    sched.step(dlcore.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([0.01, 0.005])
    with pytest.raises(DTypeError, match="metric"):
        sched.step("loss")


def test_a_group_added_after_the_scheduler_is_an_error_not_ignored():
    opt = _optimizer()
    sched = S.LambdaLR(opt, lambda e: 0.5)
    opt.add_param_group({"params": [param([3.0])], "lr": 1.0})
    with pytest.raises(RangeError, match="3 parameter groups, the scheduler knows 2"):
        sched.step()

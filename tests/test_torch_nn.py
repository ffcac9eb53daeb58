"""Oracle: dlcore's layers, losses, activations, init and nn utilities against PyTorch (float64,
forward and every input gradient). Skipped where PyTorch is not installed; CI installs it."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.backend import to_device
from dlcore.errors import ShapeError

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
RNG = np.random.default_rng(1234)


def randn(*shape):
    return RNG.standard_normal(shape)


def compare(ours, theirs, *arrays, grads=None, atol=1e-10, rtol=1e-8, kwargs=None):
    """Run ``ours`` on dlcore tensors and ``theirs`` on torch tensors (float64; integer arrays stay
    integer), compare the outputs, then the gradient of sum(out * r) for every float input."""
    kwargs = kwargs or {}
    grads = [i for i, a in enumerate(arrays) if np.asarray(a).dtype.kind == "f"] if grads is None else grads
    d = [dlcore.tensor(np.array(a), requires_grad=(i in grads)) for i, a in enumerate(arrays)]
    t = [torch.tensor(np.array(a), requires_grad=(i in grads)) for i, a in enumerate(arrays)]
    out_d, out_t = ours(*d, **kwargs), theirs(*t, **kwargs)
    np.testing.assert_allclose(out_d.numpy(), out_t.detach().numpy(), atol=atol, rtol=rtol, err_msg="forward")
    assert out_d.dtype == np.dtype(str(out_t.dtype).replace("torch.", ""))
    if not grads or out_t.numel() == 0:
        return
    r = RNG.standard_normal(out_t.shape)
    (out_d * dlcore.tensor(r)).sum().backward()
    (out_t * torch.tensor(r)).sum().backward()
    for i in grads:
        assert d[i].grad is not None, f"no gradient for input {i}"
        np.testing.assert_allclose(d[i].grad.numpy(), t[i].grad.numpy(), atol=atol, rtol=rtol,
                                   err_msg=f"gradient of input {i}")


# --------------------------------------------------------------------------- activations
ACTIVATIONS = [
    ("relu", F.relu, TF.relu, {}),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu, {"negative_slope": 0.2}),
    ("sigmoid", F.sigmoid, torch.sigmoid, {}),
    ("tanh", F.tanh, torch.tanh, {}),
    ("gelu", F.gelu, TF.gelu, {}),
    ("gelu_tanh", F.gelu, TF.gelu, {"approximate": "tanh"}),
    ("silu", F.silu, TF.silu, {}),
    ("elu", F.elu, TF.elu, {"alpha": 0.7}),
]


@pytest.mark.parametrize("shape", [(), (1,), (3, 4), (2, 1, 3)])
@pytest.mark.parametrize("name,ours,theirs,kw", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_torch(name, ours, theirs, kw, shape):
    compare(ours, theirs, randn(*shape) * 3, kwargs=kw)


@pytest.mark.parametrize("cls,tcls,kw", [
    (nn.ReLU, torch.nn.ReLU, {}), (nn.LeakyReLU, torch.nn.LeakyReLU, {"negative_slope": 0.3}),
    (nn.GELU, torch.nn.GELU, {"approximate": "tanh"}), (nn.SiLU, torch.nn.SiLU, {}),
    (nn.ELU, torch.nn.ELU, {"alpha": 2.0}), (nn.Softmax, torch.nn.Softmax, {"dim": 0}),
    (nn.LogSoftmax, torch.nn.LogSoftmax, {"dim": -1}), (nn.Sigmoid, torch.nn.Sigmoid, {}),
    (nn.Tanh, torch.nn.Tanh, {}), (nn.Identity, torch.nn.Identity, {}),
])
def test_activation_modules_match_torch(cls, tcls, kw):
    compare(lambda x: cls(**kw)(x), lambda x: tcls(**kw)(x), randn(3, 5))


@pytest.mark.parametrize("fn,tfn", [(F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)])
@pytest.mark.parametrize("shape,dim", [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1), ((5,), 0), ((), 0),
                                       ((1, 1), -1), ((0, 3), 1), ((3, 0), 1), ((2, 0, 3), 0)])
def test_softmax_matches_torch_including_zero_size_and_0d(fn, tfn, shape, dim):
    compare(lambda x: fn(x, dim=dim), lambda x: tfn(x, dim=dim), randn(*shape) * 4)


def test_softmax_without_dim_uses_torchs_legacy_choice():
    x = randn(2, 3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        ours = F.softmax(dlcore.tensor(x)).numpy()
    with pytest.warns(UserWarning):
        theirs = TF.softmax(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_integer_inputs_are_promoted_like_torch_not_truncated():
    x = np.array([-2, 0, 3])
    for ours, theirs in [(F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh)]:
        out = ours(dlcore.tensor(x))
        expected = theirs(torch.tensor(x))
        assert out.dtype == np.float32 and expected.dtype == torch.float32
        np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- losses
def _probs(*shape):
    return 1 / (1 + np.exp(-randn(*shape) * 2))


@pytest.mark.parametrize("shape", [(), (1,), (4, 3), (2, 1, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_match_torch(reduction, shape):
    x, y = randn(*shape), randn(*shape)
    kw = {"reduction": reduction}
    compare(F.mse_loss, TF.mse_loss, x, y, kwargs=kw)
    compare(F.l1_loss, TF.l1_loss, x, y, kwargs=kw)
    for beta in (1.0, 0.5, 0.0):
        compare(F.smooth_l1_loss, TF.smooth_l1_loss, x, y, kwargs={**kw, "beta": beta})
    for delta in (1.0, 0.3):
        compare(F.huber_loss, TF.huber_loss, x, y, kwargs={**kw, "delta": delta})
    compare(lambda a, b: nn.SmoothL1Loss(reduction=reduction, beta=0.7)(a, b),
            lambda a, b: torch.nn.SmoothL1Loss(reduction=reduction, beta=0.7)(a, b), x, y)
    compare(lambda a, b: nn.HuberLoss(reduction=reduction, delta=0.4)(a, b),
            lambda a, b: torch.nn.HuberLoss(reduction=reduction, delta=0.4)(a, b), x, y)
    compare(lambda a, b: nn.MSELoss(reduction=reduction)(a, b), lambda a, b: torch.nn.MSELoss(reduction=reduction)(a, b),
            x, y)
    compare(lambda a, b: nn.L1Loss(reduction=reduction)(a, b), lambda a, b: torch.nn.L1Loss(reduction=reduction)(a, b),
            x, y)


@pytest.mark.parametrize("fn,tfn", [(F.mse_loss, TF.mse_loss), (F.l1_loss, TF.l1_loss),
                                    (F.smooth_l1_loss, TF.smooth_l1_loss), (F.huber_loss, TF.huber_loss)])
def test_an_integer_target_keeps_the_input_float_dtype(fn, tfn):
    x, y = np.float32([0.5, 1.5, -2.0]), np.array([1, 2, -3])
    ours, theirs = fn(dlcore.tensor(x), dlcore.tensor(y)), tfn(torch.tensor(x), torch.tensor(y))
    assert ours.dtype == np.float32 and theirs.dtype == torch.float32
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_matches_torch_with_target_gradient_and_weight(reduction):
    p, y, w = _probs(3, 4), _probs(3, 4), np.abs(randn(4))
    compare(F.binary_cross_entropy, TF.binary_cross_entropy, p, y, kwargs={"reduction": reduction})
    compare(F.binary_cross_entropy, TF.binary_cross_entropy, _probs(), _probs(), kwargs={"reduction": reduction})
    compare(lambda a, b, c: F.binary_cross_entropy(a, b, c, reduction=reduction),
            lambda a, b, c: TF.binary_cross_entropy(a, b, c, reduction=reduction), p, y, w, grads=[0, 1])
    compare(lambda a, b: nn.BCELoss(reduction=reduction)(a, b), lambda a, b: torch.nn.BCELoss(reduction=reduction)(a, b),
            p, y)
    w64 = np.abs(randn(4))  # a float64 weight leaves a float32 loss float32, as in torch
    for ours, theirs in [(F.binary_cross_entropy, TF.binary_cross_entropy),
                         (F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits)]:
        a = ours(dlcore.tensor(p.astype(np.float32)), dlcore.tensor(y.astype(np.float32)), dlcore.tensor(w64),
                 reduction=reduction)
        b = theirs(torch.tensor(p, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), torch.tensor(w64),
                   reduction=reduction)
        assert a.dtype == np.float32 and b.dtype == torch.float32
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5)


def test_binary_cross_entropy_at_p_0_and_1_is_finite_and_equal_to_torch():
    """Fails on the old code: the gradient floor was float tiny, not PyTorch's 1e-12."""
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-20, 1 - 1e-16])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.3])
    compare(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
            lambda a, b: TF.binary_cross_entropy(a, b, reduction="none"), p, y, rtol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_torch_with_pos_weight_weight_and_target_gradient(reduction):
    z, y = randn(5, 3) * 4, _probs(5, 3)
    kw = {"reduction": reduction}
    compare(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, z, y, kwargs=kw)
    pw, w = np.abs(randn(3)) + 0.1, np.abs(randn(5, 1))
    compare(lambda a, b: F.binary_cross_entropy_with_logits(a, b, dlcore.tensor(w), pos_weight=dlcore.tensor(pw), **kw),
            lambda a, b: TF.binary_cross_entropy_with_logits(a, b, torch.tensor(w), pos_weight=torch.tensor(pw), **kw),
            z, y)
    compare(lambda a, b: nn.BCEWithLogitsLoss(pos_weight=dlcore.tensor(pw), **kw)(a, b),
            lambda a, b: torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw), **kw)(a, b), z, y)


CE_OPTIONS = [
    {}, {"label_smoothing": 0.2}, {"ignore_index": 1}, {"weight": "w"}, {"weight": "w", "ignore_index": 0},
    {"weight": "w", "label_smoothing": 0.3}, {"weight": "w", "label_smoothing": 0.1, "ignore_index": 2},
]


def _ce_kwargs(options, lib, classes):
    kw = dict(options)
    if "weight" in kw:
        w = np.linspace(0.5, 2.0, classes)
        kw["weight"] = dlcore.tensor(w) if lib == "dlcore" else torch.tensor(w)
    return kw


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", CE_OPTIONS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3, 2), (4,)], ids=["NC", "NCHW", "C"])
def test_cross_entropy_and_nll_match_torch(shape, options, reduction):
    classes = shape[1] if len(shape) > 1 else shape[0]
    item = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    x = randn(*shape) * 2
    t = RNG.integers(0, classes, size=item)
    if item:
        t.reshape(-1)[0] = 1  # make sure ignore_index occurs
    ours_kw, theirs_kw = _ce_kwargs(options, "dlcore", classes), _ce_kwargs(options, "torch", classes)
    compare(lambda a, b: F.cross_entropy(a, b, reduction=reduction, **ours_kw),
            lambda a, b: TF.cross_entropy(a, b, reduction=reduction, **theirs_kw), x, t)
    compare(lambda a, b: nn.CrossEntropyLoss(reduction=reduction, **ours_kw)(a, b),
            lambda a, b: torch.nn.CrossEntropyLoss(reduction=reduction, **theirs_kw)(a, b), x, t)
    if "label_smoothing" not in options:
        compare(lambda a, b: F.nll_loss(a, b, reduction=reduction, **ours_kw),
                lambda a, b: TF.nll_loss(a, b, reduction=reduction, **theirs_kw), x, t)
        compare(lambda a, b: nn.NLLLoss(reduction=reduction, **ours_kw)(a, b),
                lambda a, b: torch.nn.NLLLoss(reduction=reduction, **theirs_kw)(a, b), x, t)


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.25}, {"weight": "w"}, {"weight": "w", "label_smoothing": 0.1}],
                         ids=["plain", "smooth", "weight", "both"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_probability_targets_matches_torch(options, reduction):
    x, p = randn(5, 3), _probs(5, 3)
    p /= p.sum(axis=1, keepdims=True)
    compare(lambda a, b: F.cross_entropy(a, b, reduction=reduction, **_ce_kwargs(options, "dlcore", 3)),
            lambda a, b: TF.cross_entropy(a, b, reduction=reduction, **_ce_kwargs(options, "torch", 3)), x, p)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    x = np.log(_probs(4, 3))
    t = np.log(_probs(4, 3)) if log_target else _probs(4, 3)
    kw = {"reduction": reduction, "log_target": log_target}
    compare(F.kl_div, TF.kl_div, x, t, kwargs=kw)
    compare(lambda a, b: nn.KLDivLoss(**kw)(a, b), lambda a, b: torch.nn.KLDivLoss(**kw)(a, b), x, t)


# --------------------------------------------------------------------------- layers
def _copy_params(ours, theirs):
    for (name, p), (tname, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        p.array = to_device(q.detach().numpy().copy(), p.device)  # stays on the model's device


def test_linear_and_layer_norm_match_torch():
    lin, tlin = nn.Linear(4, 3, dtype=np.float64), torch.nn.Linear(4, 3, dtype=torch.float64)
    _copy_params(lin, tlin)
    compare(lambda x: lin(x), lambda x: tlin(x), randn(5, 4))
    for shape in [(5,), (2, 5)]:
        ln, tln = nn.LayerNorm(shape, dtype=np.float64), torch.nn.LayerNorm(shape, dtype=torch.float64)
        for p, q in zip(ln.parameters(), tln.parameters()):
            q.data = torch.tensor(randn(*shape))
            p.array = to_device(q.detach().numpy().copy(), p.device)
        x = randn(3, 2, 5)
        compare(lambda a: ln(a), lambda a: tln(a), x)
        compare(lambda a, w, b: F.layer_norm(a, shape, w, b, eps=1e-3),
                lambda a, w, b: TF.layer_norm(a, shape, w, b, eps=1e-3), x, randn(*shape), randn(*shape))
    compare(lambda a: F.layer_norm(a, (5,)), lambda a: TF.layer_norm(a, (5,)), randn(4, 5))


def test_embedding_matches_torch_with_padding_idx():
    w, idx = randn(6, 3), np.array([[0, 2, 5], [2, 2, 1]])
    compare(lambda i, weight: F.embedding(i, weight), lambda i, weight: TF.embedding(i, weight), idx, w)
    compare(lambda i, weight: F.embedding(i, weight, padding_idx=2),
            lambda i, weight: TF.embedding(i, weight, padding_idx=2), idx, w)
    emb = nn.Embedding(10, 4, padding_idx=0)
    assert emb.weight.shape == (10, 4) and not emb.weight.numpy()[0].any()


@pytest.mark.parametrize("momentum", [0.1, 0.7, None])
@pytest.mark.parametrize("cls,tcls,shape", [(nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3)),
                                            (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5)),
                                            (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 2, 2))])
def test_batch_norm_running_statistics_match_torch(cls, tcls, shape, momentum):
    """momentum=None is PyTorch's cumulative moving average (fails on the old code: float(None))."""
    bn, tbn = cls(3, momentum=momentum, dtype=np.float64), tcls(3, momentum=momentum, dtype=torch.float64)
    for step in range(3):
        x = randn(*shape) * (step + 1) + step
        compare(lambda a: bn(a), lambda a: tbn(a), x)
    for name, buf in bn.named_buffers():
        np.testing.assert_allclose(buf.numpy(), getattr(tbn, name).numpy(), rtol=1e-10, err_msg=name)
    bn.eval(), tbn.eval()
    compare(lambda a: bn(a), lambda a: tbn(a), randn(*shape))


def test_flatten_unflatten_match_torch():
    compare(lambda a: nn.Flatten(0)(a), lambda a: torch.nn.Flatten(0)(a), randn())
    with pytest.raises(IndexError):
        torch.nn.Flatten()(torch.tensor(1.0))
    with pytest.raises(ShapeError):
        nn.Flatten()(dlcore.tensor(1.0))
    x = randn(2, 3, 4, 5)
    for start, end in [(1, -1), (0, -1), (1, 2), (-2, -1), (2, 2)]:
        compare(lambda a: nn.Flatten(start, end)(a), lambda a: torch.nn.Flatten(start, end)(a), x)
    compare(lambda a: nn.Unflatten(1, (2, 6))(a), lambda a: torch.nn.Unflatten(1, (2, 6))(a), randn(3, 12, 2))
    compare(lambda a: nn.Unflatten(-1, (-1, 2))(a), lambda a: torch.nn.Unflatten(-1, (-1, 2))(a), randn(3, 4))


# --------------------------------------------------------------------------- init
def test_calculate_gain_matches_torch():
    for name in ["linear", "conv2d", "sigmoid", "tanh", "relu", "selu", "leaky_relu"]:
        assert nn.init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))


def _spread(a):
    a = np.asarray(a, np.float64).ravel()
    return a.mean(), a.std(), np.abs(a).max()


@pytest.mark.parametrize("make,tmake", [
    (lambda: nn.Linear(200, 300), lambda: torch.nn.Linear(200, 300)),
    (lambda: nn.Conv2d(16, 200, 3), lambda: torch.nn.Conv2d(16, 200, 3)),
])
def test_default_layer_init_has_torchs_distribution(make, tmake):
    """Fails on the old code (Xavier/He with a zero bias)."""
    dlcore.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = make(), tmake()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        fan_in = int(np.prod(p.shape[1:])) if p.ndim > 1 else int(np.prod(ours.weight.shape[1:]))
        bound = 1 / math.sqrt(fan_in)
        mo, so, mx = _spread(p.numpy())
        mt, st, _ = _spread(q.detach().numpy())
        assert mx <= bound and abs(mo) < 0.1 * bound and so == pytest.approx(st, rel=0.1)
        assert so == pytest.approx(bound / math.sqrt(3), rel=0.1)  # U(-b, b) has std b / sqrt(3)


INITS = [
    ("uniform_", {"a": -0.5, "b": 2.0}), ("normal_", {"mean": 0.3, "std": 0.2}), ("xavier_uniform_", {"gain": 2.0}),
    ("xavier_normal_", {}), ("kaiming_uniform_", {"a": math.sqrt(5)}), ("kaiming_normal_", {"mode": "fan_out",
                                                                                            "nonlinearity": "relu"}),
    ("trunc_normal_", {"std": 0.5, "a": -0.6, "b": 0.4}),
]


@pytest.mark.parametrize("name,kw", INITS, ids=[i[0] for i in INITS])
def test_init_functions_draw_torchs_distributions(name, kw):
    dlcore.manual_seed(1)
    torch.manual_seed(1)
    ours = getattr(nn.init, name)(dlcore.zeros(300, 200), **kw)
    theirs = getattr(torch.nn.init, name)(torch.zeros(300, 200), **kw)
    a, b = ours.numpy().astype(np.float64), theirs.numpy().astype(np.float64)
    assert ours.dtype == np.float32
    for q in (0.01, 0.1, 0.5, 0.9, 0.99):  # same quantiles, within sampling noise
        assert np.quantile(a, q) == pytest.approx(np.quantile(b, q), abs=0.03 * (b.std() + 1e-12) + 1e-3)
    assert a.min() >= b.min() - 0.05 * b.std() and a.max() <= b.max() + 0.05 * b.std() or name.endswith("normal_")


def test_constant_zeros_ones_eye_match_torch():
    for name, args in [("constant_", (0.25,)), ("zeros_", ()), ("ones_", ()), ("eye_", ())]:
        ours = getattr(nn.init, name)(dlcore.randn(3, 4), *args)
        theirs = getattr(torch.nn.init, name)(torch.randn(3, 4), *args)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# --------------------------------------------------------------------------- Module API
def _build(self, lib):
    self.conv = lib.Conv2d(2, 3, 3)
    self.bn = lib.BatchNorm2d(3)
    self.register_buffer("scale", lib_tensor(lib, np.ones(1)))
    self.heads = lib.ModuleList([lib.Linear(3, 2), lib.Linear(2, 1)])
    self.named = lib.ModuleDict({"b": lib.Linear(1, 1), "a": lib.LayerNorm(1)})
    self.extra = lib.ParameterList([lib.Parameter(lib_tensor(lib, np.zeros(2)))])


class _Block(nn.Module):
    def __init__(self, lib):
        super().__init__()
        _build(self, lib)


def lib_tensor(lib, a):
    return dlcore.tensor(a) if lib is nn else torch.tensor(a)


class _TorchBlock(torch.nn.Module):
    def __init__(self, lib):
        super().__init__()
        _build(self, lib)


def test_state_dict_keys_and_module_names_follow_torchs_order():
    ours, theirs = _Block(nn), _TorchBlock(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.bn.named_parameters(prefix="bn", recurse=False)] == \
        [n for n, _ in theirs.bn.named_parameters(prefix="bn", recurse=False)]
    assert len(list(ours.parameters(recurse=False))) == len(list(theirs.parameters(recurse=False))) == 0
    seen, tseen = [], []
    ours.apply(lambda m: seen.append(type(m).__name__))
    theirs.apply(lambda m: tseen.append(type(m).__name__))
    assert seen[:-1] == tseen[:-1] and len(seen) == len(tseen)


# --------------------------------------------------------------------------- gradient clipping
def _grad_pairs(values):
    ours = [nn.Parameter(np.zeros(len(v))) for v in values]
    theirs = [torch.zeros(len(v), dtype=torch.float64, requires_grad=True) for v in values]
    for p, q, v in zip(ours, theirs, values):
        p.grad, q.grad = dlcore.tensor(np.array(v, np.float64)), torch.tensor(np.array(v, np.float64))
    return ours, theirs


@pytest.mark.parametrize("values", [[[3.0, 4.0], [12.0]], [[np.nan, 1.0], [2.0]], [[np.inf, 1.0], [2.0]],
                                    [[-np.inf, 0.0]]], ids=["finite", "nan", "inf", "neg-inf"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_follows_torch_for_finite_and_nonfinite_gradients(values, norm_type):
    ours, theirs = _grad_pairs(values)
    total = nn.utils.clip_grad_norm_(ours, 1.0, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=norm_type)
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_of_a_single_tensor_and_error_if_nonfinite():
    """Fails on the old code: a single tensor was iterated row by row and nothing was clipped."""
    ours, theirs = _grad_pairs([[3.0, 4.0]])
    total = nn.utils.clip_grad_norm_(ours[0], 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs[0], 1.0)
    assert total.item() == pytest.approx(expected.item())
    np.testing.assert_allclose(ours[0].grad.numpy(), theirs[0].grad.numpy(), rtol=1e-12)
    ours, theirs = _grad_pairs([[np.nan, 1.0]])
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite|is nan"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    with pytest.raises(dlcore.errors.DlcoreError):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch():
    ours, theirs = _grad_pairs([[3.0, -4.0, 0.1], [-0.2]])
    nn.utils.clip_grad_value_(ours, 0.5)
    torch.nn.utils.clip_grad_value_(theirs, 0.5)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


@pytest.mark.parametrize("p", [0.2, 0.5, 1.0])
def test_dropout_and_dropout2d_keep_torchs_rate_and_scale(p):
    dlcore.manual_seed(3)
    torch.manual_seed(3)
    x = np.ones((64, 16, 4, 4))
    for ours, theirs, unit in [(F.dropout, TF.dropout, (64 * 16 * 16,)), (F.dropout2d, TF.dropout2d, (64 * 16, 16))]:
        a = ours(dlcore.tensor(x), p=p).numpy().reshape(unit)
        b = theirs(torch.tensor(x), p=p).numpy().reshape(unit)
        assert set(np.unique(a)) == set(np.unique(b))  # {0, 1 / (1 - p)}
        if a.ndim == 2:  # whole channels: every row constant, as in torch
            assert (a.std(axis=1) == 0).all() and (b.std(axis=1) == 0).all()
        assert (a == 0).mean() == pytest.approx((b == 0).mean(), abs=0.03)


def test_a_torch_state_dict_loads_into_the_same_dlcore_model():
    def build(lib):
        return lib.Sequential(lib.Conv2d(1, 2, 3), lib.BatchNorm2d(2), lib.ReLU(), lib.Flatten(),
                              lib.Linear(2 * 4 * 4, 3), lib.LayerNorm(3))

    theirs = build(torch.nn).double()
    theirs.train()
    theirs(torch.randn(4, 1, 6, 6, dtype=torch.float64))  # move the running statistics
    theirs.eval()
    ours = build(nn).double().eval()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    compare(lambda a: ours(a), lambda a: theirs(a), randn(2, 1, 6, 6), atol=1e-9)


def test_softmax_dtype_argument_matches_torch():
    x = randn(2, 3).astype(np.float32)
    ours = F.log_softmax(dlcore.tensor(x), dim=1, dtype=np.float64)
    theirs = TF.log_softmax(torch.tensor(x), dim=1, dtype=torch.float64)
    assert ours.dtype == np.float64 and theirs.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


@settings(max_examples=15)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), data=st.data())
def test_random_shapes_activations_softmax_and_losses_match_torch(shape, data):
    x, y = randn(*shape) * 3, randn(*shape)
    name, ours, theirs, kw = data.draw(st.sampled_from(ACTIVATIONS))
    compare(ours, theirs, x, kwargs=kw)
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    compare(lambda a: F.log_softmax(a, dim=dim), lambda a: torch.log_softmax(a, dim=dim), x)
    if x.size:  # dlcore refuses empty losses (a clear error); torch returns NaN
        compare(lambda a, b: F.huber_loss(a, b, reduction="sum"), lambda a, b: TF.huber_loss(a, b, reduction="sum"),
                x, y)


def test_reprs_match_torch():
    for make in [lambda lib: lib.ReLU(inplace=True), lambda lib: lib.LeakyReLU(0.2, inplace=True),
                 lambda lib: lib.ELU(), lambda lib: lib.GELU(approximate="tanh"), lambda lib: lib.Softmax(dim=1),
                 lambda lib: lib.Flatten(), lambda lib: lib.Unflatten(1, (2, 3)), lambda lib: lib.Dropout(0.3),
                 lambda lib: lib.Linear(3, 2, bias=False), lambda lib: lib.BatchNorm1d(4, momentum=None),
                 lambda lib: lib.LayerNorm(5), lambda lib: lib.LayerNorm(5, bias=False), lambda lib: lib.LayerNorm(2, elementwise_affine=False),
                 lambda lib: lib.BatchNorm2d(3, bias=False), lambda lib: lib.BatchNorm2d(3, affine=False), lambda lib: lib.Embedding(10, 3, padding_idx=0),
                 lambda lib: lib.CrossEntropyLoss(), lambda lib: lib.Identity()]:
        assert repr(make(nn)) == repr(make(torch.nn))


def test_norm_layers_without_bias_have_torchs_parameters():
    for make in [lambda lib: lib.BatchNorm2d(3, bias=False), lambda lib: lib.BatchNorm1d(3, affine=False),
                 lambda lib: lib.LayerNorm(4, bias=False), lambda lib: lib.LayerNorm(4, elementwise_affine=False)]:
        assert list(make(nn).state_dict()) == list(make(torch.nn).state_dict())
    bn, tbn = nn.BatchNorm2d(3, bias=False, dtype=np.float64), torch.nn.BatchNorm2d(3, bias=False, dtype=torch.float64)
    compare(lambda a: bn(a), lambda a: tbn(a), randn(4, 3, 2, 2))

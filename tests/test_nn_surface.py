"""The PyTorch-named nn surface without PyTorch: gradients by finite differences, values by hand,
argument validation, BatchNorm's non-finite guard, containers and the Module API."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradcheck import gradcheck

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.errors import DlcoreError, DTypeError, RangeError, ShapeError

RNG = np.random.default_rng(7)


def randn(*shape):
    return RNG.standard_normal(shape)


def probs(*shape):
    return 1 / (1 + np.exp(-randn(*shape)))


# --------------------------------------------------------------------------- gradients by finite differences
@pytest.mark.parametrize("fn", [
    F.gelu, lambda x: F.gelu(x, approximate="tanh"), F.silu, lambda x: F.elu(x, alpha=0.5),
    lambda x: F.softmax(x, dim=0), lambda x: F.log_softmax(x, dim=1),
    lambda x: F.layer_norm(x, (4,)), lambda x: F.layer_norm(x, (3, 4)),
], ids=["gelu", "gelu_tanh", "silu", "elu", "softmax0", "log_softmax1", "layer_norm", "layer_norm2"])
def test_new_activations_and_layer_norm_gradcheck(fn, device):
    gradcheck(fn, randn(3, 4) * 2, device=device)


def test_layer_norm_weight_bias_and_embedding_gradcheck():
    gradcheck(lambda x, w, b: F.layer_norm(x, (4,), w, b), randn(2, 3, 4), randn(4), randn(4))
    idx = np.array([[0, 2], [2, 3]])
    gradcheck(lambda i, w: F.embedding(i, w), idx, randn(4, 3), check=(1,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_gradcheck_for_input_and_target(reduction):
    x, y = randn(3, 4), randn(3, 4)
    kw = {"reduction": reduction}
    gradcheck(lambda a, b: F.smooth_l1_loss(a, b, beta=0.8, **kw), x, y)
    gradcheck(lambda a, b: F.huber_loss(a, b, delta=0.6, **kw), x, y)
    gradcheck(lambda a, b: F.binary_cross_entropy(a, b, **kw), probs(3, 4), probs(3, 4))
    pw = dlcore.tensor(np.arange(1.0, 5.0), device="cpu")  # gradcheck runs on cpu
    gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=pw, **kw), x, probs(3, 4))
    gradcheck(lambda a, b: F.kl_div(a, b, **kw), np.log(probs(3, 4)), probs(3, 4))
    gradcheck(lambda a, b: F.kl_div(a, b, log_target=True, **kw), np.log(probs(3, 4)), np.log(probs(3, 4)))


@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.2}, {"ignore_index": 0}, {"weight": np.array([1.0, 2.0, 0.5])},
                                {"weight": np.array([1.0, 2.0, 0.5]), "label_smoothing": 0.1, "ignore_index": 1}],
                         ids=["plain", "smooth", "ignore", "weight", "all"])
def test_cross_entropy_and_nll_options_gradcheck(kw):
    kw = {k: dlcore.tensor(v, device="cpu") if k == "weight" else v for k, v in kw.items()}  # gradcheck runs on cpu
    t = np.array([0, 1, 2, 1, 0])
    gradcheck(lambda z, tt: F.cross_entropy(z, tt, **kw), randn(5, 3), t, check=(0,))
    gradcheck(lambda z, tt: F.cross_entropy(z, tt, **kw), randn(2, 3, 2, 2), np.array([[[0, 1], [2, 0]], [[1, 1], [0, 2]]]),
              check=(0,))
    if "label_smoothing" not in kw:
        gradcheck(lambda z, tt: F.nll_loss(z, tt, **kw), randn(5, 3), t, check=(0,))
    p = probs(5, 3)
    gradcheck(lambda z, q: F.cross_entropy(z, q, label_smoothing=0.1), randn(5, 3), p / p.sum(1, keepdims=True))


# --------------------------------------------------------------------------- values by hand
def test_cross_entropy_options_by_hand():
    z = dlcore.tensor(np.log(np.array([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]])))
    t = dlcore.tensor([0, 1])
    w = dlcore.tensor([2.0, 1.0, 1.0])
    plain = -(math.log(0.5) + math.log(0.6)) / 2
    assert F.cross_entropy(z, t).item() == pytest.approx(plain, rel=1e-6)
    weighted = -(2 * math.log(0.5) + math.log(0.6)) / 3  # mean divides by the summed weights
    assert F.cross_entropy(z, t, weight=w).item() == pytest.approx(weighted, rel=1e-6)
    assert F.cross_entropy(z, t, ignore_index=1).item() == pytest.approx(-math.log(0.5), rel=1e-6)
    eps = 0.3
    row0 = -((1 - eps) * math.log(0.5) + eps / 3 * (math.log(0.5) + 2 * math.log(0.25)))
    row1 = -((1 - eps) * math.log(0.6) + eps / 3 * (2 * math.log(0.2) + math.log(0.6)))
    assert F.cross_entropy(z, t, label_smoothing=eps).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    assert nn.CrossEntropyLoss(reduction="none")(z, t).shape == (2,)


def test_bce_gradient_at_0_and_1_is_pytorchs_finite_value():
    """Fails on the old code: the floor was float32's tiny (1e-38), giving -1e38 instead of -1e12."""
    p = dlcore.tensor(np.array([0.0, 1.0]), requires_grad=True)
    y = dlcore.tensor(np.array([1.0, 0.0]), requires_grad=True)
    loss = F.binary_cross_entropy(p, y, reduction="sum")
    assert loss.item() == pytest.approx(200.0)
    loss.backward()
    np.testing.assert_allclose(p.grad.numpy(), [-1e12, 1e12])
    assert y.grad is not None  # the target gets a gradient too (PyTorch's: infinite at p = 0, 1)


def test_bce_targets_get_gradients():
    """Fails on the old code: BCE and BCE-with-logits returned None for the target."""
    for loss in (lambda p, y: F.binary_cross_entropy(p, y), lambda z, y: F.binary_cross_entropy_with_logits(z, y)):
        x = dlcore.tensor(np.float32([0.3, 0.6]), requires_grad=True)
        y = dlcore.tensor(np.float32([0.2, 0.9]), requires_grad=True)
        loss(x, y).backward()
        assert y.grad is not None and np.all(np.isfinite(y.grad.numpy()))


@pytest.mark.parametrize("loss", [F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss])
def test_an_integer_target_keeps_float32(loss):
    """Fails on the old code for MSE/L1: float32 input - int64 target became float64."""
    x = dlcore.tensor(np.float32([0.5, 1.5]), requires_grad=True)
    out = loss(x, dlcore.tensor(np.array([1, 2])))
    out.backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32


def test_softmax_over_zero_size_dims_and_0d():
    """Fails on the old code: NumPy's max over an empty axis raised a raw ValueError."""
    for shape, dim in [((0, 3), 1), ((3, 0), 1), ((0,), 0)]:
        assert F.softmax(dlcore.zeros(*shape), dim=dim).shape == shape
        assert F.log_softmax(dlcore.zeros(*shape), dim=dim).shape == shape
    assert F.softmax(dlcore.tensor(3.0), dim=0).item() == 1.0
    with pytest.raises(RangeError, match="dim"):
        F.softmax(dlcore.zeros(2, 3), dim=2)


def test_integer_inputs_to_float_only_activations_are_promoted_not_truncated():
    x = dlcore.tensor([-1, 0, 2])
    assert F.sigmoid(x).numpy().tolist() == pytest.approx([1 / (1 + math.e), 0.5, 1 / (1 + math.exp(-2))])
    assert F.tanh(x).dtype == np.float32 and F.gelu(x).dtype == np.float32 and F.elu(x).dtype == np.float32
    with pytest.raises(DTypeError, match="softmax expected a floating-point input"):
        F.softmax(x, dim=0)


def test_dropout2d_drops_whole_channels_and_p_1_zeroes():
    x = dlcore.ones(4, 8, 3, 3)
    y = nn.Dropout2d(0.5)(x).numpy()
    per_channel = y.reshape(32, 9)
    assert set(np.unique(per_channel)) <= {0.0, 2.0} and (per_channel.std(axis=1) == 0).all()
    assert 0 < (per_channel[:, 0] == 0).sum() < 32
    assert (nn.Dropout(1.0)(x).numpy() == 0).all() and (F.dropout(x, 1.0).numpy() == 0).all()
    assert nn.Dropout2d(0.5).eval()(x) is x
    with pytest.raises(ShapeError):
        F.dropout2d(dlcore.ones(2, 3), 0.5)


def test_flatten_and_unflatten():
    x = dlcore.zeros(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60) and nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5) and nn.Flatten(-2)(x).shape == (2, 3, 20)
    assert nn.Unflatten(1, (3, -1))(dlcore.zeros(2, 12)).shape == (2, 3, 4)
    with pytest.raises(ShapeError):
        nn.Unflatten(1, (5, 5))(dlcore.zeros(2, 12))


def test_embedding_layer():
    emb = nn.Embedding(5, 3, padding_idx=1)
    assert (emb.weight.numpy()[1] == 0).all() and emb.weight.numpy().std() > 0.5  # N(0, 1)
    out = emb(dlcore.tensor([[1, 4], [4, 0]]))
    assert out.shape == (2, 2, 3)
    out.sum().backward()
    g = emb.weight.grad.numpy()
    assert (g[1] == 0).all() and (g[4] == 2).all() and (g[0] == 1).all()
    frozen = nn.Embedding.from_pretrained(dlcore.tensor(np.eye(3, dtype=np.float32)))
    assert not frozen.weight.requires_grad
    with pytest.raises(RangeError, match=r"indices in \[0, 4\]"):
        emb(dlcore.tensor([5]))
    with pytest.raises(DTypeError):
        emb(dlcore.tensor([0.0]))


# --------------------------------------------------------------------------- BatchNorm
def test_batch_norm_momentum_none_is_the_cumulative_average():
    """Fails on the old code: float(None) raised a raw TypeError."""
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [RNG.standard_normal((5, 2)).astype(np.float32) + k for k in range(3)]
    for b in batches:
        bn(dlcore.tensor(b))
    # factor 1 / (batches so far): the plain average of the batch statistics, the initial 0 and 1 forgotten
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0),
                               rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 3


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_batch_norm_skips_a_non_finite_batch_and_says_so(bad):
    """Fails on the old code: the running statistics became NaN in the forward pass."""
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    model(dlcore.randn(4, 3))
    bn = model[1]
    before = {k: v.numpy().copy() for k, v in bn.named_buffers()}
    x = dlcore.randn(4, 3).numpy()
    x[0, 0] = bad
    model(dlcore.tensor(x))
    for k, v in bn.named_buffers():
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)
    assert bn.stats_nonfinite
    assert [n for n, m in model.named_modules() if getattr(m, "stats_nonfinite", False)] == ["1"]
    model(dlcore.randn(4, 3))
    assert not bn.stats_nonfinite and int(bn.num_batches_tracked.item()) == 2


# --------------------------------------------------------------------------- argument validation
BAD_ARGS = [
    (lambda: nn.Linear(2.5, 3), DTypeError, "in_features"),
    (lambda: nn.Linear(True, 3), DTypeError, "in_features"),
    (lambda: nn.Linear("3", 3), DTypeError, "in_features"),
    (lambda: nn.Linear(0, 3), RangeError, "in_features"),
    (lambda: nn.Linear(2, 3, bias="yes"), DTypeError, "bias"),
    (lambda: nn.Linear(2, 3, init="glorot"), RangeError, "init"),
    (lambda: nn.Dropout(1.5), RangeError, "p in [0.0, 1.0]"),
    (lambda: nn.Dropout(-0.1), RangeError, "p"),
    (lambda: nn.Dropout("0.5"), DTypeError, "p"),
    (lambda: nn.Dropout2d(2), RangeError, "p"),
    (lambda: nn.BatchNorm1d(0), RangeError, "num_features"),
    (lambda: nn.BatchNorm2d(3.0), DTypeError, "num_features"),
    (lambda: nn.BatchNorm2d(3, eps=0), RangeError, "eps"),
    (lambda: nn.BatchNorm2d(3, eps=-1e-5), RangeError, "eps"),
    (lambda: nn.BatchNorm2d(3, momentum=1.5), RangeError, "momentum"),
    (lambda: nn.BatchNorm2d(3, affine=1), DTypeError, "affine"),
    (lambda: nn.LayerNorm(0), RangeError, "normalized_shape"),
    (lambda: nn.LayerNorm(4, eps=0.0), RangeError, "eps"),
    (lambda: nn.Embedding(0, 3), RangeError, "num_embeddings"),
    (lambda: nn.Embedding(4, 2.0), DTypeError, "embedding_dim"),
    (lambda: nn.Embedding(4, 2, padding_idx=4), RangeError, "padding_idx in [-4, 3]"),
    (lambda: nn.Embedding(4, 2, padding_idx=1.0), DTypeError, "padding_idx"),
    (lambda: nn.LeakyReLU("0.1"), DTypeError, "negative_slope"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), RangeError, "label_smoothing"),
    (lambda: nn.CrossEntropyLoss(reduction="avg"), RangeError, "reduction"),
    (lambda: nn.MSELoss(size_average=True), NotImplementedError, "reduction="),
    (lambda: nn.HuberLoss(delta=0), RangeError, "delta"),
    (lambda: nn.SmoothL1Loss(beta=-1), RangeError, "beta"),
    (lambda: nn.MLP([2, 3], dropout=2.0), RangeError, "dropout"),
    (lambda: F.dropout(dlcore.ones(2), p=1.2), RangeError, "p"),
    (lambda: F.cross_entropy(dlcore.zeros(2, 3), dlcore.tensor([0, 1]), weight=dlcore.ones(2)), ShapeError, "weight"),
    (lambda: F.kl_div(dlcore.zeros(2), dlcore.zeros(2), reduction="avg"), RangeError, "batchmean"),
    (lambda: nn.utils.clip_grad_norm_([], max_norm="1"), DTypeError, "max_norm"),
    (lambda: nn.utils.clip_grad_norm_([], 1.0, norm_type=0), RangeError, "norm_type"),
    (lambda: nn.init.kaiming_uniform_(dlcore.zeros(3)), ShapeError, "at least 2 dims"),
    (lambda: nn.init.calculate_gain("swish"), RangeError, "swish"),
    (lambda: nn.Module().train("yes"), DTypeError, "mode"),
    # deliberate difference: PyTorch broadcasts (3, 1) against (3,) with a warning, a silently different loss
    (lambda: F.mse_loss(dlcore.zeros(3, 1), dlcore.zeros(3)), ShapeError, "same shape"),
    (lambda: nn.L1Loss()(dlcore.zeros(3, 1), dlcore.zeros(3)), ShapeError, "same shape"),
    (lambda: F.binary_cross_entropy(dlcore.zeros(2), dlcore.tensor([0.5, 1.5])), RangeError, "targets in [0, 1]"),
]


@pytest.mark.parametrize("make,exc,fragment", BAD_ARGS, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD_ARGS)])
def test_bad_arguments_raise_a_clear_dlcore_error(make, exc, fragment):
    with pytest.raises(exc) as info:
        make()
    assert isinstance(info.value, DlcoreError)
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- init
def test_linear_and_conv_default_to_pytorchs_init_and_keep_the_lecture_schemes():
    """Fails on the old code (Xavier / He weights and a zero bias)."""
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert abs(w).max() <= bound and w.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert abs(b).max() <= bound and b.std() > 0.3 * bound
    conv = nn.Conv2d(8, 50, 3)
    assert abs(conv.weight.numpy()).max() <= 1 / math.sqrt(72) and conv.bias.numpy().any()
    he = nn.Linear(400, 300, init="he")
    assert he.weight.numpy().std() == pytest.approx(math.sqrt(2 / 400), rel=0.05) and not he.bias.numpy().any()
    assert nn.Linear(400, 300, init="normal").weight.numpy().std() == pytest.approx(0.1, rel=0.05)
    mlp = nn.MLP([400, 300])  # MLP keeps its lecture default (He for ReLU nets)
    assert mlp[0].weight.numpy().std() == pytest.approx(math.sqrt(2 / 400), rel=0.05)
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64


def test_init_functions_work_in_place_and_return_the_tensor():
    t = dlcore.zeros(200, 100)
    array = t.array
    assert nn.init.normal_(t, 1.0, 0.5) is t and t.array is array
    assert t.numpy().mean() == pytest.approx(1.0, abs=0.01) and t.numpy().std() == pytest.approx(0.5, rel=0.02)
    nn.init.xavier_uniform_(t, gain=nn.init.calculate_gain("tanh"))
    assert abs(t.numpy()).max() <= 5 / 3 * math.sqrt(6 / 300)
    nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    assert t.numpy().std() == pytest.approx(math.sqrt(2 / 200), rel=0.03)
    nn.init.trunc_normal_(t, std=1.0, a=-0.5, b=0.5)
    assert abs(t.numpy()).max() <= 0.5
    assert (nn.init.constant_(t, 0.3).numpy() == np.float32(0.3)).all()


# --------------------------------------------------------------------------- containers and the Module API
def test_module_list_dict_and_parameter_list_register_their_contents():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
            self.blocks.append(nn.Linear(2, 1))
            self.heads = nn.ModuleDict({"a": nn.Linear(1, 1)})
            self.heads["b"] = nn.Identity(3, unused=True)
            self.scales = nn.ParameterList([nn.Parameter(np.ones(2, np.float32))])

    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "blocks.0.weight", "blocks.0.bias", "blocks.2.weight", "blocks.2.bias", "heads.a.weight", "heads.a.bias",
        "scales.0"]
    assert len(net.blocks) == 3 and isinstance(net.blocks[-1], nn.Linear) and len(net.blocks[:2]) == 2
    assert list(net.heads.keys()) == ["a", "b"] and "b" in net.heads
    del net.blocks[1]
    assert [n for n, _ in net.blocks.named_children()] == ["0", "1"]
    with pytest.raises(DTypeError):
        nn.ModuleList([3])
    with pytest.raises(NotImplementedError):
        net.blocks(dlcore.zeros(1, 2))


def test_module_api_registration_and_traversal():
    m = nn.Module()
    m.register_parameter("w", nn.Parameter(np.zeros(2, np.float32)))
    m.register_buffer("steps", np.zeros((), np.int64))
    m.register_buffer("cache", np.zeros(3, np.float32), persistent=False)
    m.add_module("child", nn.Linear(2, 1))
    m.register_parameter("maybe", None)
    assert list(m.state_dict()) == ["w", "steps", "child.weight", "child.bias"]  # no non-persistent buffer
    assert [n for n, _ in m.named_buffers()] == ["steps", "cache"]
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["w"]
    assert len(list(m.parameters())) == 3 and list(m.children())[0] is m.child
    m.steps = dlcore.tensor(np.array(5))  # assigning a tensor to a buffer's name updates the buffer
    assert m.state_dict()["steps"].item() == 5
    with pytest.raises(DTypeError):
        m.w = dlcore.zeros(2)  # a plain tensor is not a Parameter
    with pytest.raises(KeyError):
        m.register_buffer("a.b", None)
    names = []
    m.apply(lambda mod: names.append(type(mod).__name__))
    assert names == ["Linear", "Module"]
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    shared = nn.Sequential(seq, seq)
    assert [n for n, _ in shared.named_modules()] == ["", "0", "0.0", "0.1"]  # each module once
    assert [n for n, _ in shared.named_parameters()] == ["0.0.weight", "0.0.bias"]
    assert len(list(shared.named_parameters(remove_duplicate=False))) == 4
    assert shared.get_submodule("0.1") is seq[1]
    m.zero_grad()
    assert "Linear(in_features=2, out_features=1, bias=True)" in repr(m)


def test_module_to_dtype_and_non_persistent_buffers_round_trip():
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    m.register_buffer("cache", np.zeros(2, np.float32), persistent=False)
    assert m.to(np.float64) is m and m[0].weight.dtype == np.float64 and m[1].running_mean.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64  # only floating-point tensors change dtype
    m.float()
    assert m[0].weight.dtype == np.float32 and m.to("cpu", dtype="float64")[0].bias.dtype == np.float64
    m.double()
    other = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).double()
    other.register_buffer("cache", np.ones(2, np.float32), persistent=False)
    other.load_state_dict(m.state_dict())  # the non-persistent buffer is neither saved nor expected
    np.testing.assert_array_equal(other[0].weight.numpy(), m[0].weight.numpy())
    with pytest.raises(DTypeError):
        m.to(np.int32)

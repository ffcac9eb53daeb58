"""Issue 14's last item: every name of the PyTorch surface works on device="cuda" as on the CPU.

Each case builds its inputs from fixed NumPy arrays on one device, runs the name, and returns what
it gave (Tensors, tuples of them, Python values). The test runs it on "cpu" and on "cuda" (the
``cuda_device`` fixture: a real GPU where one is lent, else the CPU emulator) and checks that the
cuda results equal the CPU ones (values, dtype, shape), that every Tensor result lives on cuda
(except where the name moves to the host), and, where inputs require grad, that the gradients
of sum(out * r) equal the CPU ones. Random functions draw from different generators on the two
devices, so their cases check properties (shape, dtype, range) on each device instead.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from op_cases import TOLERANCES

import dlcore as dl
import dlcore.functional as F
import dlcore.nn as nn
from dlcore import optim
from dlcore.backend import is_gpu_array, to_numpy
from dlcore.utils.data import DataLoader, TensorDataset


class Env:
    """Inputs of one run on ``dev``: the same values on every device; leaves that require grad
    and module parameters are recorded, so their gradients can be compared."""

    def __init__(self, dev: str) -> None:
        self.dev, self.leaves, self.tmp = dev, [], None

    def x(self, *shape: int, grad: bool = False, seed: int = 0, low: float = -2.0, high: float = 2.0,
          dtype: Any = np.float32) -> dl.Tensor:
        """Uniform values in [low, high) on this device; ``grad`` makes a leaf that requires grad."""
        t = dl.tensor(np.random.default_rng(seed).uniform(low, high, shape).astype(dtype), device=self.dev)
        if grad:
            self.leaves.append(t.requires_grad_())
        return t

    def ints(self, *values: Any) -> dl.Tensor:
        return dl.tensor(np.array(values, np.int64), device=self.dev)

    def module(self, make: Callable[[], nn.Module]) -> nn.Module:
        """``make()`` from seed 0, moved to this device; its parameters' gradients are compared."""
        dl.manual_seed(0)
        m = make().to(self.dev)
        self.leaves.extend(m.parameters())
        return m

    def path(self, name: str) -> str:
        if self.tmp is None:
            self.tmp = tempfile.mkdtemp(prefix="dlcore-surface-")
        return os.path.join(self.tmp, name)


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[Env], Any]
    host: bool = False  # the result lives on the CPU by design (.cpu(), .numpy(), map_location="cpu")


def C(id: str, run: Callable[[Env], Any], host: bool = False) -> Case:
    return Case(id, run, host)


def _dropout2d_zeroes_whole_channels(e: Env) -> bool:
    x = e.x(4, 6, 3, 3, low=0.5, high=1.0)
    y = nn.Dropout2d(0.5)(x).numpy()
    kept = y.reshape(4, 6, -1).any(axis=2)
    scaled = np.allclose(y, np.where(kept[..., None, None], 2 * x.numpy(), 0))
    return scaled and 0 < kept.sum() < kept.size


def _random_properties(e: Env) -> bool:
    dl.manual_seed(0)
    r = dl.rand(200, device=e.dev)
    n = dl.randn(2, 300, device=e.dev, dtype=dl.float64)
    i = dl.randint(3, 7, (50,), device=e.dev)
    p = dl.randperm(10, device=e.dev)
    g = dl.normal(5.0, 0.1, (400,), device=e.dev)
    ok = [(t.device.type == e.dev.split(":")[0]) for t in (r, n, i, p, g)]
    ok += [r.dtype == np.float32, n.dtype == np.float64, i.dtype == np.int64, p.dtype == np.int64]
    ok += [0 <= r.min().item() and r.max().item() < 1, abs(n.mean().item()) < 0.2, 0.8 < n.std().item() < 1.2]
    ok += [set(i.tolist()) == {3, 4, 5, 6}, sorted(p.tolist()) == list(range(10)), abs(g.mean().item() - 5) < 0.02]
    return all(ok)


def _optimizer(make: Callable) -> Callable[[Env], Any]:
    """Three steps, a state_dict round trip into a fresh optimizer, one more step: the parameters."""

    def run(e: Env) -> tuple:
        model = e.module(lambda: nn.Linear(3, 2))
        x = e.x(4, 3, seed=1)

        def step(opt):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()

        opt = make(model.parameters())
        for _ in range(3):
            step(opt)
        again = make(model.parameters())
        again.load_state_dict(opt.state_dict())
        step(again)
        return tuple(p.detach() for p in model.parameters())

    return run


def _save_load(map_location: str | None) -> Callable[[Env], Any]:
    def run(e: Env) -> tuple:
        model = e.module(lambda: nn.Linear(3, 2))
        dl.save(model.state_dict(), e.path("m.npz"))
        loaded = dl.load(e.path("m.npz"), map_location=e.dev if map_location is None else map_location)
        return tuple(loaded[k] for k in sorted(loaded))

    return run


def _data_loader(e: Env) -> list:
    X, y = np.arange(24.0, dtype=np.float32).reshape(6, 4), np.arange(6)
    loader = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=3, device=e.dev)
    moved = [(xb.to(e.dev), yb.to(e.dev)) for xb, yb in DataLoader(TensorDataset(X, y), batch_size=3)]
    return [t for batch in list(loader) + moved for t in batch]


NAMESPACE = [
    C("tensor", lambda e: dl.tensor([[1.0, 2.0], [3.0, 4.0]], device=e.dev)),
    C("as_tensor", lambda e: dl.as_tensor(np.arange(6.0).reshape(2, 3), device=e.dev)),
    C("from_numpy", lambda e: dl.from_numpy(np.arange(3)).to(e.dev)),
    C("zeros_ones_full", lambda e: (dl.zeros(2, 3, device=e.dev), dl.ones(2, dtype=dl.long, device=e.dev),
                                    dl.full((2,), 7.5, device=e.dev))),
    C("like", lambda e: (dl.zeros_like(e.x(2, 3)), dl.ones_like(e.x(2)), dl.full_like(e.x(3), 2.0),
                         dl.empty_like(e.x(2, 2)).shape, dl.empty(3, 2, device=e.dev).shape)),
    C("arange_linspace_eye", lambda e: (dl.arange(5, device=e.dev), dl.arange(0.0, 1.0, 0.25, device=e.dev),
                                        dl.linspace(-1, 1, 5, device=e.dev), dl.eye(3, 2, device=e.dev))),
    C("random", _random_properties),
    C("exp_log_log1p_sqrt", lambda e: (lambda p: (dl.exp(p), dl.log(p), dl.log1p(p), dl.sqrt(p)))(
        e.x(2, 3, grad=True, low=0.5, high=2.0))),
    C("abs_sign_sin_cos", lambda e: (lambda x: (dl.abs(x), dl.sign(x), dl.sin(x), dl.cos(x)))(e.x(2, 3, grad=True))),
    C("tanh_sigmoid_relu_clamp", lambda e: (lambda x: (dl.tanh(x), dl.sigmoid(x), dl.relu(x),
                                                        dl.clamp(x, -1.0, 0.5), dl.clamp(x, min=0.2)))(
        e.x(3, 4, grad=True))),
    C("where_maximum_minimum_pow", lambda e: (lambda a, b: (dl.where(a > b, a, b), dl.maximum(a, b), dl.minimum(a, b),
                                                            dl.pow(a.abs() + 0.5, b), dl.pow(a, 2)))(
        e.x(3, 4, grad=True), e.x(3, 4, grad=True, seed=1))),
    C("cat_stack_split_chunk", lambda e: (lambda a, b: (dl.cat([a, b], dim=1), dl.stack([a, b]),
                                                        *dl.split(a, [1, 3], dim=1), *dl.chunk(b, 2)))(
        e.x(2, 4, grad=True), e.x(2, 4, grad=True, seed=1))),
    C("flatten_reshape_squeeze_unsqueeze", lambda e: (lambda x: (dl.flatten(x, 1), dl.reshape(x, (3, -1)),
                                                                 dl.squeeze(x, 1), dl.unsqueeze(x, 0)))(
        e.x(2, 1, 3, 2, grad=True))),
    C("transpose_permute", lambda e: (lambda x: (dl.transpose(x, 0, 2), dl.permute(x, (1, 2, 0))))(e.x(2, 3, 4, grad=True))),
    C("sum_mean_prod", lambda e: (lambda x: (dl.sum(x), dl.sum(x, dim=1, keepdim=True), dl.mean(x, dim=(0, 2)),
                                             dl.prod(x, dim=1)))(e.x(2, 3, 2, grad=True, low=0.5, high=1.5))),
    C("max_min_argmax_argmin", lambda e: (lambda x: (dl.max(x), *dl.max(x, dim=1), *dl.min(x, dim=0, keepdim=True),
                                                     dl.argmax(x, dim=1), dl.argmin(x), dl.max(x, x * 0.5)))(
        e.x(3, 4, grad=True))),
    C("std_var_norm", lambda e: (lambda x: (dl.std(x), dl.var(x, dim=1, keepdim=True), dl.std(x, dim=0, unbiased=False),
                                            dl.norm(x), dl.norm(x, dim=1)))(e.x(3, 4, grad=True))),
    C("logsumexp_cumsum", lambda e: (lambda x: (dl.logsumexp(x, dim=1), dl.logsumexp(x, dim=0, keepdim=True),
                                                dl.cumsum(x, dim=1)))(e.x(3, 4, grad=True))),
    C("allclose_equal_isnan_isfinite", lambda e: (lambda x: (dl.allclose(x, x + 1e-9), dl.allclose(x, x, equal_nan=True),
                                                             dl.equal(x, x * 1.0), dl.isnan(x), dl.isfinite(x)))(
        dl.tensor([float("nan"), 1.0, -float("inf")], device=e.dev))),
]

METHODS = [
    C("view_view_as_reshape_as", lambda e: (lambda x: (x.view(3, 2), x.view(-1), x.view_as(e.x(6)),
                                                       x.reshape_as(e.x(3, 2))))(e.x(2, 3, grad=True))),
    C("expand_expand_as_repeat", lambda e: (lambda x: (x.expand(2, 3, 4), x.expand_as(e.x(3, 4)), x.repeat(2, 2)))(
        e.x(3, 1, grad=True))),
    C("clone_contiguous_detach", lambda e: (lambda x: (x.clone(), x.T.contiguous(), x.detach() * 2))(e.x(2, 3, grad=True))),
    C("dim_size_numel", lambda e: (lambda x: (x.dim(), tuple(x.size()), x.size(1), x.numel()))(e.x(2, 3, 4))),
    C("type", lambda e: e.x(2).type() == ("torch.FloatTensor" if e.dev == "cpu" else "torch.cuda.FloatTensor")
      and e.x(2).type(dl.long).dtype == np.int64),
    C("float_double_half_long_int_bool", lambda e: (lambda x: (x.double(), x.double().float(), x.half(), x.long(),
                                                               x.int(), x.bool()))(e.x(2, 3, low=-3, high=3))),
    C("to", lambda e: (e.x(2, 3).to(dl.float64), e.x(2).to("cpu").to(e.dev), e.x(2).to(e.dev, dtype=dl.float16))),
    C("cpu_numpy", lambda e: (e.x(2, 3).cpu(), e.x(2, 3).numpy()), host=True),
    C("cuda", lambda e: e.x(2, 3).cpu().cuda() if e.dev != "cpu" else e.x(2, 3)),
    C("item_tolist", lambda e: (e.x(1).item(), e.x(2, 2).tolist(), e.ints(3).item(), e.ints(1, 2).tolist())),
    C("requires_grad_", lambda e: e.x(2, 3, grad=True) * 3),
    C("comparisons", lambda e: (lambda a, b: (a.eq(b), a.ne(b), a.lt(b), a.le(b), a.gt(b), a.ge(0.5), a == a))(
        dl.tensor([1.0, 2.0, 3.0], device=e.dev), dl.tensor([2.0, 2.0, 1.0], device=e.dev))),
    C("logical_and_or_not", lambda e: (lambda a, b: (a.logical_and(b), a.logical_or(b), a.logical_not()))(
        dl.tensor([True, False, True], device=e.dev), dl.tensor([True, True, False], device=e.dev))),
    C("masked_fill_gather_index_select", lambda e: (lambda x: (x.masked_fill(x > 0, -1.0),
                                                               x.gather(1, e.ints([0, 2], [1, 1], [3, 0])),
                                                               x.index_select(0, e.ints(2, 0))))(e.x(3, 4, grad=True))),
    C("argmax_argmin_softmax_log_softmax", lambda e: (lambda x: (x.argmax(), x.argmax(dim=1), x.argmin(dim=0, keepdim=True),
                                                                 x.softmax(dim=1), x.log_softmax(dim=0)))(
        e.x(3, 4, grad=True))),
    C("relu_sigmoid_tanh", lambda e: (lambda x: (x.relu(), x.sigmoid(), x.tanh()))(e.x(3, 4, grad=True))),
    C("T_mT", lambda e: (lambda x: (x[0].T, x.mT))(e.x(2, 3, 4, grad=True))),
]


def _targets(e):
    return e.ints(0, 2, 1, 2)


LOSSES = [
    C("CrossEntropyLoss_options", lambda e: (lambda z: (
        nn.CrossEntropyLoss()(z, _targets(e)),
        nn.CrossEntropyLoss(weight=dl.tensor([1.0, 2.0, 0.5], device=e.dev), ignore_index=1, label_smoothing=0.1)(
            z, _targets(e)),
        nn.CrossEntropyLoss(reduction="none")(z, F.softmax(e.x(4, 3, seed=5), dim=1))))(e.x(4, 3, grad=True))),
    C("NLLLoss", lambda e: nn.NLLLoss(weight=dl.tensor([1.0, 2.0, 0.5], device=e.dev))(
        F.log_softmax(e.x(4, 3, grad=True), dim=1), _targets(e))),
    C("MSE_L1_SmoothL1_Huber", lambda e: (lambda a, b: (nn.MSELoss()(a, b), nn.L1Loss(reduction="sum")(a, b),
                                                        nn.SmoothL1Loss(beta=0.5)(a, b), nn.HuberLoss(delta=0.7)(a, b)))(
        e.x(3, 4, grad=True), e.x(3, 4, grad=True, seed=1))),
    C("BCELoss_BCEWithLogitsLoss", lambda e: (
        nn.BCELoss()(e.x(3, 4, grad=True, low=0.05, high=0.95), e.x(3, 4, seed=1, low=0, high=1)),
        nn.BCEWithLogitsLoss(pos_weight=dl.tensor([1.0, 2.0, 3.0, 0.5], device=e.dev))(
            e.x(3, 4, grad=True, seed=2), e.x(3, 4, seed=3, low=0, high=1)))),
    C("KLDivLoss", lambda e: (nn.KLDivLoss(reduction="batchmean")(F.log_softmax(e.x(3, 4, grad=True), dim=1),
                                                                  F.softmax(e.x(3, 4, seed=1), dim=1)),
                              nn.KLDivLoss(log_target=True)(F.log_softmax(e.x(3, 4, grad=True, seed=2), dim=1),
                                                            F.log_softmax(e.x(3, 4, seed=3), dim=1)))),
]

LAYERS = [
    C("Flatten_Unflatten", lambda e: (lambda x: (nn.Flatten()(x), nn.Unflatten(1, (2, 3))(nn.Flatten()(x))))(
        e.x(2, 3, 2, grad=True))),
    C("Softmax_LogSoftmax", lambda e: (lambda x: (nn.Softmax(dim=0)(x), nn.LogSoftmax(dim=1)(x)))(e.x(3, 4, grad=True))),
    C("LeakyReLU_GELU_SiLU_ELU", lambda e: (lambda x: (nn.LeakyReLU(0.2)(x), nn.GELU()(x), nn.GELU("tanh")(x),
                                                       nn.SiLU()(x), nn.ELU(0.5)(x)))(e.x(3, 4, grad=True))),
    C("AdaptiveAvgPool2d_AdaptiveMaxPool2d", lambda e: (lambda x: (nn.AdaptiveAvgPool2d((2, 3))(x),
                                                                   nn.AdaptiveMaxPool2d(2)(x)))(e.x(2, 3, 5, 7, grad=True))),
    C("MaxPool2d_options", lambda e: (lambda x: (nn.MaxPool2d(2)(x), nn.MaxPool2d(3, 2, ceil_mode=True)(x),
                                                 nn.MaxPool2d(2, 1, padding=1, dilation=2)(x)))(e.x(2, 3, 7, 6, grad=True))),
    C("AvgPool2d_options", lambda e: (lambda x: (nn.AvgPool2d(2)(x), nn.AvgPool2d(3, 2, padding=1, ceil_mode=True)(x),
                                                 nn.AvgPool2d(3, 2, padding=1, count_include_pad=False)(x)))(
        e.x(2, 3, 7, 6, grad=True))),
    C("Conv2d_groups", lambda e: (e.module(lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2))(e.x(2, 4, 5, 5, grad=True)),
                                  e.module(lambda: nn.Conv2d(3, 2, 3, stride=2, dilation=2))(e.x(1, 3, 9, 8, grad=True)))),
    C("Conv1d", lambda e: e.module(lambda: nn.Conv1d(3, 4, 3, padding=1, stride=2))(e.x(2, 3, 9, grad=True))),
    C("LayerNorm", lambda e: e.module(lambda: nn.LayerNorm((3, 4)))(e.x(2, 3, 4, grad=True))),
    C("Embedding", lambda e: e.module(lambda: nn.Embedding(5, 3, padding_idx=1))(e.ints([1, 4, 4], [0, 2, 4])) * 2),
    C("Dropout2d_eval", lambda e: e.module(lambda: nn.Dropout2d(0.5)).eval()(e.x(2, 3, 4, 4, grad=True))),
    C("Dropout2d_train", _dropout2d_zeroes_whole_channels),
]

TRAINING = [
    C("SGD", _optimizer(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01))),
    C("Adam_amsgrad", _optimizer(lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True))),
    C("AdamW", _optimizer(lambda ps: optim.AdamW(ps, lr=0.05))),
    C("RMSprop", _optimizer(lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.9, centered=True))),
    C("Adagrad", _optimizer(lambda ps: optim.Adagrad(ps, lr=0.1))),
    C("Adadelta", _optimizer(lambda ps: optim.Adadelta(ps, lr=1.0))),
    C("DataLoader_to_device", _data_loader),
    C("save_load_map_location_device", _save_load(None)),
    C("save_load_map_location_cpu", _save_load("cpu"), host=True),
]

CASES = NAMESPACE + METHODS + LOSSES + LAYERS + TRAINING


# --------------------------------------------------------------------------- the run and the comparison
def _tensors(out: Any) -> list:
    if isinstance(out, dl.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return []


def _run(case: Case, dev: str) -> tuple[Any, list]:
    """The case's output on ``dev`` and the gradients of sum(out * r) w.r.t. its recorded leaves."""
    dl.manual_seed(0)
    e = Env(dev)
    out = case.run(e)
    floats = [t for t in _tensors(out) if t.requires_grad]
    if not floats:
        return out, []
    rng = np.random.default_rng(7)
    total = sum((t * dl.tensor(rng.standard_normal(t.shape).astype(t.dtype), device=t.device)).sum() for t in floats)
    total.backward()
    return out, [None if leaf.grad is None else leaf.grad for leaf in e.leaves]


def _values(cpu: np.ndarray, gpu: np.ndarray, where: str) -> None:
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape, f"{where}: {gpu.dtype}{gpu.shape} vs {cpu.dtype}{cpu.shape}"
    if cpu.dtype.kind == "f":
        rtol, atol = TOLERANCES.get(np.dtype(cpu.dtype), (1e-3, 1e-3))  # float16: 1e-3
        np.testing.assert_allclose(gpu, cpu, rtol=rtol, atol=atol, err_msg=where)
    else:
        np.testing.assert_array_equal(gpu, cpu, err_msg=where)


def _compare(cpu: Any, gpu: Any, where: str, host: bool) -> None:
    """``gpu`` (the cuda run's result) equals ``cpu``, and lives on cuda unless ``host``."""
    if isinstance(cpu, dl.Tensor):
        assert isinstance(gpu, dl.Tensor), f"{where}: a Tensor on cpu, {type(gpu).__name__} on cuda"
        assert gpu.device.type == ("cpu" if host else "cuda"), f"{where}: result on {gpu.device}"
        _values(cpu.detach().cpu().numpy(), gpu.detach().cpu().numpy(), where)
    elif isinstance(cpu, np.ndarray):  # .numpy(), or the raw arrays dlcore.load returns
        assert is_gpu_array(gpu) != host, f"{where}: a {type(gpu).__name__} (host={host})"
        _values(cpu, to_numpy(gpu), where)
    elif isinstance(cpu, (tuple, list)):
        assert type(gpu) is type(cpu) and len(gpu) == len(cpu), f"{where}: {gpu!r} vs {cpu!r}"
        for i, (a, b) in enumerate(zip(cpu, gpu)):
            _compare(a, b, f"{where}[{i}]", host)
    elif isinstance(cpu, float):
        assert type(gpu) is float and gpu == pytest.approx(cpu, rel=1e-5, abs=1e-6), f"{where}: {gpu} vs {cpu}"
    else:
        assert type(gpu) is type(cpu) and gpu == cpu, f"{where}: {gpu!r} vs {cpu!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_name_on_cuda_equals_cpu(case, cuda_device):
    out_cpu, grads_cpu = _run(case, "cpu")
    out_gpu, grads_gpu = _run(case, cuda_device)
    assert out_cpu is not False, f"{case.id}: the property check failed on the CPU"
    _compare(out_cpu, out_gpu, case.id, case.host)
    assert len(grads_cpu) == len(grads_gpu)
    for i, (a, b) in enumerate(zip(grads_cpu, grads_gpu)):
        assert (a is None) == (b is None), f"{case.id}: gradient {i} is None on one device only"
        if a is not None:
            _compare(a, b, f"{case.id} gradient {i}", host=False)


def test_every_listed_name_has_a_case():
    """The names of the issue, each reached by some case above (by the source of the case table)."""
    import inspect

    source = inspect.getsource(inspect.getmodule(test_every_listed_name_has_a_case))
    names = """tensor as_tensor from_numpy zeros ones full empty zeros_like ones_like full_like empty_like arange
    linspace eye rand randn randint randperm normal exp log log1p sqrt abs sign sin cos tanh sigmoid relu clamp
    where maximum minimum pow cat stack split chunk flatten reshape squeeze unsqueeze transpose permute sum mean
    max min argmax argmin std var prod norm logsumexp cumsum allclose equal isnan isfinite view view_as
    reshape_as expand expand_as repeat clone contiguous dim size numel type float double half long int bool to
    cpu cuda numpy item tolist detach requires_grad_ eq ne lt le gt ge logical_and logical_or logical_not
    masked_fill gather index_select softmax log_softmax CrossEntropyLoss NLLLoss MSELoss L1Loss SmoothL1Loss
    HuberLoss BCELoss BCEWithLogitsLoss KLDivLoss Flatten Unflatten Softmax LogSoftmax LeakyReLU GELU SiLU ELU
    AdaptiveAvgPool2d AdaptiveMaxPool2d MaxPool2d AvgPool2d Conv2d Conv1d LayerNorm Embedding Dropout2d SGD
    Adam AdamW RMSprop Adagrad Adadelta DataLoader save load""".split()
    body = source.split("class Env", 1)[1].split("CASES = ", 1)[0]
    missing = [n for n in names if not re.search(rf"(?<!\w){n}\(", body)]
    assert missing == []


def test_a_loss_weight_on_another_device_is_a_device_error(cuda_device):
    z, t = dl.zeros(2, 3, device="cpu"), dl.tensor([0, 1], device="cpu")
    with pytest.raises(dl.DeviceError, match="weight on the input's device cpu"):
        F.cross_entropy(z, t, weight=dl.ones(3, device=cuda_device))
    with pytest.raises(dl.DeviceError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(z, z, pos_weight=dl.ones(3, device=cuda_device))

"""The PyTorch surface of the top-level namespace and of Tensor: names, signatures, dtypes, devices, DLPack.

Torch-free tests check behaviour on their own; ``*_like_torch`` tests run the same code in PyTorch.
"""

import numpy as np
import pytest

import dlcore

NAMESPACE = """float32 float float64 double float16 half int64 long int32 int uint8 bool
tensor as_tensor from_numpy zeros ones full empty zeros_like ones_like full_like empty_like arange linspace eye
rand randn randint randperm normal manual_seed rand_like randn_like exp log log1p sqrt abs sign sin cos tanh sigmoid relu clamp where
maximum minimum pow cat stack split chunk flatten reshape squeeze unsqueeze transpose permute sum mean max min
argmax argmin std var prod norm logsumexp cumsum allclose equal isnan isfinite no_grad enable_grad
set_grad_enabled inference_mode device set_default_device set_default_dtype get_default_dtype from_dlpack""".split()

METHODS = """exp log log1p sqrt abs sign sin cos tanh sigmoid relu clamp where maximum minimum pow flatten reshape
squeeze unsqueeze transpose permute sum mean max min argmax argmin std var prod norm logsumexp cumsum allclose
equal isnan isfinite split chunk view view_as reshape_as expand expand_as repeat clone contiguous dim ndimension
size numel shape dtype device type float double half long int bool to cpu cuda numpy item tolist detach
requires_grad_ eq ne lt le gt ge logical_and logical_or logical_not masked_fill gather index_select softmax
log_softmax T mT zero_ fill_ add_ sub_ mul_ div_ copy_ clamp_ uniform_ normal_ retain_grad grad_fn is_leaf
__dlpack__ __dlpack_device__ __array__""".split()


def test_every_listed_name_exists():
    missing = [n for n in NAMESPACE if not hasattr(dlcore, n)]
    assert not missing, missing
    missing = [n for n in METHODS if not hasattr(dlcore.Tensor, n)]
    assert not missing, missing


def test_every_listed_name_exists_in_torch_too():
    torch = pytest.importorskip("torch")
    assert [n for n in NAMESPACE if not hasattr(torch, n)] == []
    assert [n for n in METHODS if not hasattr(torch.Tensor, n)] == []


def test_dtype_aliases():
    assert dlcore.float is dlcore.float32 and dlcore.double is dlcore.float64 and dlcore.half is dlcore.float16
    assert dlcore.long is dlcore.int64 and dlcore.int is dlcore.int32
    assert dlcore.zeros(2, dtype=dlcore.long).dtype == np.int64
    assert dlcore.tensor([1, 2]).to(dlcore.float).dtype == dlcore.float32
    assert dlcore.ones(2, device="cpu").type() == "torch.FloatTensor" and dlcore.ones(2).type(dlcore.long).dtype == np.int64
    assert dlcore.ones(2).type("torch.DoubleTensor").dtype == np.float64
    if dlcore.bfloat16 is not None:
        assert dlcore.ones(2, dtype=dlcore.bfloat16).float().tolist() == [1.0, 1.0]


def test_creation_like_torch():
    torch = pytest.importorskip("torch")
    for make in [lambda m: m.zeros(2, 3), lambda m: m.ones((2,), dtype=m.float64), lambda m: m.full((2, 2), 3),
                 lambda m: m.full((2,), 1.5), lambda m: m.full((1,), True), lambda m: m.arange(5),
                 lambda m: m.arange(1, 2, 0.25), lambda m: m.arange(0, 10, 3, dtype=m.float64),
                 lambda m: m.linspace(0, 1, 5), lambda m: m.eye(3), lambda m: m.eye(2, 3),
                 lambda m: m.tensor([[1, 2], [3, 4]]), lambda m: m.tensor(2.5), lambda m: m.tensor([True]),
                 lambda m: m.tensor([1, 2], dtype=m.float64), lambda m: m.zeros_like(m.ones(2, dtype=m.int64)),
                 lambda m: m.ones_like(m.zeros(3)), lambda m: m.full_like(m.zeros(2), 7.0),
                 lambda m: m.empty(2, 3).shape, lambda m: m.from_numpy(np.arange(3)),
                 lambda m: m.as_tensor([1.0, 2.0]), lambda m: m.tensor(np.float64(1.0))]:
        ours, theirs = make(dlcore), make(torch)
        if isinstance(theirs, tuple):
            assert tuple(ours) == tuple(theirs)
            continue
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "") and ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_random_functions_shapes_dtypes_and_seed():
    dlcore.manual_seed(0)
    a = [dlcore.rand(2, 3), dlcore.randn((4,)), dlcore.randint(0, 5, (3,)), dlcore.randint(4, (2, 2)),
         dlcore.randperm(5), dlcore.normal(0.0, 2.0, (3,)), dlcore.normal(dlcore.zeros(2), dlcore.ones(2))]
    dlcore.manual_seed(0)
    b = [dlcore.rand(2, 3), dlcore.randn((4,)), dlcore.randint(0, 5, (3,)), dlcore.randint(4, (2, 2)),
         dlcore.randperm(5), dlcore.normal(0.0, 2.0, (3,)), dlcore.normal(dlcore.zeros(2), dlcore.ones(2))]
    assert all(x.equal(y) for x, y in zip(a, b))
    assert [t.dtype for t in a] == [np.float32, np.float32, np.int64, np.int64, np.int64, np.float32, np.float32]
    assert sorted(a[4].tolist()) == [0, 1, 2, 3, 4] and a[3].shape == (2, 2)
    with pytest.raises(TypeError, match="generator"):
        dlcore.rand(2, generator=object())


def test_unsupported_arguments_are_named():
    with pytest.raises(TypeError, match="unsupported argument.*memory_format"):
        dlcore.ones(2).to("cpu", memory_format=None)
    with pytest.raises(TypeError, match="unsupported argument.*pin"):
        dlcore.randn(2, pin=True)
    with pytest.raises(ValueError, match="rounding_mode"):
        dlcore.ones(2).div(2, rounding_mode="floor")
    with pytest.raises(TypeError, match="view\\(dtype\\)"):
        dlcore.ones(2).view(dlcore.int32)


def test_tensor_methods_like_torch():
    torch = pytest.importorskip("torch")
    cases = [
        lambda m, x: x.dim(), lambda m, x: x.ndimension(), lambda m, x: tuple(x.size()), lambda m, x: x.size(-1),
        lambda m, x: x.numel(), lambda m, x: x.float().dtype == m.float32, lambda m, x: x.double().tolist(),
        lambda m, x: x.half().float().tolist(), lambda m, x: x.long().tolist(), lambda m, x: x.int().tolist(),
        lambda m, x: x.bool().tolist(), lambda m, x: x.eq(2.0).tolist(), lambda m, x: x.ne(2.0).tolist(),
        lambda m, x: x.lt(2.0).tolist(), lambda m, x: x.le(2.0).tolist(), lambda m, x: x.gt(2.0).tolist(),
        lambda m, x: x.ge(2.0).tolist(), lambda m, x: (x.gt(1.0).logical_and(x.lt(4.0))).tolist(),
        lambda m, x: x.gt(1.0).logical_or(x.lt(0.0)).tolist(), lambda m, x: x.gt(1.0).logical_not().tolist(),
        lambda m, x: x.eq(x).sum().item(), lambda m, x: x.max(1)[1].eq(m.tensor([1, 2])).sum().item(),
        lambda m, x: x.view(-1, 3).tolist(), lambda m, x: x.contiguous().tolist(), lambda m, x: x.T.tolist(),
        lambda m, x: x.softmax(1).sum(1).tolist(), lambda m, x: x.log_softmax(-1).exp().sum(-1).tolist(),
        lambda m, x: x.relu().tolist(), lambda m, x: x.tanh().tolist(), lambda m, x: x.argmax(1).tolist(),
        lambda m, x: x.argmin().item(), lambda m, x: x.std(1).tolist(), lambda m, x: x.var(0, keepdim=True).tolist(),
        lambda m, x: x.detach().requires_grad_().is_leaf, lambda m, x: x.to(m.float64).dtype == m.float64,
        lambda m, x: x.cpu().tolist(), lambda m, x: x.item() if x.numel() == 1 else x[0, 0].item(),
        lambda m, x: x.isnan().any().item(), lambda m, x: x.isfinite().all().item(),
        lambda m, x: m.allclose(x, x + 1e-9), lambda m, x: m.equal(x, x.clone()),
        lambda m, x: (x // 2).tolist(), lambda m, x: (x % 2).tolist(), lambda m, x: (-x).abs().tolist(),
        lambda m, x: m.sum(x, dim=(0, 1)).item(), lambda m, x: m.mean(x, 1, keepdim=True).tolist(),
    ]
    base = [[0.5, 3.0, 1.0], [2.0, 0.0, 4.0]]
    for case in cases:
        ours = case(dlcore, dlcore.tensor(base))
        theirs = case(torch, torch.tensor(base))
        np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=1e-6)


def test_device_boilerplate():
    assert dlcore.backends.mps.is_available() is False
    assert dlcore.accelerator.is_available() == dlcore.cuda.is_available()
    if not dlcore.cuda.is_available():
        assert dlcore.accelerator.current_accelerator() is None and dlcore.cuda.device_count() == 0
        with pytest.raises(dlcore.DeviceError):
            dlcore.cuda.synchronize()
    dlcore.cuda.manual_seed(0)
    assert dlcore.device("cpu", 0).type == "cpu" and dlcore.ones(1).sum(dtype=dlcore.float64).dtype == np.float64
    device = dlcore.accelerator.current_accelerator() or dlcore.device("cpu")
    assert dlcore.ones(2, device=device).device == device


def test_set_default_device_and_dtype():
    try:
        dlcore.set_default_device("cpu")
        assert dlcore.get_default_device() == dlcore.device("cpu") and dlcore.zeros(1).device.type == "cpu"
        dlcore.set_default_dtype(dlcore.float64)
        assert dlcore.get_default_dtype() == np.float64
        assert dlcore.zeros(2).dtype == np.float64 and dlcore.tensor([1.0]).dtype == np.float64
        assert dlcore.arange(0, 1, 0.5).dtype == np.float64
    finally:
        dlcore.set_default_dtype(dlcore.float32)
        dlcore.set_default_device(None)
    assert dlcore.tensor([1.0]).dtype == np.float32
    with pytest.raises(TypeError, match="float32 and float64"):
        dlcore.set_default_dtype(dlcore.int64)


# --------------------------------------------------------------------------- DLPack and __array__ (issue 17)
def test_dlpack_zero_copy_with_numpy_both_ways():
    a = np.arange(4.0)
    t = dlcore.from_dlpack(a)
    a[0] = 9.0
    assert t.tolist() == [9.0, 1.0, 2.0, 3.0] and t.dtype == np.float64
    back = np.from_dlpack(t)
    back[1] = -1.0
    assert t.tolist()[1] == -1.0 and np.shares_memory(back, a)
    capsule = dlcore.utils.dlpack.to_dlpack(t)
    assert type(capsule).__name__ == "PyCapsule"
    assert dlcore.utils.dlpack.from_dlpack(t).array is t.array


def test_dlpack_zero_copy_with_torch_both_ways():
    torch = pytest.importorskip("torch")
    t = dlcore.tensor([1.0, 2.0, 3.0], device="cpu")  # host memory on both sides
    pt = torch.from_dlpack(t)
    pt[0] = 7.0
    assert t.tolist()[0] == 7.0
    back = dlcore.from_dlpack(torch.arange(3, dtype=torch.float64))
    assert back.dtype == np.float64 and back.tolist() == [0.0, 1.0, 2.0]
    source = torch.zeros(2)
    shared = dlcore.from_dlpack(source)
    source += 5
    assert shared.tolist() == [5.0, 5.0] and shared.is_leaf and not shared.requires_grad


def test_dlpack_refuses_a_tensor_that_requires_grad():
    w = dlcore.ones(2, requires_grad=True, device="cpu")  # np.from_dlpack reads host memory only
    with pytest.raises(dlcore.AutogradError, match="detach"):
        np.from_dlpack(w)
    assert np.from_dlpack(w.detach()).tolist() == [1.0, 1.0]


def test_array_protocol():
    t = dlcore.tensor([[1, 2]], device="cpu")  # np.asarray shares host memory; see the device test below
    assert np.asarray(t).dtype == np.int64 and np.asarray(t).tolist() == [[1, 2]]
    assert np.shares_memory(np.asarray(t), t.array)
    assert not np.shares_memory(np.array(t, copy=True), t.array)


def test_array_protocol_and_dlpack_device_on_every_device(device):
    """A CUDA tensor never becomes a NumPy array implicitly (PyTorch refuses too); an explicit copy
    works, and ``__dlpack_device__`` names the memory: (1, 0) is kDLCPU, (2, 0) kDLCUDA device 0."""
    t = dlcore.tensor([[1.0, 2.0]], device=device)
    assert t.__dlpack_device__() == ((1, 0) if device == "cpu" else (2, 0))
    assert np.array(t, copy=True).tolist() == [[1.0, 2.0]]
    if device == "cuda":
        with pytest.raises(dlcore.DeviceError, match=r"\.cpu\(\)"):
            np.asarray(t)

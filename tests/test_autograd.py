"""Tensor ops and the backward engine: finite-difference checks in float64, broadcasting, deep graphs."""

import numpy as np
import pytest
from gradcheck import gradcheck
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dlcore
from dlcore.autograd import unbroadcast

rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_ops_gradcheck_with_broadcasting(op, device):
    a, b = r(3, 1, 4), r(2, 1) + 3.0  # b kept away from 0 for div
    fns = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y, "div": lambda x, y: x / y}
    gradcheck(fns[op], a, b, device=device)


@given(st.data())
def test_broadcasting_gradients_reduce_to_input_shapes(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    other = data.draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=3, max_side=4))
    a = dlcore.tensor(np.ones(shape), requires_grad=True)
    b = dlcore.tensor(np.full(other, 2.0), requires_grad=True)
    out = a * b
    assert out.shape == np.broadcast_shapes(shape, other)
    out.sum().backward()
    assert a.grad.shape == shape and b.grad.shape == other
    np.testing.assert_allclose(a.grad.numpy(), 2.0 * np.prod(out.shape) / np.prod(shape))
    np.testing.assert_allclose(b.grad.numpy(), np.prod(out.shape) / max(np.prod(other), 1))


@given(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3))
def test_unbroadcast_is_the_adjoint_of_broadcast(shape):
    full = (2,) + tuple(shape)
    g = np.arange(np.prod(full), dtype=float).reshape(full)
    target = tuple(1 if i % 2 else n for i, n in enumerate(shape))
    expected = np.broadcast_to(g, full).sum(axis=0)
    expected = expected.sum(axis=tuple(i for i, n in enumerate(target) if n == 1), keepdims=True)
    np.testing.assert_allclose(unbroadcast(g, target), expected)


@pytest.mark.parametrize("name,fn,make", [
    ("neg", lambda x: -x, lambda: r(3, 2)),
    ("pow", lambda x: x ** 3, lambda: r(3, 2)),
    ("sqrt", lambda x: x.sqrt(), lambda: np.abs(r(3, 2)) + 0.5),
    ("exp", lambda x: x.exp(), lambda: r(3, 2)),
    ("log", lambda x: x.log(), lambda: np.abs(r(3, 2)) + 0.5),
    ("abs", lambda x: x.abs(), lambda: r(3, 2) + 0.1),
    ("sum", lambda x: x.sum(axis=1), lambda: r(3, 4)),
    ("sum_keepdims", lambda x: x.sum(axis=(0, 2), keepdims=True), lambda: r(2, 3, 4)),
    ("mean", lambda x: x.mean(axis=0), lambda: r(3, 4)),
    ("mean_all", lambda x: x.mean(), lambda: r(3, 4)),
    ("max", lambda x: x.max(dim=1).values, lambda: r(3, 5)),
    ("max_all", lambda x: x.max(), lambda: r(3, 5)),
    ("reshape", lambda x: x.reshape(4, 3) * 2, lambda: r(3, 4)),
    ("permute", lambda x: x.permute(2, 0, 1), lambda: r(2, 3, 4)),
    ("transpose", lambda x: x.transpose(0, 2), lambda: r(2, 3, 4)),
    ("T", lambda x: x.T, lambda: r(2, 3)),
    ("getitem_slice", lambda x: x[1:, ::2], lambda: r(3, 4)),
    ("getitem_fancy_repeats", lambda x: x[np.array([0, 2, 0, 0])], lambda: r(3, 4)),
    ("rpow", lambda x: 2.0 ** x, lambda: r(3)),
])
def test_unary_ops_gradcheck(name, fn, make, device):
    gradcheck(fn, make(), device=device)


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2))])
def test_matmul_gradcheck(sa, sb, device):
    gradcheck(lambda a, b: a @ b, r(*sa), r(*sb), device=device)


def test_max_shares_gradient_between_ties():
    x = dlcore.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5]


def test_deep_chain_of_10000_nodes_backpropagates_without_recursion():
    x = dlcore.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**10_000], rtol=1e-3)


def test_shared_parent_gets_all_paths_before_it_backpropagates():
    # a feeds b directly and through c: the engine must finish c before a.
    a = dlcore.tensor([2.0], requires_grad=True)
    c = a * 3.0
    b = a * c  # = 3a^2 -> d/da = 6a = 12
    d = b + c  # d/da = 12 + 3
    d.sum().backward()
    assert a.grad.item() == pytest.approx(15.0)


def test_gradients_accumulate_across_backward_calls():
    x = dlcore.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]


def test_no_grad_and_detach_stop_the_graph():
    x = dlcore.tensor([1.0], requires_grad=True)
    with dlcore.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    z = (x * 2).detach()
    assert not z.requires_grad
    assert dlcore.is_grad_enabled()


def test_backward_needs_scalar_or_explicit_grad():
    x = dlcore.tensor([1.0, 2.0], requires_grad=True, device="cpu")  # a NumPy gradient is a host array
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(np.ones(2, dtype=np.float32))
    assert x.grad.tolist() == [2.0, 2.0]


def test_graph_keeps_only_what_backward_needs():
    x = dlcore.tensor(np.ones((2, 2)), requires_grad=True)
    y = x + 1.0
    assert not hasattr(y._ctx, "a")  # Add keeps shapes, not the operands


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(dlcore.DTypeError, match="floating-point"):
        dlcore.tensor([1, 2], requires_grad=True)


def test_tensor_basics(device):
    t = dlcore.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    assert t.shape == (2, 2) and t.dtype == np.float32 and t.device.type == device
    assert t.to("cpu").numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert t.sum().item() == 10.0
    assert t.double().dtype == np.float64
    assert dlcore.tensor([1, 2]).dtype == np.int64
    assert dlcore.tensor(np.zeros(2, np.float64)).dtype == np.float64
    assert (t > 2).tolist() == [[False, False], [True, True]]
    assert "tensor(" in repr(t)


def test_to_device_and_cast_are_differentiable():
    x = dlcore.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("cpu", dtype=np.float64) * 3
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]


def test_mixing_devices_is_a_clear_error():
    if not dlcore.cuda.is_available():
        pytest.skip("needs a GPU")
    with pytest.raises(dlcore.DeviceError, match="one device"):
        dlcore.tensor([1.0], device="cpu") + dlcore.tensor([1.0], device="cuda")

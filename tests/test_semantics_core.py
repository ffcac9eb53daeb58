"""PyTorch semantics of the graph core: in-place ops and .data, the version counter, autograd
(second backward, retain_graph, grad_fn, retain_grad), Python conversions, indexing, pow.

Each test states the PyTorch behaviour; those marked with torch also run the same code in PyTorch.
"""

import numpy as np
import pytest

import dlcore
from dlcore import AutogradError


def _torch():
    return pytest.importorskip("torch")


# --------------------------------------------------------------------------- 1. in-place ops and .data
@pytest.mark.parametrize("op", ["-=", "+=", "*=", "/="])
def test_augmented_assignment_under_no_grad_changes_the_same_parameter(op):
    w = dlcore.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    before = id(w)
    with dlcore.no_grad():
        exec(f"w {op} 0.5 * w.grad", {}, {"w": w})  # the idiom p -= lr * p.grad
    expected = {"-=": [0.0, 0.0], "+=": [2.0, 4.0], "*=": [1.0, 4.0], "/=": [1.0, 1.0]}[op]
    assert id(w) == before and w.tolist() == expected
    assert w.is_leaf and w.requires_grad


def test_manual_sgd_loop_over_parameters_trains():
    lin = dlcore.nn.Linear(1, 1)
    x = dlcore.tensor([[0.0], [1.0], [2.0]])
    y = dlcore.tensor([[1.0], [3.0], [5.0]])
    losses = []
    for _ in range(200):
        loss = ((lin(x) - y) ** 2).mean()
        losses.append(loss.item())
        for p in lin.parameters():
            p.grad = None
        loss.backward()
        with dlcore.no_grad():
            for p in lin.parameters():
                p -= 0.1 * p.grad
    assert losses[-1] < 1e-3 < losses[0]


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    w = dlcore.tensor([1.0], requires_grad=True)
    for fn in [lambda: w.__iadd__(1.0), lambda: w.add_(1.0), lambda: w.zero_(), lambda: w.fill_(2.0),
               lambda: w.mul_(2.0), lambda: w.__setitem__(0, 3.0), lambda: w.copy_(dlcore.tensor([2.0])),
               lambda: w.clamp_(0, 1), lambda: w.uniform_(), lambda: w.normal_()]:
        with pytest.raises(AutogradError, match="leaf tensor that requires grad"):
            fn()
    assert w.tolist() == [1.0]


def test_in_place_methods_match_torch():
    torch = _torch()
    results = []
    for lib in (dlcore, torch):
        t = lib.tensor([[1.0, -2.0], [3.0, 4.0]])
        t.add_(1.0).sub_(lib.tensor([0.5, 0.5]), alpha=2).mul_(3.0).div_(2.0).clamp_(-1.0, 4.0)
        t[0, 1] = 7.0
        t[t > 3.5] = 0.0
        u = lib.zeros(2, 2).copy_(t[0])
        v = lib.ones(3).fill_(2.5)
        results.append((t.tolist(), u.tolist(), v.tolist(), lib.ones(2).zero_().tolist()))
    assert results[0] == results[1]


def test_in_place_ops_on_non_leaves_are_recorded_and_give_torch_gradients():
    torch = _torch()
    grads = []
    for lib in (dlcore, torch):
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        h = x * 2
        h += w          # residual-style
        h.mul_(w)
        h[1] = x[0] * 3
        buf = lib.zeros(3, dtype=lib.float64)
        buf.add_(h)     # a plain buffer becomes part of the graph
        buf.sum().backward()
        grads.append((x.grad.tolist(), w.grad.tolist()))
    assert grads[0] == grads[1]


def test_version_counter_refuses_a_value_changed_after_it_was_saved():
    x = dlcore.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = (y * y).sum()
    y.add_(1.0)  # Mul saved y: the gradient would be wrong
    with pytest.raises(AutogradError, match="modified by an inplace operation"):
        z.backward()
    a = dlcore.tensor([1.0, 2.0], requires_grad=True)
    buffer = dlcore.tensor([3.0, 4.0])
    out = (a * buffer).sum()
    with dlcore.no_grad():
        buffer.data.mul_(10)  # through .data: the same memory and the same counter
    with pytest.raises(AutogradError, match="is at version 1; expected version 0"):
        out.backward()


def test_version_counter_allows_what_backward_does_not_need():
    x = dlcore.tensor([1.0, 2.0], requires_grad=True)
    c = dlcore.tensor([5.0, 5.0])
    out = (x + c).sum()
    c.add_(1.0)  # Add keeps no operand
    out.backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_in_place_through_a_view_bumps_the_base_version():
    x = dlcore.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    base = dlcore.tensor([[1.0, 1.0], [1.0, 1.0]])
    out = (x * base).sum()
    base[0].fill_(2.0)  # a view of base
    assert base.tolist() == [[2.0, 2.0], [1.0, 1.0]]
    with pytest.raises(AutogradError, match="modified by an inplace"):
        out.backward()
    h = x * 1
    with pytest.raises(AutogradError, match="view"):
        h[0].mul_(2.0)
    with dlcore.no_grad():
        row = x[0]
    with pytest.raises(AutogradError, match="view of a tensor that requires grad"):
        row.fill_(0.0)
    with dlcore.no_grad():
        row.fill_(0.0)  # the PyTorch way: fine, and x changes
    assert x.tolist()[0] == [0.0, 0.0]


def test_data_is_a_detached_tensor_sharing_memory():
    torch = _torch()
    p = dlcore.tensor([1.0, 2.0], requires_grad=True)
    (p * 3).sum().backward()
    p.data -= 0.5 * p.grad.data
    assert p.tolist() == [-0.5, 0.5] and p.requires_grad and p.is_leaf
    p.data.copy_(dlcore.tensor([7.0, 8.0]))
    assert p.tolist() == [7.0, 8.0]
    assert isinstance(p.data, dlcore.Tensor) and not p.data.requires_grad
    assert p.data.numpy().tolist() == [7.0, 8.0]
    out = dlcore.tensor([[0.1, 0.9], [0.8, 0.2]], requires_grad=True) * 1
    values, indices = dlcore.max(out.data, 1)
    t_values, t_indices = torch.max(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), 1)
    assert indices.tolist() == t_indices.tolist() and np.allclose(values.numpy(), t_values.numpy())


def test_grad_zero_and_grad_none():
    w = dlcore.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    w.grad.zero_()
    assert w.grad.tolist() == [0.0, 0.0]
    (w * w).sum().backward()
    assert w.grad.tolist() == [2.0, 4.0]
    w.grad = None
    (w * 1).sum().backward()
    assert w.grad.tolist() == [1.0, 1.0]


def test_in_place_dtype_and_shape_rules():
    i = dlcore.tensor([1, 2])
    with pytest.raises(dlcore.DTypeError, match="can't be cast"):
        i += 1.5
    f = dlcore.zeros(2)
    with pytest.raises(dlcore.ShapeError, match="broadcast shape"):
        f += dlcore.zeros(3, 2)
    f += dlcore.tensor([1, 2])  # int into float is fine
    assert f.tolist() == [1.0, 2.0] and f.dtype == np.float32


def test_uniform_and_normal_follow_the_seed():
    dlcore.manual_seed(3)
    a = dlcore.empty(1000).uniform_(-2.0, 2.0)
    dlcore.manual_seed(3)
    b = dlcore.empty(1000).uniform_(-2.0, 2.0)
    assert a.equal(b) and -2.0 <= a.min().item() and a.max().item() < 2.0
    n = dlcore.empty(4000).normal_(1.0, 0.5)
    assert abs(n.mean().item() - 1.0) < 0.05 and abs(n.std().item() - 0.5) < 0.05


# --------------------------------------------------------------------------- 2. autograd
def test_second_backward_raises_and_retain_graph_keeps_the_graph():
    x = dlcore.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(AutogradError, match="backward through the graph a second time"):
        y.backward()
    h = x * 3
    h.sum().backward()
    with pytest.raises(AutogradError, match="second time"):
        (h * 2).sum().backward()  # reaches the freed node


def test_grad_fn_names_and_next_functions():
    torch = _torch()
    names = []
    for lib in (dlcore, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a * 2
        c = (b + a).sum()
        assert a.grad_fn is None and a.is_leaf and not b.is_leaf
        nxt = b.grad_fn.next_functions
        assert nxt[0][0].variable is a and nxt[1][0] is None
        names.append((b.grad_fn.name(), c.grad_fn.name(), type(nxt[0][0]).__name__,
                      c.grad_fn.next_functions[0][0].name()))
        c.backward()
        assert b.grad_fn is not None  # the structure stays after backward, saved values go
        after = c.grad_fn.next_functions
        assert after[0][0].next_functions[0][0] is b.grad_fn and b.grad_fn.next_functions[0][0].variable is a
        names.append([type(n).__name__ for n, _ in b.grad_fn.next_functions if n is not None])
    assert names[0:2] == names[2:4]


def test_retain_grad_keeps_a_non_leaf_gradient():
    def grads_of_a_non_leaf(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3
        h.retain_grad()
        assert h.retains_grad
        (h * h).sum().backward()
        return h.grad.tolist(), x.grad.tolist(), h.requires_grad, h.is_leaf

    assert grads_of_a_non_leaf(dlcore) == grads_of_a_non_leaf(_torch())


def test_dot_product_backward():
    a = dlcore.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = dlcore.tensor([4.0, 5.0, 6.0], requires_grad=True)
    (a @ b).backward()
    assert a.grad.tolist() == [4.0, 5.0, 6.0] and b.grad.tolist() == [1.0, 2.0, 3.0]


def test_unsupported_backward_arguments_raise():
    x = dlcore.tensor([1.0], requires_grad=True)
    with pytest.raises(AutogradError, match="create_graph"):
        (x * 2).sum().backward(create_graph=True)
    with pytest.raises(AutogradError, match="does not require grad"):
        dlcore.tensor([1.0]).sum().backward()


def test_grad_mode_helpers():
    x = dlcore.tensor([1.0], requires_grad=True)
    with dlcore.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    with dlcore.inference_mode():
        assert not (x * 2).requires_grad
    with dlcore.no_grad(), dlcore.enable_grad():
        assert (x * 2).requires_grad

    @dlcore.no_grad()
    def evaluate():
        return x * 2

    assert not evaluate().requires_grad and dlcore.is_grad_enabled()
    dlcore.set_grad_enabled(False)
    assert not dlcore.is_grad_enabled()
    dlcore.set_grad_enabled(True)


# --------------------------------------------------------------------------- 3. shapes, indexing, conversions
def test_transpose_on_2d_swaps():
    x = dlcore.tensor([[1.0, 2.0, 3.0]])
    assert x.transpose(0, 1).shape == (3, 1) and x.transpose(0, 1).tolist() == [[1.0], [2.0], [3.0]]


def test_permute_negative_dims_gradient_shape():
    x = dlcore.zeros(2, 3, 4, requires_grad=True)
    x.permute(-1, 0, 1).sum().backward()
    assert x.grad.shape == (2, 3, 4)


def test_max_with_dim_is_a_named_tuple_and_index_1_is_the_argmax():
    x = dlcore.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    out = x.max(1)
    assert out[1].tolist() == [1, 0] and out.indices.tolist() == [1, 0] and out.values.tolist() == [5.0, 7.0]
    values, indices = dlcore.min(x, dim=0, keepdim=True)
    assert values.shape == (1, 3) and indices.tolist() == [[0, 1, 0]]
    assert isinstance(x.max(), dlcore.Tensor)


@pytest.mark.parametrize("value,expected", [([0.0], False), ([2.0], True), ([[0]], False)])
def test_bool_of_one_element(value, expected):
    assert bool(dlcore.tensor(value)) is expected


def test_python_conversions():
    assert float(dlcore.tensor([2.5])) == 2.5 and int(dlcore.tensor(3.9)) == 3
    assert [10, 20, 30][dlcore.tensor(1)] == 20 and dlcore.tensor([2]).__index__() == 2
    for fn in (bool, float, int):
        with pytest.raises(dlcore.ShapeError, match="ambiguous"):
            fn(dlcore.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="integer"):
        [1, 2][dlcore.tensor(1.0)]


def test_numpy_asarray_gives_the_numeric_array():
    host = {"device": "cpu"}  # implicit conversion is for host tensors (tests/test_namespace.py has cuda's refusal)
    t = dlcore.tensor([[1.0, 2.0]], requires_grad=True, **host)
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.tolist() == [[1.0, 2.0]]
    assert np.asarray(dlcore.tensor([1, 2], **host), dtype=np.float64).dtype == np.float64
    assert np.array([dlcore.tensor(1.0, **host), dlcore.tensor(2.0, **host)]).dtype == np.float32


def test_nested_list_and_mask_indexing_backward():
    torch = _torch()
    grads = []
    for lib in (dlcore, torch):
        x = lib.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, 6.0]], requires_grad=True)
        y = x[[[0, 1], [1, 1]]].sum() + (x[x > 0] * 2).sum() + x[lib.tensor([True, False])].sum()
        y.backward()
        grads.append((y.item(), x.grad.tolist()))
    assert grads[0] == grads[1]


# --------------------------------------------------------------------------- creation (issue 11, items 4 and 5)
def test_tensor_creation_refuses_ragged_and_non_numeric_data():
    with pytest.raises(dlcore.ShapeError, match="ragged"):
        dlcore.tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(dlcore.DTypeError, match="numbers"):
        dlcore.tensor(["a", "b"])
    with pytest.raises(dlcore.DTypeError, match="numbers"):
        dlcore.tensor([object()])
    with pytest.raises(dlcore.DTypeError):
        dlcore.tensor(np.array(["x"]))


def test_float_only_ops_promote_integer_tensors():
    i = dlcore.tensor([0, 1, 2])
    assert i.exp().dtype == np.float32 and i.sigmoid().dtype == np.float32
    assert i.sigmoid().tolist()[1] == pytest.approx(0.7310586)  # not truncated to an integer
    assert (i / 2).tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(dlcore.DTypeError, match="floating point"):
        i.mean()


def test_reductions_with_dim_tuple_and_keepdim_aliases():
    x = dlcore.ones(2, 3, 4)
    assert x.sum(dim=(0, -1)).tolist() == [8.0, 8.0, 8.0]
    assert x.sum(axis=(0, 2), keepdims=True).shape == (1, 3, 1)
    assert x.mean([0, 1], keepdim=True).shape == (1, 1, 4)
    with pytest.raises(IndexError, match="out of range"):
        x.sum(dim=3)
    with pytest.raises(TypeError, match="both dim and its alias"):
        x.sum(dim=0, axis=0)


def test_core_semantics_on_each_device(device):
    """The same idioms on CPU and (when a GPU is there) CUDA through CuPy: values equal the CPU's."""
    def run(dev):
        x = dlcore.tensor([[1.0, -2.0, 3.0], [4.0, 0.5, -6.0]], device=dev, requires_grad=True)
        w = dlcore.ones(3, device=dev, requires_grad=True)
        h = x * w
        h += 1.0
        values, indices = h.max(1)
        out = values.sum() + h[[[0, 1], [1, 2]]].sum() + h[h > 0].sum() + h.transpose(0, 1).gather(0, dlcore.tensor(
            [[1, 0]], device=dev)).sum() + (h ** 2).mean(dim=(0, -1)) + dlcore.logsumexp(h, 1).sum()
        out.backward()
        with dlcore.no_grad():
            w -= 0.1 * w.grad
        return [out.item(), indices.cpu().tolist(), x.grad.cpu().tolist(), w.cpu().tolist()]

    assert np.allclose(np.concatenate([np.ravel(v) for v in run(device)]),
                       np.concatenate([np.ravel(v) for v in run("cpu")]), rtol=1e-5)


def test_bare_no_grad_decorator_masked_fill_and_new_tensors_like_torch():
    torch = _torch()
    results = []
    for lib in (dlcore, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)

        @lib.no_grad
        def double(t):
            return t * 2

        y = x * 1
        y.masked_fill_(y > 1.5, 0.0)
        y.sum().backward()
        results.append((double(x).requires_grad, y.tolist(), x.grad.tolist(), x.new_zeros(2).tolist(),
                        x.new_ones((1, 2)).shape == (1, 2), str(x.new_full((2,), 3).dtype).split(".")[-1],
                        x.new_tensor([1, 2]).tolist()))
    assert results[0] == results[1]


def test_documented_differences_raise_instead_of_guessing():
    # PyTorch allows this (Add keeps no operand) by rebasing; dlcore refuses any in-place change of a
    # non-leaf after another op used it, so it can never follow a stale edge.
    x = dlcore.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = (y + 1).sum()
    y.mul_(2)
    with pytest.raises(AutogradError, match="modified by an inplace"):
        z.backward()
    assert dlcore.empty(3).tolist() == [0.0, 0.0, 0.0]  # empty() never shows stale memory


def test_parameter_methods_return_plain_tensors():
    p = dlcore.nn.Parameter(dlcore.tensor([[1.0, 3.0], [2.0, 0.0]]))
    assert p.argmax(1).tolist() == [1, 0] and p.max(1).indices.tolist() == [1, 0]
    assert p.isnan().tolist() == [[False, False], [False, False]]
    with dlcore.no_grad():
        p.copy_(dlcore.zeros(2, 2))
        p[0] = 1.0
    assert p.tolist() == [[1.0, 1.0], [0.0, 0.0]] and isinstance(p, dlcore.nn.Parameter)


def test_view_shares_memory_or_raises_like_torch():
    """view() never silently copies: a non-contiguous tensor that cannot be viewed raises, as in
    PyTorch, so a write through the view always reaches the base."""
    torch = _torch()
    for lib in (dlcore, torch):
        x = lib.arange(6.0).reshape(2, 3)
        v = x.view(3, 2)
        v[0, 0] = 9.0
        assert x[0, 0].item() == 9.0
        assert x[:, :1].view(2).tolist() == [9.0, 3.0]  # size-1 dims collapse into a view
        assert x.t().reshape(6).tolist() == [9.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    with pytest.raises(dlcore.ShapeError, match="use .reshape"):
        dlcore.arange(6.0).reshape(2, 3).t().view(6)
    with pytest.raises(RuntimeError, match="reshape"):
        torch.arange(6.0).reshape(2, 3).t().view(6)

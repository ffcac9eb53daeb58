"""Oracle: every tensor op and top-level function against PyTorch, float64, forward and every input gradient.

Each case is ``fn(lib, *tensors)`` written once in PyTorch's API and run with ``lib = torch`` and
``lib = dlcore``; the outputs are projected on a random direction and backpropagated, and every
input's gradient is compared. Shapes cover broadcasting, negative dims, 0-d and size-1 dims.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dlcore

torch = pytest.importorskip("torch")

rng = np.random.default_rng(0)


def _inputs(shapes, positive=False, distinct=True):
    out = []
    for s in shapes:
        a = rng.standard_normal(s)
        if distinct and a.size:  # avoid ties so max/min/abs gradients are defined
            a = a + np.arange(a.size).reshape(s) * 1e-3
        out.append(np.abs(a) + 0.5 if positive else a)
    return out


def _outputs(out):
    if isinstance(out, (tuple, list)):
        return [o for o in out]
    return [out]


def check_against_torch(fn, arrays, grad=True, atol=1e-10, rtol=1e-7):
    """Run ``fn`` with dlcore and torch on float64 copies of ``arrays``; compare values and gradients."""
    ours = [dlcore.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    out_ours, out_theirs = _outputs(fn(dlcore, *ours)), _outputs(fn(torch, *theirs))
    assert len(out_ours) == len(out_theirs)
    loss_ours, loss_theirs = None, None
    for o, t in zip(out_ours, out_theirs):
        if isinstance(t, torch.Tensor):
            assert o.shape == tuple(t.shape), (o.shape, tuple(t.shape))
            assert str(o.dtype) == str(t.dtype).replace("torch.", ""), (o.dtype, t.dtype)
            np.testing.assert_allclose(o.numpy(), t.detach().numpy(), atol=atol, rtol=rtol)
            if t.requires_grad:
                direction = rng.standard_normal(tuple(t.shape))
                lo = (o * dlcore.tensor(direction)).sum()
                lt = (t * torch.tensor(direction)).sum()
                loss_ours = lo if loss_ours is None else loss_ours + lo
                loss_theirs = lt if loss_theirs is None else loss_theirs + lt
        else:
            assert o == t
    if loss_theirs is None:
        return
    loss_ours.backward()
    loss_theirs.backward()
    for i, (o, t) in enumerate(zip(ours, theirs)):
        if t.grad is None:
            assert o.grad is None or not np.any(o.grad.numpy()), f"input {i}: torch has no gradient"
            continue
        assert o.grad is not None, f"input {i}: no gradient from dlcore"
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), atol=atol, rtol=rtol, err_msg=f"gradient of input {i}")


UNARY = {
    "neg": lambda m, x: -x,
    "exp": lambda m, x: m.exp(x),
    "sin": lambda m, x: m.sin(x),
    "cos": lambda m, x: x.cos(),
    "tanh": lambda m, x: m.tanh(x),
    "sigmoid": lambda m, x: x.sigmoid(),
    "relu": lambda m, x: m.relu(x),
    "abs": lambda m, x: m.abs(x),
    "sign": lambda m, x: m.sign(x) * x,
    "clamp": lambda m, x: m.clamp(x, min=-0.5, max=0.5),
    "clamp_min": lambda m, x: x.clamp(min=0.1),
    "pow3": lambda m, x: x ** 3,
    "pow_int_neg": lambda m, x: m.pow(x, 2) + x ** -2,
    "rpow": lambda m, x: 2.0 ** x,
    "rsub_rdiv": lambda m, x: (1.0 - x) / (x * x + 1.0),
    "square_mean": lambda m, x: (x * x).mean(),
    "clone": lambda m, x: x.clone() * 2,
    "T": lambda m, x: x.T * 1,
    "flatten": lambda m, x: m.flatten(x) * 1,
    "unsqueeze": lambda m, x: x.unsqueeze(-1) * 1,
    "where": lambda m, x: m.where(x > 0, x, x * x),
    "masked_fill": lambda m, x: x.masked_fill(x > 0.3, 0.0),
}
POSITIVE = {
    "log": lambda m, x: m.log(x),
    "log1p": lambda m, x: x.log1p(),
    "sqrt": lambda m, x: m.sqrt(x),
    "pow_frac": lambda m, x: x ** 0.5,
    "pow_tensor_exp": lambda m, x: x ** (x * 0.5),
}
SHAPES = [(), (1,), (4,), (2, 1, 3)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape):
    check_against_torch(UNARY[name], _inputs([shape]))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(POSITIVE))
def test_unary_positive_domain(name, shape):
    check_against_torch(POSITIVE[name], _inputs([shape], positive=True))


BINARY = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / (b * b + 1.0),
    "maximum": lambda m, a, b: m.maximum(a, b),
    "minimum": lambda m, a, b: a.minimum(b),
    "max_other": lambda m, a, b: m.max(a, b),
    "where": lambda m, a, b: m.where(a > b, a, b),
    "add_alpha": lambda m, a, b: a.add(b, alpha=2.0),
    "sub_alpha": lambda m, a, b: m.sub(a, b, alpha=0.5) if hasattr(m, "sub") else a.sub(b, alpha=0.5),
}
BROADCAST = [((3,), (3,)), ((2, 3), (3,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((1,), ())]


@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasting(name, shapes):
    fn = BINARY[name]
    if name == "sub_alpha":
        fn = lambda m, a, b: a.sub(b, alpha=0.5)  # noqa: E731
    check_against_torch(fn, _inputs(shapes))


def test_pow_tensor_tensor_negative_bases_integer_exponents_and_zero_bases():
    base = np.array([-2.0, -1.5, 0.0, 0.0, 2.0, 3.0])
    exponent = np.array([3.0, 2.0, 2.0, 0.0, -1.0, 0.5])
    check_against_torch(lambda m, a, b: a ** b, [base, exponent])
    check_against_torch(lambda m, a: 0.0 ** a, [np.array([0.0, 1.0, 2.0])])
    check_against_torch(lambda m, a: (-2.0) ** a, [np.array([0.0, 1.0, 2.0, 3.0])])


def test_pow_zero_exponent_has_zero_gradient_at_zero():
    check_against_torch(lambda m, x: x ** 0, [np.array([0.0, 1.0, -2.0])])
    check_against_torch(lambda m, x: x ** 2, [np.array([0.0, 1.0])])


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 2)), ((4,), (4,)), ((4,), (4, 2)), ((3, 4), (4,)),
                                   ((2, 1, 3, 4), (3, 4, 2))], ids=str)
def test_matmul(sa, sb):
    check_against_torch(lambda m, a, b: a @ b, _inputs([sa, sb]))
    check_against_torch(lambda m, a, b: m.matmul(a, b), _inputs([sa, sb]))


REDUCTIONS = {
    "sum": lambda m, x, d, k: m.sum(x) if d is None else m.sum(x, dim=d, keepdim=k),
    "mean": lambda m, x, d, k: x.mean() if d is None else x.mean(dim=d, keepdim=k),
    "var": lambda m, x, d, k: x.var() if d is None else x.var(dim=d, keepdim=k),
    "var_biased": lambda m, x, d, k: x.var(correction=0) if d is None else x.var(dim=d, keepdim=k, correction=0),
    "std": lambda m, x, d, k: m.std(x) if d is None else m.std(x, dim=d, keepdim=k),
    "logsumexp": lambda m, x, d, k: m.logsumexp(x, dim=d if d is not None else tuple(range(x.dim())), keepdim=k),
    "norm": lambda m, x, d, k: x.norm() if d is None else x.norm(dim=d, keepdim=k),
    "norm1": lambda m, x, d, k: x.norm(p=1) if d is None else x.norm(p=1, dim=d, keepdim=k),
    "amax": lambda m, x, d, k: m.amax(x, dim=d if d is not None else (), keepdim=k),
    "amin": lambda m, x, d, k: x.amin(dim=d if d is not None else (), keepdim=k),
}
DIMS = [None, 0, -1, (0, -1)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_over_dims(name, dim, keepdim):
    check_against_torch(lambda m, x: REDUCTIONS[name](m, x, dim, keepdim), _inputs([(2, 3, 4)]))


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "logsumexp", "norm"])
def test_reductions_of_0d_and_size_1(name):
    for shape in [(), (1,), (1, 3)]:
        check_against_torch(lambda m, x: REDUCTIONS[name](m, x, 0 if shape else None, False), _inputs([shape]))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_along_dim_give_values_and_indices(op, dim, keepdim):
    check_against_torch(lambda m, x: tuple(getattr(x, op)(dim, keepdim)), _inputs([(3, 4)]))
    check_against_torch(lambda m, x: getattr(m, op)(x, dim=dim, keepdim=keepdim)[1], _inputs([(3, 4)]), grad=False)


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_propagate_nan_and_send_the_gradient_to_it(op):
    a = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])
    check_against_torch(lambda m, x: tuple(getattr(x, op)(1)), [a])
    check_against_torch(lambda m, x: getattr(x, op)(), [a])


def test_max_without_dim_shares_ties_evenly():
    check_against_torch(lambda m, x: x.max(), [np.array([1.0, 3.0, 3.0])])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_prod_and_cumsum(dim):
    a = _inputs([(3, 4)])[0]
    a[1, 2] = 0.0  # prod's gradient must be exact at a zero
    check_against_torch(lambda m, x: x.prod(dim), [a])
    check_against_torch(lambda m, x: m.prod(x), [a[:, :2]])
    check_against_torch(lambda m, x: m.cumsum(x, dim), [a])


@pytest.mark.parametrize("d0,d1", [(0, 1), (-1, 0), (1, -1), (2, 2)])
def test_transpose_swaps_two_dims(d0, d1):
    check_against_torch(lambda m, x: x.transpose(d0, d1) * 1, _inputs([(2, 3, 4)]))
    check_against_torch(lambda m, x: m.transpose(x, d0, d1) * 1, _inputs([(2, 3, 4)]))


@pytest.mark.parametrize("dims", [(-1, 0, 1), (2, 0, 1), (0, -2, -1)], ids=str)
def test_permute_with_negative_dims(dims):
    check_against_torch(lambda m, x: x.permute(*dims) * 1, _inputs([(2, 3, 4)]))
    check_against_torch(lambda m, x: m.permute(x, dims) * 1, _inputs([(2, 3, 4)]))


SHAPE_OPS = {
    "view": lambda m, x: x.view(3, -1) * 1,
    "view_as": lambda m, x: x.reshape(-1).view_as(x) * 1,
    "reshape_tuple": lambda m, x: m.reshape(x, (4, 6)) * 1,
    "flatten_1": lambda m, x: x.flatten(1) * 1,
    "flatten_0_1": lambda m, x: m.flatten(x, 0, 1) * 1,
    "squeeze": lambda m, x: x.unsqueeze(1).squeeze() * 1,
    "squeeze_dim": lambda m, x: m.squeeze(x.unsqueeze(0), 0) * 1,
    "unsqueeze_neg": lambda m, x: m.unsqueeze(x, -2) * 1,
    "expand": lambda m, x: x[:, :1].expand(-1, 5, 4) * 1,
    "expand_as": lambda m, x: x[:1].expand_as(x) * 1,
    "repeat": lambda m, x: x.repeat(2, 1, 2) * 1,
    "repeat_more_dims": lambda m, x: x.repeat(2, 1, 1, 1) * 1,
    "mT": lambda m, x: x.mT * 1,
    "cat": lambda m, x: m.cat([x, x * 2], dim=-1),
    "cat_0": lambda m, x: m.cat([x, x[:1]]),
    "stack": lambda m, x: m.stack([x, x * 3], dim=1),
    "stack_neg": lambda m, x: m.stack([x, x], dim=-1),
    "split": lambda m, x: tuple(p * 1 for p in m.split(x, 2, dim=2)),
    "split_sizes": lambda m, x: tuple(p * 1 for p in x.split([1, 2], dim=1)),
    "chunk": lambda m, x: tuple(p * 1 for p in m.chunk(x, 2, dim=-1)),
    "getitem_slices": lambda m, x: x[1:, ::2, -1] * 1,
    "getitem_none_ellipsis": lambda m, x: x[None, ..., 0] * 1,
    "getitem_int_list": lambda m, x: x[[0, 1, 1]] * 1,
    "getitem_nested_list": lambda m, x: x[[[0, 1], [1, 1]]] * 1,
    "getitem_bool_mask": lambda m, x: x[x > 0] * 1,
    "getitem_mask_rows": lambda m, x: x[m.tensor([True, False])] * 1,
    "getitem_tensor_index": lambda m, x: x[:, m.tensor([2, 0, 2])] * 1,
    "gather": lambda m, x: m.gather(x, 2, m.tensor([[[0], [3], [1]], [[2], [2], [0]]])),
    "index_select": lambda m, x: x.index_select(-1, m.tensor([3, 0, 3])),
    "masked_fill": lambda m, x: m.masked_fill(x, x < 0, 1.5),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_and_indexing_ops(name):
    check_against_torch(SHAPE_OPS[name], _inputs([(2, 3, 4)]))


def test_int_inputs_promote_like_torch():
    ints = np.array([[1, 2], [3, 4]])
    for fn in [lambda m, x: m.exp(x), lambda m, x: x.sqrt(), lambda m, x: x / 2, lambda m, x: x / x,
               lambda m, x: x * 1.5, lambda m, x: x + 1, lambda m, x: x.sum(), lambda m, x: x.sum(0),
               lambda m, x: x.prod(), lambda m, x: x.sigmoid(), lambda m, x: m.cumsum(x, 1), lambda m, x: x.max(1),
               lambda m, x: x.argmax(), lambda m, x: m.argmin(x, 0, keepdim=True), lambda m, x: x ** 2,
               lambda m, x: x.float().mean(), lambda m, x: x + m.tensor(2.5, dtype=m.float64),
               lambda m, x: x.double() + m.tensor(1.0, dtype=m.float32), lambda m, x: x > 2, lambda m, x: x.clamp(min=2)]:
        check_against_torch(fn, [ints])


def test_float32_stays_float32():
    a = rng.standard_normal((2, 3)).astype(np.float32)
    for fn in [lambda m, x: x * 2.0, lambda m, x: 2 ** x, lambda m, x: x ** 2, lambda m, x: x + np.float64(1.0),
               lambda m, x: x + m.tensor(1.0, dtype=m.float64), lambda m, x: m.where(x > 0, x, 0.0)]:
        check_against_torch(fn, [a], atol=1e-6, rtol=1e-5)


def test_zero_size_reductions_follow_torch():
    empty = np.zeros((0, 3))
    for fn in [lambda m, x: x.sum(0), lambda m, x: x.sum(), lambda m, x: x.mean(0), lambda m, x: x.prod(1),
               lambda m, x: x.amax(1), lambda m, x: x.mean(), lambda m, x: m.logsumexp(x, 0)]:
        check_against_torch(fn, [empty], grad=False)
    with pytest.raises(dlcore.ShapeError, match="non-zero size"):
        dlcore.tensor(empty).max(0)
    with pytest.raises(dlcore.ShapeError, match="non-zero size"):
        dlcore.tensor(empty).argmax(0)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_random_broadcast_shapes_and_dims(data):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    other = data.draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=3, min_side=1, max_side=3))
    name = data.draw(st.sampled_from(["add", "mul", "div", "maximum", "where"]))
    check_against_torch(BINARY[name], _inputs([shape, other]))
    if len(shape):
        dim = data.draw(st.integers(-len(shape), len(shape) - 1))
        keepdim = data.draw(st.booleans())
        op = data.draw(st.sampled_from(["sum", "mean", "logsumexp", "amax", "norm"]))
        check_against_torch(lambda m, x: REDUCTIONS[op](m, x, dim, keepdim), _inputs([shape]))
        check_against_torch(lambda m, x: x.max(dim, keepdim)[0] + x.cumsum(dim).sum(dim, keepdim), _inputs([shape]))


@pytest.mark.parametrize("name,fn", [
    ("norm_inf", lambda m, x: x.norm(p=float("inf"), dim=1)),
    ("norm_3", lambda m, x: m.norm(x, p=3, dim=-1, keepdim=True)),
    ("var_unbiased_false", lambda m, x: x.var(1, unbiased=False)),
    ("std_keepdim", lambda m, x: x.std(dim=0, keepdim=True)),
    ("sum_dtype", lambda m, x: x.sum(1, dtype=m.float32).double()),
    ("where_scalar_other", lambda m, x: m.where(x > 0, x, 0.0)),
    ("cat_promotes", lambda m, x: m.cat([x, m.ones(2, 1, dtype=m.int64)], dim=1)),
    ("clamp_tensor_bounds", lambda m, x: x.clamp(min=m.zeros(3, dtype=m.float64), max=m.ones(3, dtype=m.float64))),
    ("t", lambda m, x: x.t() * 1),
    ("mean_dim_list", lambda m, x: x.mean([0, 1])),
    ("pow_int_tensor_exponent", lambda m, x: x ** m.tensor([1, 2, 3])),
    ("log_softmax_method", lambda m, x: x.log_softmax(0)),
    ("softmax_fn", lambda m, x: m.softmax(x, dim=-1)),
])
def test_more_forms(name, fn):
    check_against_torch(fn, _inputs([(2, 3)]))

"""Top-level math and shape functions under PyTorch's names: ``dlcore.exp(x)``, ``dlcore.cat([a, b])``, ...

Most are the Tensor method of the same name applied to ``input`` (a Tensor, array, list or number)::

    >>> import dlcore
    >>> x = dlcore.tensor([[1.0, 5.0], [3.0, 2.0]])
    >>> dlcore.max(x, 1).indices.tolist(), dlcore.sum(x, dim=0).tolist()
    ([1, 0], [4.0, 7.0])
    >>> dlcore.cat([x, x], dim=1).shape, dlcore.stack([x, x]).shape
    ((2, 4), (2, 2, 2))
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .autograd import AutogradError, no_grad
from .creation import as_tensor
from .dtypes import result_dtype
from .errors import DTypeError, ShapeError
from .ops_reduce import normalize_axis
from .ops_shape import Cat
from .tensor import Tensor


def _into(out: Any, result: Any, name: str) -> Tensor:
    """PyTorch's ``out=``: write ``result`` into the Tensor ``out`` (resized when its shape differs,
    cast to its dtype); like PyTorch, refused when the result would need a gradient."""
    if not isinstance(out, Tensor) or not isinstance(result, Tensor):
        raise TypeError(f"{name}(): out= expected a Tensor for a Tensor result, got {type(out).__name__}")
    if result.requires_grad:
        raise AutogradError(f"{name}(): functions with out=... arguments don't support automatic differentiation, "
                            "but one of the arguments requires grad")
    if not np.can_cast(result.dtype, out.dtype, "same_kind"):
        raise DTypeError(f"{name}(): result type {result.dtype} can't be cast to the desired output type {out.dtype}")
    if out.shape != result.shape:
        out.array = out.xp.empty(result.shape, out.dtype)
    with no_grad():
        return out.copy_(result)


def _method(name: str, example: str, result: str) -> Callable:
    """A top-level function that calls ``Tensor.<name>`` on ``input`` (PyTorch's ``out=`` accepted),
    with a doctest example."""

    def fn(input: Any, *args: Any, out: Any = None, **kwargs: Any) -> Any:
        value = getattr(as_tensor(input), name)(*args, **kwargs)
        return value if out is None else _into(out, value, name)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"PyTorch's ``{name}``: the same as ``input.{name}(...)`` (see :class:`dlcore.Tensor`).\n\n"
                  f"    >>> import dlcore\n    >>> {example}\n    {result}\n")
    return fn


# One row a function: its name, a doctest example and the example's result.
_EXAMPLES = """
exp           dlcore.exp(dlcore.tensor([0.0])).tolist()  ->  [1.0]
log           dlcore.log(dlcore.tensor([1.0])).tolist()  ->  [0.0]
log1p         dlcore.log1p(dlcore.tensor([0.0])).tolist()  ->  [0.0]
sqrt          dlcore.sqrt(dlcore.tensor([4.0])).tolist()  ->  [2.0]
abs           dlcore.abs(dlcore.tensor([-2.0])).tolist()  ->  [2.0]
sign          dlcore.sign(dlcore.tensor([-2.0, 0.0])).tolist()  ->  [-1.0, 0.0]
sin           dlcore.sin(dlcore.tensor([0.0])).tolist()  ->  [0.0]
cos           dlcore.cos(dlcore.tensor([0.0])).tolist()  ->  [1.0]
tanh          dlcore.tanh(dlcore.tensor([0.0])).tolist()  ->  [0.0]
sigmoid       dlcore.sigmoid(dlcore.tensor([0.0])).tolist()  ->  [0.5]
relu          dlcore.relu(dlcore.tensor([-1.0, 2.0])).tolist()  ->  [0.0, 2.0]
softmax       dlcore.softmax(dlcore.tensor([0.0, 0.0]), dim=0).tolist()  ->  [0.5, 0.5]
log_softmax   dlcore.log_softmax(dlcore.tensor([0.0]), dim=0).tolist()  ->  [0.0]
clamp         dlcore.clamp(dlcore.tensor([-1.0, 2.0]), min=0.0).tolist()  ->  [0.0, 2.0]
clip          dlcore.clip(dlcore.tensor([-1.0, 2.0]), max=1.0).tolist()  ->  [-1.0, 1.0]
pow           dlcore.pow(dlcore.tensor([-2.0]), 3).tolist()  ->  [-8.0]
maximum       dlcore.maximum(dlcore.tensor([1, 5]), dlcore.tensor([3, 2])).tolist()  ->  [3, 5]
minimum       dlcore.minimum(dlcore.tensor([1, 5]), dlcore.tensor([3, 2])).tolist()  ->  [1, 2]
flatten       dlcore.flatten(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]])).shape  ->  (4,)
reshape       dlcore.reshape(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]]), (4, 1)).shape  ->  (4, 1)
squeeze       dlcore.squeeze(dlcore.zeros(2, 1)).shape  ->  (2,)
unsqueeze     dlcore.unsqueeze(dlcore.zeros(2), 0).shape  ->  (1, 2)
transpose     dlcore.transpose(dlcore.zeros(2, 3), 0, 1).shape  ->  (3, 2)
permute       dlcore.permute(dlcore.zeros(2, 3, 4), (2, 0, 1)).shape  ->  (4, 2, 3)
split         [t.shape for t in dlcore.split(dlcore.zeros(5), 2)]  ->  [(2,), (2,), (1,)]
chunk         [t.shape for t in dlcore.chunk(dlcore.zeros(4), 2)]  ->  [(2,), (2,)]
sum           dlcore.sum(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]]), dim=1).tolist()  ->  [-1.0, 7.0]
mean          dlcore.mean(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]])).item()  ->  1.5
max           dlcore.max(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]]), dim=0).values.tolist()  ->  [3.0, 4.0]
min           dlcore.min(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]])).item()  ->  -2.0
amax          dlcore.amax(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]]), dim=(0, 1)).item()  ->  4.0
amin          dlcore.amin(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]]), dim=1).tolist()  ->  [-2.0, 3.0]
argmax        dlcore.argmax(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]]), dim=1).tolist()  ->  [0, 1]
argmin        dlcore.argmin(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]])).item()  ->  1
std           dlcore.std(dlcore.tensor([1.0, 3.0])).item()  ->  1.4142135381698608
var           dlcore.var(dlcore.tensor([1.0, 3.0]), correction=0).item()  ->  1.0
prod          dlcore.prod(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]])).item()  ->  -24.0
norm          dlcore.norm(dlcore.tensor([3.0, 4.0])).item()  ->  5.0
logsumexp     dlcore.logsumexp(dlcore.tensor([0.0, 0.0]), dim=0).item()  ->  0.6931471824645996
sort          dlcore.sort(dlcore.tensor([3.0, 1.0, 2.0])).indices.tolist()  ->  [1, 2, 0]
argsort       dlcore.argsort(dlcore.tensor([3.0, 1.0, 2.0]), descending=True).tolist()  ->  [0, 2, 1]
msort         dlcore.msort(dlcore.tensor([[2.0], [1.0]])).tolist()  ->  [[1.0], [2.0]]
topk          dlcore.topk(dlcore.tensor([3.0, 1.0, 2.0]), 2).values.tolist()  ->  [3.0, 2.0]
add           dlcore.add(dlcore.tensor([1.0]), dlcore.tensor([2.0]), alpha=10).tolist()  ->  [21.0]
sub           dlcore.sub(dlcore.tensor([1.0]), 2).tolist()  ->  [-1.0]
mul           dlcore.mul(dlcore.tensor([3.0]), 2).tolist()  ->  [6.0]
div           dlcore.div(dlcore.tensor([3]), 2).tolist()  ->  [1.5]
true_divide   dlcore.true_divide(dlcore.tensor([3]), 2).tolist()  ->  [1.5]
mm            dlcore.mm(dlcore.ones(2, 3), dlcore.ones(3, 1)).tolist()  ->  [[3.0], [3.0]]
bmm           dlcore.bmm(dlcore.ones(4, 2, 3), dlcore.ones(4, 3, 5)).shape  ->  (4, 2, 5)
outer         dlcore.outer(dlcore.tensor([1.0, 2.0]), dlcore.tensor([3.0])).tolist()  ->  [[3.0], [6.0]]
square        dlcore.square(dlcore.tensor([-3.0])).tolist()  ->  [9.0]
rsqrt         dlcore.rsqrt(dlcore.tensor([4.0])).tolist()  ->  [0.5]
reciprocal    dlcore.reciprocal(dlcore.tensor([4])).tolist()  ->  [0.25]
neg           dlcore.neg(dlcore.tensor([1.0])).tolist()  ->  [-1.0]
negative      dlcore.negative(dlcore.tensor([1.0])).tolist()  ->  [-1.0]
floor         dlcore.floor(dlcore.tensor([-1.5])).tolist()  ->  [-2.0]
ceil          dlcore.ceil(dlcore.tensor([-1.5])).tolist()  ->  [-1.0]
round         dlcore.round(dlcore.tensor([2.5, 0.125]), decimals=0).tolist()  ->  [2.0, 0.0]
trunc         dlcore.trunc(dlcore.tensor([-1.5])).tolist()  ->  [-1.0]
log2          dlcore.log2(dlcore.tensor([8.0])).tolist()  ->  [3.0]
log10         dlcore.log10(dlcore.tensor([100.0], dtype=dlcore.float64)).tolist()  ->  [2.0]
tan           dlcore.tan(dlcore.tensor([0.0])).tolist()  ->  [0.0]
erf           dlcore.erf(dlcore.tensor([0.0])).tolist()  ->  [0.0]
flip          dlcore.flip(dlcore.tensor([1, 2, 3]), [0]).tolist()  ->  [3, 2, 1]
roll          dlcore.roll(dlcore.tensor([1, 2, 3]), 1).tolist()  ->  [3, 1, 2]
tril          dlcore.tril(dlcore.ones(2, 2)).tolist()  ->  [[1.0, 0.0], [1.0, 1.0]]
triu          dlcore.triu(dlcore.ones(2, 2), 1).tolist()  ->  [[0.0, 1.0], [0.0, 0.0]]
nonzero       dlcore.nonzero(dlcore.tensor([0, 3, 0, 4])).tolist()  ->  [[1], [3]]
addmm         dlcore.addmm(dlcore.zeros(2, 2), dlcore.ones(2, 3), dlcore.ones(3, 2), alpha=2).tolist()  ->  [[6.0, 6.0], [6.0, 6.0]]
diagonal      dlcore.diagonal(dlcore.tensor([[1, 2], [3, 4]]), 1).tolist()  ->  [2]
diag          dlcore.diag(dlcore.tensor([1, 2])).tolist()  ->  [[1, 0], [0, 2]]
trace         dlcore.trace(dlcore.tensor([[1.0, 2.0], [3.0, 4.0]])).item()  ->  5.0
var_mean      [t.item() for t in dlcore.var_mean(dlcore.tensor([1.0, 3.0]))]  ->  [2.0, 2.0]
std_mean      [t.item() for t in dlcore.std_mean(dlcore.tensor([1.0, 3.0]), correction=0)]  ->  [1.0, 2.0]
unique        dlcore.unique(dlcore.tensor([3, 1, 3])).tolist()  ->  [1, 3]
cumsum        dlcore.cumsum(dlcore.tensor([1, 2, 3]), dim=0).tolist()  ->  [1, 3, 6]
isnan         dlcore.isnan(dlcore.tensor([1.0, float('nan')])).tolist()  ->  [False, True]
isfinite      dlcore.isfinite(dlcore.tensor([1.0, float('inf')])).tolist()  ->  [True, False]
isinf         dlcore.isinf(dlcore.tensor([1.0, float('inf')])).tolist()  ->  [False, True]
allclose      dlcore.allclose(dlcore.tensor([1.0]), dlcore.tensor([1.0 + 1e-9]))  ->  True
equal         dlcore.equal(dlcore.tensor([1, 2]), dlcore.tensor([1, 2]))  ->  True
matmul        dlcore.matmul(dlcore.ones(2, 3), dlcore.ones(3)).tolist()  ->  [3.0, 3.0]
masked_fill   dlcore.masked_fill(dlcore.zeros(2), dlcore.tensor([True, False]), 1.0).tolist()  ->  [1.0, 0.0]
gather        dlcore.gather(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]]), 1, dlcore.tensor([[1], [0]])).tolist()  ->  [[-2.0], [3.0]]
index_select  dlcore.index_select(dlcore.tensor([[1.0, -2.0], [3.0, 4.0]]), 0, dlcore.tensor([1])).tolist()  ->  [[3.0, 4.0]]
clone         dlcore.clone(dlcore.tensor([1.0])).tolist()  ->  [1.0]
numel         dlcore.numel(dlcore.zeros(2, 3))  ->  6
logical_and   dlcore.logical_and(dlcore.tensor([True, True]), dlcore.tensor([True, False])).tolist()  ->  [True, False]
logical_or    dlcore.logical_or(dlcore.tensor([True, False]), dlcore.tensor([False, False])).tolist()  ->  [True, False]
logical_not   dlcore.logical_not(dlcore.tensor([True])).tolist()  ->  [False]
eq            dlcore.eq(dlcore.tensor([1, 2]), 2).tolist()  ->  [False, True]
"""

for _row in _EXAMPLES.strip().splitlines():
    _name, _rest = _row.split(None, 1)
    _example, _result = _rest.split("  ->  ")
    globals()[_name] = _method(_name, _example, _result)


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """``input`` where ``condition`` holds, else ``other``; with only a condition, the indices of its True values.

    >>> import dlcore
    >>> dlcore.where(dlcore.tensor([True, False]), dlcore.tensor([1.0, 2.0]), 0.0).tolist()
    [1.0, 0.0]
    """
    cond = as_tensor(condition)
    if input is None and other is None:
        return tuple(Tensor(i.astype(np.int64)) for i in cond.xp.nonzero(cond.array))
    if input is None or other is None:
        raise TypeError("where() expected condition, input and other (or only condition)")
    if not isinstance(input, Tensor):
        if not isinstance(other, Tensor):
            raise TypeError("where() expected input or other to be a Tensor")
        return other._wrap(input).where(cond, other)
    return input.where(cond, other)


def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dimension (PyTorch's dtype promotion applies).

    >>> import dlcore
    >>> dlcore.cat([dlcore.zeros(1, 2), dlcore.ones(2, 2)]).shape
    (3, 2)
    """
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat() expected a non-empty list of tensors")
    dim = dim if axis is None else axis
    tensors = [t for t in tensors if not (t.ndim == 1 and t.shape == (0,))] or tensors[:1]  # PyTorch skips empty 1-D
    ndims = {t.ndim for t in tensors}
    if len(ndims) > 1 or 0 in ndims:
        raise ShapeError(f"cat expected tensors with the same number of dims (at least 1), got shapes {[t.shape for t in tensors]}")
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = result_dtype(np.zeros(1, dt), t.array)
    tensors = [t.to(dtype=dt) for t in tensors]
    return Cat.apply(*tensors, axis=normalize_axis("cat", dim, tensors[0].ndim))


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors of one shape along a new dimension.

    >>> import dlcore
    >>> dlcore.stack([dlcore.zeros(2), dlcore.ones(2)], dim=1).shape
    (2, 2)
    """
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack() expected a non-empty list of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack expects each tensor to be equal size, got shapes {[t.shape for t in tensors]}")
    axis = normalize_axis("stack", dim, tensors[0].ndim + 1)
    axis = 0 if axis is None else axis
    return cat([t.unsqueeze(axis) for t in tensors], dim=axis)


def is_tensor(obj: Any) -> bool:
    """True for a dlcore Tensor.

    >>> import dlcore
    >>> dlcore.is_tensor(dlcore.zeros(1)), dlcore.is_tensor([1])
    (True, False)
    """
    return isinstance(obj, Tensor)

"""``default_collate`` and ``default_convert``: samples -> batches, as ``torch.utils.data``'s.

``default_collate`` stacks a list of samples field by field: Tensors and NumPy arrays are
stacked into a Tensor, Python floats become a float64 Tensor and ints an int64 Tensor (as in
PyTorch), strings stay a list, dicts/tuples/lists are collated per entry (a tuple becomes a
list, as in PyTorch). Ragged shapes or mixed types raise a clear error naming the sample.

    >>> import numpy as np
    >>> xb, yb = default_collate([(np.zeros(2, np.float32), 1), (np.ones(2, np.float32), 0)])
    >>> xb.shape, xb.dtype, yb.tolist()
    ((2, 2), dtype('float32'), [1, 0])
"""

from __future__ import annotations

import collections.abc
import numbers
from typing import Any

import numpy as np

from ..backend import get_array_module, is_gpu_array
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor

__all__ = ["default_collate", "default_convert"]


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, Tensor)) or is_gpu_array(x)


def _kind(x: Any) -> str:
    if _is_array(x):
        return "array"
    if isinstance(x, np.generic):
        return "numpy scalar"
    if isinstance(x, (bool, np.bool_)):
        return "bool"
    if isinstance(x, numbers.Integral):
        return "int"
    if isinstance(x, numbers.Real):
        return "float"
    if isinstance(x, (str, bytes)):
        return "str"
    if isinstance(x, collections.abc.Mapping):
        return "dict"
    if isinstance(x, collections.abc.Sequence):
        return "sequence"
    return type(x).__name__


def _stack(batch: list) -> Tensor:
    raws = [b.array if isinstance(b, Tensor) else b for b in batch]
    first = raws[0]
    if first.dtype.kind not in "biufc":
        raise DTypeError(f"default_collate: samples hold {first.dtype} arrays; only numeric arrays can be batched")
    for i, r in enumerate(raws):
        if r.shape != first.shape:
            raise ShapeError(f"default_collate: sample {i} has shape {tuple(r.shape)}, sample 0 has "
                             f"{tuple(first.shape)}; batch samples of one shape, or pass a collate_fn")
        if r.dtype != first.dtype:
            raise DTypeError(f"default_collate: sample {i} has dtype {r.dtype}, sample 0 has {first.dtype}")
    return Tensor(get_array_module(*raws).stack(raws))


def default_collate(batch: list) -> Any:
    """Merge a list of samples into a batch (see the module docstring for the rules).

    >>> default_collate([{"x": 1.5}, {"x": 2.5}])["x"].dtype
    dtype('float64')
    """
    if not isinstance(batch, (list, tuple)) or not batch:
        raise ShapeError(f"default_collate expected a non-empty list of samples, got {batch!r}"[:200])
    kinds = [_kind(b) for b in batch]
    for i, k in enumerate(kinds):
        if k != kinds[0]:
            raise DTypeError(f"default_collate: sample {i} is a {k}, sample 0 is a {kinds[0]}; "
                             f"every sample of a batch needs the same structure and types")
    elem = batch[0]
    kind = kinds[0]
    if kind == "array":
        return _stack(batch)
    if kind == "numpy scalar":
        return _stack([np.asarray(b) for b in batch])
    if kind == "float":
        return Tensor(np.asarray(batch, dtype=np.float64))
    if kind in ("int", "bool"):
        return Tensor(np.asarray(batch, dtype=np.int64 if kind == "int" else np.bool_))
    if kind == "str":
        return list(batch)
    if kind == "dict":
        keys = list(elem)
        for i, b in enumerate(batch):
            if list(b) != keys:
                raise ShapeError(f"default_collate: sample {i} has keys {list(b)}, sample 0 has {keys}")
        return {k: default_collate([b[k] for b in batch]) for k in keys}
    if kind == "sequence":
        size = len(elem)
        for i, b in enumerate(batch):
            if len(b) != size:
                raise ShapeError(f"default_collate: sample {i} has {len(b)} fields, sample 0 has {size}; "
                                 f"each sample of a batch needs the same number of fields")
        fields = [default_collate(list(field)) for field in zip(*batch)]
        if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple keeps its type
            return type(elem)(*fields)
        return fields
    raise DTypeError(f"default_collate: samples must hold Tensors, NumPy arrays, numbers, strings, dicts or "
                     f"lists; found {kind}")


def default_convert(data: Any) -> Any:
    """NumPy arrays (also inside dicts, tuples and lists) become Tensors; everything else stays.
    This is what a DataLoader with ``batch_size=None`` applies to each sample.

    >>> default_convert((np.ones(2), "a"))[0].shape
    (2,)
    """
    if isinstance(data, np.ndarray) and data.dtype.kind in "biufc":
        return Tensor(data)
    if isinstance(data, np.generic) and np.asarray(data).dtype.kind in "biufc":
        return Tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data

"""dtypes under PyTorch's names (``dlcore.float32``, ``dlcore.long``, ...) and PyTorch's type promotion.

A dlcore dtype is a ``numpy.dtype``, so ``t.dtype == dlcore.float32`` and ``numpy.float32`` both work::

    >>> import dlcore
    >>> dlcore.float is dlcore.float32, dlcore.long
    (True, dtype('int64'))
    >>> import builtins; to_dtype("double"), to_dtype(builtins.float)
    (dtype('float64'), dtype('float64'))
"""

from __future__ import annotations

import builtins
from typing import Any, Callable

import numpy as np

from .errors import DTypeError

float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
float16 = half = np.dtype(np.float16)
int64 = long = np.dtype(np.int64)
int32 = int = np.dtype(np.int32)
int16 = short = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)
complex64 = cfloat = np.dtype(np.complex64)
complex128 = cdouble = np.dtype(np.complex128)

try:  # NumPy has no bfloat16 of its own; ml_dtypes (when installed) adds one
    import ml_dtypes

    bfloat16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    bfloat16 = None

NAMES = {
    "float32": float32, "float": float32, "float64": float64, "double": float64, "float16": float16,
    "half": float16, "int64": int64, "long": int64, "int32": int32, "int": int32, "int16": int16,
    "short": int16, "int8": int8, "uint8": uint8, "bool": bool, "complex64": complex64,
    "complex128": complex128, "cfloat": complex64, "cdouble": complex128,
}
if bfloat16 is not None:
    NAMES["bfloat16"] = bfloat16

_PYTHON_TYPES = {builtins.float: float64, builtins.int: int64, builtins.bool: bool, builtins.complex: complex128}

_TENSOR_TYPES = {  # Tensor.type() strings, as PyTorch prints them
    "float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "int64": "LongTensor",
    "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor",
    "bfloat16": "BFloat16Tensor", "complex64": "ComplexFloatTensor", "complex128": "ComplexDoubleTensor",
}


def to_dtype(dtype: Any) -> np.dtype:
    """A numpy dtype from a dlcore/NumPy dtype, a name ("float32", "long", "torch.float") or a Python type.

    >>> to_dtype("torch.long")
    dtype('int64')
    """
    if isinstance(dtype, type) and dtype in _PYTHON_TYPES:
        return _PYTHON_TYPES[dtype]
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.").removeprefix("dlcore.")
        if name in NAMES:
            return NAMES[name]
    try:
        out = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"expected a dtype such as dlcore.float32 or 'int64', got {dtype!r}") from None
    if out.kind not in "biufc" and out != bfloat16:
        raise DTypeError(f"dlcore tensors hold numbers and booleans, got dtype {out} ({dtype!r})")
    return out


def cast_method(name: str) -> Callable:
    """PyTorch's cast method called ``name`` (``"float"``, ``"double"``, ``"long"``...), for Tensor
    and Module: ``self.to(dtype=<that dtype>)``."""
    dtype = to_dtype(name)

    def method(self: Any) -> Any:
        return self.to(dtype=dtype)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``self.to(dtype={dtype})``, as PyTorch's ``{name}()``."
    return method


def tensor_type_name(dtype: np.dtype, on_gpu: builtins.bool) -> str:
    """PyTorch's ``Tensor.type()`` string, e.g. ``torch.FloatTensor`` or ``torch.cuda.LongTensor``.

    >>> tensor_type_name(float32, False)
    'torch.FloatTensor'
    """
    return ("torch.cuda." if on_gpu else "torch.") + _TENSOR_TYPES.get(str(dtype), str(dtype))


def tensor_type_dtype(name: str) -> np.dtype:
    """The dtype of a ``Tensor.type()`` string: ``tensor_type_dtype("torch.LongTensor")`` is int64.

    >>> tensor_type_dtype("torch.cuda.FloatTensor")
    dtype('float32')
    """
    short = name.split(".")[-1]
    for key, value in _TENSOR_TYPES.items():
        if value == short:
            return np.dtype(NAMES.get(key, key))
    return to_dtype(name)


def category(dtype: np.dtype) -> builtins.int:
    """PyTorch's promotion category: 0 bool, 1 integer, 2 floating, 3 complex.

    >>> category(float32), category(int64)
    (2, 1)
    """
    return {"b": 0, "i": 1, "u": 1, "f": 2, "V": 2, "c": 3}[dtype.kind]


def result_dtype(a: Any, b: Any) -> np.dtype:
    """PyTorch's result dtype of a binary op on two raw arrays (0-d arrays count less than n-d ones).

    >>> result_dtype(np.zeros(2, np.int64), np.zeros(2, np.float32))
    dtype('float32')
    >>> result_dtype(np.zeros(2, np.float32), np.zeros((), np.float64))
    dtype('float32')
    """
    da, db = a.dtype, b.dtype
    if da == db:
        return da
    ca, cb = category(da), category(db)
    if (a.ndim == 0) == (b.ndim == 0):
        if ca == cb:
            return np.promote_types(da, db)
        return da if ca > cb else db
    dimmed, zero = (da, db) if b.ndim == 0 else (db, da)
    return zero if category(zero) > category(dimmed) else dimmed


def scalar_dtype(value: Any, dtype: np.dtype, default_float: np.dtype) -> np.dtype:
    """The dtype PyTorch gives ``tensor(dtype) op value`` for a Python number ``value``.

    >>> scalar_dtype(2.5, int64, float32), scalar_dtype(2, float16, float32)
    (dtype('float32'), dtype('float16'))
    """
    kind = 0 if isinstance(value, builtins.bool) else 1 if isinstance(value, builtins.int) else 2
    if isinstance(value, builtins.complex):
        kind = 3
    if kind <= category(dtype):
        return dtype
    return {1: int64, 2: default_float, 3: complex64 if default_float == float32 else complex128}[kind]

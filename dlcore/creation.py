"""Making tensors: ``tensor``, ``as_tensor``, ``from_numpy``, ``zeros``/``ones``/``full``/``empty`` (and
``*_like``), ``arange``, ``linspace``, ``eye``, and the random ``rand``/``randn``/``randint``/``randperm``/``normal``.

Python floats become the default dtype (float32) and ints int64, as in PyTorch::

    >>> import dlcore
    >>> dlcore.tensor([1.0, 2.0]).dtype, dlcore.tensor([0, 1]).dtype, dlcore.zeros(2, 3).shape
    (dtype('float32'), dtype('int64'), (2, 3))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import (
    Device,
    cpu_rng,
    default_device,
    default_dtype,
    device_of,
    get_array_module,
    is_gpu_array,
    to_device,
)
from .backend import device as parse_device
from .dtypes import to_dtype
from .errors import DTypeError, ShapeError
from .tensor import Tensor
from .tensor_methods import _shape_arg


def as_array(x: Any) -> Any:
    """The raw NumPy/CuPy array behind a Tensor, an array, a list or a number.

    Arrays are returned as they are; lists of Python floats become the default dtype
    (float32), as in :func:`dlcore.tensor`.

    >>> as_array([1.0, 2.0]).dtype
    dtype('float32')
    """
    if isinstance(x, Tensor):
        return x.array
    if isinstance(x, np.ndarray) or is_gpu_array(x):
        return x
    return _python_data(x)


def _python_data(data: Any) -> np.ndarray:
    """A NumPy array from Python data with PyTorch's dtypes; ragged or non-numeric data raise.

    NumPy scalars (``np.float64(1.0)``) keep their dtype, as in PyTorch.
    """
    if isinstance(data, np.generic) and data.dtype.kind in "biufc":
        return np.asarray(data)
    try:
        raw = np.asarray(data)
    except ValueError as exc:
        raise ShapeError(f"tensor() expected a rectangular nested list (every row the same length), got ragged data: "
                         f"{exc}") from None
    if raw.dtype.kind not in "biufc":
        raise DTypeError(f"tensor() expected numbers or booleans, got data of dtype {raw.dtype} "
                         f"(for example {raw.reshape(-1)[:1].tolist()!r})")
    if raw.dtype == np.float64:
        return raw.astype(default_dtype())
    if raw.dtype.kind in "iu":
        return raw.astype(np.int64)
    if raw.dtype == np.complex128:
        return raw.astype(np.complex64 if default_dtype() == np.float32 else np.complex128)
    return raw


def tensor(data: Any, *, dtype: Any = None, device: "str | Device | None" = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """Make a tensor from a list, a number, a NumPy/CuPy array or another tensor (always copies).

    Without ``device``, GPU data stays where it is and the rest goes to the default device.

    >>> tensor([[1, 2], [3, 4]], dtype=float).dtype
    dtype('float64')
    """
    raw = data.array if isinstance(data, Tensor) else data
    if not (isinstance(raw, np.ndarray) or is_gpu_array(raw)):
        raw = _python_data(raw)
    elif raw.dtype.kind not in "biufc" and str(raw.dtype) != "bfloat16":
        raise DTypeError(f"tensor() expected a numeric array, got dtype {raw.dtype}")
    target = parse_device(device) if device is not None else device_of(raw) if is_gpu_array(raw) else default_device()
    raw = to_device(raw, target)
    raw = get_array_module(raw).array(raw, dtype=to_dtype(dtype) if dtype is not None else raw.dtype, copy=True)
    return Tensor(raw, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: "str | Device | None" = None) -> Tensor:
    """``data`` itself if it is a Tensor already matching, else a Tensor (arrays wrapped without a copy).

    >>> import numpy as np
    >>> a = np.zeros(2); as_tensor(a).array is a
    True
    """
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if device is not None or dtype is not None else data
    if isinstance(data, np.ndarray) or is_gpu_array(data):
        out = Tensor(data)
        return out.to(device=device, dtype=dtype) if device is not None or dtype is not None else out
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing the NumPy array's memory (changes show in both), as PyTorch.

    >>> import numpy as np
    >>> a = np.arange(3.0); t = from_numpy(a); a[0] = 5; t.tolist()
    [5.0, 1.0, 2.0]
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biufc":
        raise DTypeError(f"from_numpy: can't convert an array of dtype {array.dtype}; it must hold numbers or booleans")
    return Tensor(array)


def _size_dtype(shape: tuple, dtype: Any, floating: bool = True) -> tuple:
    size = _shape_arg(shape)
    for n in size:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ShapeError(f"sizes must be non-negative ints, got {size}")
    return size, to_dtype(dtype) if dtype is not None else default_dtype() if floating else np.dtype(np.int64)


def _on(array: np.ndarray, device: Any, requires_grad: bool) -> Tensor:
    target = parse_device(device) if device is not None else default_device()
    return Tensor(to_device(array, target) if target.type != "cpu" else array, requires_grad=requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``fill_value``; the dtype follows the value (bool, int64 or the default float), as PyTorch.

    >>> full((2,), 7).tolist()
    [7, 7]
    """
    if dtype is None:
        dtype = _python_data(fill_value).dtype
    shape, dt = _size_dtype((size,), dtype)
    target = parse_device(device) if device is not None else default_device()
    return Tensor(target.xp.full(shape, fill_value, dtype=dt), requires_grad=requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    shape, dt = _size_dtype(size, dtype)
    return Tensor((parse_device(device) if device is not None else default_device()).xp.zeros(shape, dt),
                  requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: ``ones(2, 3)``."""
    shape, dt = _size_dtype(size, dtype)
    return Tensor((parse_device(device) if device is not None else default_device()).xp.ones(shape, dt),
                  requires_grad=requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (here: zeros, so nothing is ever read from stale memory)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def _like(fill: Any, input: Tensor, dtype: Any, device: Any, requires_grad: bool, value: Any = None) -> Tensor:
    dtype = input.dtype if dtype is None else dtype
    device = input.device if device is None else device
    if value is not None:
        return fill(input.shape, value, dtype=dtype, device=device, requires_grad=requires_grad)
    return fill(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``input``'s shape, dtype and device.

    >>> zeros_like(ones(2)).tolist()
    [0.0, 0.0]
    """
    return _like(zeros, input, dtype, device, requires_grad)


def ones_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``input``'s shape, dtype and device."""
    return _like(ones, input, dtype, device, requires_grad)


def empty_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised (here: zero) tensor like ``input``."""
    return _like(zeros, input, dtype, device, requires_grad)


def full_like(input: Tensor, fill_value: Any, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    """``fill_value`` with ``input``'s shape, dtype and device."""
    return _like(full, input, dtype, device, requires_grad, value=fill_value)


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """``[start, end)`` in steps: int64 for int arguments, else the default float dtype (as PyTorch).

    >>> arange(3).tolist(), arange(0, 1, 0.5).dtype
    ([0, 1, 2], dtype('float32'))
    """
    if end is None:
        start, end = 0, start
    values = np.arange(start, end, step)
    if dtype is None:
        dtype = np.int64 if values.dtype.kind in "iu" else default_dtype()
    return _on(values.astype(to_dtype(dtype)), device, requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    >>> linspace(0, 1, 3).tolist()
    [0.0, 0.5, 1.0]
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace expected a non-negative int number of steps, got {steps!r}")
    return _on(np.linspace(start, end, steps).astype(to_dtype(dtype) if dtype else default_dtype()), device, requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (``n`` x ``m``).

    >>> eye(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    _size_dtype((n, n if m is None else m), dtype)
    return _on(np.eye(n, m, dtype=to_dtype(dtype) if dtype else default_dtype()), device, requires_grad)


def _no_generator(op: str, kwargs: dict) -> None:
    if kwargs.get("generator") is not None:
        raise TypeError(f"{op}(generator=...) is not supported: dlcore uses one seeded generator (dlcore.manual_seed)")
    extra = set(kwargs) - {"generator"}
    if extra:
        raise TypeError(f"{op}() got unsupported argument(s) {sorted(extra)}")


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kwargs: Any) -> Tensor:
    """Standard normal samples from dlcore's seeded generator: ``randn(2, 3)``."""
    _no_generator("randn", kwargs)
    shape, dt = _size_dtype(size, dtype)
    return _on(cpu_rng().standard_normal(shape).astype(dt), device, requires_grad)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kwargs: Any) -> Tensor:
    """Uniform samples in [0, 1): ``rand(2, 3)``."""
    _no_generator("rand", kwargs)
    shape, dt = _size_dtype(size, dtype)
    return _on(cpu_rng().random(shape).astype(dt), device, requires_grad)


def rand_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) with ``input``'s shape, dtype and device.

    >>> rand_like(zeros(2, 3)).shape
    (2, 3)
    """
    return _like(rand, input, dtype, device, requires_grad)


def randn_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples with ``input``'s shape, dtype and device."""
    return _like(randn, input, dtype, device, requires_grad)


def randint(*args: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kwargs: Any) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: int64 samples in ``[low, high)``.

    >>> randint(0, 3, (4,)).dtype
    dtype('int64')
    """
    size = kwargs.pop("size", None)
    _no_generator("randint", kwargs)
    if size is None:
        *bounds, size = args
    else:
        bounds = list(args)
    low, high = (0, bounds[0]) if len(bounds) == 1 else bounds
    if high <= low:
        raise ValueError(f"randint expects low < high, got low={low}, high={high}")
    shape, dt = _size_dtype((size,), dtype, floating=False)
    return _on(cpu_rng().integers(low, high, size=shape).astype(dt), device, requires_grad)


def randperm(n: int, *, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kwargs: Any) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64).

    >>> sorted(randperm(4).tolist())
    [0, 1, 2, 3]
    """
    _no_generator("randperm", kwargs)
    _size_dtype((n,), dtype)
    return _on(cpu_rng().permutation(n).astype(to_dtype(dtype) if dtype else np.int64), device, requires_grad)


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False, **kwargs: Any) -> Tensor:
    """Normal samples: ``normal(mean, std, size)`` with floats, or element-wise with tensor mean/std.

    >>> normal(0.0, 1.0, (2, 3)).shape
    (2, 3)
    """
    _no_generator("normal", kwargs)
    m = mean.array if isinstance(mean, Tensor) else mean
    s = std.array if isinstance(std, Tensor) else std
    if size is None:
        size = np.broadcast_shapes(np.shape(m), np.shape(s))
        like = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
        if like is None:
            raise TypeError("normal() with float mean and std needs a size")
        device = like.device if device is None else device
        dtype = like.dtype if dtype is None else dtype
        m, s = np.asarray(m if not is_gpu_array(m) else m.get()), np.asarray(s if not is_gpu_array(s) else s.get())
    shape, dt = _size_dtype((size,), dtype)
    if np.any(np.asarray(s) < 0):
        raise ValueError(f"normal expects std >= 0.0, got {std}")
    return _on((cpu_rng().standard_normal(shape) * s + m).astype(dt), device, requires_grad)

"""``ndarray``: the emulated CUDA device array, a NumPy buffer that refuses to mix with NumPy.

It stands for ``cupy.ndarray`` under ``DLCORE_CUDA_EMULATE=1``. It is *not* a NumPy subclass
and has no usable ``__array__``: a NumPy array met in an operation, a NumPy function given a
device array, ``np.asarray(device_array)`` -- each raises :class:`DeviceMixError` (a
``DeviceError`` that is also a ``TypeError``, like CuPy's refusal), never a silent host copy.
Moving data is explicit, as with CuPy: ``.get()`` / ``asnumpy`` to the host, ``asarray`` to
the device.

    >>> import numpy as np
    >>> from dlcore.emulator.device_array import ndarray
    >>> a = ndarray(np.arange(3.0))
    >>> (a * 2).get()
    array([0., 2., 4.])
    >>> a + np.ones(3)
    Traceback (most recent call last):
    ...
    dlcore.emulator.device_array.DeviceMixError: an emulated CUDA array met a NumPy array (ndarray of shape (3,)) in add: move one of them first (.get() to the host, cupy.asarray to the device)
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..errors import DeviceError


class DeviceMixError(DeviceError, TypeError):
    """A NumPy array and an emulated CUDA array met in one operation."""


def _mix_error(what: str, a: np.ndarray) -> DeviceMixError:
    return DeviceMixError(f"an emulated CUDA array met a NumPy array (ndarray of shape {a.shape}) in {what}: move "
                          "one of them first (.get() to the host, cupy.asarray to the device)")


def unwrap(obj: Any, what: str, host_ints: bool = False) -> Any:
    """Device arrays -> their host buffers (recursively in lists, tuples, dicts); a NumPy array
    of one or more dimensions raises DeviceMixError (0-d arrays and scalars pass, as in CuPy).
    ``host_ints``: integer / bool NumPy arrays pass too (axes, shapes, indices of a method)."""
    if type(obj) is ndarray:
        return obj._host
    if isinstance(obj, np.ndarray):
        if obj.ndim and not (host_ints and obj.dtype.kind in "iub"):
            raise _mix_error(what, obj)
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(unwrap(o, what, host_ints) for o in obj)
    if isinstance(obj, dict):
        return {k: unwrap(v, what, host_ints) for k, v in obj.items()}
    return obj


def wrap(obj: Any) -> Any:
    """NumPy results -> device arrays (scalars become 0-d device arrays, as CuPy returns)."""
    if isinstance(obj, np.ndarray):
        return ndarray(obj)
    if isinstance(obj, np.generic):
        return ndarray(np.asarray(obj))
    if isinstance(obj, tuple):
        return tuple(wrap(o) for o in obj)
    if isinstance(obj, list):
        return [wrap(o) for o in obj]
    return obj


class MemoryPointer:
    """``a.data``: the device pointer (``.ptr``) of an emulated array."""

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr
        self.device_id = 0

    def __int__(self) -> int:
        return self.ptr


class Device:
    """``cupy.cuda.Device``: the one emulated device (id 0); a context manager like CuPy's."""

    def __init__(self, device: Any = None) -> None:
        index = 0 if device is None else int(getattr(device, "id", device))
        if index != 0:
            raise DeviceError(f"the CUDA emulator has one device (cuda:0), got device {index}")
        self.id = 0

    def __repr__(self) -> str:
        return "<CUDA Device 0 (emulated)>"

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return 0

    def use(self) -> None:
        """Make this the current device (it always is)."""

    def synchronize(self) -> None:
        """Wait for the device: emulated launches finish before they return."""

    @property
    def compute_capability(self) -> str:
        return "emulated"


_DEVICE = Device()
#: Methods whose array arguments are data (other methods' integer arrays are axes / indices).
_DATA_METHODS = frozenset({"dot", "put", "choose", "clip", "searchsorted", "compress", "fill", "setfield"})
_HIDDEN = ("ctypes", "tofile", "dump", "dumps", "data", "tobytes", "base")


class ndarray:
    """An array "on" the emulated device 0: NumPy storage, CuPy's surface, no implicit mixing."""

    __slots__ = ("_host",)
    __array_priority__ = 100

    def __init__(self, host: np.ndarray) -> None:
        if not isinstance(host, np.ndarray):
            raise TypeError(f"ndarray() wraps a numpy.ndarray, got {type(host).__name__}")
        self._host = host

    # ------------------------------------------------------------------ CuPy's device API
    @property
    def data(self) -> MemoryPointer:
        return MemoryPointer(self._host.ctypes.data)

    @property
    def device(self) -> Device:
        return _DEVICE

    def get(self, stream: Any = None, order: str = "C", out: np.ndarray | None = None) -> np.ndarray:
        """A NumPy copy on the host (CuPy's device-to-host transfer)."""
        if out is not None:
            out[...] = self._host
            return out
        return np.array(self._host, order=order, copy=True)

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        """Copy a host array into this one (CuPy's host-to-device transfer)."""
        self._host[...] = np.asarray(arr)

    def __dlpack_device__(self) -> tuple[int, int]:
        """``(2, 0)``: kDLCUDA, device 0, as CuPy reports for device memory."""
        return (2, 0)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        """CuPy hands out a CUDA capsule here; the emulator has no device memory to share, so it refuses."""
        raise BufferError("an emulated CUDA array cannot be exported through DLPack (its consumer would need real "
                          "device memory): use .get() for a host copy")

    # ------------------------------------------------------------------ NumPy protocols
    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise DeviceMixError("an emulated CUDA array cannot become a NumPy array implicitly (as with CuPy): "
                             "use .get() or cupy.asnumpy()")

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        what = ufunc.__name__
        if method == "at":  # ufunc.at(a, indices, b): the indices may be host index arrays
            inputs = (unwrap(inputs[0], what), _index(inputs[1]), *unwrap(inputs[2:], what))
        else:
            inputs = unwrap(inputs, what)
        result = getattr(ufunc, method)(*inputs, **unwrap(kwargs, what))
        out = kwargs.get("out")
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return wrap(result)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        what = func.__name__
        return wrap(func(*unwrap(args, what), **unwrap(kwargs, what)))

    # ------------------------------------------------------------------ everything else: NumPy's
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in _HIDDEN:
            raise AttributeError(f"emulated cupy.ndarray has no attribute {name!r}")
        attr = getattr(self._host, name)
        if not callable(attr):
            return wrap(attr) if isinstance(attr, np.ndarray) else attr

        ints = name not in _DATA_METHODS

        def method(*args: Any, **kwargs: Any) -> Any:
            return wrap(attr(*unwrap(args, name, ints), **unwrap(kwargs, name, ints)))

        method.__name__ = name
        return method

    def __getitem__(self, key: Any) -> Any:
        return wrap(self._host[_index(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._host[_index(key)] = unwrap(value, "__setitem__")

    def __len__(self) -> int:
        return len(self._host)

    def __iter__(self):
        return (wrap(v) for v in self._host)

    def __repr__(self) -> str:
        return repr(self._host).replace("array(", "array(device='cuda:0 (emulated)', ", 1)

    def __str__(self) -> str:
        return str(self._host)

    def __format__(self, spec: str) -> str:
        return format(self._host.item() if self._host.ndim == 0 else self._host, spec)

    def __bool__(self) -> bool:
        return bool(self._host)

    def __float__(self) -> float:
        return float(self._host)

    def __int__(self) -> int:
        return int(self._host)

    def __index__(self) -> int:
        return operator.index(self._host)

    def __complex__(self) -> complex:
        return complex(self._host)

    def __copy__(self) -> "ndarray":
        return ndarray(self._host.copy())

    def __deepcopy__(self, memo: dict) -> "ndarray":
        return ndarray(self._host.copy())

    def __reduce__(self):
        raise DeviceMixError("an emulated CUDA array cannot be pickled (CuPy arrays pickle through the host: "
                             "use .get())")

    __hash__ = None  # type: ignore[assignment]


def _index(key: Any) -> Any:
    """An index: device arrays unwrap; NumPy index arrays are accepted, as CuPy accepts them."""
    if type(key) is ndarray:
        return key._host
    if isinstance(key, tuple):
        return tuple(k._host if type(k) is ndarray else k for k in key)
    return key


def _binary(ufunc: Any, reflected: bool = False, inplace: bool = False):
    if inplace:
        def op(self, other):
            ufunc(self, other, out=(self,))
            return self
    elif reflected:
        def op(self, other):
            return ufunc(other, self)
    else:
        def op(self, other):
            return ufunc(self, other)
    return op


for _name, _ufunc in {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
                      "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
                      "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
                      "lshift": np.left_shift, "rshift": np.right_shift}.items():
    setattr(ndarray, f"__{_name}__", _binary(_ufunc))
    setattr(ndarray, f"__r{_name}__", _binary(_ufunc, reflected=True))
    setattr(ndarray, f"__i{_name}__", _binary(_ufunc, inplace=True))
for _name, _ufunc in {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                      "eq": np.equal, "ne": np.not_equal}.items():
    setattr(ndarray, f"__{_name}__", _binary(_ufunc))
for _name, _ufunc in {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}.items():
    setattr(ndarray, f"__{_name}__", lambda self, _u=_ufunc: _u(self))

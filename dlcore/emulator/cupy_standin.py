"""The emulated CuPy module: what ``dlcore.backend.cupy_module()`` hands out under
``DLCORE_CUDA_EMULATE=1``, covering exactly the part of CuPy that dlcore uses.

Arrays are :class:`~dlcore.emulator.device_array.ndarray` (NumPy storage that refuses to mix
with NumPy arrays); ``RawModule`` compiles the CUDA source with the CPU kernel emulator
(:mod:`dlcore.emulator.kernel`); ``cuda`` has ``Device``, ``runtime``, ``Stream``; ``random``
has ``RandomState``; everything else in NumPy's namespace is served by NumPy on the device
arrays, refusing NumPy arrays as CuPy does. ``matmul`` runs in NumPy (there is no cuBLAS here).

    >>> from dlcore.emulator import cupy_standin as cp
    >>> a = cp.asarray([1.0, 2.0])
    >>> cp.asnumpy(cp.exp(a - a.max()))
    array([0.36787944, 1.        ])
    >>> cp.get_array_module(a) is cp
    True
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import DeviceError
from . import kernel
from .device_array import Device, DeviceMixError, ndarray, unwrap, wrap

__version__ = "emulated"

#: The simulated number of streaming multiprocessors (small, so grid-stride loops loop).
SM_COUNT_DEFAULT = 2


# --------------------------------------------------------------------------- host <-> device
def asarray(a: Any, dtype: Any = None, order: str | None = None) -> ndarray:
    """To the device (a host-to-device copy for NumPy input; no copy for a device array of ``dtype``)."""
    if type(a) is ndarray:
        return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
    return ndarray(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(a: Any, dtype: Any = None, copy: bool = True, order: str = "K", ndmin: int = 0) -> ndarray:
    """Like ``cupy.array``: a device copy of host or device data."""
    host = a._host if type(a) is ndarray else a
    return ndarray(np.array(host, dtype=dtype, copy=True if copy else None, order=order, ndmin=ndmin))


def ascontiguousarray(a: Any, dtype: Any = None) -> ndarray:
    """A C-contiguous device array (CuPy accepts only device arrays here)."""
    if type(a) is not ndarray:
        raise DeviceMixError(f"cupy.ascontiguousarray expected a device array, got {type(a).__name__}")
    return ndarray(np.ascontiguousarray(a._host, dtype=dtype))


def asnumpy(a: Any, stream: Any = None) -> np.ndarray:
    """To the host."""
    return a.get() if type(a) is ndarray else np.asarray(a)


def get_array_module(*arrays: Any) -> Any:
    """This module if any argument is an emulated device array, else numpy."""
    import sys

    return sys.modules[__name__] if any(type(a) is ndarray for a in arrays) else np


# --------------------------------------------------------------------------- RawModule
class RawModule:
    """``cupy.RawModule(code=...)``: the source is compiled for the CPU kernel emulator."""

    def __init__(self, code: str | None = None, path: str | None = None, options: Sequence[str] = (),
                 **kwargs: Any) -> None:
        self._module = kernel.Module(code=code, options=options, name=kwargs.pop("name", "rawmodule.cu"), path=path)

    def get_function(self, name: str) -> "RawKernel":
        return RawKernel(self._module.get_function(name))


class RawKernel:
    """A launchable kernel: device arrays and NumPy scalars in, as with CuPy."""

    def __init__(self, fn: kernel.Kernel) -> None:
        self._fn = fn
        self.name = fn.name

    def __repr__(self) -> str:
        return repr(self._fn)

    def __call__(self, grid: Any, block: Any, args: Sequence[Any], shared_mem: int = 0, stream: Any = None) -> None:
        host = []
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray):  # a host pointer handed to a device kernel
                raise DeviceMixError(f"{self.name} argument {i}: got a NumPy array, but a kernel needs a device array")
            host.append(a._host if type(a) is ndarray else a)
        self._fn(grid, block, host, shared_mem=shared_mem)


# --------------------------------------------------------------------------- cuda namespace
def _sm_count() -> int:
    return int(os.environ.get("DLCORE_EMU_SM_COUNT", SM_COUNT_DEFAULT))


def _check_device(index: int) -> int:
    if int(index) != 0:
        raise DeviceError(f"the CUDA emulator has one device (cuda:0), got device {index}")
    return 0


def _properties(index: int) -> dict:
    _check_device(index)
    return {"name": b"dlcore CUDA emulator (CPU)", "major": 0, "minor": 0, "multiProcessorCount": _sm_count(),
            "totalGlobalMem": 0, "warpSize": 32, "maxThreadsPerBlock": 1024}


class Stream:
    """``cupy.cuda.Stream``: emulated launches run to completion, so every stream is synchronous."""

    null: "Stream"

    def __init__(self, null: bool = False, non_blocking: bool = False) -> None:
        self.ptr = 0

    def synchronize(self) -> None:
        """Nothing to wait for."""

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def use(self) -> "Stream":
        return self


Stream.null = Stream(null=True)


def _no_nvrtc() -> tuple:
    raise DeviceError("the CUDA emulator has no NVRTC: kernels are compiled by g++ for the CPU")


runtime = SimpleNamespace(
    getDevice=lambda: 0,
    getDeviceCount=lambda: 1,
    setDevice=_check_device,
    getDeviceProperties=_properties,
    runtimeGetVersion=lambda: 0,
    driverGetVersion=lambda: 0,
    deviceSynchronize=lambda: None,
)
cuda = SimpleNamespace(
    Device=Device,
    Stream=Stream,
    runtime=runtime,
    nvrtc=SimpleNamespace(getVersion=_no_nvrtc),
    get_current_stream=lambda: Stream.null,
    is_available=lambda: True,
    emulated=True,
)


# --------------------------------------------------------------------------- random
class RandomState:
    """``cupy.random.RandomState`` backed by NumPy's (the numbers differ from CuPy's)."""

    def __init__(self, seed: int | None = None) -> None:
        self._rs = np.random.RandomState(seed)

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._rs, name)
        return lambda *args, **kwargs: wrap(np.asarray(fn(*args, **kwargs)))

    def random_sample(self, size: Any = None, dtype: Any = float) -> ndarray:
        return ndarray(self._rs.random_sample(size).astype(dtype, copy=False))


_global_random = RandomState()
random = SimpleNamespace(
    RandomState=RandomState,
    seed=lambda seed=None: _global_random._rs.seed(seed),
    random_sample=lambda size=None, dtype=float: _global_random.random_sample(size, dtype),
    rand=lambda *shape: _global_random.random_sample(shape),
    randn=lambda *shape: wrap(_global_random._rs.standard_normal(shape)),
    standard_normal=lambda size=None: wrap(np.asarray(_global_random._rs.standard_normal(size))),
    uniform=lambda low=0.0, high=1.0, size=None: wrap(np.asarray(_global_random._rs.uniform(low, high, size))),
    normal=lambda loc=0.0, scale=1.0, size=None: wrap(np.asarray(_global_random._rs.normal(loc, scale, size))),
)


# --------------------------------------------------------------------------- the rest of NumPy's namespace
def _device_function(fn: Callable, name: str) -> Callable:
    def on_device(*args: Any, **kwargs: Any) -> Any:
        return wrap(fn(*unwrap(args, name), **unwrap(kwargs, name)))

    on_device.__name__ = name
    on_device.__doc__ = f"numpy.{name} on emulated device arrays (NumPy arrays are refused)."
    return on_device


class _DeviceUfunc:
    """A NumPy ufunc that takes device arrays only (``add(a, b)``, ``add.at(...)``, ``.reduce``)."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def _require_device(self, args: tuple) -> None:
        if not any(type(a) is ndarray for a in args):
            raise DeviceMixError(f"cupy.{self.__name__} expected a device array, got "
                                 f"{', '.join(type(a).__name__ for a in args)}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out", ())
        self._require_device(args + (out if isinstance(out, tuple) else (out,)))
        return self._ufunc(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._ufunc, name)
        if not callable(method):
            return method

        def on_device(*args: Any, **kwargs: Any) -> Any:
            self._require_device(args)
            return method(*args, **kwargs)

        return on_device


def __getattr__(name: str) -> Any:
    """NumPy's ``name``: functions and ufuncs run on device arrays; dtypes and constants pass."""
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        attr = getattr(np, name)
    except AttributeError:
        raise AttributeError(f"the emulated cupy module has no attribute {name!r}") from None
    if isinstance(attr, type) or not callable(attr):
        return attr
    fn = _DeviceUfunc(attr) if isinstance(attr, np.ufunc) else _device_function(attr, name)
    globals()[name] = fn
    return fn

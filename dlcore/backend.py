"""The backend shim: NumPy on the CPU, CuPy on an NVIDIA GPU.

CuPy is imported lazily, the first time a GPU is asked for, so ``import dlcore`` works on a
laptop without CUDA::

    >>> import dlcore
    >>> dlcore.device("cpu")
    device(type='cpu')
    >>> dlcore.cuda.is_available()          # False on a machine without a GPU
    False
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .errors import DeviceError

log = logging.getLogger("dlcore")

_DEFAULT_DTYPE = np.dtype(np.float32)


def default_dtype() -> np.dtype:
    """The dtype of new floating-point tensors and parameters (float32 unless changed)."""
    return _DEFAULT_DTYPE


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of new floating tensors, e.g. ``set_default_dtype(dlcore.float64)``.

    >>> set_default_dtype(np.float64); default_dtype()
    dtype('float64')
    >>> set_default_dtype(np.float32)
    """
    global _DEFAULT_DTYPE
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or dtype.itemsize < 4:
        raise TypeError(f"set_default_dtype only supports float32 and float64, got {dtype}")
    _DEFAULT_DTYPE = dtype


# --------------------------------------------------------------------------- CUDA availability
def installed_cupy_builds() -> list[str]:
    """The CuPy wheels installed (e.g. ``["cupy-cuda12x"]``); two of them break each other."""
    from importlib import metadata

    names = {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}
    return sorted(n for n in names if n.startswith("cupy-cuda") or n == "cupy")


def cuda_emulated() -> bool:
    """True under ``DLCORE_CUDA_EMULATE=1``: "cuda" is the CPU kernel emulator (dlcore/emulator)."""
    return os.environ.get("DLCORE_CUDA_EMULATE", "") == "1"


def cuda_status() -> tuple[bool, str]:
    """``(usable, reason)``: reason says why CUDA is not usable ('' when it is)."""
    if cuda_emulated():
        from .emulator import emulator_status

        return emulator_status()
    return _native_cuda_status()


@functools.lru_cache(maxsize=None)
def _native_cuda_status() -> tuple[bool, str]:
    """cuda_status() of the real CUDA stack (cached; ``cuda_status.cache_clear()`` clears it)."""
    builds = installed_cupy_builds()
    if len(builds) > 1:
        return False, (f"several CuPy builds are installed ({', '.join(builds)}): the dlcore extras cuda12 and "
                       "cuda13 must not be installed together; uninstall all but one")
    try:
        import cupy
    except ImportError:
        return False, "CuPy is not installed (pip install 'dlcore[cuda12]' or 'dlcore[cuda13]')"
    except Exception as exc:  # a broken CUDA install can fail at import
        return False, f"CuPy failed to import: {exc}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        text = str(exc)
        if "InsufficientDriver" in text or "driver" in text.lower():
            return False, f"no usable NVIDIA driver ({text})"
        return False, f"no CUDA device ({text})"
    if count == 0:
        return False, "no CUDA device found"
    try:
        cupy.cuda.nvrtc.getVersion()
    except Exception as exc:
        return False, f"NVRTC is missing, so kernels cannot compile ({exc})"
    return True, ""


cuda_status.cache_clear = _native_cuda_status.cache_clear  # type: ignore[attr-defined]


def cuda_is_available() -> bool:
    """True when CuPy, a driver, a GPU and NVRTC are all present."""
    return cuda_status()[0]


def cuda_device_count() -> int:
    """Number of visible CUDA devices (0 when CUDA is not usable)."""
    if not cuda_is_available():
        return 0
    return int(cupy_module().cuda.runtime.getDeviceCount())


def cupy_module() -> ModuleType:
    """Import CuPy, or raise a DeviceError that says why CUDA is not usable."""
    ok, reason = cuda_status()
    if not ok:
        raise DeviceError(f"CUDA was requested but is not usable: {reason}")
    if cuda_emulated():
        from .emulator import cupy_standin

        return cupy_standin
    import cupy

    return cupy


# --------------------------------------------------------------------------- devices
@dataclass(frozen=True)
class Device:
    """A place where arrays live: ``Device("cpu")`` or ``Device("cuda", 0)``."""

    type: str
    index: int | None = None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    @property
    def xp(self) -> ModuleType:
        """The array module for this device: numpy or cupy."""
        return np if self.type == "cpu" else cupy_module()


CPU = Device("cpu")


@functools.lru_cache(maxsize=None)
def _auto_device() -> Device:
    if cuda_is_available():
        return Device("cuda", 0)
    log.info("dlcore: CUDA not usable (%s); falling back to the CPU", cuda_status()[1])
    return CPU


def device(spec: "str | Device | None" = None, index: int | None = None) -> Device:
    """Parse a device: "cpu", "cuda", "cuda:N" or "auto" (None reads ``DLCORE_DEVICE``); also PyTorch's
    ``device("cuda", 1)``.

    >>> device("cpu")
    device(type='cpu')
    """
    if isinstance(spec, Device):
        return spec
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0 or ":" in str(spec):
            raise DeviceError(f"device() expected a type and a non-negative int index, got {spec!r}, {index!r}")
        spec = f"{spec}:{index}" if str(spec).strip().lower() != "cpu" else spec
    if spec is None:
        spec = os.environ.get("DLCORE_DEVICE", "cpu")
    text = str(spec).strip().lower()
    if text == "cpu":
        return CPU
    if text == "auto":
        return _auto_device()
    if text == "cuda" or text.startswith("cuda:"):
        index = 0
        if ":" in text:
            try:
                index = int(text.split(":", 1)[1])
            except ValueError:
                raise DeviceError(f"device() expected 'cuda:N' with an integer N, got {spec!r}") from None
        cupy_module()
        if index >= cuda_device_count():
            raise DeviceError(f"device() got {spec!r} but only {cuda_device_count()} CUDA device(s) exist")
        return Device("cuda", index)
    raise DeviceError(f"device() expected 'cpu', 'cuda', 'cuda:N' or 'auto', got {spec!r}")


_DEFAULT_DEVICE: Device | None = None


def default_device() -> Device:
    """The device new tensors go to: set by :func:`set_default_device`, else ``DLCORE_DEVICE`` or the CPU."""
    return _DEFAULT_DEVICE if _DEFAULT_DEVICE is not None else device(None)


def set_default_device(spec: "str | Device | None") -> None:
    """PyTorch's ``set_default_device``: where factory functions put new tensors (None resets).

    >>> set_default_device("cpu"); default_device()
    device(type='cpu')
    >>> set_default_device(None)
    """
    global _DEFAULT_DEVICE
    _DEFAULT_DEVICE = None if spec is None else device(spec)


def get_default_device() -> Device:
    """The device new tensors go to (PyTorch's ``get_default_device``)."""
    return default_device()


# --------------------------------------------------------------------------- arrays
def is_gpu_array(a: Any) -> bool:
    """True for a CuPy array (or an emulated one, dlcore/emulator); never imports CuPy."""
    return type(a).__module__.startswith(("cupy", "dlcore.emulator"))


def data_pointer(a: Any) -> int:
    """The address of an array's first element (NumPy, CuPy or emulated)."""
    return int(a.data.ptr) if is_gpu_array(a) else int(a.__array_interface__["data"][0])


def get_array_module(*arrays: Any) -> ModuleType:
    """numpy, or cupy if any argument is a CuPy array."""
    for a in arrays:
        if is_gpu_array(a):
            if type(a).__module__.startswith("dlcore.emulator"):
                from .emulator import cupy_standin

                return cupy_standin
            import cupy

            return cupy
    return np


def device_of(a: Any) -> Device:
    """The Device a raw array lives on."""
    if is_gpu_array(a):
        return Device("cuda", int(a.device.id))
    return CPU


def to_device(a: Any, dev: "str | Device") -> Any:
    """Copy a raw array to ``dev`` (no copy when it is already there)."""
    dev = device(dev)
    if dev.type == "cpu":
        return a.get() if is_gpu_array(a) else np.asarray(a)
    cp = cupy_module()
    with cp.cuda.Device(dev.index or 0):
        return cp.asarray(a)


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy copy (or view) of a raw array from any device."""
    return a.get() if is_gpu_array(a) else np.asarray(a)


# --------------------------------------------------------------------------- seeding
_np_rng = np.random.default_rng()
_cupy_rngs: dict[int, Any] = {}
_seed: int | None = None
_cuda_seed: int | None = None


def manual_seed(seed: int) -> None:
    """Seed every backend's generator, so CPU runs are bit-reproducible.

    >>> manual_seed(0)
    """
    global _np_rng, _seed, _cuda_seed
    _seed = int(seed)
    _cuda_seed = None
    _np_rng = np.random.default_rng(_seed)
    _cupy_rngs.clear()


def cuda_manual_seed(seed: int) -> None:
    """Seed only the GPU generators (``dlcore.cuda.manual_seed``); a no-op for the CPU stream.

    >>> cuda_manual_seed(0)
    """
    global _cuda_seed
    _cuda_seed = int(seed)
    _cupy_rngs.clear()


def cpu_rng() -> np.random.Generator:
    """The NumPy generator used for parameter init, shuffling and CPU dropout."""
    return _np_rng


def rng_for(xp: ModuleType) -> Any:
    """The generator for an array module: a NumPy Generator or a CuPy RandomState."""
    if xp is np:
        return _np_rng
    dev = int(xp.cuda.runtime.getDevice())
    if dev not in _cupy_rngs:
        seed = _cuda_seed if _cuda_seed is not None else _seed if _seed is not None else int(_np_rng.integers(2**31))
        _cupy_rngs[dev] = xp.random.RandomState(seed)
    return _cupy_rngs[dev]


def random_uniform(xp: ModuleType, shape: tuple) -> Any:
    """Uniform samples in [0, 1) on the array module's device, from the seeded generator."""
    gen = rng_for(xp)
    return gen.random(shape) if xp is np else gen.random_sample(shape)


def get_rng_state() -> dict:
    """The CPU generator's state as plain data (for checkpoints)."""
    return _np_rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state from :func:`get_rng_state`."""
    _np_rng.bit_generator.state = state


def erf(a: Any) -> Any:
    """The error function of a NumPy or CuPy array (SciPy's / CuPy's), keeping its dtype.

    >>> float(erf(np.array([0.0]))[0])
    0.0
    """
    if is_gpu_array(a) and type(a).__module__.startswith("cupy"):
        from cupyx.scipy.special import erf as gpu_erf

        return gpu_erf(a)
    if is_gpu_array(a):  # the CPU kernel emulator's device array: through the host, as a copy
        return get_array_module(a).asarray(erf(a.get()))
    try:
        from scipy.special import erf as cpu_erf
    except ImportError:  # pragma: no cover - SciPy comes with scikit-learn
        import math

        return np.vectorize(math.erf, otypes=[a.dtype])(a)
    return cpu_erf(a).astype(a.dtype, copy=False)

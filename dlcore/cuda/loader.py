"""Compile ``kernels/*.cu`` with NVRTC (through ``cupy.RawModule``) and share the helpers that
every launcher module uses: argument checks, output allocation and launch geometry.

Each ``.cu`` file is compiled once per device with :data:`COMPILE_OPTIONS` and kept in an
in-process cache keyed by ``(file name, device id)``; CuPy also keeps the CUBIN in its own
disk cache (``~/.cupy/kernel_cache``), so a second process does not recompile.

Importing this module does not import CuPy: CuPy is imported on the first launch.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..backend import cupy_module, is_gpu_array
from ..errors import DeviceError, DTypeError, ShapeError, shape_str

#: Options given to ``cupy.RawModule`` for every kernel file. tests/test_kernels_compile.py
#: compiles with exactly these (plus :data:`CUPY_ADDED_OPTIONS` and an architecture).
COMPILE_OPTIONS: tuple[str, ...] = ("--std=c++14",)

#: Options CuPy's NVRTC path appends by itself (cupy/cuda/compiler.py): float32 denormals flush
#: to zero, and functions without a qualifier are device functions. The compile test adds them
#: so that it compiles what RawModule compiles. CuPy also adds -arch for the current device.
CUPY_ADDED_OPTIONS: tuple[str, ...] = ("-ftz=true", "--device-as-default-execution-space")

#: Every kernel source file. The compile test compiles each of them.
KERNEL_FILES: tuple[str, ...] = ("activation.cu", "softmax.cu", "conv2d.cu", "pool2d.cu")

#: Dtype -> kernel-name suffix.
SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}

#: Threads per block for the elementwise / gather kernels.
THREADS = 256

#: When True every output buffer from :func:`empty` is filled with NaN (floats) or -7 (ints)
#: first, so a test sees any element a kernel forgot to write. Tests switch it on.
POISON_OUTPUTS = False

_modules: dict[tuple[str, int], Any] = {}
_functions: dict[tuple[str, str, int], Any] = {}
_sm_counts: dict[int, int] = {}
_lock = threading.Lock()


# --------------------------------------------------------------------------- sources
def kernel_dir() -> Path:
    """The folder holding the ``.cu`` sources.

    Installed: ``dlcore/kernels`` (pyproject maps the top-level ``kernels/`` there).
    From a checkout: the repository's top-level ``kernels/``.
    """
    package_dir = Path(__file__).resolve().parent.parent  # .../dlcore
    for candidate in (package_dir / "kernels", package_dir.parent / "kernels"):
        if (candidate / KERNEL_FILES[0]).is_file():
            return candidate
    raise DeviceError(
        f"dlcore.cuda could not find the CUDA sources: neither {package_dir / 'kernels'} nor "
        f"{package_dir.parent / 'kernels'} holds {KERNEL_FILES[0]}"
    )


def kernel_source(filename: str) -> str:
    """The text of ``kernels/<filename>``."""
    if filename not in KERNEL_FILES:
        raise ValueError(f"unknown kernel file {filename!r}; expected one of {KERNEL_FILES}")
    return (kernel_dir() / filename).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- compile + cache
def get_module(filename: str, device_id: int | None = None) -> Any:
    """The compiled ``cupy.RawModule`` of ``kernels/<filename>`` for a device (default: current)."""
    cp = cupy_module()
    if device_id is None:
        device_id = int(cp.cuda.runtime.getDevice())
    key = (filename, device_id)
    module = _modules.get(key)
    if module is None:
        with _lock:
            module = _modules.get(key)
            if module is None:
                module = cp.RawModule(code=kernel_source(filename), options=COMPILE_OPTIONS)
                _modules[key] = module
    return module


def get_function(filename: str, name: str, dtype: Any, declared: Iterable[str]) -> Any:
    """The kernel ``<name>_<f32|f64>`` from ``kernels/<filename>`` on the current device.

    ``declared`` is the launcher module's list of base names for that file (its ``KERNELS``
    entry); a name outside it is a programming error, caught here and by the compile test.
    """
    if name not in declared:
        raise AssertionError(f"kernel {name!r} is not declared in the launcher's KERNELS[{filename!r}]")
    cp = cupy_module()
    full = f"{name}_{SUFFIX[np.dtype(dtype)]}"
    device_id = int(cp.cuda.runtime.getDevice())
    key = (filename, full, device_id)
    fn = _functions.get(key)
    if fn is None:
        module = get_module(filename, device_id)
        try:
            fn = module.get_function(full)  # RawModule compiles here, on first use
        except Exception as exc:
            raise DeviceError(f"dlcore.cuda: could not compile or load {full} from kernels/{filename}: {exc}") from exc
        _functions[key] = fn
    return fn


# --------------------------------------------------------------------------- argument checks
def check_array(op: str, arg: str, a: Any, dtype: Any = None, ndim: int | None = None) -> Any:
    """Check one launcher argument and return it C-contiguous.

    ``a`` must be a CuPy array of float32/float64 (or of ``dtype`` when given) with ``ndim``
    dimensions; a non-contiguous array is copied. Raises DeviceError / DTypeError / ShapeError
    naming ``op`` and ``arg``.
    """
    if not is_gpu_array(a):
        raise DeviceError(f"{op} expected {arg} as a CuPy array on a CUDA device, got {type(a).__name__}")
    if dtype is None:
        if a.dtype not in SUFFIX:
            raise DTypeError(f"{op} expected {arg} of dtype float32 or float64, got {a.dtype}")
    elif a.dtype != np.dtype(dtype):
        raise DTypeError(f"{op} expected {arg} of dtype {np.dtype(dtype)}, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ShapeError(f"{op} expected {arg} with {ndim} dimensions, got shape {shape_str(a.shape)}")
    if not a.flags.c_contiguous:
        a = cupy_module().ascontiguousarray(a)
    return a


def check_same(op: str, ref_name: str, ref: Any, **others: Any) -> None:
    """Every array in ``others`` (None skipped) has ``ref``'s dtype and device."""
    for name, a in others.items():
        if a is None:
            continue
        if a.dtype != ref.dtype:
            raise DTypeError(f"{op} expected {name} of dtype {ref.dtype} like {ref_name}, got {a.dtype}")
        if a.device.id != ref.device.id:
            raise DeviceError(f"{op} got {ref_name} on cuda:{ref.device.id} but {name} on cuda:{a.device.id}")


def check_pair(op: str, arg: str, value: Any, minimum: int) -> tuple[int, int]:
    """A pair of ints >= minimum, e.g. stride=(1, 1)."""
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ShapeError(f"{op} expected {arg} as a pair of ints, got {value!r}") from None
    if a < minimum or b < minimum:
        raise ShapeError(f"{op} expected {arg} >= {minimum}, got {(a, b)}")
    return a, b


def check_int32(op: str, **sizes: int) -> None:
    """The kernels index one (H, W) plane and loop counters with 32-bit ints."""
    for name, v in sizes.items():
        if v >= 2**31:
            raise ShapeError(f"{op}: {name} = {v} is too large for the 32-bit index math of the kernel")


# --------------------------------------------------------------------------- outputs + geometry
def empty(shape: Any, dtype: Any) -> Any:
    """An output buffer every element of which a kernel writes (NaN-poisoned under tests)."""
    cp = cupy_module()
    if POISON_OUTPUTS:
        fill = np.nan if np.dtype(dtype).kind == "f" else -7
        return cp.full(shape, fill, dtype=dtype)
    return cp.empty(shape, dtype=dtype)


def sm_count() -> int:
    """Streaming multiprocessors on the current device (cached)."""
    cp = cupy_module()
    dev = int(cp.cuda.runtime.getDevice())
    if dev not in _sm_counts:
        _sm_counts[dev] = int(cp.cuda.runtime.getDeviceProperties(dev)["multiProcessorCount"])
    return _sm_counts[dev]


def grid_1d(n: int, threads: int = THREADS) -> tuple[int]:
    """Blocks for a grid-stride loop over ``n`` items: enough to cover n, at most 32 per SM."""
    return (max(1, min((int(n) + threads - 1) // threads, 32 * sm_count())),)


def launch(fn: Any, grid: tuple[int, ...], block: tuple[int, ...], args: tuple, shared_mem: int = 0) -> None:
    """Launch on the current device and stream. Scalars in ``args`` must already be NumPy
    scalars of the kernel's C type (np.int32 for int, np.int64 for long long, the array dtype
    for T): a plain Python number would be passed with the wrong width."""
    for a in args:
        if isinstance(a, (int, float)) and not isinstance(a, np.generic):
            raise TypeError(f"launch({fn}): pass scalars as NumPy scalars of the kernel's C type, got {a!r}")
    fn(grid, block, args, shared_mem=shared_mem)


def i32(v: int) -> np.int32:
    return np.int32(v)


def i64(v: int) -> np.int64:
    return np.int64(v)

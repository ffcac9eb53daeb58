"""Compile ``kernels/*.cu`` with NVRTC (through ``cupy.RawModule``) and share the helpers that
every launcher module uses: argument checks, output allocation and launch geometry.

One :class:`KernelFile` per ``.cu`` file names its entry points; each launcher module holds
one (``KERNELS``) and launches through ``KERNELS.function(name, dtype)``. The source NVRTC
compiles is :func:`kernel_source`: ``kernels/prelude.cuh`` (the shared device helpers) followed
by the file. :func:`compile_module` is the one place a ``cupy.RawModule`` is created, once
per file; CuPy itself compiles it once per device and keeps the CUBIN in its disk cache
(``~/.cupy/kernel_cache``), so a second process does not recompile.

Importing this module does not import CuPy: CuPy is imported on the first launch.

    >>> "GRID_STRIDE_LOOP" in kernel_source("conv2d")
    True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

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

#: The shared device helpers prepended to every kernel file.
PRELUDE = "prelude.cuh"

#: Dtype -> kernel-name suffix.
SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}

#: Threads per block for the elementwise / gather kernels.
THREADS = 256

#: When True every output buffer from :func:`empty` is filled with NaN (floats) or -7 (ints)
#: first, so a test sees any element a kernel forgot to write. Tests switch it on.
POISON_OUTPUTS = False

#: Every KernelFile made so far, by file name (the launcher modules make one each).
REGISTRY: dict[str, "KernelFile"] = {}

_sm_counts: dict[int, int] = {}


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


def _filename(file_stem: str) -> str:
    name = file_stem if file_stem.endswith(".cu") else f"{file_stem}.cu"
    if name not in KERNEL_FILES:
        raise ValueError(f"unknown kernel file {file_stem!r}; expected one of {KERNEL_FILES}")
    return name


def raw_source(file_stem: str, directory: str | Path | None = None) -> str:
    """The text of ``kernels/<file_stem>.cu`` alone, as written (no prelude)."""
    return (Path(directory or kernel_dir()) / _filename(file_stem)).read_text(encoding="utf-8")


def kernel_source(file_stem: str, directory: str | Path | None = None) -> str:
    """The exact full source NVRTC compiles for ``kernels/<file_stem>.cu``: the prelude, then the file.

    A ``#line`` directive between the two keeps compiler messages pointing at the file's own
    lines. ``file_stem`` is "softmax" (or "softmax.cu"). ``directory`` reads the prelude and the
    file from another copy of ``kernels/`` (say, a mutated one); default :func:`kernel_dir`.
    """
    name = _filename(file_stem)
    prelude = (Path(directory or kernel_dir()) / PRELUDE).read_text(encoding="utf-8")
    return f'{prelude}\n#line 1 "kernels/{name}"\n{raw_source(name, directory)}'


# --------------------------------------------------------------------------- compile + cache
@functools.lru_cache(maxsize=None)
def compile_module(file_stem: str) -> Any:
    """The ``cupy.RawModule`` of one kernel file: the only place dlcore creates one.

    Made once per file (cached here); CuPy compiles it lazily, once per device, on the first
    ``get_function``.
    """
    return cupy_module().RawModule(code=kernel_source(file_stem), options=COMPILE_OPTIONS)


@dataclass(frozen=True)
class KernelFile:
    """One ``kernels/<stem>.cu`` and the base names of its entry points (each ``_f32`` and ``_f64``).

    Iterating gives the base names; ``function(name, dtype)`` the compiled kernel.
    """

    stem: str
    entry_points: tuple[str, ...]

    def __post_init__(self) -> None:
        REGISTRY[self.filename] = self

    @property
    def filename(self) -> str:
        return _filename(self.stem)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entry_points)

    def function(self, name: str, dtype: Any) -> Any:
        """The kernel ``<name>_<f32|f64>`` on the current device; ``name`` must be an entry point."""
        if name not in self.entry_points:
            raise AssertionError(f"kernel {name!r} is not an entry point listed for kernels/{self.filename}")
        full = f"{name}_{SUFFIX[np.dtype(dtype)]}"
        try:
            return compile_module(self.stem).get_function(full)  # NVRTC compiles here, on first use
        except Exception as exc:
            raise DeviceError(f"dlcore.cuda: could not compile or load {full} from kernels/{self.filename}: "
                              f"{exc}") from exc


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

"""Launch an emulated kernel like a CuPy ``RawModule`` function: ``fn(grid, block, args)``.

Every launch checks its arguments against the kernel's C signature (count, pointer dtype,
scalar width, 16-byte alignment of vector pointers, no overlap with a ``__restrict__``
pointer that is written), runs each pointer argument through a guarded scratch copy (a read
past either end sees a huge value, a write past either end is an error) and can run under several
schedules, requiring bit-identical results from all of them.

Schedules: ``round_robin``, ``low_first``, ``high_first``, ``random`` (seeded). The default
list is ``$DLCORE_EMU_SCHEDULES`` (comma-separated) or ``round_robin``.
"""

from __future__ import annotations

import ctypes
import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .build import EmulatorError, Library, Param, library

POLICIES = {"round_robin": 0, "low_first": 1, "high_first": 2, "random": 3}
SCALARS = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "u32": np.uint32, "i64": np.int64,
           "u64": np.uint64, "u8": np.uint8, "b8": np.bool_}
VECTORS = {"f32x4": (np.float32, 4), "f32x2": (np.float32, 2), "f64x2": (np.float64, 2), "i32x4": (np.int32, 4)}
GUARD_BYTES = 256

#: How many times each entry point was launched in this process (tests read it).
launch_counts: Counter = Counter()


def default_schedules() -> tuple[str, ...]:
    """``$DLCORE_EMU_SCHEDULES`` as a tuple, default ``("round_robin",)``."""
    names = tuple(s.strip() for s in os.environ.get("DLCORE_EMU_SCHEDULES", "round_robin").split(",") if s.strip())
    bad = [s for s in names if s not in POLICIES]
    if bad or not names:
        raise EmulatorError(f"DLCORE_EMU_SCHEDULES expected names from {sorted(POLICIES)}, got {bad or names}")
    return names


def _element(code: str) -> tuple[np.dtype, int]:
    elem = code.split(":", 1)[1]
    if elem in VECTORS:
        dt, width = VECTORS[elem]
        return np.dtype(dt), width
    if elem not in SCALARS:
        raise EmulatorError(f"unsupported pointer element type {elem}")
    return np.dtype(SCALARS[elem]), 1


class Kernel:
    """One entry point of a built library (what ``Module.get_function`` returns)."""

    def __init__(self, lib: Library, name: str) -> None:
        if name not in lib.signatures:
            raise EmulatorError(f"{lib.name} has no kernel {name!r}; its entry points are {sorted(lib.signatures)}")
        self.lib, self.name, self.params = lib, name, lib.signatures[name]

    def __repr__(self) -> str:
        return f"<emulated kernel {self.name}({', '.join(p.text for p in self.params)})>"

    # ------------------------------------------------------------------ argument checks
    def _fail(self, i: int, msg: str) -> EmulatorError:
        p = self.params[i]
        return EmulatorError(f"{self.name} argument {i} ({p.text}): {msg}")

    def _check_pointer(self, i: int, p: Param, a: Any) -> np.ndarray:
        if not isinstance(a, np.ndarray):
            raise self._fail(i, f"expected an array, got {type(a).__name__}")
        dt, width = _element(p.code)
        if a.dtype != dt:
            raise self._fail(i, f"expected {dt} data, got {a.dtype}")
        if not a.flags.c_contiguous:
            raise self._fail(i, "the array is not C-contiguous (a kernel sees only a pointer)")
        if width > 1 and (a.ctypes.data % 16 or a.size % width):
            raise self._fail(i, f"a {p.code.split(':')[1]} pointer needs a 16-byte aligned buffer of a multiple of "
                                f"{width} elements, got address 0x{a.ctypes.data:x} and {a.size} elements")
        if p.is_const is False and not a.flags.writeable:
            raise self._fail(i, "the kernel writes through this pointer but the array is read-only")
        return a

    def _check_scalar(self, i: int, p: Param, a: Any) -> np.ndarray:
        want = np.dtype(SCALARS.get(p.code, np.void))
        if p.code not in SCALARS:
            raise self._fail(i, f"unsupported scalar parameter type {p.code}")
        if not isinstance(a, np.generic) or a.dtype != want:
            got = f"{type(a).__name__} {getattr(a, 'dtype', '')}".strip()
            raise self._fail(i, f"the C parameter is {p.code}: pass np.{want.name}, got {got}")
        return np.array(a)

    def _check_overlap(self, arrays: dict[int, np.ndarray]) -> bool:
        """Raise for overlap involving a written __restrict__ pointer; True if any overlap."""
        spans = [(i, a.ctypes.data, a.ctypes.data + a.nbytes) for i, a in arrays.items() if a.nbytes]
        overlap = False
        for k, (i, lo, hi) in enumerate(spans):
            for j, lo2, hi2 in spans[k + 1:]:
                if lo < hi2 and lo2 < hi:
                    pi, pj = self.params[i], self.params[j]
                    written = not (pi.is_const and pj.is_const)
                    if written and (pi.restrict or pj.restrict):
                        raise EmulatorError(f"{self.name}: arguments {i} ({pi.text}) and {j} ({pj.text}) overlap, "
                                            "but one is __restrict__ and one of them is written")
                    overlap = True
        return overlap

    # ------------------------------------------------------------------ launch
    def __call__(self, grid: Sequence[int], block: Sequence[int], args: Sequence[Any], shared_mem: int = 0,
                 stream: Any = None, schedules: Sequence[str] | None = None, seed: int = 0) -> None:
        """Launch on ``grid`` x ``block`` with ``args`` (NumPy arrays and NumPy scalars)."""
        args = tuple(args)
        if len(args) != len(self.params):
            raise EmulatorError(f"{self.name} takes {len(self.params)} arguments "
                                f"({', '.join(p.text for p in self.params)}), got {len(args)}")
        if shared_mem:
            raise EmulatorError(f"{self.name}: dynamic shared memory (shared_mem={shared_mem}) is not emulated")
        arrays: dict[int, np.ndarray] = {}
        scalars: dict[int, np.ndarray] = {}
        for i, (p, a) in enumerate(zip(self.params, args)):
            if p.is_pointer:
                arrays[i] = self._check_pointer(i, p, a)
            else:
                scalars[i] = self._check_scalar(i, p, a)
        # under AddressSanitizer the kernel sees the arrays themselves: ASan's redzones are the guards
        guarded = not self._check_overlap(arrays) and not self.lib.sanitize
        schedules = tuple(schedules) if schedules is not None else default_schedules()
        for s in schedules:
            if s not in POLICIES:
                raise EmulatorError(f"unknown schedule {s!r}; expected one of {sorted(POLICIES)}")
        launch_counts[self.name] += 1
        written = [i for i in arrays if not self.params[i].is_const]
        before = {i: arrays[i].copy() for i in written} if len(schedules) > 1 else {}
        first: dict[int, np.ndarray] = {}
        for k, schedule in enumerate(schedules):
            if k:
                for i in written:
                    arrays[i][...] = before[i]
            self._run(grid, block, arrays, scalars, schedule, seed, guarded)
            if k == 0:
                first = {i: arrays[i].copy() for i in written} if len(schedules) > 1 else {}
                continue
            for i in written:
                if not np.array_equal(first[i].view(np.uint8), arrays[i].view(np.uint8)):
                    raise EmulatorError(f"{self.name}: the result depends on the schedule: argument {i} "
                                        f"({self.params[i].text}) differs between {schedules[0]} and {schedule} "
                                        "(a missing __syncthreads / __syncwarp?)")

    def _run(self, grid, block, arrays, scalars, schedule, seed, guarded) -> None:
        scratch = {i: _Guarded(a) for i, a in arrays.items()} if guarded else {}
        params = (ctypes.c_void_p * len(self.params))()
        pointers = []
        for i in range(len(self.params)):
            if i in arrays:
                ptr = ctypes.c_void_p(scratch[i].inner.ctypes.data if guarded else arrays[i].ctypes.data)
                pointers.append(ptr)
                params[i] = ctypes.addressof(ptr)
            else:
                params[i] = scalars[i].ctypes.data
        codes = ",".join(p.code for p in self.params)
        ftz = "f32" in codes and "f64" not in codes  # NVRTC's -ftz=true touches float32 only
        err = ctypes.create_string_buffer(2048)
        rc = self.lib.lib.emu_launch(self.name.encode(), _dim3(grid), _dim3(block), params, POLICIES[schedule],
                                     int(seed), int(ftz), err, len(err))
        if rc != 0:
            raise EmulatorError(f"{err.value.decode()} (schedule {schedule}, grid {tuple(grid)}, block {tuple(block)})")
        for i, g in scratch.items():
            if not g.intact():
                raise EmulatorError(f"{self.name}: wrote outside argument {i} ({self.params[i].text}): the guard bytes "
                                    f"around its {arrays[i].nbytes}-byte buffer changed (schedule {schedule})")
            if not self.params[i].is_const:
                arrays[i][...] = g.inner


#: Guard byte: 0x7f7f7f7f is 3.4e38 as float32 (1.4e306 as float64, 2139062143 as int32). A read
#: past either end shows up in a sum, a max (fmax ignores NaN, not this) or an index.
GUARD_BYTE = 0x7F


class _Guarded:
    """A 64-byte aligned copy of an array between two guard zones of GUARD_BYTE."""

    def __init__(self, a: np.ndarray) -> None:
        raw = np.empty(a.nbytes + 2 * GUARD_BYTES + 64, np.uint8)
        start = (-raw.ctypes.data) % 64
        self.raw = raw[start: start + a.nbytes + 2 * GUARD_BYTES]
        self.raw[:GUARD_BYTES] = GUARD_BYTE
        self.raw[GUARD_BYTES + a.nbytes:] = GUARD_BYTE
        self.inner = self.raw[GUARD_BYTES: GUARD_BYTES + a.nbytes].view(a.dtype).reshape(a.shape)
        self.inner[...] = a

    def intact(self) -> bool:
        n = self.raw.size - GUARD_BYTES
        return bool((self.raw[:GUARD_BYTES] == GUARD_BYTE).all() and (self.raw[n:] == GUARD_BYTE).all())


def _dim3(t: Sequence[int]) -> Any:
    dims = tuple(int(v) for v in (tuple(t) if isinstance(t, (tuple, list)) else (t,))) + (1, 1, 1)
    if any(v < 1 or v >= 2**32 for v in dims[:3]):
        raise EmulatorError(f"grid and block sizes must be positive 32-bit ints, got {tuple(t)}")
    return (ctypes.c_uint * 3)(*dims[:3])


class Module:
    """Stands where ``cupy.RawModule`` stands: ``Module(code=text).get_function(name)``.

    ``name`` only labels messages and cache files (the source text is what is compiled).
    """

    def __init__(self, code: str | None = None, options: Sequence[str] = (), name: str = "kernel.cu",
                 path: str | None = None, **_: Any) -> None:
        if code is None and path is not None:
            code, name = Path(path).read_text(encoding="utf-8"), Path(path).name
        if code is None:
            raise EmulatorError("the emulated RawModule needs code= (the CUDA source text) or path=")
        self.options = tuple(options)
        self.library = library(code, name)

    @property
    def entry_points(self) -> list[str]:
        """Every ``__global__`` entry point of the source, sorted."""
        return sorted(self.library.signatures)

    def get_function(self, name: str) -> Kernel:
        return Kernel(self.library, name)

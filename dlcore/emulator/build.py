"""Compile one CUDA C source text with g++ into a shared library of emulated kernels.

The source is compiled unmodified, with ``cuda_emu.h`` included first. Entry points are found
by preprocessing with ``__global__`` turned into a marker (no hand-kept list); each one's C
signature comes from the compiler (template deduction, see ``cuda_emu.h``) and its
``__restrict__`` flags from the preprocessed declaration.

Libraries are cached by a hash of everything that goes into them (source text, header,
runtime, flags, compiler version) in ``$DLCORE_EMU_CACHE`` or ``~/.cache/dlcore-emu``, never in
the source tree. Importing this module starts no compiler.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import DlcoreError

HERE = Path(__file__).resolve().parent
HEADER = HERE / "cuda_emu.h"
RUNTIME = HERE / "runtime.inc"

#: Flags for every build. -ffp-contract=off: no FMA contraction on the CPU either;
#: -fvisibility=hidden: two builds of one file in one process cannot see each other's symbols.
CXXFLAGS: tuple[str, ...] = (
    "-std=c++17", "-g", "-fPIC", "-shared", "-Wall", "-Wno-unused-parameter", "-Wno-unused-function",
    "-Wno-unused-variable", "-Wno-sign-compare", "-ffp-contract=off", "-fvisibility=hidden", "-fno-gnu-unique",
)

#: Extra flags per sanitizer mode (``DLCORE_EMU_SANITIZE``); the optimisation level goes with them.
SANITIZERS: dict[str, tuple[str, ...]] = {
    "": ("-O1",),
    "asan+ubsan": ("-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                   "-fno-omit-frame-pointer"),
}


class EmulatorError(DlcoreError, RuntimeError):
    """The emulator could not build a kernel source, or a launch broke a CUDA rule."""


@dataclass(frozen=True)
class Param:
    """One kernel parameter: ``code`` from the compiler (``cptr:f32``, ``i64``...), its C text
    and whether it is ``__restrict__``."""

    code: str
    text: str
    restrict: bool

    @property
    def is_pointer(self) -> bool:
        return self.code.startswith(("ptr:", "cptr:"))

    @property
    def is_const(self) -> bool:
        return self.code.startswith("cptr:")


def cache_dir() -> Path:
    """Where built libraries go: ``$DLCORE_EMU_CACHE`` or ``~/.cache/dlcore-emu``."""
    return Path(os.environ.get("DLCORE_EMU_CACHE") or Path.home() / ".cache" / "dlcore-emu")


def sanitize_mode() -> str:
    """``DLCORE_EMU_SANITIZE``: '' (plain) or 'asan+ubsan' (needs libasan preloaded)."""
    mode = os.environ.get("DLCORE_EMU_SANITIZE", "")
    if mode not in SANITIZERS:
        raise EmulatorError(f"DLCORE_EMU_SANITIZE expected one of {sorted(SANITIZERS)}, got {mode!r}")
    return mode


@functools.lru_cache(maxsize=None)
def compiler_version() -> str:
    """``g++ --version``'s first line, or an EmulatorError when g++ is missing."""
    try:
        out = subprocess.run(["g++", "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise EmulatorError(f"the CUDA emulator needs g++ on PATH: {exc}") from None
    return out.splitlines()[0]


def _split_params(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "(<["
        depth -= ch in ")>]"
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def find_entry_points(preprocessed: str) -> dict[str, list[str]]:
    """``{kernel name: [parameter C text, ...]}`` from source preprocessed with the marker.

    >>> find_entry_points('extern "C" EMU_GLOBAL_MARK void k(const float* __restrict__ x, int n) {}')
    {'k': ['const float* __restrict__ x', 'int n']}
    """
    found = {}
    for m in re.finditer(r"EMU_GLOBAL_MARK\s+void\s+(\w+)\s*\(", preprocessed):
        depth, i = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(preprocessed[i], 0)
            i += 1
        found[m.group(1)] = _split_params(preprocessed[m.end(): i - 1])
    return found


def _preprocess(source_file: Path) -> str:
    cmd = ["g++", "-std=c++17", "-E", "-P", "-DEMU_MARK_GLOBALS", "-x", "c++", "-include", str(HEADER), str(source_file)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise EmulatorError(f"g++ could not preprocess {source_file.name}:\n{r.stderr}")
    return r.stdout


_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


def _lock_for(path: Path) -> threading.Lock:
    """One lock per output file: different sources build in parallel threads."""
    with _locks_guard:
        return _locks.setdefault(str(path), threading.Lock())


class Library:
    """One built source: its entry points with their signatures, and the loaded ctypes library."""

    def __init__(self, source: str, name: str = "kernel.cu") -> None:
        self.name = name
        self.sanitize = sanitize_mode()
        flags = CXXFLAGS + SANITIZERS[self.sanitize]
        key = hashlib.sha256("\0".join([source, HEADER.read_text(), RUNTIME.read_text(), " ".join(flags),
                                        compiler_version()]).encode()).hexdigest()[:20]
        stem = re.sub(r"\W", "_", Path(name).stem) or "kernel"
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        so = folder / f"{stem}-{self.sanitize.replace('+', '_') or 'plain'}-{key}.so"
        src = folder / f"{stem}-{key}.cu"
        found = so.with_suffix(".json")  # the discovered declarations, so a cached run starts no g++
        with _lock_for(so):
            if not src.exists():  # messages and sanitizer reports name the original file
                _write_atomic(src, f'#line 1 "{name}"\n{source}')
            if not (so.exists() and found.exists()):
                decls = find_entry_points(_preprocess(src))
                self._compile(src, so, decls, flags)
                _write_atomic(found, json.dumps(decls))
            decls = json.loads(found.read_text())
        self.lib = ctypes.CDLL(str(so))
        self.lib.emu_signature.restype = ctypes.c_char_p
        self.lib.emu_signature.argtypes = [ctypes.c_char_p]
        self.lib.emu_kernel_name.restype = ctypes.c_char_p
        self.lib.emu_kernel_name.argtypes = [ctypes.c_int]
        self.lib.emu_launch.restype = ctypes.c_int
        self.lib.emu_launch.argtypes = [
            ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_uint, ctypes.c_int, ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        self.signatures: dict[str, tuple[Param, ...]] = {}
        for kernel, texts in decls.items():
            codes = self.lib.emu_signature(kernel.encode()).decode().split(",")
            codes = [c for c in codes if c]
            if len(codes) != len(texts):
                raise EmulatorError(f"{name}: {kernel}: could not match its {len(texts)} parameters to {codes}")
            self.signatures[kernel] = tuple(Param(c, t, "__restrict__" in t) for c, t in zip(codes, texts))

    def _compile(self, src: Path, so: Path, decls: dict, flags: tuple[str, ...]) -> None:
        tu = (f'#include "{HEADER}"\n#include "{src}"\n' + "".join(f"EMU_REGISTER({n})\n" for n in decls)
              + f'#include "{RUNTIME}"\n')
        tu_file = so.with_suffix(f".{os.getpid()}.cpp")
        tmp = so.with_suffix(f".{os.getpid()}.tmp")
        tu_file.write_text(tu)
        try:
            r = subprocess.run(["g++", *flags, "-o", str(tmp), str(tu_file)], capture_output=True, text=True)
            if r.returncode != 0 or r.stderr.strip():
                what = "failed" if r.returncode else "warned (warnings are errors)"
                raise EmulatorError(f"g++ {what} on {self.name}:\n{r.stderr}")
            os.replace(tmp, so)
        finally:
            tu_file.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


_libraries: dict[tuple[str, str, str], Library] = {}


def library(source: str, name: str = "kernel.cu") -> Library:
    """The built :class:`Library` of ``source`` (built once per process and sanitizer mode)."""
    key = (hashlib.sha256(source.encode()).hexdigest(), name, sanitize_mode())
    if key not in _libraries:
        _libraries[key] = Library(source, name)
    return _libraries[key]

"""dlcore's own C kernels for the CPU (``dlcore/native/*.c``), built with the system's C compiler.

Where NumPy and Numba cannot reach the machine's arithmetic peak, a few loops are written in C
with vector types: today the direct convolution of :mod:`dlcore.functional.conv_direct`. Like
PyTorch's inductor and Triton, dlcore compiles them at first use (``cc -O3``, about a second),
caches the library by a hash of the source, the flags and the compiler in
``$DLCORE_NATIVE_CACHE`` or ``~/.cache/dlcore/native`` (written atomically, never in the source
tree) and loads it with ctypes, which releases the GIL during each call. The kernels pick
AVX-512 or AVX2 at run time. Without a compiler, on a CPU with neither, or with
``DLCORE_CPU_NATIVE=0``, :func:`library` is None and the NumPy/Numba paths run.

    >>> from dlcore import cpu_native
    >>> with cpu_native.native(False):
    ...     cpu_native.library() is None
    True
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["CFLAGS", "SOURCES", "cache_dir", "isa", "library", "native", "set_enabled"]

log = logging.getLogger("dlcore")

SOURCES = Path(__file__).resolve().parent / "native"
#: Fixed compile options: warnings are errors; the kernels choose their instruction set
#: per function (``__attribute__((target(...)))``), so the library loads on any x86-64 CPU.
CFLAGS = ("-std=gnu11", "-O3", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
          "-fvisibility=default")

#: Extra flags with ``DLCORE_NATIVE_SANITIZE=asan+ubsan`` (``make emu-sanitize`` runs the direct
#: convolution's tests so, with the ASan runtime preloaded).
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer")

_enabled = os.environ.get("DLCORE_CPU_NATIVE", "1").strip() != "0"
_lock = threading.Lock()
_failed: set[str] = set()


def cache_dir() -> Path:
    """Where built libraries go: ``$DLCORE_NATIVE_CACHE``, else ``~/.cache/dlcore/native`` when it
    can be created, else a per-user folder in the temporary directory."""
    if os.environ.get("DLCORE_NATIVE_CACHE"):
        return Path(os.environ["DLCORE_NATIVE_CACHE"])
    try:
        folder = Path.home() / ".cache" / "dlcore" / "native"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    except (OSError, RuntimeError):  # read-only or missing home
        return Path(tempfile.gettempdir()) / f"dlcore-native-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


@functools.lru_cache(maxsize=None)
def _compiler_version(cc: str) -> str:
    return subprocess.run([cc, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]


def _build(name: str) -> ctypes.CDLL:
    """Compile ``native/<name>.c`` (or reuse the cached build) and load it."""
    cc = _compiler()
    if cc is None:
        raise OSError("no C compiler (cc, gcc or $CC) on PATH")
    source = (SOURCES / f"{name}.c").read_text()
    flags = CFLAGS + (SANITIZE_FLAGS if os.environ.get("DLCORE_NATIVE_SANITIZE") == "asan+ubsan" else ())
    key = hashlib.sha256("\0".join([source, " ".join(flags), _compiler_version(cc)]).encode()).hexdigest()[:20]
    folder = cache_dir()
    so = folder / f"{name}-{key}.so"
    if not so.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = so.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            r = subprocess.run([cc, *flags, "-o", str(tmp), str(SOURCES / f"{name}.c")], capture_output=True, text=True)
            if r.returncode != 0 or r.stderr.strip():
                raise OSError(f"{cc} failed on native/{name}.c:\n{r.stderr}")
            os.replace(tmp, so)  # atomic: a concurrent process sees no library or a whole one
        finally:
            tmp.unlink(missing_ok=True)
    return ctypes.CDLL(str(so))


_libraries: dict[str, ctypes.CDLL] = {}


def library(name: str = "conv_direct") -> ctypes.CDLL | None:
    """The loaded ``native/<name>.c``, or None when switched off or it cannot be built here
    (the reason is logged once, at debug level)."""
    if not _enabled or name in _failed:
        return None
    lib = _libraries.get(name)
    if lib is None:
        with _lock:
            if name not in _libraries and name not in _failed:
                try:
                    _libraries[name] = _build(name)
                except (OSError, subprocess.SubprocessError) as exc:
                    log.debug("dlcore: native/%s.c is not usable (%s); the NumPy paths run", name, exc)
                    _failed.add(name)
                    return None
            lib = _libraries.get(name)
    return lib


def isa() -> int:
    """The vector width the native kernels run at on this CPU: 512 (AVX-512), 256 (AVX2), 0 (none,
    or the library is not usable)."""
    lib = library()
    return int(lib.dl_direct_isa()) if lib is not None else 0


def set_enabled(flag: bool) -> bool:
    """Switch the native kernels on or off for the process; returns the old setting."""
    global _enabled
    old, _enabled = _enabled, bool(flag)
    return old


@contextmanager
def native(flag: bool) -> Iterator[None]:
    """``with native(False): ...`` runs a block without the native kernels."""
    old = set_enabled(flag)
    try:
        yield
    finally:
        set_enabled(old)

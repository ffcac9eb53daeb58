"""CPU runtime helpers for the NumPy paths: recycled scratch buffers and thread splitting.

NumPy releases the GIL inside its loops, so memory-bound copies on disjoint slices can run on
several threads; and recycling big temporaries avoids paying first-touch page faults each call.

    >>> import numpy as np
    >>> buf = buffers.take((4, 4), np.float32)
    >>> buffers.give(buf)
    >>> num_threads() >= 1
    True
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import threading
from typing import Any, Callable, Sequence

import numpy as np

from . import native_elementwise
from .conv_algorithms import CONV_ALGORITHMS, conv_algorithm, get_conv_algorithm, set_conv_algorithm
from .cpu_threads import min_work_per_thread, num_threads, parallel_chunks, parallel_pieces, threads_for

__all__ = ["CONV_ALGORITHMS", "axpby_", "buffers", "channel_sums", "conv_algorithm", "copy_rows", "elementwise", "get_conv_algorithm", "in_place", "matmul", "min_work_per_thread", "num_threads",
           "one_blas_thread", "parallel_chunks", "parallel_pieces", "relu", "relu_backward", "set_conv_algorithm", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
           "threads_for", "tune_malloc"]

log = logging.getLogger("dlcore")

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def tune_malloc() -> bool:
    """Let glibc keep freed large arrays for reuse instead of handing them back to the OS.

    By default glibc serves every allocation over 128 KB with a fresh ``mmap`` and unmaps it on
    free, so each new activation or gradient array of a CNN step is page-faulted in again on
    first touch. Raising the mmap threshold (to glibc's maximum, 32 MB) and the trim threshold
    (256 MB) keeps such buffers in the heap: measured here, the reference CNN training step went
    from about 31-36 ms to 18-25 ms. The cost is up to 256 MB of freed memory kept by the process.

    Applied once when dlcore is imported, on Linux with glibc. Set ``DLCORE_TUNE_MALLOC=0`` to
    skip it; it is also skipped when ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` is
    set, since those are your own choice. Returns True when applied.
    """
    if os.environ.get("DLCORE_TUNE_MALLOC", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 256 * 2**20))
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    log.debug("dlcore: glibc malloc tuned (mmap threshold 32 MB, trim threshold 256 MB): %s", applied)
    return applied


# --------------------------------------------------------------------------- buffer pool
class _BufferPool:
    """Recycles large temporary NumPy buffers between calls.

    Fresh multi-megabyte arrays are page-faulted in on first touch, which costs about as much
    as filling them. Ops ``take`` a buffer, use it, and ``give`` it back when done (a buffer
    that is never given back is simply garbage-collected). Only exact byte sizes are reused.
    """

    def __init__(self, max_buffers: int = 16, min_bytes: int = 1 << 18, max_bytes: int = 512 << 20) -> None:
        self.max_buffers = max_buffers
        self.min_bytes = min_bytes
        self.max_bytes = max_bytes  # never hold more than this much idle memory
        self._free: list[np.ndarray] = []
        self._addresses: list[int] = []  # data address of each free buffer, to refuse duplicates
        self._lock = threading.Lock()

    def take(self, shape: Sequence[int], dtype: Any, xp: Any = np) -> Any:
        """An uninitialised array of ``shape``: a recycled buffer when one fits (NumPy only)."""
        if xp is not np:  # CuPy has its own memory pool
            return xp.empty(shape, dtype)
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if nbytes >= self.min_bytes:
            with self._lock:
                for i, buf in enumerate(self._free):
                    if buf.nbytes == nbytes:
                        del self._free[i], self._addresses[i]
                        return buf.view(dtype).reshape(shape)
        return np.empty(shape, dtype)

    def give(self, *arrays: Any) -> None:
        """Hand buffers back; only arrays that own (or exactly span) their memory are kept."""
        with self._lock:
            for a in arrays:
                if isinstance(a, np.ndarray) and a.nbytes >= self.min_bytes:
                    base = a if a.base is None else a.base
                    if isinstance(base, np.ndarray) and base.nbytes == a.nbytes and base.flags.c_contiguous:
                        address = base.__array_interface__["data"][0]
                        if address not in self._addresses:
                            self._free.append(base.reshape(-1).view(np.uint8))
                            self._addresses.append(address)
            excess = max(0, len(self._free) - self.max_buffers)
            del self._free[:excess], self._addresses[:excess]
            while self._free and sum(b.nbytes for b in self._free) > self.max_bytes:
                del self._free[0], self._addresses[0]  # the oldest goes first


buffers = _BufferPool()


def copy_rows(dst: Any, src: Any) -> None:
    """``dst[...] = src`` for same-shaped arrays, moving each last-axis row as one item.

    NumPy copies one 56-byte item about 2x faster than the 14 floats in it (its per-row loop
    overhead), so shifts and transposes of short rows go this way when both are NumPy arrays
    whose last axis is contiguous and whose rows are not already one contiguous run.

    >>> a = np.arange(12.0).reshape(3, 4)
    >>> b = np.empty((4, 2)); copy_rows(b, a.T[:, 1:]); b.tolist()[0]
    [4.0, 8.0]
    """
    if (isinstance(dst, np.ndarray) and isinstance(src, np.ndarray) and dst.dtype == src.dtype and dst.ndim > 1
            and dst.shape == src.shape and dst.shape[-1] > 1 and dst.strides[-1] == src.strides[-1] == dst.itemsize
            and not dst.strides[-2] == src.strides[-2] == dst.shape[-1] * dst.itemsize):
        row = np.dtype((np.void, dst.shape[-1] * dst.itemsize))
        dst.view(row)[..., 0] = src.view(row)[..., 0]
    else:
        dst[...] = src


# --------------------------------------------------------------------------- element-wise kernels
#: Elements per cache block: a kernel's passes over one block (128 KB of float32 per operand)
#: stay in the L2 cache, so a several-pass kernel reads and writes main memory once.
BLOCK = 1 << 15


def elementwise(kernel: Callable[..., None], *inputs: np.ndarray, dtype: Any = None, block: int = BLOCK,
                cost: float = 1.0, native: bool = False) -> np.ndarray:
    """``out = kernel(*inputs)`` on NumPy arrays, blocked for the cache and split over threads.

    ``kernel(out, *ins)`` writes one block of the result into ``out`` (1-D views of equal length,
    ``out`` never aliases an input); it may make several ufunc passes with ``out=``, since a
    block stays in cache. Inputs are made C-contiguous; the result has the first input's shape
    and ``dtype`` (default: the first input's). ``block`` is the elements per kernel call (one
    pass kernels gain nothing from small blocks and pay ~5 us per call); ``cost`` scales the
    work that decides the threads: a cheap pass (max, compare) is worth splitting only over
    about 2M elements, since handing work to a thread costs ~60 us here. ``native``: the kernel is
    one of :mod:`dlcore.native_elementwise`'s (it raises no floating-point warnings).

    >>> x = np.array([-1.0, 2.0], np.float32)
    >>> elementwise(lambda o, a: np.maximum(a, 0, out=o), x).tolist()
    [0.0, 2.0]
    """
    flat = [np.ascontiguousarray(a).reshape(-1) for a in inputs]
    out = np.empty(inputs[0].shape, dtype or inputs[0].dtype)
    flat_out = out.reshape(-1)
    n = flat_out.size

    def run(lo: int, hi: int) -> None:
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # per thread (thread-local); torch warns of none
            for start in range(lo * block, min(n, hi * block), block):
                part = slice(start, min(n, start + block))
                kernel(flat_out[part], *(a[part] for a in flat))

    if n <= block and native:  # one C call: no thread hand-off, no warnings to silence
        kernel(flat_out, *flat)
    else:
        parallel_chunks(run, -(-n // block), int(n * (1 + len(flat)) * cost))
    return out


#: Elements per call of the one-pass ReLU kernels, and the size of their cached zero block.
#: ``np.maximum(x, zeros)`` runs ~3x faster here than ``np.maximum(x, 0)`` or ``np.clip``
#: (NumPy 2.4 has no SIMD loop for a scalar operand): 0.14 vs 0.41 ms on 800k floats.
ONE_PASS_BLOCK = 1 << 18
_zero_blocks: dict = {}


def _zeros(dtype: Any, n: int) -> np.ndarray:
    """A read-only block of ``n`` zeros (n <= ONE_PASS_BLOCK), cached per dtype."""
    z = _zero_blocks.get(dtype)
    if z is None:
        z = _zero_blocks[dtype] = np.zeros(ONE_PASS_BLOCK, dtype)
        z.flags.writeable = False
    return z[:n]


def _relu(o: np.ndarray, x: np.ndarray) -> None:
    np.maximum(x, _zeros(x.dtype, x.size), out=o)  # keeps NaN like torch.relu


def _sigmoid(o: np.ndarray, x: np.ndarray) -> None:
    # 1 / (1 + exp(-x)): for x < -88 (float32) exp overflows to inf and the result is the exact
    # limit 0 (as torch gives), so no |x| trick is needed; elementwise silences the overflow
    # warning. Tiny results keep their relative precision (unlike 0.5 + 0.5 tanh(x / 2)).
    np.negative(x, out=o)
    np.exp(o, out=o)
    np.add(o, o.dtype.type(1), out=o)
    np.reciprocal(o, out=o)


def _tanh(o: np.ndarray, x: np.ndarray) -> None:
    np.tanh(x, out=o)


def _relu_backward(o: np.ndarray, g: np.ndarray, x: np.ndarray) -> None:
    # g where not (x <= 0), as torch's threshold_backward: a NaN input passes its gradient
    np.less_equal(x, x.dtype.type(0), out=o)
    np.subtract(o.dtype.type(1), o, out=o)
    np.multiply(o, g, out=o)


def _sigmoid_backward(o: np.ndarray, g: np.ndarray, y: np.ndarray) -> None:
    np.subtract(1, y, out=o)  # g * y * (1 - y)
    np.multiply(o, y, out=o)
    np.multiply(o, g, out=o)


def _tanh_backward(o: np.ndarray, g: np.ndarray, y: np.ndarray) -> None:
    np.multiply(y, y, out=o)  # g * (1 - y^2)
    np.subtract(1, o, out=o)
    np.multiply(o, g, out=o)


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0), threaded. ``relu(np.array([-1.0, 3.0])).tolist() == [0.0, 3.0]``."""
    if x.dtype.kind not in "fiu":
        return np.maximum(x, 0)
    if native_elementwise.usable(x):
        return elementwise(native_elementwise.relu, x, block=ONE_PASS_BLOCK, cost=0.25, native=True)
    return elementwise(_relu, x, block=ONE_PASS_BLOCK, cost=0.25)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), threaded, no overflow warning for large -x.

    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0], np.float32)).tolist()
    [0.0, 0.5, 1.0]
    """
    if x.dtype.kind != "f":  # integer input: computed in float64, returned in its dtype as before
        return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(x.dtype)
    return elementwise(_sigmoid, x)


def tanh(x: np.ndarray) -> np.ndarray:
    """np.tanh, threaded (NumPy's own SIMD tanh is one pass, as fast as a copy)."""
    return elementwise(_tanh, x)


def relu_backward(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``g`` where not ``x <= 0``, else 0 (so a NaN input passes its gradient, and an inf or NaN
    gradient at a negative input gives 0, as in torch), threaded.

    >>> relu_backward(np.array([np.inf, 2.0, np.nan]), np.array([-1.0, np.nan, 0.0])).tolist()
    [0.0, 2.0, 0.0]
    """
    if g.shape == x.shape and native_elementwise.usable(g, x):  # one pass, no NaN repair needed
        return elementwise(native_elementwise.relu_backward, g, x, block=ONE_PASS_BLOCK, cost=0.35, native=True)
    out = elementwise(_relu_backward, g, x, block=ONE_PASS_BLOCK, cost=0.35)
    if not np.isfinite(out.sum()):  # 0 * inf or 0 * NaN made a NaN where the answer is 0 (rare)
        out[np.broadcast_to(x <= 0, out.shape)] = 0
    return out


def sigmoid_backward(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``g * y * (1 - y)`` with ``y = sigmoid(x)``, threaded."""
    return elementwise(_sigmoid_backward, g, y)


def tanh_backward(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``g * (1 - y * y)`` with ``y = tanh(x)``, threaded."""
    return elementwise(_tanh_backward, g, y)


def in_place(kernel: Callable[..., None], *arrays: Any, block: int = BLOCK) -> None:
    """Run ``kernel(*blocks)`` over cache blocks of same-shaped arrays, split over dlcore's threads.

    For in-place updates (optimizer steps, epilogues): ``kernel`` gets 1-D views of one block of
    every array and writes into some of them; since a block stays in the L2 cache, a kernel of
    several ufunc passes reads and writes main memory about once. Arrays that are not all
    C-contiguous NumPy arrays of one shape (CuPy, strided views), and arrays too small to be
    split over two threads, get one ``kernel(*arrays)`` call (the per-block calls cost more there).

    >>> y = np.ones(3, np.float32)
    >>> in_place(lambda a, b: np.add(a, b, out=a), y, np.arange(3, dtype=np.float32)); y.tolist()
    [1.0, 2.0, 3.0]
    """
    first = arrays[0]
    if (threads_for(first.size * len(arrays), first.size) <= 1  # one thread anyway: skip the per-block calls
            or not all(isinstance(a, np.ndarray) and a.flags.c_contiguous and a.shape == first.shape for a in arrays)):
        kernel(*arrays)
        return
    flat = [a.reshape(-1) for a in arrays]
    n = first.size

    def run(lo: int, hi: int) -> None:
        for start in range(lo * block, min(n, hi * block), block):
            kernel(*(a[start:start + block] for a in flat))

    parallel_chunks(run, -(-n // block), n * len(flat))


def axpby_(y: Any, a: float, x: Any, b: float) -> Any:
    """``y = a * y + b * x`` in place (optimizer updates), threaded and cache-blocked on NumPy.

    Scalars are cast to ``y``'s dtype first, so float32 parameters stay float32 and each element
    gets exactly the roundings of ``y *= a; y += b * x``.

    >>> y = np.ones(3, np.float32)
    >>> axpby_(y, 0.5, np.arange(3, dtype=np.float32), -2.0).tolist()
    [0.5, -1.5, -3.5]
    """
    a, b = y.dtype.type(a), y.dtype.type(b)
    if (native_elementwise.usable(y, x) and y.shape == x.shape and y.flags.c_contiguous
            and x.flags.c_contiguous):  # one pass in C, the same roundings
        in_place(lambda yb, xb: native_elementwise.axpby(yb, a, xb, b), y, x, block=ONE_PASS_BLOCK)
        return y

    def kernel(yb: Any, xb: Any) -> None:
        if a != 1:
            yb *= a
        yb += b * xb

    in_place(kernel, y, x)
    return y


# --------------------------------------------------------------------------- GEMMs on threads
_controller: Any = None


def one_blas_thread() -> Any:
    """BLAS limited to one thread while conv runs its GEMMs on dlcore's own threads (:func:`matmul`).

    Measured here: OpenBLAS at 2 threads ran Winograd's 36 W3 forward GEMMs in 25 ms (median,
    machine shared) against 7 ms at one thread, since each call synchronises its threads; and
    on a loaded machine the MNIST CNN's (32, 144) x (144, 14336) GEMM took 16 ms at 2 BLAS
    threads, 2.8 ms at one, 3.1 ms split over dlcore's two threads (which wait without spinning).
    Needs threadpoolctl (installed with scikit-learn); without it BLAS keeps its threads.
    """
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        except ImportError:
            _controller = False
    return _controller.limit(limits=1, user_api="blas") if _controller else contextlib.nullcontext()


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, split: str = "batch") -> np.ndarray:
    """``np.matmul(a, b, out=out)`` split over threads: along the batch, the rows of a, or the columns of b.

    Call it inside :func:`one_blas_thread`, so that BLAS does not split each part again.
    """
    def part(lo: int, hi: int) -> None:
        if split == "batch":
            np.matmul(a[lo:hi], b[lo:hi], out=out[lo:hi])
        elif split == "rows":
            np.matmul(a[lo:hi], b, out=out[lo:hi])
        else:
            np.matmul(a, b[:, lo:hi], out=out[:, lo:hi])

    n = out.shape[1] if split == "cols" else out.shape[0]
    parallel_chunks(part, n, out.size + a.size + b.size, fixed=True)  # BLAS may block the parts differently
    return out


def channel_sums(g: np.ndarray) -> np.ndarray:
    """The sums of an (N, F, P) or (F, P) array over every axis but F (a bias gradient), as
    GEMVs with a ones vector: 3-4x faster here than ``g.sum(axis=(0, 2))`` (0.134 vs 0.045 ms on
    64 x 16 x 784 floats; NumPy reduces over non-contiguous axes in several strided passes).

    >>> channel_sums(np.ones((2, 3, 4), np.float32)).tolist()
    [8.0, 8.0, 8.0]
    """
    sums = g @ np.ones(g.shape[-1], g.dtype)
    return sums.sum(axis=0) if g.ndim == 3 else sums


TUNED_MALLOC = tune_malloc()

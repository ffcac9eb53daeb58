"""dlcore's own CPU threads: how many, when work is worth splitting, and the splitting itself.

NumPy releases the GIL inside its loops (and ctypes during each C call), so memory-bound passes
on disjoint slices run in parallel on a small thread pool. Handing work to a thread costs tens
of microseconds, and whether a second thread adds bandwidth depends on the machine: on the
project's AMD VM two vCPUs shared one core's bandwidth and 800k-float passes ran slower split,
while on its Intel VM (2026-12-02, seventh session) a ReLU of 100k floats already ran 1.25x faster
on two threads. So the threshold for split-invariant work (element-wise passes, copies, pooling)
is measured once per process (:func:`min_work_per_thread`); work whose rounding depends on the
split (Winograd's per-thread weight sums) uses the fixed :data:`FIXED_MIN_WORK`, so its bits do
not depend on a timing.

    >>> seen = []
    >>> parallel_chunks(lambda lo, hi: seen.append((lo, hi)), 4, work=0); seen
    [(0, 4)]
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

__all__ = ["FIXED_MIN_WORK", "MIN_WORK_PER_THREAD", "min_work_per_thread", "num_threads", "parallel_chunks",
           "parallel_pieces", "threads_for"]

log = logging.getLogger("dlcore")

_executor: ThreadPoolExecutor | None = None
_executor_threads = 0

#: Elements a thread should at least touch before work is split, where the split may change the
#: result's rounding. Measured on the AMD VM (2026-12-02, sixth session, one process): the
#: compiled ReLU backward on 800k floats took 0.121 ms on one thread and 0.153 on two, 2x2 max
#: pooling of 800k floats 0.178 vs 0.248, while at 1.6M floats two threads won (0.62x and 0.71x).
FIXED_MIN_WORK = 3 << 19

#: The threshold in force for every split: None means "measured" (:func:`min_work_per_thread`);
#: an int set here (tests, or a user pinning the behaviour) is used for all work as it is.
MIN_WORK_PER_THREAD: int | None = None

#: Total work (elements touched: a copy of n floats touches 2n) at which the calibration tries a
#: split, smallest first; the per-thread threshold is the first that won by :data:`SPLIT_GAIN`.
CANDIDATE_WORK = (1 << 17, 1 << 19, 1 << 21)
SPLIT_GAIN = 0.8
_measured: dict[int, int] = {}  # num_threads() -> measured per-thread threshold
_measure_lock = threading.Lock()


def num_threads() -> int:
    """Threads the CPU paths of conv/pool split their memory-bound copies over.

    ``DLCORE_NUM_THREADS``, else ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` (what NumPy's
    BLAS uses), else the CPUs this process may run on (read once: the system call costs more
    than a small element-wise pass).
    """
    global _cpus
    for name in ("DLCORE_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    if _cpus == 0:
        try:
            _cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            _cpus = os.cpu_count() or 1
    return _cpus


_cpus = 0


def min_work_per_thread(fixed: bool = False) -> int:
    """Elements each thread must touch before :func:`parallel_chunks` splits work.

    :data:`MIN_WORK_PER_THREAD` when set; else, for ``fixed`` work (whose rounding depends on the
    split), :data:`FIXED_MIN_WORK`; else the value measured once per process (a few ms): a copy of
    each :data:`CANDIDATE_WORK` size on one thread and split over all, best of 7 each way; the
    first size where the split took at most ``SPLIT_GAIN`` of one thread's time, divided by the
    threads, else ``FIXED_MIN_WORK``.

    >>> min_work_per_thread(fixed=True) == (MIN_WORK_PER_THREAD or FIXED_MIN_WORK)
    True
    """
    if MIN_WORK_PER_THREAD is not None:
        return MIN_WORK_PER_THREAD
    threads = num_threads()
    if fixed or threads == 1:
        return FIXED_MIN_WORK
    if threads not in _measured:
        with _measure_lock:
            if threads not in _measured:
                _measured[threads] = _measure(threads)
    return _measured[threads]


def _measure(threads: int) -> int:
    for work in CANDIDATE_WORK:
        src = np.ones(work // 2, np.float32)
        dst = np.empty_like(src)

        def copy(lo: int, hi: int) -> None:
            np.copyto(dst[lo:hi], src[lo:hi])

        best = {1: np.inf, threads: np.inf}
        for _ in range(7):
            for count in best:
                start = time.perf_counter()
                _split(copy, src.size, count)
                best[count] = min(best[count], time.perf_counter() - start)
        if best[threads] <= SPLIT_GAIN * best[1]:
            log.debug("dlcore: element-wise work split from %d elements (%d threads: %.1f us, one: %.1f us)",
                      work, threads, best[threads] * 1e6, best[1] * 1e6)
            return work // threads
    log.debug("dlcore: element-wise work split from %d elements per thread (no measured size gained)", FIXED_MIN_WORK)
    return FIXED_MIN_WORK


def parallel_chunks(fn: Callable[[int, int], None], n: int, work: int, fixed: bool = False) -> None:
    """Call ``fn(lo, hi)`` on contiguous chunks of ``range(n)``, one per thread.

    ``work`` is the total number of elements touched; below :func:`min_work_per_thread` per
    thread (or with one thread) everything runs in the calling thread. ``fixed=True`` for work
    whose result depends on the split (see :func:`min_work_per_thread`). ``fn`` must write only
    to its own slice.
    """
    _split(fn, n, threads_for(work, n, fixed))


def threads_for(work: int, most: int, fixed: bool = False) -> int:
    """The threads :func:`parallel_chunks` uses for ``work`` elements in at most ``most`` chunks."""
    available = num_threads()
    threads = min(available, most)
    if threads <= 1:
        return 1
    if not fixed and MIN_WORK_PER_THREAD is None and work < 2 * (CANDIDATE_WORK[0] // available):
        return 1  # below any threshold the measurement could give: no need to measure
    return min(threads, max(1, work // min_work_per_thread(fixed)))


def _split(fn: Callable[[int, int], None], n: int, threads: int) -> None:
    if threads <= 1:
        fn(0, n)
        return
    bounds = [n * t // threads for t in range(threads + 1)]
    futures = [_pool(threads).submit(fn, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    try:
        fn(0, bounds[1])  # the first chunk in the calling thread: one hand-off fewer, no idle wait
    finally:
        for f in futures:
            f.result()  # re-raises a worker's exception here (after every chunk has finished)


def _pool(threads: int) -> ThreadPoolExecutor:
    global _executor, _executor_threads
    if _executor is None or _executor_threads < threads:
        _executor, _executor_threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dlcore"), threads
    return _executor


def parallel_pieces(fn: Callable[[int, int, int], None], n: int, grain: int, work: int,
                    max_threads: int | None = None) -> int:
    """Call ``fn(worker, lo, hi)`` on pieces of ``grain`` items of ``range(n)``, which the threads
    take in turn as each finishes its last; returns the number of workers (``worker`` is
    ``0 .. workers - 1``, one thread each, so per-worker state needs no lock).

    Unlike :func:`parallel_chunks`' equal shares, a thread slowed by another process (or by
    BLAS's threads spinning on its CPU after a GEMM) does fewer pieces instead of holding up the
    call. ``work`` is as for :func:`parallel_chunks`; ``max_threads`` caps the threads. The
    callers' results must not depend on which worker takes which piece.

    >>> seen = []
    >>> parallel_pieces(lambda w, lo, hi: seen.append((lo, hi)), 5, 2, 0), sorted(seen)
    (1, [(0, 2), (2, 4), (4, 5)])
    """
    pieces = -(-n // grain)
    threads = threads_for(work, min(pieces, max_threads or pieces))
    order = itertools.count()  # next() on a count is atomic under the GIL

    def worker(index: int) -> None:
        for piece in iter(order.__next__, None):
            if piece >= pieces:
                return
            fn(index, piece * grain, min(n, (piece + 1) * grain))

    futures = [_pool(threads).submit(worker, t) for t in range(1, threads)] if threads > 1 else []
    try:
        worker(0)
    finally:
        for f in futures:
            f.result()
    return threads

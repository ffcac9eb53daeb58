"""How the benchmark takes a time: first call apart, warm-up, then dlcore and the reference in turn.

Method (one workload on one device):

1. The first call of each side is timed on its own and reported as ``first_call_s``: it holds
   the one-off costs (NVRTC kernel compiles, cuBLAS/cuDNN handles, page faults on fresh
   buffers), which a steady-state figure should not.
2. ``warmup`` more calls of each side, untimed.
3. ``reps`` timed calls per side, *alternating in short blocks* in the same process:
   ``block`` calls of one side, then ``block`` of the other, the order flipping every round
   (ours, theirs, theirs, ours, ...). Load from other processes then hits both sides alike, so
   their ratio survives noise even when the absolute times do not.
4. Why blocks and not call-by-call: on the CPU both sides own thread pools (NumPy's OpenBLAS,
   torch's OpenMP) whose workers keep spinning for a while after a call. Switching sides on
   every call makes each side run while the other's idle workers still burn the cores; on a
   2-core machine that inflated torch's W3 time by about 2x and flattered dlcore. So before
   each block the benchmark pauses ``settle_s`` (long enough for spinning workers to go to
   sleep; 0.25 s on the CPU, 0 on a GPU) and makes one untimed call, and then times ``block``
   calls in a row, as a training loop would run them.
5. Each timed call is bracketed by a device synchronisation (a no-op on the CPU), so on a GPU
   the host clock reads the time the kernels took, not the time it took to queue them.

The summary is the median and the interquartile range (q1, q3), plus min and max.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


def _noop() -> None:
    return None


@dataclass
class Side:
    """One side of a comparison: the callable to time and how to synchronise its device."""

    run: Callable[[], Any]
    sync: Callable[[], None] = _noop


@dataclass
class Samples:
    """Timings of one side, in seconds."""

    first_call_s: float
    times_s: list[float] = field(default_factory=list)
    first_result: Any = None   # what the first call returned, for a same-work check

    def summary(self) -> dict:
        return summarize(self.times_s) | {"first_call_s": self.first_call_s, "times_s": list(self.times_s)}


def summarize(times: list[float]) -> dict:
    """Median, quartiles, min and max of a list of seconds (NaN for an empty list)."""
    if not times:
        nan = float("nan")
        return {"n": 0, "median_s": nan, "q1_s": nan, "q3_s": nan, "min_s": nan, "max_s": nan}
    a = np.asarray(times, dtype=np.float64)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"n": int(a.size), "median_s": float(med), "q1_s": float(q1), "q3_s": float(q3),
            "min_s": float(a.min()), "max_s": float(a.max())}


def time_once(side: Side, keep: bool = False) -> Any:
    """Seconds for one call, with the device synchronised before and after.

    With ``keep`` returns ``(seconds, result)``.
    """
    side.sync()
    t0 = time.perf_counter()
    result = side.run()
    side.sync()
    elapsed = time.perf_counter() - t0
    return (elapsed, result) if keep else elapsed


def _first(side: Side) -> Samples:
    elapsed, result = time_once(side, keep=True)
    return Samples(elapsed, first_result=result)


def compare(ours: Side, theirs: Side | None, reps: int, warmup: int, block: int = 1,
            settle_s: float = 0.0) -> tuple[Samples, Samples | None]:
    """Time ``ours`` and ``theirs`` (None: no reference) with the method described above."""
    sides = [ours] if theirs is None else [ours, theirs]
    firsts = []
    for side in sides:
        time.sleep(settle_s)
        firsts.append(_first(side))
    for side in sides:
        time.sleep(settle_s)
        for _ in range(warmup):
            side.run()
        side.sync()
    block = max(1, int(block))
    done, round_no = 0, 0
    while done < reps:
        n = min(block, reps - done)
        order = list(zip(sides, firsts))
        if round_no % 2:
            order.reverse()
        for side, samples in order:
            if len(sides) > 1:
                time.sleep(settle_s)
                side.run()            # one untimed call after the switch
                side.sync()
            samples.times_s.extend(time_once(side) for _ in range(n))
        done += n
        round_no += 1
    return firsts[0], (firsts[1] if theirs is not None else None)


def paired_ratio(a: Samples, b: Samples | None) -> dict | None:
    """Median and quartiles of the per-pair ratios ours[i] / theirs[i] (pairs ran in the same round)."""
    if b is None or not a.times_s or not b.times_s:
        return None
    r = np.asarray(a.times_s) / np.asarray(b.times_s)
    q1, med, q3 = np.percentile(r, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3)}

"""dlcore's thread splitting: the measured threshold, the fixed one, and the override."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore import cpu_threads


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(cpu_threads, "_measured", {})
    monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", None)
    monkeypatch.setenv("DLCORE_NUM_THREADS", "2")


def test_the_measured_threshold_is_a_candidate_or_the_fixed_one(fresh):
    got = cpu_threads.min_work_per_thread()
    assert got in {w // 2 for w in cpu_threads.CANDIDATE_WORK} | {cpu_threads.FIXED_MIN_WORK}
    assert cpu_threads._measured == {2: got}  # measured once, then reused
    assert cpu_threads.min_work_per_thread() == got


def test_a_split_that_wins_sets_the_threshold_and_one_that_loses_keeps_the_fixed(fresh, monkeypatch):
    clock = {"t": 0.0}

    def timed_split(ratio):  # a fake clock: the split takes `ratio` of one thread's time
        def run(fn, n, count):
            fn(0, n)
            clock["t"] += n * (ratio if count > 1 else 1.0)
        return run

    monkeypatch.setattr(cpu_threads.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(cpu_threads, "_split", timed_split(0.5))
    assert cpu_threads._measure(2) == cpu_threads.CANDIDATE_WORK[0] // 2
    monkeypatch.setattr(cpu_threads, "_split", timed_split(0.9))
    assert cpu_threads._measure(2) == cpu_threads.FIXED_MIN_WORK


def test_fixed_work_and_small_work_never_measure(fresh):
    assert cpu_threads.min_work_per_thread(fixed=True) == cpu_threads.FIXED_MIN_WORK
    assert cpu_threads.threads_for(1000, 8) == 1
    assert cpu_threads.threads_for(10 * cpu_threads.FIXED_MIN_WORK, 8, fixed=True) == 2
    assert cpu_threads._measured == {}


def test_an_override_rules_all_work(fresh, monkeypatch):
    monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", 10)
    assert cpu_threads.min_work_per_thread() == cpu_threads.min_work_per_thread(fixed=True) == 10
    assert cpu_threads.threads_for(20, 8) == 2 and cpu_threads.threads_for(19, 8) == 1


def test_parallel_chunks_covers_every_item_once(fresh, monkeypatch):
    monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", 1)
    seen = np.zeros(101, int)

    def mark(lo, hi):
        seen[lo:hi] += 1

    cpu_threads.parallel_chunks(mark, 101, work=10_000)
    assert (seen == 1).all()

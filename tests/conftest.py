"""Shared fixtures: the ``device`` fixture runs a test on the CPU and, where a GPU is lent, on CUDA."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import dlcore  # noqa: E402

settings.register_profile("dlcore", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dlcore")

DEVICES = ["cpu", "cuda"]


def use_device(name: str, monkeypatch) -> str:
    """The one place a test gets its device: "cpu", or "cuda": a real GPU when CuPy sees one, else
    the CPU kernel emulator (DLCORE_CUDA_EMULATE=1 for this test; skipped cleanly when g++ is
    missing). On "cuda" every kernel output buffer starts NaN-poisoned (loader.POISON_OUTPUTS)."""
    if name == "cuda":
        if not dlcore.cuda.is_available():
            monkeypatch.setenv("DLCORE_CUDA_EMULATE", "1")
            if not dlcore.cuda.is_available():
                pytest.skip(f"no GPU and no CUDA emulator: {dlcore.cuda.unavailable_reason()}")
        monkeypatch.setattr(dlcore.cuda.loader, "POISON_OUTPUTS", True)
    return name


@pytest.fixture(params=DEVICES)
def device(request, monkeypatch) -> str:
    """Each of DEVICES in turn, provided by :func:`use_device`."""
    return use_device(request.param, monkeypatch)


@pytest.fixture
def cuda_device(monkeypatch) -> str:
    """"cuda" as :func:`use_device` provides it, for tests that compare it with the CPU."""
    return use_device("cuda", monkeypatch)


@contextmanager
def cpu_kernel_mode(name: str) -> Iterator[str]:
    """Run a block on the CPU's NumPy kernels ("numpy") or on dlcore.cpu_jit's compiled ones
    ("compiled", Numba). CI installs Numba (``dlcore[fast]``), so there "compiled" fails rather
    than skips without it."""
    from dlcore import cpu_jit

    if name == "compiled" and not cpu_jit.available():
        if os.environ.get("CI"):
            pytest.fail("Numba is not importable, but CI installs it (make install: dlcore[fast])")
        pytest.skip("Numba is not installed (pip install 'dlcore[fast]')")
    with cpu_jit.jit(name == "compiled"):
        yield name


@pytest.fixture(params=["numpy", "compiled"])
def cpu_kernels(request) -> Iterator[str]:
    """The CPU paths twice: NumPy's kernels, then the compiled ones (see :func:`cpu_kernel_mode`)."""
    with cpu_kernel_mode(request.param) as name:
        yield name


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seed."""
    dlcore.manual_seed(0)
    yield


@pytest.fixture
def cpu_only(monkeypatch):
    """Run on the CPU even under DLCORE_DEVICE=cuda: for claims that hold on the CPU alone
    (bit-exact resume and determinism; the CuPy generator is not checkpointed)."""
    monkeypatch.setenv("DLCORE_DEVICE", "cpu")

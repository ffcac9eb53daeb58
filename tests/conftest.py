"""Shared fixtures: the ``device`` fixture runs a test on the CPU and, where a GPU is lent, on CUDA."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import dlcore  # noqa: E402

settings.register_profile("dlcore", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dlcore")

DEVICES = ["cpu", "cuda"]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """"cpu", or "cuda" when CuPy sees a GPU (skipped cleanly otherwise)."""
    if request.param == "cuda" and not dlcore.cuda.is_available():
        pytest.skip(f"no GPU: {dlcore.cuda.unavailable_reason()}")
    return request.param


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

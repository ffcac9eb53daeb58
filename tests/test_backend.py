"""The backend shim: devices, availability reasons, seeding, and ``python -m dlcore info``."""

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dlcore
from dlcore import backend


def test_device_parsing():
    assert dlcore.device("cpu").type == "cpu"
    assert str(dlcore.device("cpu")) == "cpu"
    with pytest.raises(dlcore.DeviceError, match="expected 'cpu', 'cuda', 'cuda:N' or 'auto'"):
        dlcore.device("tpu")


def test_env_var_sets_the_default_device(monkeypatch):
    monkeypatch.setenv("DLCORE_DEVICE", "cpu")
    assert backend.default_device().type == "cpu"
    monkeypatch.setenv("DLCORE_DEVICE", "gpu0")
    with pytest.raises(dlcore.DeviceError):
        backend.default_device()


def test_cuda_unavailable_gives_a_reason_and_a_clear_error():
    if dlcore.cuda.is_available():
        pytest.skip("a GPU is present")
    reason = dlcore.cuda.unavailable_reason()
    assert reason and any(word in reason for word in ("CuPy", "driver", "device", "NVRTC"))
    with pytest.raises(dlcore.DeviceError, match="CUDA was requested but is not usable"):
        dlcore.device("cuda")


def test_auto_falls_back_to_cpu_once_through_logging(caplog):
    if dlcore.cuda.is_available():
        pytest.skip("a GPU is present")
    backend._auto_device.cache_clear()
    with caplog.at_level(logging.INFO, logger="dlcore"):
        assert dlcore.device("auto").type == "cpu"
        assert dlcore.device("auto").type == "cpu"
    assert sum("falling back to the CPU" in r.message for r in caplog.records) == 1


def test_get_array_module_and_moves(device):
    a = np.arange(3.0)
    assert dlcore.get_array_module(a) is np
    moved = dlcore.to_device(a, device)
    assert backend.device_of(moved).type == device
    np.testing.assert_array_equal(backend.to_numpy(moved), a)


def test_manual_seed_makes_runs_reproducible():
    dlcore.manual_seed(7)
    a = dlcore.randn(3).numpy()
    dlcore.manual_seed(7)
    assert (dlcore.randn(3).numpy() == a).all()
    state = backend.get_rng_state()
    b = dlcore.rand(2).numpy()
    backend.set_rng_state(state)
    assert (dlcore.rand(2).numpy() == b).all()


def test_default_dtype_is_float32_and_settable():
    assert dlcore.default_dtype() == np.float32
    dlcore.set_default_dtype(np.float64)
    try:
        assert dlcore.tensor([1.0]).dtype == np.float64
    finally:
        dlcore.set_default_dtype(np.float32)
    with pytest.raises(TypeError):
        dlcore.set_default_dtype(np.int32)


def test_import_does_not_import_cupy():
    code = "import sys, dlcore; print('cupy' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_info_command_prints_versions_and_devices():
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "dlcore", "info"], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for word in ("dlcore", "numpy", "device", "kernel", "cpu kernels", "native cpu", "numpy blas"):
        assert word in out.stdout


def test_two_cupy_builds_make_cuda_unusable_with_a_reason(monkeypatch):
    monkeypatch.delenv("DLCORE_CUDA_EMULATE", raising=False)  # the real CUDA stack's status, not the emulator's
    monkeypatch.setattr(backend, "installed_cupy_builds", lambda: ["cupy-cuda12x", "cupy-cuda13x"])
    backend.cuda_status.cache_clear()
    try:
        ok, reason = backend.cuda_status()
        assert not ok and "cuda12 and cuda13 must not be installed together" in reason
    finally:
        monkeypatch.undo()
        backend.cuda_status.cache_clear()

"""CPU runtime helpers: the glibc malloc tuning is applied on import and can be switched off."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tuned(**env) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "DLCORE_TUNE"))}
    out = subprocess.run([sys.executable, "-c", "import dlcore.cpu as c; print(c.TUNED_MALLOC)"],
                         capture_output=True, text=True, cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT), **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_malloc_tuning_is_applied_and_can_be_switched_off():
    assert _tuned() == "True"
    assert _tuned(DLCORE_TUNE_MALLOC="0") == "False"
    assert _tuned(MALLOC_TRIM_THRESHOLD_="1000000") == "False"  # the user's own glibc setting wins


# --------------------------------------------------------------------------- element-wise kernels
import numpy as np  # noqa: E402

from dlcore import cpu, cpu_threads  # noqa: E402

# Odd length over several cache blocks and above the threading threshold of even the cheapest
# kernel (ReLU's, cost 0.25), so the split into threads and blocks (and the short last block)
# is exercised.
N_BIG = 4 * cpu_threads.FIXED_MIN_WORK + 3 * cpu.ONE_PASS_BLOCK + 7


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setenv("DLCORE_NUM_THREADS", "2")


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_threaded_activations_match_torch_forward_and_backward(name, two_threads):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(N_BIG) * 6).astype(np.float32)
    x[:4] = [np.nan, 0.0, -0.0, -np.nan]  # relu passes a NaN's gradient and stops a zero's, as torch
    g = rng.standard_normal(N_BIG).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch, name)(xt)
    yt.backward(torch.tensor(g))
    y = getattr(cpu, name)(x)
    dx = getattr(cpu, f"{name}_backward")(g, x if name == "relu" else y)
    assert y.dtype == dx.dtype == np.float32
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=2e-6, atol=1e-7)
    # 1 - y*y and y*(1 - y) cancel near saturation, so compare the gradient on the scale of g
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_activation_kernels_keep_shape_dtype_nan_and_extremes():
    x = np.array([[np.nan, -1e4, -100.0], [0.0, 100.0, 1e4]])
    assert np.isnan(cpu.relu(x)[0, 0]) and cpu.relu(x).shape == (2, 3)
    with np.errstate(over="raise"):
        s = cpu.sigmoid(x)
    assert s[0, 1] == 0.0 and s[1, 2] == 1.0 and s[1, 0] == 0.5
    np.testing.assert_allclose(s[0, 2], np.exp(-100.0), rtol=1e-12)  # tiny values keep precision
    strided = np.arange(12.0).reshape(3, 4)[:, ::2] - 5
    np.testing.assert_array_equal(cpu.relu(strided), np.maximum(strided, 0))
    assert cpu.sigmoid(np.array([0, 3])).dtype.kind == "i"  # integers stay integers, as before


def test_conv_algorithm_comes_from_the_environment():
    code = "import dlcore.cpu as c; print(c.get_conv_algorithm())"
    run = lambda **env: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,  # noqa: E731
                                       env={**os.environ, "PYTHONPATH": str(ROOT), **env}).stdout.strip()
    assert run(DLCORE_CONV_ALGORITHM="im2col") == "im2col"
    assert run(DLCORE_CONV_ALGORITHM="bogus") == "auto"


def test_axpby_is_bit_exact_with_the_plain_update(two_threads):
    rng = np.random.default_rng(1)
    y0, x = rng.standard_normal((2, N_BIG), dtype=np.float32)
    expected = y0.copy()
    expected *= np.float32(0.9)
    expected += np.float32(-0.01) * x
    y = y0.copy()
    assert cpu.axpby_(y, 0.9, x, -0.01) is y and y.dtype == np.float32
    np.testing.assert_array_equal(y, expected)
    strided = y0.copy()[::2]  # not contiguous: the plain path
    np.testing.assert_array_equal(cpu.axpby_(strided, 1, x[::2], 2.0), y0[::2] + np.float32(2) * x[::2])


def test_relu_gradient_is_zero_at_non_positive_inputs_even_for_inf_or_nan_gradients(device, cpu_kernels, two_threads):
    # as torch's threshold_backward: x <= 0 gives 0 whatever g is, a NaN input passes g; on the
    # CPU with the NumPy and the compiled kernel, and through kernels/activation.cu
    torch = pytest.importorskip("torch")
    import dlcore
    import dlcore.functional as F

    n = N_BIG if device == "cpu" else 4099
    rng = np.random.default_rng(3)
    x = rng.standard_normal(n).astype(np.float32)
    x[:6] = [-1.0, -2.0, 0.0, -0.0, np.nan, 1.0]
    g = rng.standard_normal(n).astype(np.float32)
    g[:6] = [np.inf, np.nan, -np.inf, np.nan, 3.0, np.inf]  # torch: 0, 0, 0, 0, 3, inf
    xd = dlcore.tensor(x, requires_grad=True, device=device)
    F.relu(xd).backward(dlcore.tensor(g, device=device))
    xt = torch.tensor(x, requires_grad=True)
    torch.relu(xt).backward(torch.tensor(g))
    np.testing.assert_array_equal(xd.grad.numpy(), xt.grad.numpy())

"""examples/pytorch_style/: plain PyTorch scripts whose only dlcore-specific line picks the library.
Each runs on dlcore and, where PyTorch is installed (CI), unchanged on PyTorch, and both must learn."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "examples" / "pytorch_style"
BACKENDS = ["dlcore", pytest.param("torch", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is None, reason="PyTorch is not installed"))]


def run(script: str, backend: str, device: str, *args: str) -> tuple[float, str]:
    """The script on ``device`` (the ``device`` fixture: "cuda" is a real GPU or the CPU emulator, whose
    DLCORE_CUDA_EMULATE=1 the child inherits); PyTorch runs on "cuda" only where its CUDA build sees a GPU."""
    if backend == "torch" and device == "cuda":
        import torch

        if not torch.cuda.is_available():
            pytest.skip("this PyTorch has no usable CUDA device (dlcore's cuda may be the emulator)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(FOLDER / script), "--backend", backend, "--device", device, *args],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return float(re.findall(r"^result: (\S+)$", out.stdout, re.M)[-1]), out.stdout


def write_idx(folder: Path, split: str, n: int, seed: int) -> None:
    """A tiny learnable MNIST-format set: class k lights up a k-dependent band."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 * k:2 * k + 4, :] = 255
    prefix = "train" if split == "train" else "t10k"
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())


@pytest.mark.parametrize("backend", BACKENDS)
def test_polynomial_fit_with_manual_updates_under_no_grad(backend, device):
    loss, out = run("polynomial_fit.py", backend, device, "--steps", "1500")
    first = float(re.search(r"^99 (\S+)$", out, re.M).group(1))
    assert loss < first / 5 and loss < 50  # sum of squares over 2000 points; ~9-12 with both libraries


@pytest.mark.parametrize("backend", BACKENDS)
def test_module_list_model_learns_digits(backend, device):
    accuracy, _ = run("module_list.py", backend, device, "--epochs", "4", "--limit", "1000")
    assert accuracy > 0.6  # 10 classes: chance is 0.1


@pytest.mark.parametrize("backend", BACKENDS)
def test_cifar_tutorial_loop_with_max_data_and_view(backend, device):
    accuracy, out = run("classifier_loop.py", backend, device, "--epochs", "3", "--samples", "256")
    losses = [float(v) for v in re.findall(r"loss: (\S+)", out)]
    assert losses[-1] < losses[0] and accuracy > 0.4  # 4 classes: chance is 0.25


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_mnist_example_with_adadelta_and_steplr(backend, device, tmp_path):
    write_idx(tmp_path, "train", 256, 0)
    write_idx(tmp_path, "test", 128, 1)
    accuracy, _ = run("mnist.py", backend, device, "--data", str(tmp_path), "--limit", "0", "--batch-size", "32")
    assert accuracy > 0.5

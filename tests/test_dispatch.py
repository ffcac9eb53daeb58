"""Device dispatch happens once, in ``Function.run_forward`` / ``run_backward`` (issue 12 item 1).

A stand-in "GPU array" type (a NumPy subclass that ``autograd.is_gpu_array`` is patched to
recognise) drives the real Functions of dlcore.functional, with the launcher modules replaced
by recorders, so the test needs no GPU and proves which method ran.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
from dlcore import autograd
from dlcore.functional import activation, conv, loss, pool

FUNCTIONAL = Path(dlcore.__file__).parent / "functional"


class FakeGpu(np.ndarray):
    """An array the patched dispatcher treats as living on a GPU."""


def fake(a):
    return np.asarray(a, dtype=np.float64).view(FakeGpu)


class Recorder:
    """Stands in for a ``dlcore.cuda`` launcher module: each call is logged and computed on the CPU."""

    def __init__(self, **impls):
        self.calls, self.impls = [], impls

    def __getattr__(self, name):
        def launch(*args, **kwargs):
            self.calls.append(name)
            return self.impls[name](*args, **kwargs)

        return launch


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setattr(autograd, "is_gpu_array", lambda a: isinstance(a, FakeGpu))
    acts = Recorder(forward=lambda name, x, slope=0.01: np.maximum(x, 0).view(FakeGpu),
                    backward=lambda name, saved, g, slope=0.01: (g * (saved > 0)).view(FakeGpu))
    sm = Recorder(softmax=lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True),
                  softmax_backward=lambda y, g: y * (g - (g * y).sum(1, keepdims=True)))
    monkeypatch.setattr(activation, "gpu_activation", acts)
    monkeypatch.setattr(activation, "gpu_softmax", sm)
    return acts, sm


def test_gpu_inputs_run_forward_gpu_and_backward_gpu(fake_gpu):
    acts, _ = fake_gpu
    x = dlcore.Tensor(fake([[-1.0, 2.0]]), requires_grad=True)
    F.relu(x).sum().backward()
    assert acts.calls == ["forward", "backward"]
    assert x.grad.tolist() == [[0.0, 1.0]]


def test_cpu_inputs_never_reach_the_launchers(fake_gpu):
    acts, sm = fake_gpu
    x = dlcore.tensor([[-1.0, 2.0]], requires_grad=True, device="cpu")
    (F.relu(x) + F.softmax(x)).sum().backward()
    assert acts.calls == [] and sm.calls == []


def test_a_declined_forward_gpu_falls_back_to_the_generic_path_both_ways(fake_gpu):
    _, sm = fake_gpu
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = dlcore.Tensor(fake(x), requires_grad=True)
    y = F.softmax(t, axis=0)  # the kernels reduce over the last axis only: forward_gpu declines
    g = np.random.default_rng(1).standard_normal((3, 4))
    y.backward(dlcore.Tensor(fake(g)))
    assert sm.calls == []  # neither softmax nor softmax_backward was launched
    ref = np.exp(x) / np.exp(x).sum(0)
    np.testing.assert_allclose(np.asarray(y.array), ref)
    np.testing.assert_allclose(np.asarray(t.grad.array), ref * (g - (g * ref).sum(0)))
    F.softmax(dlcore.Tensor(fake(x)), axis=-1)
    assert sm.calls == ["softmax"]


def test_conv_and_pool_decline_what_the_kernels_lack(monkeypatch):
    monkeypatch.setattr(autograd, "is_gpu_array", lambda a: isinstance(a, FakeGpu))
    rec = Recorder()  # any launch would fail: every case below must decline
    monkeypatch.setattr(conv, "cuda_conv", rec)
    monkeypatch.setattr(pool, "cuda_pool", rec)
    x = dlcore.Tensor(fake(np.ones((1, 4, 6, 6))))
    assert F.conv2d(x, dlcore.Tensor(fake(np.ones((2, 2, 3, 3)))), groups=2).shape == (1, 2, 4, 4)
    assert F.max_pool2d(x, 2, dilation=2).shape == (1, 4, 2, 2)
    assert F.max_pool2d(x, 3, stride=2, ceil_mode=True).shape == (1, 4, 3, 3)
    assert F.avg_pool2d(x, 3, 1, padding=1, count_include_pad=False).shape == (1, 4, 6, 6)
    assert rec.calls == []


def test_no_op_in_functional_tests_the_device_itself():
    offenders = []
    for path in FUNCTIONAL.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name) and node.id == "is_gpu_array":
                offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module and "cuda" in node.module:
                assert node.col_offset == 0, f"{path.name}:{node.lineno} imports dlcore.cuda inside a function"
    assert not offenders, f"device tests outside Function.run_forward: {offenders}"


def test_loss_uses_the_same_dispatch():
    assert loss.CrossEntropy.forward_gpu is not None and loss.CrossEntropy.backward_gpu is not None

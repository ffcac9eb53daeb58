"""ONNX export: the exported file runs in onnxruntime and matches dlcore's output."""

from __future__ import annotations

import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
from dlcore.models import LeNet5, mnist_cnn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from dlcore.onnx import UnsupportedLayerError, export  # noqa: E402


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def _trained_bn(model, shape):
    """Give BatchNorm layers non-trivial running statistics, then switch to eval."""
    model.train()
    with dlcore.no_grad():
        for _ in range(3):
            model(dlcore.randn(*shape) * 2 + 1)
    return model.eval()


CASES = {
    "mlp": (lambda: nn.MLP([6, 16, 8, 3], activation="tanh", out_activation="softmax"), (5, 6)),
    "mnist_cnn": (lambda: mnist_cnn(), (3, 1, 28, 28)),
    "lenet_classic": (lambda: LeNet5(classic=True), (2, 1, 28, 28)),
    "bn_mlp": (lambda: nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                                     nn.Linear(8, 2), nn.LogSoftmax()), (6, 4)),
    "bn_cnn": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding="same"), nn.BatchNorm2d(4), nn.Sigmoid(),
                                     nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1), nn.ReLU()),
                                     nn.AvgPool2d(2, padding=1), nn.Conv2d(6, 2, 2, dilation=2),
                                     nn.Flatten()), (2, 3, 12, 12)),
    "asymmetric_same": (lambda: nn.Sequential(nn.Conv2d(2, 3, 2, padding="same"), nn.MaxPool2d(3, stride=2, padding=1),
                                              nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)), (2, 2, 7, 7)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_export_matches_dlcore(case, tmp_path):
    make, shape = CASES[case]
    model = _trained_bn(make(), shape)
    path = tmp_path / f"{case}.onnx"
    export(model, dlcore.zeros(*shape), str(path))
    onnx.checker.check_model(str(path))
    # the batch dimension is dynamic: run with another batch size than the example's
    x = np.random.default_rng(0).standard_normal((shape[0] + 2,) + shape[1:]).astype(np.float32)
    expected = model(dlcore.tensor(x)).numpy()
    np.testing.assert_allclose(_run(path, x), expected, rtol=1e-5, atol=1e-5)


def test_export_restores_training_mode(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model.train()
    export(model, dlcore.zeros(1, 2), str(tmp_path / "m.onnx"))
    assert all(m.training for m in model.modules())


def test_unsupported_layer_is_named(tmp_path):
    class Custom(nn.Module):
        def forward(self, x):
            return x * 2

    with pytest.raises(UnsupportedLayerError, match="Custom"):
        export(nn.Sequential(nn.Linear(2, 2), Custom()), dlcore.zeros(1, 2), str(tmp_path / "m.onnx"))
    assert not (tmp_path / "m.onnx").exists()


def test_integer_example_input_is_refused(tmp_path):
    with pytest.raises(UnsupportedLayerError, match="floating-point"):
        export(nn.Sequential(nn.Linear(2, 2)), dlcore.tensor([[1, 2]]), str(tmp_path / "m.onnx"))

"""Plots render headless into valid PNGs of the expected size."""

import struct

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import dlcore
import dlcore.nn as nn
from dlcore import plot
from dlcore.autograd import Function
from dlcore.datasets import playground
from dlcore.train import History


def png_size(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_history(tmp_path):
    h = History()
    for i in range(5):
        h.append({"loss": 1 / (i + 1), "accuracy": i / 5, "val_loss": 1.2 / (i + 1), "val_accuracy": i / 6,
                  "lr": 0.1, "time": 0.1})
    out = plot.plot_history(h, tmp_path / "sub" / "history.png", figsize=(8, 3), dpi=50)
    assert png_size(out) == (400, 150)
    assert png_size(plot.plot_history({"loss": [3, 2, 1]}, tmp_path / "loss.png")) == (1000, 400)


def test_plot_loss_curves(tmp_path):
    curves = {"batch": np.linspace(1, 0.1, 20), "mini-batch": np.linspace(1, 0.01, 20), "stochastic": [1, 0.5]}
    assert png_size(plot.plot_loss_curves(curves, tmp_path / "c.png", figsize=(6, 4), dpi=80)) == (480, 320)


@pytest.mark.parametrize("outputs", [1, 2])
def test_plot_decision_boundary(tmp_path, outputs):
    X, y = playground("circle", 60, seed=0)
    dlcore.manual_seed(0)
    model = nn.MLP([2, 4, outputs], activation="tanh", out_activation="sigmoid" if outputs == 1 else None)
    model.train()
    out = plot.plot_decision_boundary(model, X, y, tmp_path / "db.png", resolution=40, figsize=(4, 4), dpi=60,
                                      title="circle")
    assert png_size(out) == (240, 240)
    assert model.training  # predict() restored the mode


def test_positive_probability():
    np.testing.assert_allclose(plot._positive_probability(np.array([[0.0], [100.0], [-100.0]])), [0.5, 1, 0],
                               atol=1e-12)
    np.testing.assert_allclose(plot._positive_probability(np.array([[0.2], [0.9]])), [0.2, 0.9])
    np.testing.assert_allclose(plot._positive_probability(np.array([[0.0, 0.0], [0.0, np.log(3)]])), [0.5, 0.75])


class _ShiftConv(Function):
    """A stand-in for a conv layer's op: out[c] = x[0] * (c + 1)."""

    def forward(self, x, channels=3):
        return np.concatenate([x[:, :1] * (c + 1) for c in range(channels)], axis=1)

    def backward(self, grad):  # pragma: no cover - not needed here
        return (None,)


class ToyConv(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = channels
        self.weight = nn.Parameter(np.random.default_rng(0).standard_normal((channels, 1, 3, 3)).astype(np.float32))

    def forward(self, x):
        return _ShiftConv.apply(x, channels=self.channels)


class ToyPool(nn.Module):
    def forward(self, x):
        return x[:, :, ::2, ::2]


def test_show_filters(tmp_path):
    layer = ToyConv(10)
    out = plot.show_filters(layer, tmp_path / "f.png", figsize=(5, 2), dpi=40)
    assert png_size(out) == (200, 80)
    rgb = np.random.default_rng(0).standard_normal((4, 3, 5, 5))
    assert png_size(plot.show_filters(rgb, tmp_path / "rgb.png", figsize=(2, 2), dpi=50)) == (100, 100)
    with pytest.raises(ValueError, match="out, in, kh, kw"):
        plot.show_filters(np.zeros((3, 3)), tmp_path / "bad.png")


def test_show_feature_maps(tmp_path):
    model = nn.Sequential(ToyConv(4), nn.ReLU(), ToyPool(), nn.Flatten())
    image = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
    out = plot.show_feature_maps(model, image, tmp_path / "maps.png", figsize=(6, 3), dpi=50)
    assert png_size(out) == (300, 150)
    with pytest.raises(ValueError, match="no conv or pool"):
        plot.show_feature_maps(nn.Sequential(nn.Flatten()), image, tmp_path / "none.png")


def test_with_the_real_conv_layers(tmp_path):
    if not hasattr(nn, "Conv2d") or not hasattr(nn, "MaxPool2d"):
        pytest.skip("nn.Conv2d / nn.MaxPool2d not available yet")
    dlcore.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    image = np.random.default_rng(0).random((1, 1, 12, 12)).astype(np.float32)
    assert png_size(plot.show_filters(model[0], tmp_path / "f.png", figsize=(3, 2), dpi=50)) == (150, 100)
    assert png_size(plot.show_feature_maps(model, image, tmp_path / "m.png", figsize=(4, 3), dpi=50)) == (200, 150)

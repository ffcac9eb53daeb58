"""Reference models: layer order, output shapes, parameter counts, and one training step."""

from __future__ import annotations

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.models import LeNet5, mnist_cnn
from dlcore.nn import AvgPool2d, Conv2d, MaxPool2d


def _shapes(model, x):
    """The output shape after every layer of a Sequential."""
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append(x.shape)
    return shapes


def test_mnist_cnn_layers_and_shapes():
    model = mnist_cnn()
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "ReLU", "Linear"]
    assert _shapes(model, dlcore.zeros(3, 1, 28, 28)) == [
        (3, 16, 28, 28), (3, 16, 28, 28), (3, 16, 14, 14),
        (3, 32, 14, 14), (3, 32, 14, 14), (3, 32, 7, 7),
        (3, 1568), (3, 128), (3, 128), (3, 10),
    ]
    conv1, conv2 = model[0], model[3]
    assert conv1.weight.shape == (16, 1, 3, 3) and conv2.weight.shape == (32, 16, 3, 3)
    assert model.num_parameters() == (16 * 9 + 16) + (32 * 16 * 9 + 32) + (1568 * 128 + 128) + (128 * 10 + 10)
    assert mnist_cnn(num_classes=5)(dlcore.zeros(2, 1, 28, 28)).shape == (2, 5)
    assert mnist_cnn(in_channels=3)(dlcore.zeros(2, 3, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("classic", [False, True])
def test_lenet5_layers_and_shapes(classic):
    model = LeNet5(classic=classic)
    shapes = _shapes(model, dlcore.zeros(2, 1, 28, 28))
    assert shapes[0] == (2, 6, 28, 28) and shapes[2] == (2, 6, 14, 14)
    assert shapes[3] == (2, 16, 10, 10) and shapes[5] == (2, 16, 5, 5)
    assert shapes[6] == (2, 400) and shapes[-1] == (2, 10)
    pool = AvgPool2d if classic else MaxPool2d
    assert isinstance(model[2], pool) and isinstance(model[5], pool)
    assert isinstance(model[1], nn.Tanh if classic else nn.ReLU)
    convs = [m for m in model if isinstance(m, Conv2d)]
    assert [c.weight.shape for c in convs] == [(6, 1, 5, 5), (16, 6, 5, 5)]
    assert model.num_parameters() == 61706  # the classic LeNet-5 count for 28x28 input with padding 2


def test_mnist_cnn_wrong_input_names_the_layer():
    with pytest.raises(dlcore.errors.ShapeError, match=r"Conv2d\(1→16, k=3\) expected input with 1 channels"):
        mnist_cnn()(dlcore.zeros(2, 3, 28, 28))
    with pytest.raises(dlcore.errors.ShapeError, match=r"Linear\(1568→128\)"):
        mnist_cnn()(dlcore.zeros(2, 1, 32, 32))


def test_mnist_cnn_training_step_lowers_loss():
    rng = np.random.default_rng(0)
    X = dlcore.tensor(rng.random((16, 1, 28, 28), dtype=np.float32))
    y = dlcore.tensor(rng.integers(0, 10, 16))
    model = mnist_cnn()
    opt = dlcore.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(8):
        loss = F.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]

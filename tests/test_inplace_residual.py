"""Residual blocks written the PyTorch way (``out = layer(x); out += identity``) give PyTorch's
gradients, and ops whose backward reads their output (sigmoid, tanh) refuse it as PyTorch does."""

import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
from dlcore.autograd import AutogradError

LAYERS = {
    "conv": lambda: nn.Conv2d(3, 3, 3, padding=1), "batchnorm": lambda: nn.BatchNorm2d(3),
    "relu": lambda: nn.ReLU(), "maxpool": lambda: nn.MaxPool2d(3, stride=1, padding=1),
    "layernorm": lambda: nn.LayerNorm(5), "gelu": lambda: nn.GELU(), "dropout": lambda: nn.Dropout(0.3),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_in_place_residual_add_on_a_layer_output(name):
    dlcore.manual_seed(0)
    layer = LAYERS[name]().double()
    x = dlcore.randn(2, 3, 5, 5, dtype=dlcore.float64, requires_grad=True)
    dlcore.manual_seed(1)        # the same dropout mask in both runs
    out = layer(x)
    out += x                     # the ResNet idiom
    (out * out).sum().backward()
    in_place = x.grad.numpy().copy()
    x.grad = None
    dlcore.manual_seed(0)
    layer = LAYERS[name]().double()
    dlcore.manual_seed(1)
    ref = layer(x) + x
    (ref * ref).sum().backward()
    np.testing.assert_allclose(in_place, x.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("op", ["sigmoid", "tanh"])
def test_in_place_change_of_a_saved_output_raises(op):
    x = dlcore.randn(4, requires_grad=True)
    y = getattr(x, op)()
    y += 1
    with pytest.raises(AutogradError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
def test_a_host_gradient_for_a_cuda_output_is_a_device_error(device):
    """On "cuda" (a real GPU, or the emulator in CI) a NumPy gradient is refused, never mixed."""
    x = dlcore.ones(2, device=device, requires_grad=True)
    with pytest.raises(dlcore.DeviceError, match="backward expected all inputs on one device"):
        (x * 2).backward(np.ones(2, np.float32))

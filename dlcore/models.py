"""Reference models, built from ``dlcore.nn`` layers as flat ``Sequential`` stacks.

They keep the lecture initialisation by name (He for the ReLU layers, Xavier for the output
layer), with which their README figures were measured; a bare ``nn.Linear``/``nn.Conv2d`` starts
as PyTorch's does.

    >>> import dlcore
    >>> model = mnist_cnn()
    >>> model(dlcore.zeros(2, 1, 28, 28)).shape
    (2, 10)
    >>> LeNet5()(dlcore.zeros(2, 1, 28, 28)).shape
    (2, 10)
"""

from __future__ import annotations

from . import nn
from .nn import AvgPool2d, Conv2d, MaxPool2d

__all__ = ["mnist_cnn", "LeNet5"]


def mnist_cnn(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """The reference CNN for 28x28 MNIST (about 206k parameters), returning logits.

    conv(1→16, 3x3, pad 1), ReLU, maxpool 2 -> 16x14x14;
    conv(16→32, 3x3, pad 1), ReLU, maxpool 2 -> 32x7x7;
    flatten (1568), linear(1568→128), ReLU, linear(128→10).
    """
    return nn.Sequential(
        Conv2d(in_channels, 16, 3, padding=1, init="he"),
        nn.ReLU(),
        MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1, init="he"),
        nn.ReLU(),
        MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 128, init="he"),
        nn.ReLU(),
        nn.Linear(128, num_classes, init="xavier"),
    )


def LeNet5(num_classes: int = 10, in_channels: int = 1, classic: bool = False) -> nn.Sequential:
    """LeNet-5 (LeCun et al., 1998) for 28x28 input, returning logits.

    conv(1→6, 5x5, pad 2) -> 6x28x28, pool 2 -> 6x14x14; conv(6→16, 5x5) -> 16x10x10,
    pool 2 -> 16x5x5; flatten (400), linear(400→120), linear(120→84), linear(84→10).
    The default uses ReLU and max pooling; ``classic=True`` uses tanh and average pooling as
    in the paper (without its sparse C3 connection table and RBF output layer).
    """
    act = (lambda: nn.Tanh()) if classic else (lambda: nn.ReLU())
    pool = (lambda: AvgPool2d(2)) if classic else (lambda: MaxPool2d(2))
    init = "xavier" if classic else "he"
    return nn.Sequential(
        Conv2d(in_channels, 6, 5, padding=2, init=init),
        act(),
        pool(),
        Conv2d(6, 16, 5, init=init),
        act(),
        pool(),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120, init=init),
        act(),
        nn.Linear(120, 84, init=init),
        act(),
        nn.Linear(84, num_classes, init="xavier"),
    )

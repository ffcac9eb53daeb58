"""Differentiable NN ops on Tensors, also importable as ``dlcore.nn.functional``.

    >>> import dlcore.functional as F
"""

from .activation import identity, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv1d, conv2d
from .linear import dropout, linear
from .loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    logistic_loss,
    mse_loss,
    nll_loss,
)
from .norm import batch_norm
from .pad import pad
from .pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d

__all__ = [
    "identity", "leaky_relu", "log_softmax", "relu", "sigmoid", "softmax", "tanh",
    "dropout", "linear", "conv1d", "conv2d", "max_pool2d", "avg_pool2d",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "pad", "batch_norm",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "l1_loss",
    "logistic_loss", "mse_loss", "nll_loss",
]

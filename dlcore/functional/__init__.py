"""Differentiable NN ops on Tensors, also importable as ``dlcore.nn.functional`` (PyTorch's names).

    >>> import dlcore.functional as F
"""

from .activation import elu, gelu, identity, leaky_relu, log_softmax, relu, sigmoid, silu, softmax, tanh
from .adaptive_pool import adaptive_avg_pool2d, adaptive_max_pool2d
from .binary_loss import binary_cross_entropy, binary_cross_entropy_with_logits
from .conv import conv1d, conv2d
from .cross_entropy import cross_entropy, nll_loss
from .dropout import dropout, dropout2d
from .embedding import embedding, one_hot
from .linear import linear
from .loss import huber_loss, kl_div, l1_loss, logistic_loss, mse_loss, smooth_l1_loss
from .norm import batch_norm, layer_norm
from .pad import pad
from .pool import avg_pool2d, max_pool2d

__all__ = [
    "elu", "gelu", "identity", "leaky_relu", "log_softmax", "relu", "sigmoid", "silu", "softmax", "tanh",
    "dropout", "dropout2d", "embedding", "one_hot", "linear", "conv1d", "conv2d", "max_pool2d", "avg_pool2d",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "pad", "batch_norm", "layer_norm",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "huber_loss", "kl_div", "l1_loss",
    "logistic_loss", "mse_loss", "nll_loss", "smooth_l1_loss",
]

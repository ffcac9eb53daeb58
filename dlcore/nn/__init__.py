"""Layers and models: ``Module``, ``Linear``, ``MLP``, activations, ``Dropout``, CNN layers.

    >>> import dlcore.nn as nn
    >>> nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))  # doctest: +ELLIPSIS
    Sequential...
"""

from . import functional, init, utils
from .activation import Identity, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .conv import AvgPool2d, Conv2d, MaxPool2d
from .layers import MLP, Dropout, Flatten, Linear, Sequential
from .module import Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d
from .sync_batchnorm import SyncBatchNorm

__all__ = [
    "functional", "init", "utils",
    "Identity", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh",
    "MLP", "Dropout", "Flatten", "Linear", "Sequential", "Module", "Parameter",
    "AvgPool2d", "Conv2d", "MaxPool2d", "BatchNorm1d", "BatchNorm2d", "SyncBatchNorm",
]

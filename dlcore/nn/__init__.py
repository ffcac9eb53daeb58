"""Layers and models with PyTorch's names: ``Module``, containers, ``Linear``, activations, losses,
normalisation, dropout, embeddings, CNN layers, and ``nn.init`` / ``nn.functional`` / ``nn.utils``.

    >>> import dlcore.nn as nn
    >>> nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))  # doctest: +ELLIPSIS
    Sequential...
"""

from . import functional, init, utils
from .activation import ELU, GELU, Identity, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import Conv1d, Conv2d
from .layers import MLP, Dropout, Dropout2d, Embedding, Flatten, Linear, Unflatten
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from .module import Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm
from .pool import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from .sync_batchnorm import SyncBatchNorm

__all__ = [
    "functional", "init", "utils",
    "ELU", "GELU", "Identity", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "SiLU", "Softmax", "Tanh",
    "ModuleDict", "ModuleList", "ParameterDict", "ParameterList", "Sequential",
    "MLP", "Dropout", "Dropout2d", "Embedding", "Flatten", "Linear", "Unflatten", "Module", "Parameter",
    "Conv1d", "Conv2d", "AvgPool2d", "MaxPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "SyncBatchNorm",
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "KLDivLoss", "L1Loss", "MSELoss", "NLLLoss",
    "SmoothL1Loss",
]

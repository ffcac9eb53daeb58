"""Fully connected layers and the containers that stack them (lectures 000 and 003).

    >>> import dlcore, dlcore.nn as nn
    >>> mlp = nn.MLP([2, 8, 1], activation="tanh", out_activation="sigmoid")
    >>> mlp(dlcore.tensor([[0.0, 1.0]])).shape
    (1, 1)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import functional as F
from ..backend import default_device, default_dtype, to_device
from ..errors import ShapeError, shape_str
from ..tensor import Tensor
from .activation import ACTIVATIONS, activation_module
from .init import initial_weight
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b, with W of shape (out_features, in_features).

    ``init`` is "xavier" (default, as in Keras), "he" or "normal" (with ``std``, lecture 003's 0.1).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "xavier", std: float = 0.1) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        dev = default_device()
        self.weight = Parameter(to_device(initial_weight((out_features, in_features), init, std), dev))
        if bias:
            self.bias = Parameter(to_device(np.zeros(out_features, dtype=default_dtype()), dev))
        else:
            self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias, layer=f"Linear({self.in_features}→{self.out_features})")

    def extra_repr(self) -> str:
        return f"{self.in_features}→{self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Flatten all dimensions from ``start_dim`` on: (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim: int = 1) -> None:
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim <= self.start_dim:
            raise ShapeError(f"Flatten(start_dim={self.start_dim}) expected at least {self.start_dim + 1} dims, got {shape_str(x.shape)}")
        return x.flatten(self.start_dim)


class Dropout(Module):
    """Zero inputs with probability ``p`` while training; identity in eval mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout expected 0 <= p < 1, got p={p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Apply modules in order: ``Sequential(Linear(2, 8), Tanh(), Linear(8, 1))``."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential expected Modules, got {type(m).__name__} at position {i}")
            self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class MLP(Sequential):
    """A multilayer perceptron: ``MLP([784, 256, 10])`` is Linear, activation, Linear.

    ``activation`` goes between layers; ``out_activation`` (None, "sigmoid", "softmax", ...)
    after the last one. ReLU-family nets get He init, the rest Xavier.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", out_activation: str | None = None,
                 dropout: float = 0.0, init: str | None = None) -> None:
        if len(sizes) < 2:
            raise ValueError(f"MLP expected at least [in, out] sizes, got {list(sizes)}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP expected activation in {sorted(ACTIVATIONS)}, got {activation!r}")
        init = init or ("he" if "relu" in activation else "xavier")
        layers: list[Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out, init=init))
            if i < len(sizes) - 2:
                layers.append(activation_module(activation))
                if dropout:
                    layers.append(Dropout(dropout))
        if out_activation is not None:
            layers.append(activation_module(out_activation))
        super().__init__(*layers)

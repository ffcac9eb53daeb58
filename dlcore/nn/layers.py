"""Fully connected layers, reshaping layers, dropout, embeddings and the MLP (lectures 000 and 003).

    >>> import dlcore, dlcore.nn as nn
    >>> mlp = nn.MLP([2, 8, 1], activation="tanh", out_activation="sigmoid")
    >>> mlp(dlcore.tensor([[0.0, 1.0]])).shape
    (1, 1)
    >>> nn.Unflatten(1, (2, 3))(dlcore.zeros(4, 6)).shape
    (4, 2, 3)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import functional as F
from ..backend import default_device, default_dtype, to_device
from ..backend import device as as_device
from ..errors import RangeError, ShapeError, UnsupportedArgumentError, shape_str
from ..functional.args import dim_index, flag, positive_int, probability
from ..tensor import Tensor
from .activation import ACTIVATIONS, activation_module
from .containers import Sequential
from .init import layer_parameters, normal_
from .module import Module, Parameter

__all__ = ["Linear", "Flatten", "Unflatten", "Dropout", "Dropout2d", "Embedding", "MLP"]


class Linear(Module):
    """y = x W^T + b, with W of shape (out_features, in_features).

    The default ``init=None`` is PyTorch's: W ~ U(±1/sqrt(in_features)), b ~ U(±1/sqrt(in_features)).
    ``init`` may name a lecture scheme: "xavier", "he" or "normal" (with ``std``, lecture 003's
    0.1), and then the bias starts at zero.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None, init: str | None = None, std: float = 0.1) -> None:
        super().__init__()
        self.in_features = positive_int("Linear", "in_features", in_features)
        self.out_features = positive_int("Linear", "out_features", out_features)
        w, b = layer_parameters("Linear", (self.out_features, self.in_features), bias, init, std, device, dtype)
        self.weight = Parameter(w)
        self.register_parameter("bias", Parameter(b) if b is not None else None)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias, layer=f"Linear({self.in_features}→{self.out_features})")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Flatten dimensions ``start_dim`` to ``end_dim`` into one: (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ShapeError(f"Flatten expected {name} to be an int, got {value!r}")
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        name = f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"
        if not -max(x.ndim, 1) <= self.start_dim < max(x.ndim, 1):  # a 0-d input takes dims -1 and 0
            raise ShapeError(f"Flatten(start_dim={self.start_dim}) expected at least {self.start_dim + 1} dims, got "
                             f"{shape_str(x.shape)}")
        start, end = dim_index(name, "start_dim", self.start_dim, x.ndim), dim_index(name, "end_dim", self.end_dim, x.ndim)
        if start > end:
            raise ShapeError(f"{name} expected start_dim <= end_dim for input {shape_str(x.shape)}")
        merged = int(np.prod(x.shape[start:end + 1], dtype=np.int64))
        return x.reshape(*x.shape[:start], merged, *x.shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``: Unflatten(1, (C, H, W)) undoes Flatten()."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise ShapeError(f"Unflatten expected dim to be an int, got {dim!r}")
        sizes = tuple(unflattened_size)
        for s in sizes:
            if s != -1:
                positive_int("Unflatten", "unflattened_size entries", s)
        if sizes.count(-1) > 1 or not sizes:
            raise ShapeError(f"Unflatten expected a non-empty unflattened_size with at most one -1, got {sizes}")
        self.dim, self.unflattened_size = dim, sizes

    def forward(self, x: Tensor) -> Tensor:
        d = dim_index("Unflatten", "dim", self.dim, x.ndim)
        known = int(np.prod([s for s in self.unflattened_size if s != -1], dtype=np.int64))
        sizes = tuple(x.shape[d] // known if s == -1 else s for s in self.unflattened_size)
        if int(np.prod(sizes, dtype=np.int64)) != x.shape[d] or (-1 in self.unflattened_size and known == 0):
            raise ShapeError(f"Unflatten({self.dim}, {self.unflattened_size}) cannot split dim {self.dim} of size "
                             f"{x.shape[d]} (input {shape_str(x.shape)})")
        return x.reshape(*x.shape[:d], *sizes, *x.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """Zero inputs with probability ``p`` while training (scaling the rest by 1/(1-p)); identity in eval mode."""

    functional = staticmethod(F.dropout)

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = probability(type(self).__name__, "p", p)
        self.inplace = flag(type(self).__name__, "inplace", inplace)

    def forward(self, x: Tensor) -> Tensor:
        return self.functional(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) or (C, H, W) input with probability ``p`` while training."""

    functional = staticmethod(F.dropout2d)


class Embedding(Module):
    """A lookup table: ``weight[indices]`` for integer indices; weight ~ N(0, 1) as in PyTorch.

    The ``padding_idx`` row starts at zero and gets no gradient. ``max_norm`` and ``sparse`` are
    not supported (a clear error, not a silent difference).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Any = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings = positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("Embedding", "embedding_dim", embedding_dim)
        for name, value, default in (("max_norm", max_norm, None), ("scale_grad_by_freq", scale_grad_by_freq, False),
                                     ("sparse", sparse, False)):
            if value != default:
                raise UnsupportedArgumentError(f"Embedding: {name}={value!r} is not supported by dlcore")
        if padding_idx is not None:
            padding_idx = dim_index("Embedding", "padding_idx", padding_idx, self.num_embeddings,
                                    f"for {self.num_embeddings} embeddings")
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is not None:
            weight = Parameter(_weight, requires_grad=not _freeze)
        else:
            dt = np.dtype(dtype or default_dtype())
            dev = default_device() if device is None else as_device(device)
            weight = normal_(Parameter(to_device(np.empty(shape, dt), dev), requires_grad=not _freeze))
            if padding_idx is not None:
                weight.array[padding_idx] = 0
        if weight.shape != shape:
            raise ShapeError(f"Embedding expected _weight of shape {shape_str(shape)}, got {shape_str(weight.shape)}")
        self.weight = weight

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None,
                        **kwargs: Any) -> "Embedding":
        """An Embedding holding ``embeddings`` (2-D); frozen (no gradient) by default."""
        if embeddings.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained expected a 2-D tensor, got {shape_str(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, _weight=embeddings.detach().array.copy(), _freeze=freeze,
                   **kwargs)

    def forward(self, indices: Tensor) -> Tensor:
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class MLP(Sequential):
    """A multilayer perceptron: ``MLP([784, 256, 10])`` is Linear, activation, Linear.

    ``activation`` goes between layers; ``out_activation`` (None, "sigmoid", "softmax", ...)
    after the last one. ReLU-family nets get He init, the rest Xavier (the lecture defaults).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", out_activation: str | None = None,
                 dropout: float = 0.0, init: str | None = None) -> None:
        if len(sizes) < 2:
            raise ShapeError(f"MLP expected at least [in, out] sizes, got {list(sizes)}")
        if activation not in ACTIVATIONS:
            raise RangeError(f"MLP expected activation in {sorted(ACTIVATIONS)}, got {activation!r}")
        probability("MLP", "dropout", dropout)
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


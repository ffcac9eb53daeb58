"""Training utilities that act on gradients: ``clip_grad_norm_`` and ``clip_grad_value_``, as PyTorch's.

    >>> import dlcore, dlcore.nn as nn
    >>> layer = nn.Linear(3, 1)
    >>> layer(dlcore.ones(4, 3)).sum().backward()
    >>> total = clip_grad_norm_(layer.parameters(), max_norm=1.0)
    >>> bool(total.item() > 1.0), round(float(sum((p.grad.numpy() ** 2).sum() for p in layer.parameters())), 3)
    (True, 1.0)
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..backend import to_numpy
from ..errors import NonFiniteLossError
from ..functional.args import real_number
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "NonFiniteGradientError"]


class NonFiniteGradientError(NonFiniteLossError, RuntimeError):
    """clip_grad_norm_(error_if_nonfinite=True) found a NaN or infinite total gradient norm
    (a RuntimeError, as PyTorch raises)."""


def _grads(parameters: Tensor | Iterable[Tensor]) -> list:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad.array for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale all gradients in place so that their joint ``norm_type``-norm is at most ``max_norm``.

    ``parameters`` is one tensor or an iterable of them. Returns the total norm before clipping as
    a 0-d tensor (0 when no parameter has a gradient). As in PyTorch, every gradient is multiplied
    by min(max_norm / (total + 1e-6), 1): a NaN norm makes the gradients NaN, an infinite one
    makes them 0 (NaN where they were infinite), unless ``error_if_nonfinite`` raises instead.
    """
    max_norm = real_number("clip_grad_norm_", "max_norm", max_norm)
    norm_type = real_number("clip_grad_norm_", "norm_type", norm_type, 0.0, math.inf, low_open=True)
    grads = _grads(parameters)
    if not grads:
        return Tensor(np.array(0.0, np.float32))
    dtype = np.result_type(*[g.dtype for g in grads])
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isinf(norm_type):
            norms = [float(to_numpy(abs(g).max())) if g.size else 0.0 for g in grads]
            total = max(norms)
        else:
            norms = [float(to_numpy((abs(g).astype(np.float64) ** norm_type).sum())) ** (1.0 / norm_type)
                     for g in grads]
            total = sum(n ** norm_type for n in norms) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise NonFiniteGradientError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, so they cannot "
            "be clipped; set error_if_nonfinite=False to scale them anyway")
    coef = max_norm / (total + 1e-6) if not math.isnan(total) else math.nan
    coef = min(coef, 1.0) if not math.isnan(coef) else coef
    with np.errstate(invalid="ignore"):
        for g in grads:
            g *= g.dtype.type(coef)
    return Tensor(np.array(total, dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    clip_value = real_number("clip_grad_value_", "clip_value", clip_value, 0.0)
    for g in _grads(parameters):
        g.clip(-clip_value, clip_value, out=g)

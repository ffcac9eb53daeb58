"""Training utilities that act on parameters.

    >>> import dlcore, dlcore.nn as nn
    >>> layer = nn.Linear(3, 1)
    >>> layer(dlcore.ones(4, 3)).sum().backward()
    >>> total = clip_grad_norm_(layer.parameters(), max_norm=1.0)
"""

from __future__ import annotations

import math
from typing import Iterable

from ..tensor import Tensor


def clip_grad_norm_(parameters: Iterable[Tensor], max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients in place so that their joint norm is at most ``max_norm``.

    Returns the total norm before clipping (inf for ``norm_type=inf``), as PyTorch does.
    """
    grads = [p.grad.array for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(abs(g).max()) for g in grads)
    else:
        total = sum(float((abs(g) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type)
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for g in grads:
            g *= g.dtype.type(scale)
    return total

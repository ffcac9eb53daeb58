"""Adam (Kingma & Ba, 2015): per-parameter step sizes from running moments of the gradient.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    >>> import dlcore, dlcore.nn as nn
    >>> opt = Adam(nn.Linear(2, 1).parameters(), lr=1e-3)
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer


class Adam(Optimizer):
    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        if lr < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam expected lr >= 0 and betas in [0, 1), got lr={lr}, betas={betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def update(self, p: Tensor, grad: Any, group: dict, state: dict) -> None:
        xp = get_array_module(p.array)
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.array
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.array)
            state["exp_avg_sq"] = xp.zeros_like(p.array)
        state["step"] += 1
        b1, b2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * grad * grad
        t = state["step"]
        step_size = group["lr"] / (1 - b1**t)
        denom = xp.sqrt(v) / math.sqrt(1 - b2**t) + group["eps"]
        p.array -= (step_size * m / denom).astype(p.dtype, copy=False)

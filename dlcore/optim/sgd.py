"""Stochastic gradient descent with momentum, Nesterov and weight decay (lecture 001).

Momentum follows PyTorch's convention (no 1 - momentum damping on the step)::

    g   = grad + weight_decay * w
    buf = momentum * buf + g            (buf = g on the first step)
    w   = w - lr * buf                  (Nesterov: w - lr * (g + momentum * buf))

    >>> import dlcore, dlcore.nn as nn
    >>> opt = SGD(nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
"""

from __future__ import annotations

from typing import Any, Iterable

from .. import cpu
from ..tensor import Tensor
from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params: Iterable[Any], lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, dampening: float = 0.0) -> None:
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD expected lr, momentum and weight_decay >= 0, got {lr}, {momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD with nesterov=True needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, dampening=dampening))

    def update(self, p: Tensor, grad: Any, group: dict, state: dict) -> None:
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.array
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                cpu.axpby_(buf, momentum, grad, 1 - group["dampening"])
            grad = grad + momentum * buf if group["nesterov"] else buf
        cpu.axpby_(p.array, 1, grad, -p.dtype.type(group["lr"]))

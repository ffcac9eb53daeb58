"""Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``.

    v = rho v + (1 - rho) g^2;   d = sqrt(u + eps) / sqrt(v + eps) * g
    u = rho u + (1 - rho) d^2;   w = w - lr * d

    >>> import dlcore, dlcore.nn as nn
    >>> opt = Adadelta(nn.Linear(2, 1).parameters(), lr=1.0, rho=0.9)
"""

from __future__ import annotations

from typing import Any, Iterable

from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer, check_number


class Adadelta(Optimizer):
    """``torch.optim.Adadelta``: same arguments, defaults and update."""

    STATE_KEYS = frozenset({"step", "square_avg", "acc_delta"})

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      capturable=capturable, maximize=maximize, differentiable=differentiable))

    NON_NEGATIVE = ("lr", "eps", "weight_decay")

    def check_group(self, group: dict) -> None:
        super().check_group(group)
        check_number("Adadelta", "rho", group["rho"], 0.0, 1.0)

    def init_state(self, p: Tensor, group: dict) -> dict:
        xp = get_array_module(p.array)
        return {"step": 0, "square_avg": xp.zeros_like(p.array), "acc_delta": xp.zeros_like(p.array)}

    def update(self, p: Tensor, grad: Any, group: dict, state: dict) -> None:
        xp = get_array_module(p.array)
        grad = self.directed_grad(p, grad, group)
        state["step"] += 1
        rho, eps = group["rho"], group["eps"]
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        square_avg += (1 - rho) * (grad * grad)
        std = square_avg + eps
        std = xp.sqrt(std, out=std)
        delta = acc_delta + eps
        delta = xp.sqrt(delta, out=delta)
        delta /= std
        delta *= grad
        acc_delta *= rho
        acc_delta += (1 - rho) * (delta * delta)
        p.array -= group["lr"] * delta

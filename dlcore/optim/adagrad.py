"""Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad``.

    sum = sum + g^2;   w = w - lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps)

    >>> import dlcore, dlcore.nn as nn
    >>> opt = Adagrad(nn.Linear(2, 1).parameters(), lr=1e-2, initial_accumulator_value=0.1)
    >>> sorted(opt.state_dict()["state"][0])
    ['step', 'sum']
"""

from __future__ import annotations

from typing import Any, Iterable

from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """``torch.optim.Adagrad``: same arguments, defaults and update; state exists from the start."""

    STATE_KEYS = frozenset({"step", "sum"})

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      fused=fused))
        for group in self.param_groups:  # PyTorch creates Adagrad's state up front
            for p in group["params"]:
                self.state[p] = self.init_state(p, group)

    NON_NEGATIVE = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def init_state(self, p: Tensor, group: dict) -> dict:
        xp = get_array_module(p.array)
        return {"step": 0, "sum": xp.full_like(p.array, group["initial_accumulator_value"])}

    def update(self, p: Tensor, grad: Any, group: dict, state: dict) -> None:
        xp = get_array_module(p.array)
        grad = self.directed_grad(p, grad, group)
        state["step"] = t = state["step"] + 1
        clr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        total = state["sum"]
        total += grad * grad
        std = xp.sqrt(total)
        std += group["eps"]
        step = xp.divide(grad, std, out=std)
        step *= clr
        p.array -= step

"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), as ``torch.optim.Adam/AdamW``.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2         (v_max = max(v_max, v) with amsgrad)
    w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

Adam adds ``weight_decay * w`` to the gradient; AdamW (``decoupled_weight_decay``) instead
shrinks the weight first: ``w = w * (1 - lr * weight_decay)``.

    >>> import dlcore, dlcore.nn as nn
    >>> opt = Adam(nn.Linear(2, 1).parameters(), lr=1e-3, amsgrad=True)
    >>> opt = AdamW(nn.Linear(2, 1).parameters())
    >>> opt.param_groups[0]["weight_decay"]
    0.01
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from .. import cpu
from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer, check_betas


class Adam(Optimizer):
    """``torch.optim.Adam``: same arguments, defaults and update."""

    STATE_KEYS = frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"})

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    NON_NEGATIVE = ("lr", "eps", "weight_decay")

    def check_group(self, group: dict) -> None:
        super().check_group(group)
        group["betas"] = check_betas(type(self).__name__, group["betas"])

    def init_state(self, p: Tensor, group: dict) -> dict:
        xp = get_array_module(p.array)
        state = {"step": 0, "exp_avg": xp.zeros_like(p.array), "exp_avg_sq": xp.zeros_like(p.array)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p.array)
        return state

    def update(self, p: Tensor, grad: Any, group: dict, state: dict) -> None:
        xp = get_array_module(p.array)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:  # amsgrad switched on after the first step
            state["max_exp_avg_sq"] = xp.zeros_like(p.array)
        state["step"] = t = state["step"] + 1
        kernel = _adam_kernel(group, t)
        arrays = [p.array, grad, state["exp_avg"], state["exp_avg_sq"]]
        cpu.in_place(kernel, *arrays + ([state["max_exp_avg_sq"]] if group["amsgrad"] else []))


def _adam_kernel(group: dict, t: int) -> Any:
    """The Adam/AdamW update of one block ``(w, g, m, v[, v_max])``, in place, in PyTorch's order.

    Run by :func:`dlcore.cpu.in_place` over cache blocks on dlcore's threads: the temporaries are
    one block long and the arrays are read and written about once. Each element gets the same
    roundings as the whole-array form ``m *= b1; m += (1 - b1) * g; ...``.
    """
    lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
    b1, b2 = group["betas"]
    decoupled, maximize = group["decoupled_weight_decay"], group["maximize"]
    bias2, step_size = math.sqrt(1 - b2**t), lr / (1 - b1**t)

    def kernel(w: Any, g: Any, m: Any, v: Any, v_max: Any = None) -> None:
        xp = get_array_module(w)
        if maximize:
            g = -g
        if decoupled and wd:
            w *= 1 - lr * wd
        elif wd and not decoupled:
            g = g + wd * w
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        if v_max is not None:
            v = xp.maximum(v_max, v, out=v_max)
        denom = xp.sqrt(v)
        denom /= bias2
        denom += eps
        step = xp.divide(m, denom, out=denom)
        step *= step_size
        w -= step

    return kernel


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default ``weight_decay=1e-2``)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)

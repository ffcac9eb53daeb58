"""RMSprop (Hinton's lecture 6e), as ``torch.optim.RMSprop``.

    v = alpha v + (1 - alpha) g^2;  (centered: avg_g = alpha avg_g + (1 - alpha) g, v - avg_g^2)
    w = w - lr * g / (sqrt(v) + eps)          (momentum: buf = momentum buf + g / (sqrt(v) + eps))

    >>> import dlcore, dlcore.nn as nn
    >>> opt = RMSprop(nn.Linear(2, 1).parameters(), lr=1e-2, momentum=0.9, centered=True)
"""

from __future__ import annotations

from typing import Any, Iterable

from .. import cpu
from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``: same arguments, defaults and update."""

    STATE_KEYS = frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"})

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    NON_NEGATIVE = ("lr", "alpha", "eps", "weight_decay", "momentum")

    def init_state(self, p: Tensor, group: dict) -> dict:
        xp = get_array_module(p.array)
        state = {"step": 0, "square_avg": xp.zeros_like(p.array)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p.array)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p.array)
        return state

    def update(self, p: Tensor, grad: Any, group: dict, state: dict) -> None:
        xp = get_array_module(p.array)
        state["step"] += 1
        arrays = [p.array, grad, state["square_avg"]]
        if group["centered"]:
            arrays.append(state.setdefault("grad_avg", xp.zeros_like(p.array)))
        if group["momentum"] > 0:
            arrays.append(state.setdefault("momentum_buffer", xp.zeros_like(p.array)))
        cpu.in_place(_rmsprop_kernel(group), *arrays)


def _rmsprop_kernel(group: dict) -> Any:
    """The RMSprop update of one block ``(w, g, square_avg[, grad_avg][, momentum_buffer])``, in
    place, in PyTorch's order; run over cache blocks by :func:`dlcore.cpu.in_place`."""
    alpha, eps, lr, momentum, wd = group["alpha"], group["eps"], group["lr"], group["momentum"], group["weight_decay"]
    centered, maximize = group["centered"], group["maximize"]

    def kernel(w: Any, g: Any, square_avg: Any, *rest: Any) -> None:
        xp = get_array_module(w)
        if maximize:
            g = -g
        if wd:
            g = g + wd * w
        square_avg *= alpha
        square_avg += (1 - alpha) * (g * g)
        if centered:
            grad_avg = rest[0]
            grad_avg *= alpha
            grad_avg += (1 - alpha) * g
            avg = square_avg - grad_avg * grad_avg
            avg = xp.sqrt(avg, out=avg)
        else:
            avg = xp.sqrt(square_avg)
        avg += eps
        if momentum > 0:
            buf = rest[-1]
            buf *= momentum
            buf += g / avg
            w -= lr * buf
        else:
            step = xp.divide(g, avg, out=avg)
            step *= lr
            w -= step

    return kernel

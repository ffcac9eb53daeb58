"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (lecture 001).

The update is PyTorch's (``torch.optim.SGD``)::

    g   = -grad if maximize else grad;   g = g + weight_decay * w
    buf = g on the first step, then momentum * buf + (1 - dampening) * g
    g   = g + momentum * buf if nesterov else buf          (when momentum != 0)
    w   = w - lr * g

    >>> import dlcore, dlcore.nn as nn
    >>> opt = SGD(nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9, nesterov=True)
"""

from __future__ import annotations

from typing import Any, Iterable

from .. import cpu
from ..errors import RangeError
from ..tensor import Tensor
from .optimizer import Optimizer, check_number


class SGD(Optimizer):
    """``torch.optim.SGD``: same arguments, defaults (``lr=1e-3``) and update."""

    STATE_KEYS = frozenset({"momentum_buffer"})
    NON_NEGATIVE = ("lr", "momentum", "weight_decay")

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def check_group(self, group: dict) -> None:
        super().check_group(group)
        check_number("SGD", "dampening", group["dampening"], low=float("-inf"))
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise RangeError(f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']!r}, dampening={group['dampening']!r}")

    def update(self, p: Tensor, grad: Any, group: dict, state: dict) -> None:
        grad = self.directed_grad(p, grad, group)
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                cpu.axpby_(buf, momentum, grad, 1 - group["dampening"])
            grad = grad + momentum * buf if group["nesterov"] else buf
        cpu.axpby_(p.array, 1, grad, -p.dtype.type(group["lr"]))

"""A few full-batch training steps for the "it learns" tests (gradients flow through every layer)."""

from __future__ import annotations

import numpy as np

import dlcore
import dlcore.functional as F


def train_losses(model, X: np.ndarray, y: np.ndarray, steps: int, lr: float, check_grads: bool = False) -> list[float]:
    """SGD with momentum 0.9 on cross-entropy for ``steps`` full-batch steps; the loss after each.
    With ``check_grads`` every parameter must have a gradient after each backward pass."""
    opt = dlcore.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    inputs, targets = dlcore.tensor(X), dlcore.tensor(y)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(inputs), targets)
        opt.zero_grad()
        loss.backward()
        if check_grads:
            assert all(p.grad is not None for p in model.parameters())
        opt.step()
        losses.append(loss.item())
    return losses

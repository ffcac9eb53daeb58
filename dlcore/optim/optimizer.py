"""Optimizer: the base of SGD and Adam. It holds parameter groups and per-parameter state.

    >>> import dlcore, dlcore.nn as nn
    >>> opt = dlcore.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> opt.param_groups[0]["lr"]
    0.1
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..backend import get_array_module, to_device, to_numpy
from ..errors import CheckpointError, ShapeError
from ..tensor import Tensor


class Optimizer:
    """Holds ``param_groups`` (dicts of params + hyper-parameters) and ``state`` per parameter."""

    def __init__(self, params: Iterable[Any], defaults: dict) -> None:
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups: list[dict] = []
        for group in groups:
            full = {**defaults, **group, "params": list(group["params"])}
            for p in full["params"]:
                if not isinstance(p, Tensor) or not p.requires_grad:
                    raise TypeError(f"{type(self).__name__} can only optimise tensors that require grad, got {type(p).__name__}")
            self.param_groups.append(full)
        self.state: dict[int, dict] = {}  # keyed by id(param)

    def params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def zero_grad(self) -> None:
        """Forget all gradients (set ``.grad`` to None, as PyTorch does by default)."""
        for p in self.params():
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad.array, group, self.state.setdefault(id(p), {}))

    def update(self, p: Tensor, grad: Any, group: dict, state: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Plain data: hyper-parameters per group, and each parameter's state by position."""
        groups = [{k: v for k, v in g.items() if k != "params"} | {"num_params": len(g["params"])} for g in self.param_groups]
        state = []
        for p in self.params():
            entry = self.state.get(id(p), {})
            state.append({k: to_numpy(v) if hasattr(v, "shape") else v for k, v in entry.items()})
        return {"type": type(self).__name__, "param_groups": groups, "state": state}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict`'s output; arrays move to each parameter's device."""
        saved_type = state_dict.get("type", type(self).__name__)
        if saved_type != type(self).__name__:
            raise CheckpointError(f"{type(self).__name__}.load_state_dict got state saved by {saved_type}: "
                                  f"resume with {saved_type}, the optimizer that wrote it")
        groups, states = state_dict["param_groups"], state_dict["state"]
        params = self.params()
        if len(groups) != len(self.param_groups) or len(states) != len(params):
            raise ShapeError(
                f"{type(self).__name__}.load_state_dict expected {len(self.param_groups)} group(s) and "
                f"{len(params)} parameter states, got {len(groups)} and {len(states)}"
            )
        for p, entry in zip(params, states):  # check every shape before changing anything
            for k, v in entry.items():
                if hasattr(v, "shape") and np.ndim(v) > 0 and tuple(v.shape) != p.shape:
                    raise ShapeError(f"{type(self).__name__}.load_state_dict: state {k!r} has shape {tuple(v.shape)}, parameter has {p.shape}")
        for group, saved in zip(self.param_groups, groups):
            group.update({k: v for k, v in saved.items() if k != "num_params"})
        self.state = {}
        for p, entry in zip(params, states):
            restored = {}
            for k, v in entry.items():
                if hasattr(v, "shape") and np.ndim(v) > 0:
                    v = get_array_module(p.array).asarray(to_device(v, p.device), dtype=p.dtype)
                restored[k] = v.item() if hasattr(v, "shape") and np.ndim(v) == 0 else v
            self.state[id(p)] = restored

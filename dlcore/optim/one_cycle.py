"""OneCycleLR (Smith & Topin, 2017): warm the lr up to ``max_lr``, then anneal it far below the
start, once per batch; the momentum (or Adam's beta1) cycles the other way. As PyTorch's.

    >>> import dlcore, dlcore.nn as nn
    >>> opt = dlcore.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
    >>> sched = OneCycleLR(opt, max_lr=1.0, total_steps=10)
    >>> round(sched.get_last_lr()[0], 6), opt.param_groups[0]["momentum"]
    (0.04, 0.95)
"""

from __future__ import annotations

import math

from ..errors import CheckpointError, RangeError
from .optimizer import Optimizer, check_number
from .scheduler_base import LRScheduler, check_int, check_optimizer, check_positive, per_group

_STRATEGIES = ("cos", "linear")


class OneCycleLR(LRScheduler):
    """PyTorch's ``OneCycleLR``: give ``total_steps``, or ``epochs`` and ``steps_per_epoch``."""

    def __init__(self, optimizer: Optimizer, max_lr: "float | list[float]", total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: "float | list[float]" = 0.85, max_momentum: "float | list[float]" = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        name = "OneCycleLR"
        check_optimizer(name, optimizer)
        if total_steps is not None:
            self.total_steps = check_int(name, "total_steps", total_steps, low=1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (check_int(name, "epochs", epochs, low=1)
                                * check_int(name, "steps_per_epoch", steps_per_epoch, low=1))
        else:
            raise RangeError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch (got neither)")
        pct_start = check_number(name, "pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in _STRATEGIES:
            raise RangeError(f"OneCycleLR: anneal_strategy expected one of {_STRATEGIES}, got {anneal_strategy!r}")
        self._anneal_func_type = anneal_strategy
        div_factor = check_positive(name, "div_factor", div_factor)
        final_div_factor = check_positive(name, "final_div_factor", final_div_factor)
        up = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                _phase(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum",
                       "max_momentum"),
                _phase(self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self._schedule_phases = [
                _phase(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        max_lrs = per_group(name, "max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise RangeError(f"OneCycleLR: cycle_momentum=True needs an optimizer with momentum or betas, "
                                 f"got {type(optimizer).__name__}; pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            tops = per_group(name, "max_momentum", optimizer, max_momentum)
            bases = per_group(name, "base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for group, top, base in zip(optimizer.param_groups, tops, bases):
                    self._set_momentum(group, top)
                    group["max_momentum"], group["base_momentum"] = top, base
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise RangeError(f"OneCycleLR: stepped {step} times, more than total_steps={self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or i == len(self._schedule_phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[phase["start_momentum"]],
                                                               group[phase["end_momentum"]], pct))
                    break
                start = phase["end_step"]
        return lrs

    def _check_restored(self, state: dict, where: str) -> None:
        super()._check_restored(state, where)
        names = {"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"}
        for phase in state["_schedule_phases"]:
            if not {v for k, v in phase.items() if k != "end_step"} <= names:
                raise CheckpointError(f"{where}: a schedule phase names unknown group entries: {phase}")
        if state["_anneal_func_type"] not in _STRATEGIES or state["total_steps"] < 1:
            raise CheckpointError(f"{where}: anneal strategy {state['_anneal_func_type']!r} or total_steps "
                                  f"{state['total_steps']!r} is not valid")


def _phase(end_step: float, start_lr: str, end_lr: str, start_momentum: str, end_momentum: str) -> dict:
    return {"end_step": end_step, "start_lr": start_lr, "end_lr": end_lr, "start_momentum": start_momentum,
            "end_momentum": end_momentum}


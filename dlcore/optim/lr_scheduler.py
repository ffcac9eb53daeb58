"""Learning-rate schedules, as ``torch.optim.lr_scheduler``; call ``scheduler.step()`` once per
epoch (``OneCycleLR``: once per batch), after ``optimizer.step()``.

Each schedule uses PyTorch's recursive ("chainable") form, so the lr sequence is PyTorch's, also
when two schedules act on one optimizer or the lr is changed by hand between steps.

    >>> import dlcore, dlcore.nn as nn
    >>> opt = dlcore.optim.SGD(nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> for _ in range(4): sched.step()
    >>> opt.param_groups[0]["lr"], sched.last_epoch
    (0.25, 4)
"""

from __future__ import annotations

import math
import types
from bisect import bisect_right
from collections import Counter
from typing import Any, Callable, Iterable

from ..errors import CheckpointError, DTypeError, RangeError
from .one_cycle import OneCycleLR
from .optimizer import Optimizer, check_number
from .plateau import ReduceLROnPlateau
from .scheduler_base import LRScheduler, check_int, check_optimizer, check_positive

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "LinearLR",
           "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler", "ConstantLR", "PolynomialLR",
           "MultiplicativeLR", "CosineAnnealingWarmRestarts"]


def _lrs(optimizer: Optimizer) -> list[float]:
    return [group["lr"] for group in optimizer.param_groups]


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs.

    >>> import dlcore, dlcore.nn as nn
    >>> StepLR(dlcore.optim.SGD(nn.Linear(1, 1).parameters()), step_size=0)
    Traceback (most recent call last):
    dlcore.errors.RangeError: StepLR: step_size expected an int >= 1, got 0
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        check_optimizer("StepLR", optimizer)
        self.step_size = check_int("StepLR", "step_size", step_size, low=1)
        self.gamma = check_positive("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _lrs(self.optimizer)
        return [lr * self.gamma for lr in _lrs(self.optimizer)]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each epoch in ``milestones``."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        check_optimizer("MultiStepLR", optimizer)
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
            raise DTypeError(f"MultiStepLR: milestones expected a list of ints >= 1, got {milestones!r}")
        self.milestones = Counter(check_int("MultiStepLR", "milestones", m, low=1) for m in milestones)
        self.gamma = check_positive("MultiStepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return _lrs(self.optimizer)
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in _lrs(self.optimizer)]

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [base * self.gamma ** bisect_right(milestones, self.last_epoch) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        check_optimizer("ExponentialLR", optimizer)
        self.gamma = check_positive("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return _lrs(self.optimizer)
        return [lr * self.gamma for lr in _lrs(self.optimizer)]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (PyTorch's recursion)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        check_optimizer("CosineAnnealingLR", optimizer)
        self.T_max = check_int("CosineAnnealingLR", "T_max", T_max, low=1)
        self.eta_min = check_number("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial:
            return _lrs(self.optimizer)
        if self._step_count == 1 and self.last_epoch > 0:
            return [self.eta_min + (base - self.eta_min) * (1 + math.cos(self.last_epoch * math.pi / self.T_max)) / 2
                    for base in self.base_lrs]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [g["lr"] + (base - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base, g in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * self.last_epoch / self.T_max))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max)) * (g["lr"] - self.eta_min) + self.eta_min
                for g in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); one function, or one per group.

    ``state_dict`` holds ``None`` for plain functions and lambdas (they are not serialised, as
    in PyTorch) and the attributes of callable objects.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: "Callable[[int], float] | list", last_epoch: int = -1) -> None:
        check_optimizer("LambdaLR", optimizer)
        groups = len(optimizer.param_groups)
        fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(fns) != groups:
            raise RangeError(f"LambdaLR: lr_lambda expected one function per parameter group ({groups}), got {len(fns)}")
        for i, fn in enumerate(fns):
            if not callable(fn):
                raise DTypeError(f"LambdaLR: lr_lambda[{i}] expected a function of the epoch, got {type(fn).__name__}")
        self.lr_lambdas = fns
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def _apply(self, state: dict) -> None:
        state = dict(state)
        fn_states = state.pop("lr_lambdas")
        self.__dict__.update(state)
        for fn, fn_state in zip(self.lr_lambdas, fn_states):
            if fn_state is not None:
                fn.__dict__.update(fn_state)

    def _restored(self, state_dict: Any) -> dict:
        if not isinstance(state_dict, dict) or not isinstance(state_dict.get("lr_lambdas"), (list, tuple)):
            raise CheckpointError("LambdaLR.load_state_dict expected a dict with an 'lr_lambdas' list")
        fn_states = state_dict["lr_lambdas"]
        if len(fn_states) != len(self.lr_lambdas):
            raise CheckpointError(f"LambdaLR.load_state_dict: the state has {len(fn_states)} lr_lambdas, "
                                  f"this scheduler {len(self.lr_lambdas)}")
        for i, fn_state in enumerate(fn_states):
            if fn_state is not None and not isinstance(fn_state, dict):
                raise CheckpointError(f"LambdaLR.load_state_dict: lr_lambdas[{i}] expected None or a dict of "
                                      f"attributes, got {type(fn_state).__name__}")
        rest = super()._restored(state_dict, skip=("lr_lambdas",))
        rest["lr_lambdas"] = list(fn_states)
        return rest


class LinearLR(LRScheduler):
    """Scale the lr linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        check_optimizer("LinearLR", optimizer)
        start = check_number("LinearLR", "start_factor", start_factor, 0.0, 1.0)
        if start == 0:
            raise RangeError("LinearLR: start_factor expected a number > 0 and <= 1, got 0")
        self.start_factor = start
        self.end_factor = check_number("LinearLR", "end_factor", end_factor, 0.0, 1.0)
        self.total_iters = check_int("LinearLR", "total_iters", total_iters, low=1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in _lrs(self.optimizer)]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [lr * factor for lr in _lrs(self.optimizer)]

    def _get_closed_form_lr(self) -> list[float]:
        change = self.end_factor - self.start_factor
        return [base * (self.start_factor + change * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base in self.base_lrs]


class _Composite(LRScheduler):
    """A scheduler made of schedulers: their states are kept (and checked) inside its own."""

    _schedulers: list

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def _apply(self, state: dict) -> None:
        state = dict(state)
        for scheduler, child in zip(self._schedulers, state.pop("_schedulers")):
            scheduler._apply(child)
        self.__dict__.update(state)

    def _restored(self, state_dict: Any) -> dict:
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or not isinstance(state_dict.get("_schedulers"), (list, tuple)):
            raise CheckpointError(f"{where} expected a dict with a '_schedulers' list")
        children = state_dict["_schedulers"]
        if len(children) != len(self._schedulers):
            raise CheckpointError(f"{where}: the state has {len(children)} schedulers, this one {len(self._schedulers)}")
        restored = [s._restored(c) for s, c in zip(self._schedulers, children)]
        rest = super()._restored(state_dict, skip=("_schedulers",))
        rest["_schedulers"] = restored
        return rest


class SequentialLR(_Composite):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]``, and so on."""

    def __init__(self, optimizer: Optimizer, schedulers: list, milestones: list, last_epoch: int = -1) -> None:
        check_optimizer("SequentialLR", optimizer)
        if not isinstance(schedulers, (list, tuple)) or not schedulers:
            raise RangeError(f"SequentialLR expected a non-empty list of schedulers, got {schedulers!r}")
        _check_members("SequentialLR", schedulers, optimizer)
        if not isinstance(milestones, (list, tuple)) or len(milestones) != len(schedulers) - 1:
            raise RangeError(f"SequentialLR expected {len(schedulers) - 1} milestone(s) for {len(schedulers)} "
                             f"schedulers, got {milestones!r}")
        milestones = [check_int("SequentialLR", "milestones", m, low=1) for m in milestones]
        if milestones != sorted(milestones):
            raise RangeError(f"SequentialLR: milestones expected in increasing order, got {milestones}")
        self._schedulers = list(schedulers)
        self._milestones = milestones
        self.last_epoch = check_int("SequentialLR", "last_epoch", last_epoch, low=-1) + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:  # undo the steps the schedulers took when they were made
            group["lr"] = group["initial_lr"]
        for s in self._schedulers:
            s.last_epoch -= 1
        index = bisect_right(self._milestones, 0)
        self._schedulers[index]._initial_step()
        self._last_lr = self._schedulers[index].get_last_lr()

    def step(self) -> None:  # type: ignore[override]
        self.last_epoch += 1
        index = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Step several schedulers of one optimizer together; their effects multiply (PyTorch's)."""

    def __init__(self, schedulers: list, optimizer: Optimizer | None = None) -> None:
        if not isinstance(schedulers, (list, tuple)) or not schedulers:
            raise RangeError(f"ChainedScheduler expected a non-empty list of schedulers, got {schedulers!r}")
        optimizer = optimizer if optimizer is not None else getattr(schedulers[0], "optimizer", None)
        _check_members("ChainedScheduler", schedulers, check_optimizer("ChainedScheduler", optimizer))
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = _lrs(optimizer)

    def step(self) -> None:  # type: ignore[override]
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _lrs(self.optimizer)


class ConstantLR(LRScheduler):
    """lr = base_lr * factor until epoch ``total_iters``, then base_lr."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        check_optimizer("ConstantLR", optimizer)
        self.factor = check_positive("ConstantLR", "factor", check_number("ConstantLR", "factor", factor, 0.0, 1.0))
        self.total_iters = check_int("ConstantLR", "total_iters", total_iters, low=1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in _lrs(self.optimizer)]
        if self.last_epoch != self.total_iters:
            return _lrs(self.optimizer)
        return [lr * (1.0 / self.factor) for lr in _lrs(self.optimizer)]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ** power."""

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        check_optimizer("PolynomialLR", optimizer)
        self.total_iters = check_int("PolynomialLR", "total_iters", total_iters, low=1)
        self.power = check_number("PolynomialLR", "power", power)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        decay = ((1.0 - self.last_epoch / self.total_iters) / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [lr * decay for lr in _lrs(self.optimizer)]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
                for base in self.base_lrs]


class MultiplicativeLR(LambdaLR):
    """Multiply the lr by ``lr_lambda(epoch)`` every epoch."""

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return _lrs(self.optimizer)
        return [g["lr"] * fn(self.last_epoch) for fn, g in zip(self.lr_lambdas, self.optimizer.param_groups)]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing restarted every ``T_0 * T_mult**i`` epochs (SGDR, Loshchilov & Hutter)."""

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        name = "CosineAnnealingWarmRestarts"
        check_optimizer(name, optimizer)
        self.T_0 = self.T_i = check_int(name, "T_0", T_0, low=1)
        self.T_mult = check_int(name, "T_mult", T_mult, low=1)
        self.eta_min = check_number(name, "eta_min", eta_min)
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            epoch = check_number("CosineAnnealingWarmRestarts", "epoch", epoch)
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._step_count += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = _lrs(self.optimizer)


def _check_members(owner: str, schedulers: list, optimizer: Optimizer) -> None:
    for i, s in enumerate(schedulers):
        if isinstance(s, ReduceLROnPlateau) or not isinstance(s, LRScheduler):
            raise DTypeError(f"{owner}: schedulers[{i}] must be an epoch schedule (not ReduceLROnPlateau), "
                             f"got {type(s).__name__}")
        if s.optimizer is not optimizer:
            raise RangeError(f"{owner}: schedulers[{i}] ({type(s).__name__}) belongs to another optimizer")

"""LRScheduler: the base of every learning-rate schedule, as ``torch.optim.lr_scheduler.LRScheduler``.

The constructor records each group's ``initial_lr`` and takes the first step, so
``last_epoch`` is 0 and the lr is the schedule's start; every ``step()`` then moves one epoch
(or one batch) on. ``get_last_lr()`` is the lr of every group after the last step.
``state_dict()`` is every attribute but the optimizer (PyTorch's); ``load_state_dict`` checks
that the state has this scheduler's entries with values of the same kinds first, then applies
it, so a bad state raises :class:`~dlcore.errors.CheckpointError` and changes nothing.

    >>> import dlcore, dlcore.nn as nn
    >>> from dlcore.optim.lr_scheduler import ExponentialLR
    >>> opt = dlcore.optim.SGD(nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = ExponentialLR(opt, gamma=0.5)
    >>> sched.step(); sched.get_last_lr()
    [0.5]
"""

from __future__ import annotations

import numbers
import warnings
from collections import Counter
from typing import Any

import numpy as np

from ..errors import CheckpointError, DTypeError, RangeError
from .optimizer import Optimizer, check_number

__all__ = ["LRScheduler", "check_int", "check_optimizer", "check_positive", "per_group"]


def check_int(owner: str, name: str, value: Any, low: int) -> int:
    """``value`` as an int after checking it is a whole number (not a bool) ``>= low``.

    >>> check_int("StepLR", "step_size", 0, low=1)
    Traceback (most recent call last):
    dlcore.errors.RangeError: StepLR: step_size expected an int >= 1, got 0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DTypeError(f"{owner}: {name} expected an int >= {low}, got {type(value).__name__} {value!r}")
    if value < low:
        raise RangeError(f"{owner}: {name} expected an int >= {low}, got {value!r}")
    return int(value)


def check_positive(owner: str, name: str, value: Any) -> float:
    """``value`` as a float after checking it is a number > 0.

    >>> check_positive("StepLR", "gamma", 0.5)
    0.5
    """
    value = check_number(owner, name, value)
    if value == 0:
        raise RangeError(f"{owner}: {name} expected a number > 0, got {value!r}")
    return value


def check_optimizer(owner: str, optimizer: Any) -> Optimizer:
    """``optimizer`` itself when it is a dlcore Optimizer, else a clear :class:`DTypeError`.

    >>> check_optimizer("StepLR", "adam")
    Traceback (most recent call last):
    dlcore.errors.DTypeError: StepLR expected a dlcore.optim Optimizer, got str
    """
    if not isinstance(optimizer, Optimizer):
        raise DTypeError(f"{owner} expected a dlcore.optim Optimizer, got {type(optimizer).__name__}")
    return optimizer


def per_group(owner: str, name: str, optimizer: Optimizer, value: Any, low: float = 0.0) -> list[float]:
    """One number per parameter group: ``value`` repeated, or a list with one entry per group.

    >>> import dlcore, dlcore.nn as nn
    >>> per_group("OneCycleLR", "max_lr", dlcore.optim.SGD(nn.Linear(1, 1).parameters()), 0.1)
    [0.1]
    """
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise RangeError(f"{owner}: {name} expected one value per parameter group ({groups}), "
                             f"got {len(value)}: {list(value)!r}")
        return [check_number(owner, f"{name}[{i}]", v, low) for i, v in enumerate(value)]
    return [check_number(owner, name, value, low)] * groups


class LRScheduler:
    """Sets each group's ``"lr"`` from :meth:`get_lr` at every :meth:`step`."""

    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        self.optimizer = check_optimizer(name, optimizer)
        last_epoch = check_int(name, "last_epoch", last_epoch, low=-1)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise RangeError(f"{name}(last_epoch={last_epoch}): param_groups[{i}] has no 'initial_lr'; "
                                     f"load the optimizer's state_dict first, or start with last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:  # pragma: no cover - abstract
        """The lrs of the step just counted (``last_epoch`` is already advanced)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """Each group's lr after the last :meth:`step`."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or batch). ``epoch=`` is PyTorch's deprecated closed-form jump."""
        self._step_count += 1
        if epoch is not None:
            warnings.warn("scheduler.step(epoch) is deprecated in PyTorch; call scheduler.step()",
                          UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = check_int(type(self).__name__, "epoch", epoch, low=0)
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise RangeError(f"{type(self).__name__}.step: the optimizer has {len(groups)} parameter groups, the "
                             f"scheduler knows {len(values)} (was a group added after the scheduler was made?)")
        for group, lr in zip(groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Every attribute but the optimizer, as PyTorch's."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict`'s output (also after a ``dlcore.save``/``load`` round trip)."""
        self._apply(self._restored(state_dict))

    def _apply(self, state: dict) -> None:
        """Set the attributes of a state already checked by :meth:`_restored`."""
        self.__dict__.update(state)

    def _restored(self, state_dict: Any, skip: tuple = ()) -> dict:
        """The attributes ``state_dict`` would set, after checking them against the current ones
        (``skip``: keys a subclass checks itself; they must be there and are left out)."""
        where = f"{type(self).__name__}.load_state_dict"
        current = self.state_dict()
        if not isinstance(state_dict, dict):
            raise CheckpointError(f"{where} expected a dict, got {type(state_dict).__name__}")
        missing, extra = set(current) - set(state_dict), set(state_dict) - set(current)
        if missing or extra:
            raise CheckpointError(f"{where}: the state is not this scheduler's (missing {sorted(missing)}, "
                                  f"unexpected {sorted(extra)}); was it written by another scheduler?")
        out = {key: _like(current[key], state_dict[key], f"{where}: {key}") for key in current if key not in skip}
        self._check_restored(out, where)
        return out

    def _check_restored(self, state: dict, where: str) -> None:
        """Checks of a restored state beyond its kinds (subclasses add enumerations, ranges)."""
        for key in ("last_epoch", "_step_count"):
            if key in state and not isinstance(state[key], int):
                raise CheckpointError(f"{where}: {key} expected a whole number, got {state[key]!r}")


def _like(current: Any, saved: Any, where: str) -> Any:
    """``saved`` converted to the kind of ``current`` (tuples and int keys come back from JSON
    as lists and strings); a :class:`CheckpointError` when the kinds differ."""
    if isinstance(saved, np.ndarray) and saved.ndim == 0:
        saved = saved.item()
    if isinstance(current, (bool, np.bool_)):
        if not isinstance(saved, (bool, np.bool_)):
            raise CheckpointError(f"{where} expected a bool, got {saved!r}")
        return bool(saved)
    if isinstance(current, numbers.Real) or current is None:
        if saved is None and current is None:
            return None
        if isinstance(saved, (bool, np.bool_)) or not isinstance(saved, numbers.Real):
            raise CheckpointError(f"{where} expected a number, got {type(saved).__name__} {saved!r}")
        return int(saved) if isinstance(saved, (int, np.integer)) else float(saved)
    if isinstance(current, str):
        if not isinstance(saved, str):
            raise CheckpointError(f"{where} expected a string, got {type(saved).__name__}")
        return saved
    if isinstance(current, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(current):
            size = len(saved) if isinstance(saved, (list, tuple)) else type(saved).__name__
            raise CheckpointError(f"{where} expected a list of {len(current)}, got {size}")
        items = [_like(c, s, f"{where}[{i}]") for i, (c, s) in enumerate(zip(current, saved))]
        return tuple(items) if isinstance(current, tuple) else items
    if isinstance(current, Counter):  # MultiStepLR's milestones: any whole epochs, with counts
        if not isinstance(saved, dict):
            raise CheckpointError(f"{where} expected a dict of epoch: count, got {type(saved).__name__}")
        out: Counter = Counter()
        for k, v in saved.items():
            try:
                epoch = int(k)
            except (TypeError, ValueError):
                raise CheckpointError(f"{where} has the key {k!r}, expected a whole epoch") from None
            out[epoch] = _like(1, v, f"{where}[{k!r}]")
        return out
    if isinstance(current, dict):
        if not isinstance(saved, dict) or set(saved) != set(current):
            raise CheckpointError(f"{where} expected a dict with keys {sorted(current)}")
        return {k: _like(current[k], saved[k], f"{where}[{k!r}]") for k in current}
    raise CheckpointError(f"{where}: cannot restore a {type(current).__name__}")  # pragma: no cover

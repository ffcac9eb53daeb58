"""Callbacks that ``fit`` runs after each epoch, the :class:`TrainingRun` they receive, and History.

    >>> stop = EarlyStopping(monitor="val_loss", patience=3)
    >>> ckpt = ModelCheckpoint("runs/model-{epoch}.npz", monitor="val_loss", save_best_only=True)
"""

from __future__ import annotations

import logging
import math
import os
import string
from typing import Any, Sequence

from . import serialization
from .backend import get_rng_state
from .distributed.training import is_main_process
from .errors import CheckpointError, RangeError
from .finite import model_arrays, nonfinite_names
from .resume import CHECKPOINT_KIND, restore_run
from .validation import boolean, finite_number, nonnegative_int

__all__ = ["History", "TrainingRun", "Callback", "EarlyStopping", "ModelCheckpoint", "CHECKPOINT_KIND"]

log = logging.getLogger("dlcore.train")


class History(dict):
    """Per-epoch results: ``history["loss"]`` is a list with one value per epoch.

    Keys: ``loss``, each metric (``accuracy``), ``val_loss`` and ``val_<metric>`` with
    validation data, ``lr`` (of the first parameter group) and ``time`` (seconds per epoch).
    ``history.epochs`` is the number of epochs recorded.

    >>> h = History(); h.append({"loss": 0.5}); h.epochs
    1
    """

    def append(self, logs: dict) -> None:
        for key, value in logs.items():
            self.setdefault(key, []).append(value)

    @property
    def epochs(self) -> int:
        return max((len(v) for v in self.values()), default=0)

    def plot(self, path: "str | os.PathLike | None" = None, **kwargs: Any) -> Any:
        """Loss and accuracy curves (:func:`dlcore.plot.plot_history`): shown inline in a notebook,
        or written as a PNG when ``path`` is given."""
        from .plot import plot_history

        return plot_history(self, path, **kwargs)


class TrainingRun:
    """What :func:`~dlcore.train.fit` hands every callback: the run's objects and a stop flag.

    - ``model``, ``optimizer``, ``scheduler`` (or None), ``history``, ``callbacks``;
    - ``log_keys``: the keys each epoch's logs will have (``loss``, metrics, ``val_*``, ``lr``,
      ``time``), known before the first epoch so callbacks can check what they monitor;
    - ``stop_training``: set it to True to end training after this epoch.

    >>> import dlcore, dlcore.nn as nn
    >>> model = nn.Linear(2, 1)
    >>> run = TrainingRun(model, dlcore.optim.SGD(model.parameters(), lr=0.1))
    >>> sorted(run.checkpoint(epoch=0))[:3]
    ['callback_types', 'callbacks', 'epoch']
    """

    def __init__(self, model: Any, optimizer: Any, scheduler: Any = None, history: History | None = None,
                 callbacks: Sequence["Callback"] = (), log_keys: Sequence[str] = ("loss", "lr", "time")) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.history = History() if history is None else history
        self.callbacks = list(callbacks)
        self.log_keys = list(log_keys)
        self.stop_training = False

    def checkpoint(self, epoch: int) -> dict:
        """Everything needed to resume after ``epoch`` completed epochs."""
        return {
            "kind": CHECKPOINT_KIND,
            "epoch": int(epoch),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "optimizer_type": type(self.optimizer).__name__,
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "history": {k: list(v) for k, v in self.history.items()},
            "rng": get_rng_state(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "callback_types": [type(cb).__name__ for cb in self.callbacks],
        }

    def restore(self, path: "str | os.PathLike") -> int:
        """Load a :class:`ModelCheckpoint` file, all or nothing; returns its epoch.

        Every part (model, optimizer type and state, scheduler, callbacks, RNG, history, epoch)
        is checked before anything changes, and a failure while applying rolls every part
        back, so on a :class:`~dlcore.errors.CheckpointError` this run is exactly as before.
        """
        return restore_run(self, path)

    def check_monitored(self, key: str, who: str) -> None:
        """Raise before the first epoch when ``key`` will never be in the epoch logs."""
        if key not in self.log_keys:
            hint = " (val_* keys need val_data)" if key.startswith("val_") else ""
            raise RangeError(f"{who} uses {key!r}, but this run's epoch logs will only have "
                             f"{self.log_keys}{hint}")


# --------------------------------------------------------------------------- callbacks
class Callback:
    """Hooks called by :func:`~dlcore.train.fit`, each given the :class:`TrainingRun`."""

    def on_train_begin(self, run: TrainingRun) -> None:
        pass

    def on_epoch_end(self, run: TrainingRun, epoch: int, logs: dict) -> None:
        pass

    def on_train_end(self, run: TrainingRun) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _resolve_mode(mode: str, monitor: str, who: str) -> str:
    if mode == "auto":
        return "max" if any(k in monitor for k in ("acc", "auc", "f1", "precision", "recall")) else "min"
    if mode not in ("min", "max"):
        raise RangeError(f"{who} expected mode 'auto', 'min' or 'max', got {mode!r}")
    return mode


def _monitored(logs: dict, monitor: str, who: str) -> float:
    if monitor not in logs:
        raise KeyError(f"{who} monitors {monitor!r}, but the epoch logs only have {sorted(logs)} "
                       f"(val_* needs val_data)")
    return float(logs[monitor])


def _check_state(state: Any, types: dict, who: str, optional: tuple = ()) -> None:
    """A callback state must be a dict with these keys (``optional`` ones may be absent: checkpoints
    written before they existed), each of one of these types."""
    required = set(types) - set(optional)
    if not isinstance(state, dict) or not required <= set(state) <= set(types):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{who}.load_state_dict expected keys {sorted(types)}, got {got}")
    for key, allowed in types.items():
        if key not in state:
            continue
        value = state[key]
        if not isinstance(value, allowed) or isinstance(value, bool) and bool not in allowed:
            raise CheckpointError(f"{who}.load_state_dict: {key!r} should be "
                                  f"{' or '.join(t.__name__ for t in allowed)}, got {type(value).__name__}")


class _Best:
    """Tracks the best value of a monitored quantity (min or max)."""

    def __init__(self, mode: str, min_delta: float = 0.0) -> None:
        self.mode, self.min_delta = mode, abs(float(min_delta))
        self.best: float | None = None

    def improves(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


_NUMBER = (int, float, type(None))
_EPOCH = (int, type(None))


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    ``mode="auto"`` maximises accuracy-like quantities and minimises the rest (losses).
    With ``restore_best_weights=True`` the model gets the weights of its best epoch back; those
    weights are part of the checkpoint, so a resumed run ends exactly like an uninterrupted one.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str = "auto",
                 min_delta: float = 0.0, restore_best_weights: bool = False) -> None:
        if not isinstance(monitor, str):
            raise RangeError(f"EarlyStopping expected monitor to be a str such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
        self.patience = nonnegative_int(patience, "EarlyStopping", "patience")
        self.tracker = _Best(_resolve_mode(mode, monitor, "EarlyStopping"),
                             finite_number(min_delta, "EarlyStopping", "min_delta", low=0.0))
        self.restore_best_weights = boolean(restore_best_weights, "EarlyStopping", "restore_best_weights")
        self.wait = 0
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._best_weights: dict | None = None

    def on_train_begin(self, run: TrainingRun) -> None:
        run.check_monitored(self.monitor, "EarlyStopping")

    def on_epoch_end(self, run: TrainingRun, epoch: int, logs: dict) -> None:
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self.tracker.improves(value):
            self.tracker.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = {k: v.array.copy() for k, v in run.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            run.stop_training = True
            log.info("early stopping at epoch %d: %s has not improved for %d epochs (best %.6g at epoch %s)",
                     epoch, self.monitor, self.wait, self.tracker.best, self.best_epoch)

    def on_train_end(self, run: TrainingRun) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            run.model.load_state_dict(self._best_weights)

    def state_dict(self) -> dict:
        return {"best": self.tracker.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_weights": self._best_weights}

    def load_state_dict(self, state: dict) -> None:
        _check_state(state, {"best": _NUMBER, "best_epoch": _EPOCH, "wait": (int,), "stopped_epoch": _EPOCH,
                             "best_weights": (dict, type(None))}, "EarlyStopping",
                     optional=("stopped_epoch", "best_weights"))
        weights = state.get("best_weights")
        if weights is None and self.restore_best_weights and state["best_epoch"] is not None:
            log.warning("EarlyStopping: this checkpoint predates saved best weights; the best weights seen "
                        "after resuming will be restored, not those of epoch %s", state["best_epoch"])
        if weights is not None and not all(hasattr(v, "shape") for v in weights.values()):
            raise CheckpointError("EarlyStopping.load_state_dict: best_weights should map names to arrays")
        self.tracker.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.stopped_epoch = state.get("stopped_epoch")
        self._best_weights = None if weights is None else {k: v.copy() for k, v in weights.items()}


class ModelCheckpoint(Callback):
    """Save a resumable checkpoint (model, optimizer, scheduler, epoch, history, RNG) after epochs.

    ``path`` may name ``{epoch}`` and any key of the epoch logs (``"ck-{epoch:02d}-{val_loss:.2f}.npz"``);
    a key the run will not log (``val_loss`` without ``val_data``) is an error before the first
    epoch. Without ``monitor`` every epoch is saved; with it and ``save_best_only=True`` only epochs
    that improve it. A model holding a NaN or an infinity is never written. The file is written
    atomically by :func:`dlcore.save`; load it with ``fit(..., resume_from=path)`` or :func:`dlcore.load`.
    """

    def __init__(self, path: "str | os.PathLike", monitor: str | None = None, save_best_only: bool = False,
                 mode: str = "auto") -> None:
        if save_best_only and monitor is None:
            raise RangeError("ModelCheckpoint(save_best_only=True) needs a monitor, e.g. monitor='val_loss'")
        if monitor is not None and not isinstance(monitor, str):
            raise RangeError(f"ModelCheckpoint expected monitor to be a str or None, got {monitor!r}")
        self.path, self.monitor = os.fspath(path), monitor
        self.save_best_only = boolean(save_best_only, "ModelCheckpoint", "save_best_only")
        self.fields = _template_fields(self.path)
        self.tracker = _Best(_resolve_mode(mode, monitor or "", "ModelCheckpoint"))
        self.last_saved: str | None = None

    def on_train_begin(self, run: TrainingRun) -> None:
        for key in ([self.monitor] if self.monitor else []) + [f for f in self.fields if f != "epoch"]:
            run.check_monitored(key, f"ModelCheckpoint({self.path!r})")

    def on_epoch_end(self, run: TrainingRun, epoch: int, logs: dict) -> None:
        if self.monitor is not None:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            improved = self.tracker.improves(value)
            if improved:
                self.tracker.best = value
            if self.save_best_only and not improved:
                return
        params, buffers = model_arrays(run.model)
        bad = nonfinite_names(params + buffers)
        if bad:  # never let NaN weights replace a good checkpoint
            log.error("ModelCheckpoint: not saving epoch %d: %s hold NaN or Inf; the last checkpoint "
                      "(%s) stays", epoch, ", ".join(bad), self.last_saved)
            return
        path = self.path.format(epoch=epoch, **logs)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # as Keras does
        if is_main_process(run.model):  # data-parallel training: rank 0 writes, every rank may resume from it
            serialization.save(run.checkpoint(epoch), path)
        self.last_saved = path
        log.debug("saved checkpoint %s (epoch %d)", path, epoch)

    def state_dict(self) -> dict:
        return {"best": self.tracker.best}

    def load_state_dict(self, state: dict) -> None:
        _check_state(state, {"best": _NUMBER}, "ModelCheckpoint")
        self.tracker.best = state["best"]


def _template_fields(path: str) -> list[str]:
    """The named fields of a path template; positional or malformed fields are errors now, not later."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(path) if f is not None]
    except ValueError as exc:
        raise RangeError(f"ModelCheckpoint: the path template {path!r} is malformed ({exc})") from None
    for f in fields:
        if not f.isidentifier():
            raise RangeError(f"ModelCheckpoint: the path template {path!r} has the field {{{f}}}; use named "
                             "fields such as {epoch} or {val_loss:.2f}")
    return fields

"""Callbacks that ``fit`` runs after each epoch, and the History it returns.

    >>> stop = EarlyStopping(monitor="val_loss", patience=3)
    >>> ckpt = ModelCheckpoint("runs/model-{epoch}.npz", monitor="val_loss", save_best_only=True)
"""

from __future__ import annotations

import logging
import math
import os
from typing import TYPE_CHECKING

from . import serialization
from .distributed.training import is_main_process

if TYPE_CHECKING:  # pragma: no cover
    from .train import _Run

__all__ = ["History", "Callback", "EarlyStopping", "ModelCheckpoint"]

log = logging.getLogger("dlcore.train")


class History(dict):
    """Per-epoch results: ``history["loss"]`` is a list with one value per epoch.

    Keys: ``loss``, each metric (``accuracy``), ``val_loss`` and ``val_<metric>`` with
    validation data, ``lr`` (of the first parameter group) and ``time`` (seconds per epoch).
    ``history.epochs`` is the number of epochs recorded.
    """

    def append(self, logs: dict) -> None:
        for key, value in logs.items():
            self.setdefault(key, []).append(value)

    @property
    def epochs(self) -> int:
        return max((len(v) for v in self.values()), default=0)


# --------------------------------------------------------------------------- callbacks
class Callback:
    """Hooks called by :func:`fit`. ``run`` is the running :class:`_Run` (model, optimizer, ...)."""

    def on_train_begin(self, run: "_Run") -> None:
        pass

    def on_epoch_end(self, run: "_Run", epoch: int, logs: dict) -> None:
        pass

    def on_train_end(self, run: "_Run") -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _resolve_mode(mode: str, monitor: str, who: str) -> str:
    if mode == "auto":
        return "max" if any(k in monitor for k in ("acc", "auc", "f1", "precision", "recall")) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{who} expected mode 'auto', 'min' or 'max', got {mode!r}")
    return mode


def _monitored(logs: dict, monitor: str, who: str) -> float:
    if monitor not in logs:
        raise KeyError(f"{who} monitors {monitor!r}, but the epoch logs only have {sorted(logs)} "
                       f"(val_* needs val_data)")
    return float(logs[monitor])


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


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    ``mode="auto"`` maximises accuracy-like quantities and minimises the rest (losses).
    With ``restore_best_weights=True`` the model gets the weights of its best epoch back.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str = "auto",
                 min_delta: float = 0.0, restore_best_weights: bool = False) -> None:
        self.monitor, self.patience = monitor, int(patience)
        self.tracker = _Best(_resolve_mode(mode, monitor, "EarlyStopping"), min_delta)
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._best_weights: dict | None = None

    def on_epoch_end(self, run: "_Run", epoch: int, logs: dict) -> None:
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

    def on_train_end(self, run: "_Run") -> None:
        if self.restore_best_weights and self._best_weights is not None:
            run.model.load_state_dict(self._best_weights)

    def state_dict(self) -> dict:
        return {"best": self.tracker.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict) -> None:
        self.tracker.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]


class ModelCheckpoint(Callback):
    """Save a resumable checkpoint (model, optimizer, scheduler, epoch, history, RNG) after epochs.

    ``path`` may contain ``{epoch}`` (e.g. ``"ckpt-{epoch:03d}.npz"``). Without ``monitor``
    every epoch is saved; with it and ``save_best_only=True`` only epochs that improve it.
    The file is written atomically by :func:`dlcore.save`; load it with
    ``fit(..., resume_from=path)`` or :func:`dlcore.load`.
    """

    def __init__(self, path: "str | os.PathLike", monitor: str | None = None, save_best_only: bool = False,
                 mode: str = "auto") -> None:
        if save_best_only and monitor is None:
            raise ValueError("ModelCheckpoint(save_best_only=True) needs a monitor, e.g. monitor='val_loss'")
        self.path, self.monitor, self.save_best_only = os.fspath(path), monitor, save_best_only
        self.tracker = _Best(_resolve_mode(mode, monitor or "", "ModelCheckpoint"))
        self.last_saved: str | None = None

    def on_epoch_end(self, run: "_Run", epoch: int, logs: dict) -> None:
        if self.monitor is not None:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            improved = self.tracker.improves(value)
            if improved:
                self.tracker.best = value
            if self.save_best_only and not improved:
                return
        path = self.path.format(epoch=epoch)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # as Keras does
        if is_main_process(run.model):  # data-parallel training: rank 0 writes, every rank may resume from it
            serialization.save(run.checkpoint(epoch), path)
        self.last_saved = path
        log.debug("saved checkpoint %s (epoch %d)", path, epoch)

    def state_dict(self) -> dict:
        return {"best": self.tracker.best}

    def load_state_dict(self, state: dict) -> None:
        self.tracker.best = state["best"]

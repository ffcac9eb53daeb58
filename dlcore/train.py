"""The training loop of lecture 001: shuffle, forward, loss, backward, update; repeat per epoch.

    >>> import numpy as np, dlcore, dlcore.nn as nn, dlcore.functional as F
    >>> from dlcore.datasets import linear
    >>> X, y = linear(64, w=2.0, b=1.0, noise=0.0, seed=0)
    >>> model = nn.Linear(1, 1)
    >>> history = fit(model, F.mse_loss, dlcore.optim.SGD(model.parameters(), lr=0.5), (X, y),
    ...               epochs=30, batch_size=None, metrics=None, progress=False)
    >>> history["loss"][-1] < 1e-3
    True

``batch_size=None`` is batch gradient descent (one update per epoch), ``1`` stochastic
gradient descent, anything else mini-batch. Callbacks (:class:`EarlyStopping`,
:class:`ModelCheckpoint`) run after each epoch; a checkpoint holds everything needed to resume
with ``fit(..., resume_from=path)``.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from . import serialization
from .autograd import no_grad
from .backend import get_rng_state, manual_seed, set_rng_state, to_numpy
from .callbacks import Callback, EarlyStopping, History, ModelCheckpoint
from .data import DataLoader, TensorDataset
from .distributed import training as data_parallel
from .errors import CheckpointError, NonFiniteLossError, ShapeError
from .metrics import accuracy

__all__ = ["History", "Callback", "EarlyStopping", "ModelCheckpoint", "fit", "evaluate", "predict"]

log = logging.getLogger("dlcore.train")

CHECKPOINT_KIND = "dlcore.train.fit"


# --------------------------------------------------------------------------- helpers
def _loader(data: Any, batch_size: int | None, shuffle: bool, seed: int | None, device: Any) -> DataLoader:
    """A DataLoader from ``(X, y)`` (arrays or Tensors) on ``device``, or the given DataLoader."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=shuffle, seed=seed, device=device)
    raise TypeError(f"expected (X, y) arrays/Tensors or a DataLoader, got {type(data).__name__}")


def _on(batch: tuple, device: Any) -> tuple:
    return tuple(t if t.device == device else t.to(device) for t in batch)


def _metric_fns(metrics: Sequence[Any] | None, loss_fn: Callable) -> dict[str, Callable]:
    """Name -> fn(output, target) -> float. "accuracy" reads one-column outputs as logits when
    the loss takes logits (``*_with_logits``, ``logistic_loss``) and as probabilities otherwise."""
    fns: dict[str, Callable] = {}
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__).lower()
    threshold = 0.0 if ("logit" in name or "logistic" in name) else None
    for m in metrics or ():
        if m == "accuracy":
            fns["accuracy"] = lambda out, y: accuracy(out, y, threshold=threshold)
        elif callable(m):
            fns[getattr(m, "__name__", "metric")] = m
        else:
            raise ValueError(f"fit: unknown metric {m!r}; use 'accuracy' or a callable fn(output, target)")
    return fns


class _Run:
    """What callbacks see: the model, optimizer, scheduler, history, and a stop flag."""

    def __init__(self, model: Any, optimizer: Any, scheduler: Any, history: History,
                 callbacks: Sequence[Callback]) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.history, self.callbacks = history, list(callbacks)
        self.stop_training = False

    def checkpoint(self, epoch: int) -> dict:
        """Everything needed to resume after ``epoch`` completed epochs."""
        return {
            "kind": CHECKPOINT_KIND,
            "epoch": int(epoch),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "history": {k: list(v) for k, v in self.history.items()},
            "rng": get_rng_state(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
        }

    def restore(self, path: "str | os.PathLike") -> int:
        """Load a checkpoint written by :class:`ModelCheckpoint`; returns its epoch."""
        state = serialization.load(path)
        if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
            raise CheckpointError(f"fit(resume_from={os.fspath(path)!r}): not a checkpoint written by "
                                  f"ModelCheckpoint (no kind={CHECKPOINT_KIND!r})")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if (state["scheduler"] is None) != (self.scheduler is None):
            raise CheckpointError(f"fit(resume_from={os.fspath(path)!r}): the checkpoint "
                                  f"{'has no' if state['scheduler'] is None else 'has a'} scheduler state, "
                                  f"this run {'has' if self.scheduler is not None else 'has no'} scheduler")
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.history.clear()
        self.history.update({k: list(v) for k, v in state["history"].items()})
        set_rng_state(state["rng"])
        saved = state.get("callbacks") or []
        if len(saved) != len(self.callbacks):
            log.warning("fit(resume_from=%s): the checkpoint has %d callback states and this run %d "
                        "callbacks; callbacks start fresh", os.fspath(path), len(saved), len(self.callbacks))
        else:
            for cb, cb_state in zip(self.callbacks, saved):
                if cb_state:
                    cb.load_state_dict(cb_state)
        return int(state["epoch"])


def _use_bar(progress: bool) -> bool:
    if not progress:
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _format_logs(epoch: int, epochs: int, logs: dict) -> str:
    parts = [f"epoch {epoch}/{epochs}"]
    for key, value in logs.items():
        if key == "time":
            parts.append(f"{value:.1f}s")
        elif key == "samples_per_s":
            parts.append(f"{value:,.0f} samples/s")
        elif key == "lr":
            parts.append(f"lr {value:.3g}")
        else:
            parts.append(f"{key} {value:.4f}")
    return " - ".join(parts)


# --------------------------------------------------------------------------- fit
def fit(model: Any, loss_fn: Callable, optimizer: Any, train_data: Any, epochs: int,
        batch_size: int | None = 32, val_data: Any = None, callbacks: Iterable[Callback] = (),
        progress: bool = True, scheduler: Any = None, metrics: Sequence[Any] | None = ("accuracy",),
        seed: int | None = None, on_nonfinite: str = "raise", resume_from: "str | os.PathLike | None" = None,
        eval_batch_size: int = 1024) -> History:
    """Train ``model`` for ``epochs`` epochs (counted from the start, also when resuming).

    - ``train_data`` / ``val_data``: ``(X, y)`` arrays or Tensors (copied once to the model's
      device and reshuffled every epoch), or a :class:`~dlcore.data.DataLoader`.
    - ``batch_size``: None = batch GD, 1 = stochastic GD, n = mini-batches of n.
    - ``metrics``: ``("accuracy",)``, callables ``fn(output, target) -> float``, or None
      (regression). Training metrics average the batches; validation ones use all outputs.
    - ``seed``: seeds dlcore's generators (dropout) and fixes epoch e's shuffle to (seed, e).
    - ``on_nonfinite``: "raise" (a :class:`~dlcore.errors.NonFiniteLossError` naming the epoch
      and batch, before any checkpoint of that epoch) or "skip" (that batch makes no update).
    - ``scheduler``: stepped once after every epoch.
    - ``resume_from``: a :class:`ModelCheckpoint` file; training goes on after its epoch.
    - ``progress``: a tqdm bar per epoch (loss, samples/s) and a summary line per epoch, when
      stdout is a terminal; otherwise the summary goes to the ``dlcore.train`` logger (INFO).

    Returns the :class:`History`.
    """
    if on_nonfinite not in ("raise", "skip"):
        raise ValueError(f"fit expected on_nonfinite 'raise' or 'skip', got {on_nonfinite!r}")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"fit expected batch_size >= 1 or None (full batch), got {batch_size!r}")
    callbacks = list(callbacks)
    device = model.device
    train_loader = _loader(train_data, batch_size, shuffle=True, seed=seed, device=device)
    train_loader = data_parallel.shard_loader(model, train_data, train_loader, seed)
    val_loader = None if val_data is None else _loader(val_data, eval_batch_size, False, None, device)
    for what, loader in (("train_data", train_loader), ("val_data", val_loader)):
        if loader is not None and len(loader) == 0:
            why = ": an epoch would train on nothing and report a NaN loss" if what == "train_data" else ""
            raise ShapeError(f"fit: {what} is empty ({len(loader.dataset)} samples, 0 batches){why}")
    metric_fns = _metric_fns(metrics, loss_fn)
    history = History()
    run = _Run(model, optimizer, scheduler, history, callbacks)

    start = 0
    if resume_from is not None:
        start = run.restore(resume_from)
        log.info("resuming from %s after epoch %d", os.fspath(resume_from), start)
    elif seed is not None:
        manual_seed(seed)

    use_bar = _use_bar(progress) and data_parallel.is_main_process(model)
    for cb in callbacks:
        cb.on_train_begin(run)
    try:
        for epoch in range(start + 1, epochs + 1):
            train_loader.set_epoch(epoch - 1)
            t0 = time.perf_counter()
            logs = _train_epoch(model, loss_fn, optimizer, train_loader, metric_fns, device, epoch, epochs,
                                on_nonfinite, use_bar)
            if val_loader is not None:
                val = data_parallel.mean_over_ranks(model, _evaluate(model, val_loader, loss_fn, metric_fns, device))
                logs.update({f"val_{k}": v for k, v in val.items()})
            logs["lr"] = float(optimizer.param_groups[0]["lr"])
            if scheduler is not None:
                scheduler.step()
            logs["time"] = time.perf_counter() - t0
            samples_per_s = logs.pop("samples_per_s")
            history.append(logs)
            summary = _format_logs(epoch, epochs, {**logs, "samples_per_s": samples_per_s})
            if not data_parallel.is_main_process(model):
                pass
            elif use_bar:
                from tqdm.auto import tqdm

                tqdm.write(summary, file=sys.stdout)
            else:
                log.info(summary)
            for cb in callbacks:
                cb.on_epoch_end(run, epoch, logs)
            run.stop_training = data_parallel.rank0_decides(model, run.stop_training)
            if run.stop_training:
                break
    finally:
        model.train()
    for cb in callbacks:
        cb.on_train_end(run)
    return history


def _train_epoch(model, loss_fn, optimizer, loader, metric_fns, device, epoch, epochs, on_nonfinite,
                 use_bar) -> dict:
    model.train()
    bar = None
    if use_bar:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(loader), desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False,
                   file=sys.stdout, dynamic_ncols=True)
    total_loss, seen, skipped = 0.0, 0, 0
    sums = dict.fromkeys(metric_fns, 0.0)
    t0 = time.perf_counter()
    try:
        for b, batch in enumerate(loader, start=1):
            x, y = _on(batch, device)
            out = model(x)
            loss = loss_fn(out, y)
            value = float(loss.item())
            n = x.shape[0]
            if not data_parallel.all_ranks_agree(model, math.isfinite(value)):
                if on_nonfinite == "raise":
                    raise NonFiniteLossError(
                        f"fit: the loss is {value} at epoch {epoch}, batch {b} of {len(loader)} "
                        f"(learning rate too high, or bad inputs?); pass on_nonfinite='skip' to skip such batches")
                skipped += 1
                log.warning("fit: skipping batch %d of epoch %d: the loss is %s", b, epoch, value)
                if bar is not None:
                    bar.update(1)
                continue
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += value * n
            seen += n
            for name, fn in metric_fns.items():
                sums[name] += fn(out.detach(), y) * n
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{total_loss / seen:.4f}",
                                samples_s=f"{seen / max(time.perf_counter() - t0, 1e-9):,.0f}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    if skipped and skipped == len(loader):
        raise NonFiniteLossError(
            f"fit: every batch of epoch {epoch} ({skipped} of {skipped}) had a non-finite loss, so on_nonfinite='skip' "
            f"cannot make progress (are the weights or the data NaN?); stopping")
    if skipped:
        log.warning("fit: epoch %d skipped %d of %d batches with a non-finite loss", epoch, skipped, len(loader))
    total_loss, seen, *totals = data_parallel.sum_over_ranks(model, [total_loss, seen, *sums.values()])
    sums = dict(zip(sums, totals))
    logs = {"loss": total_loss / seen if seen else float("nan")}
    logs.update({k: (v / seen if seen else float("nan")) for k, v in sums.items()})
    logs["samples_per_s"] = seen / max(elapsed, 1e-9)
    return logs


# --------------------------------------------------------------------------- evaluate / predict
def _outputs(model, loader, device, loss_fn=None):
    """Eval mode + no_grad over a loader: (NumPy outputs, NumPy targets or None, mean loss or None)."""
    was_training = model.training
    model.eval()
    outs, targets, total, count = [], [], 0.0, 0
    try:
        with no_grad():
            for batch in loader:
                batch = _on(batch, device)
                out = model(batch[0])
                outs.append(to_numpy(out.array))
                if len(batch) > 1:
                    targets.append(to_numpy(batch[1].array))
                    if loss_fn is not None:
                        n = batch[0].shape[0]
                        total += float(loss_fn(out, batch[1]).item()) * n
                        count += n
    finally:
        model.train(was_training)
    output = np.concatenate(outs) if outs else np.zeros((0,))
    target = np.concatenate(targets) if targets else None
    return output, target, (total / count if count else None)


def _evaluate(model, loader, loss_fn, metric_fns, device) -> dict:
    output, target, loss = _outputs(model, loader, device, loss_fn)
    result = {} if loss is None else {"loss": loss}
    for name, fn in metric_fns.items():
        result[name] = float(fn(output, target))
    return result


def evaluate(model: Any, data: Any, loss_fn: Callable | None = None, batch_size: int = 1024,
             metrics: Sequence[Any] | None = ("accuracy",)) -> dict:
    """Loss (mean over samples, when ``loss_fn`` is given) and metrics of ``model`` on ``(X, y)``.

    Runs in eval mode under ``no_grad`` and puts the model back in its previous mode.

    >>> # evaluate(model, (X_test, y_test), F.cross_entropy) -> {"loss": 0.07, "accuracy": 0.981}
    """
    device = model.device
    loader = _loader(data, batch_size, False, None, device)
    return _evaluate(model, loader, loss_fn, _metric_fns(metrics, loss_fn), device)


def predict(model: Any, X: Any, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs for ``X`` as a NumPy array (eval mode, no_grad, batch by batch)."""
    device = model.device
    loader = DataLoader(TensorDataset(X), batch_size=batch_size, device=device)
    return _outputs(model, loader, device)[0]

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

from .autograd import no_grad
from .backend import manual_seed, to_numpy
from .callbacks import CHECKPOINT_KIND, Callback, EarlyStopping, History, ModelCheckpoint, TrainingRun  # noqa: F401
from .data import DataLoader, TensorDataset
from .distributed import training as data_parallel
from .errors import NonFiniteLossError, RangeError, ShapeError
from .finite import all_finite, model_arrays, nonfinite_names
from .metrics import accuracy
from .nn.module import Module
from .optim.plateau import ReduceLROnPlateau
from .validation import boolean, nonnegative_int, one_of, positive_int

__all__ = ["History", "Callback", "EarlyStopping", "ModelCheckpoint", "fit", "evaluate", "predict"]

log = logging.getLogger("dlcore.train")


# --------------------------------------------------------------------------- helpers
def _loader(data: Any, batch_size: int | None, shuffle: bool, seed: int | None, device: Any,
            who: str = "fit: train_data") -> DataLoader:
    """A DataLoader from ``(X, y)`` (arrays or Tensors) on ``device``, or the given DataLoader."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        dataset = TensorDataset(*data)  # batch_size=None here is one batch of everything (batch GD)
        size = max(1, len(dataset)) if batch_size is None else batch_size
        return DataLoader(dataset, batch_size=size, shuffle=shuffle, seed=seed, device=device)
    got = f"a {type(data).__name__} of {len(data)}" if isinstance(data, (tuple, list)) else type(data).__name__
    raise RangeError(f"{who} expected (X, y) arrays/Tensors or a DataLoader, got {got}")


def _check_run_objects(model: Any, loss_fn: Any, optimizer: Any, scheduler: Any, seed: Any) -> None:
    """fit's objects, checked before anything runs."""
    if not isinstance(model, Module):
        raise RangeError(f"fit expected model to be a dlcore.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise RangeError(f"fit expected loss_fn to be a function such as F.cross_entropy, got {loss_fn!r:.60}")
    if not all(hasattr(optimizer, a) for a in ("step", "zero_grad", "param_groups", "state_dict")):
        raise RangeError(f"fit expected optimizer to be a dlcore.optim optimizer, got {type(optimizer).__name__}")
    if scheduler is not None and not hasattr(scheduler, "step"):
        raise RangeError(f"fit expected scheduler to be a learning-rate scheduler or None, got {type(scheduler).__name__}")
    if seed is not None:
        nonnegative_int(seed, "fit", "seed (or None)")


def _on(batch: tuple, device: Any) -> tuple:
    return tuple(t if t.device == device else t.to(device) for t in batch)


def _metric_fns(metrics: Sequence[Any] | None, loss_fn: Callable) -> dict[str, Callable]:
    """Name -> fn(output, target) -> float. "accuracy" reads one-column outputs as logits when
    the loss takes logits (``*_with_logits``, ``logistic_loss``) and as probabilities otherwise."""
    fns: dict[str, Callable] = {}
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__).lower()
    threshold = 0.0 if ("logit" in name or "logistic" in name) else None
    if isinstance(metrics, str) or not (metrics is None or isinstance(metrics, (list, tuple))):
        raise RangeError(f"fit/evaluate expected metrics to be a list or tuple such as ('accuracy',) or None, "
                         f"got {metrics!r:.60}")
    for m in metrics or ():
        if m == "accuracy":
            fns["accuracy"] = lambda out, y: accuracy(out, y, threshold=threshold)
        elif callable(m):
            fns[getattr(m, "__name__", "metric")] = m
        else:
            raise RangeError(f"fit/evaluate: unknown metric {m!r}; use 'accuracy' or a callable fn(output, target)")
    return fns


def _use_bar(progress: bool) -> bool:
    """A progress bar in a terminal or a Jupyter notebook (tqdm.auto draws a notebook bar there);
    log lines otherwise (CI, files, pipes)."""
    if not progress:
        return False
    if _in_notebook():
        return True
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell), without importing IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


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
    - ``on_nonfinite``: every step checks the loss, every gradient and every buffer (BatchNorm
      statistics) before the optimizer step, in one fused check. "raise" stops with a
      :class:`~dlcore.errors.NonFiniteLossError` naming the epoch, the batch and what was
      non-finite; "skip" drops that batch with nothing changed (parameters, buffers, optimizer
      state). Either way no NaN reaches the weights or a checkpoint.
    - ``scheduler``: stepped once after every epoch.
    - ``resume_from``: a :class:`ModelCheckpoint` file; training goes on after its epoch. The
      whole checkpoint is checked first: a bad one raises CheckpointError and changes nothing.
    - ``callbacks``: called after each epoch in order, except that every :class:`ModelCheckpoint`
      comes last, so a checkpoint holds the other callbacks' state after that epoch.
    - ``progress``: a tqdm bar per epoch (loss, samples/s) and a summary line per epoch, when
      stdout is a terminal; otherwise the summary goes to the ``dlcore.train`` logger (INFO).

    Returns the :class:`History`.
    """
    _check_run_objects(model, loss_fn, optimizer, scheduler, seed)
    if resume_from is not None and not isinstance(resume_from, (str, os.PathLike)):
        raise RangeError(f"fit expected resume_from to be a path or None, got {type(resume_from).__name__}")
    positive_int(epochs, "fit", "epochs")
    if batch_size is not None:
        positive_int(batch_size, "fit", "batch_size (or None for the full batch)")
    positive_int(eval_batch_size, "fit", "eval_batch_size")
    one_of(on_nonfinite, ("raise", "skip"), "fit", "on_nonfinite")
    boolean(progress, "fit", "progress")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise RangeError(f"fit expected callbacks to be Callback instances, got {type(cb).__name__}")
    device = model.device
    train_loader = _loader(train_data, batch_size, shuffle=True, seed=seed, device=device)
    train_loader = data_parallel.shard_loader(model, train_data, train_loader, seed)
    val_loader = None if val_data is None else _loader(val_data, eval_batch_size, False, None, device,
                                                       "fit: val_data")
    for what, loader in (("train_data", train_loader), ("val_data", val_loader)):
        if loader is not None and len(loader) == 0:
            why = ": an epoch would train on nothing and report a NaN loss" if what == "train_data" else ""
            raise ShapeError(f"fit: {what} is empty ({len(loader.dataset)} samples, 0 batches){why}")
    metric_fns = _metric_fns(metrics, loss_fn)
    history = History()
    log_keys = ["loss", *metric_fns] + ([f"val_{k}" for k in ("loss", *metric_fns)] if val_loader else [])
    run = TrainingRun(model, optimizer, scheduler, history, callbacks, log_keys=log_keys + ["lr", "time"])

    start = 0
    if resume_from is not None:
        start = run.restore(resume_from)
        log.info("resuming from %s after epoch %d", os.fspath(resume_from), start)
    elif seed is not None:
        manual_seed(seed)

    use_bar = _use_bar(progress) and data_parallel.is_main_process(model)
    # checkpoints run after the other callbacks, so they hold those callbacks' state after this epoch
    epoch_end_order = sorted(callbacks, key=lambda cb: isinstance(cb, ModelCheckpoint))
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
            if isinstance(scheduler, ReduceLROnPlateau):  # it steps on a metric: val_loss, else loss (as Keras)
                scheduler.step(logs.get("val_loss", logs["loss"]))
            elif scheduler is not None:
                scheduler.step()
            logs["time"] = time.perf_counter() - t0
            samples_per_s = logs.pop("samples_per_s")
            history.append(logs)
            if data_parallel.is_main_process(model):
                _report(_format_logs(epoch, epochs, {**logs, "samples_per_s": samples_per_s}), use_bar)
            for cb in epoch_end_order:  # checkpoints are written here, by ModelCheckpoint, last
                cb.on_epoch_end(run, epoch, logs)
            run.stop_training = data_parallel.rank0_decides(model, run.stop_training)
            if run.stop_training:
                break
    finally:
        model.train()
    for cb in callbacks:
        cb.on_train_end(run)
    return history


def _report(summary: str, use_bar: bool) -> None:
    """The one place an epoch's summary line is emitted."""
    if use_bar:
        from tqdm.auto import tqdm

        tqdm.write(summary, file=sys.stdout)
    else:
        log.info(summary)


def _what_is_nonfinite(value: float, params: list, buffers: list) -> str:
    """Which of the loss, the gradients (by parameter) and the buffers (BatchNorm statistics)."""
    parts = [] if math.isfinite(value) else [f"the loss is {value}"]
    grads = nonfinite_names((name, p.grad.array) for name, p in params if p.grad is not None)
    if grads:
        parts.append(f"the gradient of {', '.join(grads)} is NaN or Inf")
    stats = nonfinite_names(buffers)
    if stats:
        parts.append(f"the buffer {', '.join(stats)} (e.g. BatchNorm statistics) became NaN or Inf in the forward pass")
    text = "; ".join(parts)
    return f"{text} while the loss {value:.6g} is finite" if math.isfinite(value) else text


def _guarded_step(model, loss_fn, optimizer, x, y, params, buffer_tensors) -> tuple:
    """Forward, backward and the optimizer step, unless the loss, a gradient or a buffer is NaN/Inf:
    then no step, no gradients, the buffers as before the forward pass. Returns (loss, output, problem)."""
    before = [t.array.copy() for t in buffer_tensors]  # the forward pass updates BatchNorm statistics
    out = model(x)
    loss = loss_fn(out, y)
    value = float(loss.item())
    optimizer.zero_grad()
    # data-parallel: every rank must take the same branch (backward all-reduces the gradients)
    finite = data_parallel.all_ranks_agree(model, math.isfinite(value))
    if finite:
        loss.backward()  # one fused check of every gradient and buffer
        finite = data_parallel.all_ranks_agree(model, all_finite(
            [p.grad.array for _, p in params if p.grad is not None] + [t.array for t in buffer_tensors]))
    if finite:
        optimizer.step()
        return value, out, None
    problem = _what_is_nonfinite(value, params, model_arrays(model)[1])
    optimizer.zero_grad()
    for t, saved in zip(buffer_tensors, before):
        t.array[...] = saved
    return value, out, problem


def _train_epoch(model, loss_fn, optimizer, loader, metric_fns, device, epoch, epochs, on_nonfinite,
                 use_bar) -> dict:
    model.train()
    bar = None
    if use_bar:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(loader), desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False,
                   file=sys.stdout, dynamic_ncols=True)
    params = list(model.named_parameters())
    buffer_tensors = [b for _, b in model.named_buffers()]
    total_loss, seen, skipped = 0.0, 0, 0
    sums = dict.fromkeys(metric_fns, 0.0)
    t0 = time.perf_counter()
    try:
        for b, batch in enumerate(loader, start=1):
            x, y = _on(batch, device)
            value, out, problem = _guarded_step(model, loss_fn, optimizer, x, y, params, buffer_tensors)
            n = x.shape[0]
            if problem is not None:
                _check_parameters(params, epoch, f"before batch {b}")
                if on_nonfinite == "raise":
                    raise NonFiniteLossError(
                        f"fit: {problem} at epoch {epoch}, batch {b} of {len(loader)} (learning rate too high, "
                        f"or bad inputs?); nothing was updated; pass on_nonfinite='skip' to skip such batches")
                skipped += 1
                log.warning("fit: skipping batch %d of epoch %d: %s", b, epoch, problem)
                if bar is not None:
                    bar.update(1)
                continue
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
    _check_parameters(params, epoch, "after its last optimizer step")
    elapsed = time.perf_counter() - t0
    if skipped and skipped == len(loader):
        raise NonFiniteLossError(
            f"fit: every batch of epoch {epoch} ({skipped} of {skipped}) had a non-finite loss or gradient, so "
            f"on_nonfinite='skip' cannot make progress (are the weights or the data NaN?); stopping")
    if skipped:
        log.warning("fit: epoch %d skipped %d of %d batches with a non-finite loss or gradient", epoch, skipped,
                    len(loader))
    total_loss, seen, *totals = data_parallel.sum_over_ranks(model, [total_loss, seen, *sums.values()])
    sums = dict(zip(sums, totals))
    logs = {"loss": total_loss / seen if seen else float("nan")}
    logs.update({k: (v / seen if seen else float("nan")) for k, v in sums.items()})
    logs["samples_per_s"] = seen / max(elapsed, 1e-9)
    return logs


def _check_parameters(params: list, epoch: int, when: str) -> None:
    """Finite gradients can still overflow a step (a huge learning rate): refuse to go on with NaN weights."""
    if all_finite([p.array for _, p in params]):
        return
    bad = nonfinite_names((name, p.array) for name, p in params)
    raise NonFiniteLossError(f"fit: the parameter {', '.join(bad)} became NaN or Inf in an optimizer step of epoch "
                             f"{epoch} ({when}) although its gradients were finite: lower the learning rate")


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
    positive_int(batch_size, "evaluate", "batch_size")
    device = model.device
    loader = _loader(data, batch_size, False, None, device, "evaluate: data")
    return _evaluate(model, loader, loss_fn, _metric_fns(metrics, loss_fn), device)


def predict(model: Any, X: Any, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs for ``X`` as a NumPy array (eval mode, no_grad, batch by batch)."""
    positive_int(batch_size, "predict", "batch_size")
    device = model.device
    loader = DataLoader(TensorDataset(X), batch_size=batch_size, device=device)
    return _outputs(model, loader, device)[0]

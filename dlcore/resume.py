"""Resuming a run from a ``ModelCheckpoint`` file, all or nothing.

:func:`restore_run` first checks every part of the checkpoint against the run (its kind and
epoch, the optimizer's type, whether there is a scheduler, each callback's type, the RNG state on
a scratch generator, the history), then applies the parts one by one;
if applying any part fails (the model first: its load_state_dict checks every key, shape and
dtype before writing), the parts already applied are rolled back from snapshots. Either
way a failure is a :class:`~dlcore.errors.CheckpointError` saying what and where, and the model,
optimizer, scheduler, callbacks, RNG and history are exactly as before.

    >>> import dlcore, dlcore.nn as nn, tempfile, os
    >>> from dlcore.callbacks import TrainingRun
    >>> model = nn.Linear(2, 1)
    >>> run = TrainingRun(model, dlcore.optim.SGD(model.parameters(), lr=0.1))
    >>> path = os.path.join(tempfile.mkdtemp(), "ck.npz")
    >>> dlcore.save(run.checkpoint(epoch=3), path)
    >>> restore_run(run, path)
    3
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np

from . import serialization
from .backend import get_rng_state, set_rng_state
from .errors import CheckpointError

__all__ = ["CHECKPOINT_KIND", "restore_run"]

CHECKPOINT_KIND = "dlcore.train.fit"
_PARTS = ("epoch", "model", "optimizer", "scheduler", "history", "rng", "callbacks")


def _fail(path: str, what: str) -> CheckpointError:
    return CheckpointError(f"fit(resume_from={path!r}): {what}; nothing was changed")


def _check_rng(state: Any, path: str) -> None:
    """Set the state on a scratch generator of the same kind: a bad one fails there, not on ours."""
    current = get_rng_state()
    if not isinstance(state, dict) or state.get("bit_generator") != current["bit_generator"]:
        got = state.get("bit_generator") if isinstance(state, dict) else type(state).__name__
        raise _fail(path, f"the RNG state is for {got!r}, this dlcore uses {current['bit_generator']!r}")
    try:
        getattr(np.random, current["bit_generator"])().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise _fail(path, f"the RNG state is damaged ({type(exc).__name__}: {exc})") from None


def _check(run: Any, state: Any, path: str) -> None:
    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"fit(resume_from={path!r}): not a checkpoint written by ModelCheckpoint "
                              f"(no kind={CHECKPOINT_KIND!r})")
    missing = [p for p in _PARTS if p not in state]
    if missing:
        raise _fail(path, f"the checkpoint lacks {missing}")
    epoch = state["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise _fail(path, f"its epoch should be an int >= 0, got {epoch!r}")
    opt = state["optimizer"]
    # PyTorch's optimizer state_dict does not name its class: the checkpoint does, beside it
    saved_type = state.get("optimizer_type", opt.get("type") if isinstance(opt, dict) else None)
    if saved_type != type(run.optimizer).__name__:
        raise _fail(path, f"its optimizer state was saved by {saved_type}, this run uses "
                          f"{type(run.optimizer).__name__}")
    if (state["scheduler"] is None) != (run.scheduler is None):
        has = "has no" if state["scheduler"] is None else "has a"
        raise _fail(path, f"the checkpoint {has} scheduler state, this run "
                          f"{'has' if run.scheduler is not None else 'has no'} scheduler")
    history = state["history"]
    if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
        raise _fail(path, "its history should map names to lists of numbers")
    saved = state["callbacks"]
    if not isinstance(saved, list):
        raise _fail(path, f"its callback states should be a list, got {type(saved).__name__}")
    types = state.get("callback_types")
    ours = [type(cb).__name__ for cb in run.callbacks]
    if len(saved) == len(run.callbacks) and types is not None and list(types) != ours:
        raise _fail(path, f"its callbacks are {types}, this run's are {ours}")
    _check_rng(state["rng"], path)
    if not isinstance(state["model"], dict):
        raise _fail(path, f"its model state should be a dict of arrays, got {type(state['model']).__name__}")
    # the model's keys, shapes and dtypes are checked by load_state_dict, which writes nothing
    # unless all of them fit; it is applied first, so nothing else has changed when it refuses


def _snapshot(run: Any) -> dict:
    return {
        "model": {k: v.array.copy() for k, v in run.model.state_dict().items()},
        "optimizer": copy.deepcopy(run.optimizer.state_dict()),
        "scheduler": None if run.scheduler is None else copy.deepcopy(run.scheduler.state_dict()),
        "callbacks": [copy.deepcopy(cb.state_dict()) for cb in run.callbacks],
        "rng": get_rng_state(),
        "history": {k: list(v) for k, v in run.history.items()},
    }


def _steps(run: Any, state: dict, use_callbacks: bool) -> list:
    """(part, apply) pairs, in the order they are applied."""
    steps = [("model", lambda: run.model.load_state_dict(state["model"])),
             ("optimizer", lambda: run.optimizer.load_state_dict(state["optimizer"]))]
    if run.scheduler is not None:
        steps.append(("scheduler", lambda: run.scheduler.load_state_dict(state["scheduler"])))
    if use_callbacks:
        for i, (cb, cb_state) in enumerate(zip(run.callbacks, state["callbacks"])):
            if cb_state:
                steps.append((f"callback {i} ({type(cb).__name__})", lambda cb=cb, s=cb_state: cb.load_state_dict(s)))
    steps.append(("rng", lambda: set_rng_state(state["rng"])))
    steps.append(("history", lambda: (run.history.clear(), run.history.update(
        {k: list(v) for k, v in state["history"].items()}))))
    return steps


def restore_run(run: Any, path: "str | os.PathLike") -> int:
    """Check every part of the checkpoint at ``path``, then apply them all; returns its epoch."""
    import logging

    path = os.fspath(path)
    state = serialization.load(path)
    _check(run, state, path)
    use_callbacks = len(state["callbacks"]) == len(run.callbacks)
    if not use_callbacks:
        logging.getLogger("dlcore.train").warning(
            "fit(resume_from=%s): the checkpoint has %d callback states and this run %d callbacks; "
            "callbacks start fresh", path, len(state["callbacks"]), len(run.callbacks))
    before = _snapshot(run)
    undo = dict(_steps(run, before, True))
    done = []
    for part, apply in _steps(run, state, use_callbacks):
        try:
            apply()
        except Exception as exc:
            for name in reversed(done + [part]):  # the part that failed may be half-applied too
                try:
                    undo[name]()
                except Exception:  # a callback that cannot take its own state back: nothing more to do
                    pass
            raise _fail(path, f"applying its {part} state failed ({type(exc).__name__}: {exc}); every part "
                              "was rolled back") from None
        done.append(part)
    return state["epoch"]

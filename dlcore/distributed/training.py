"""What ``dlcore.fit`` asks when it trains a :class:`DistributedDataParallel` model.

Each function is a no-op answer for any other model, so ``fit`` calls them unconditionally:
rank 0 alone prints and writes checkpoints, epoch sums are added over ranks, and every
rank takes rank 0's stop decision, so that all ranks run the same number of epochs.

    >>> import dlcore.nn as nn
    >>> model = nn.Linear(2, 1)
    >>> is_main_process(model), sum_over_ranks(model, [3.0, 4.0]), all_ranks_agree(model, True)
    (True, [3.0, 4.0], True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .communicator import DistributedError
from .ddp import DistributedDataParallel
from .sampler import DistributedSampler

__all__ = ["is_main_process", "shard_loader", "sum_over_ranks", "mean_over_ranks", "all_ranks_agree",
           "rank0_decides"]


def _comm(model: Any):
    return model.comm if isinstance(model, DistributedDataParallel) and model.comm.size > 1 else None


def is_main_process(model: Any) -> bool:
    """True on rank 0 of a data-parallel model, and always for any other model."""
    comm = _comm(model)
    return comm is None or comm.rank == 0


def shard_loader(model: Any, train_data: Any, loader: Any, seed: int | None) -> Any:
    """The training loader of a data-parallel model: each rank its own share of the data.

    ``(X, y)`` arrays are split with a shuffling :class:`DistributedSampler` (``seed`` or 0;
    ``batch_size`` is then per process); a DataLoader must already have a DistributedSampler,
    else every rank would train on the same batches.
    """
    comm = _comm(model)
    if comm is None or isinstance(getattr(loader, "sampler", None), DistributedSampler):
        return loader
    if loader is train_data:
        raise DistributedError(
            f"fit: a DistributedDataParallel model over {comm.size} ranks needs each rank's share of the data: "
            f"give the DataLoader sampler=DistributedSampler(dataset), or pass (X, y) and fit splits them")
    sampler = DistributedSampler(loader.dataset, shuffle=True, seed=0 if seed is None else seed)
    return type(loader)(loader.dataset, batch_size=loader.batch_size, sampler=sampler, device=loader.device)


def sum_over_ranks(model: Any, values: list) -> list:
    """``values`` (floats) summed over ranks, in one float64 message."""
    comm = _comm(model)
    if comm is None:
        return list(values)
    return comm.allreduce(np.asarray(values, np.float64), "sum").tolist()


def mean_over_ranks(model: Any, logs: dict) -> dict:
    """Each float in ``logs`` averaged over ranks (every rank then holds the same dict)."""
    comm = _comm(model)
    if comm is None or not logs:
        return logs
    return dict(zip(logs, (v / comm.size for v in sum_over_ranks(model, list(logs.values())))))


def all_ranks_agree(model: Any, flag: bool) -> bool:
    """True only when ``flag`` is True on every rank (one message)."""
    comm = _comm(model)
    if comm is None:
        return bool(flag)
    return bool(comm.allreduce(np.asarray([1.0 if flag else 0.0]), "min")[0])


def rank0_decides(model: Any, flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (one message)."""
    comm = _comm(model)
    if comm is None:
        return bool(flag)
    return bool(comm.bcast(np.asarray([1.0 if flag else 0.0]), 0)[0])

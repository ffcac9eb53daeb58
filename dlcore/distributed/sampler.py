"""DistributedSampler: each rank reads its own 1/world_size of the dataset, PyTorch's way.

The dataset's indices (shuffled by ``(seed, epoch)`` when ``shuffle``) are padded by
repeating the first ones up to a multiple of ``num_replicas`` (or cut down to one with
``drop_last=True``), and rank r takes every ``num_replicas``-th index from position r::

    >>> s = DistributedSampler(range(10), num_replicas=3, rank=1, shuffle=False)
    >>> list(s), len(s)
    ([1, 4, 7, 0], 4)
    >>> list(DistributedSampler(range(10), num_replicas=3, rank=1, shuffle=False, drop_last=True))
    [1, 4, 7]

Call :meth:`set_epoch` before each epoch so that the shuffle changes (``fit`` does it).
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from .process_group import default_communicator

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """Indices of this rank's share of ``dataset``; ``num_replicas``/``rank`` default to the process group's."""

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            comm = default_communicator()
            num_replicas = comm.size if num_replicas is None else num_replicas
            rank = comm.rank if rank is None else rank
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler expected num_replicas >= 1 and rank in [0, {num_replicas - 1}], "
                             f"got num_replicas={num_replicas}, rank={rank}")
        self.dataset, self.num_replicas, self.rank = dataset, int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last, self.epoch = bool(shuffle), int(seed), bool(drop_last), 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s shuffle on the next iteration (the same on every rank)."""
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        n = len(self.dataset)
        order = np.random.default_rng((self.seed, self.epoch)).permutation(n) if self.shuffle else np.arange(n)
        if self.total_size > n:  # pad by repeating from the start, as PyTorch does
            order = np.concatenate([order, np.resize(order, self.total_size - n)]) if n else order
        order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"DistributedSampler(n={len(self.dataset)}, num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})")

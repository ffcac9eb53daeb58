"""Datasets and mini-batches: ``TensorDataset`` and ``DataLoader``.

>>> import numpy as np
>>> X, y = np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5)
>>> loader = DataLoader(TensorDataset(X, y), batch_size=2)
>>> [tuple(t.shape for t in batch) for batch in loader]
[((2, 2), (2,)), ((2, 2), (2,)), ((1, 2), (1,))]

With ``device="cuda"`` the loader copies a ``TensorDataset``'s arrays to the GPU once; each
epoch it makes one permutation, copies that index array over, and slices every batch there,
so no step copies data from the host.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from .backend import Device, cpu_rng, default_dtype, device_of, get_array_module, is_gpu_array, to_device
from .backend import device as parse_device
from .distributed.sampler import DistributedSampler
from .errors import ShapeError
from .tensor import Tensor

__all__ = ["as_array", "Dataset", "TensorDataset", "DataLoader", "DistributedSampler"]


def as_array(x: Any) -> Any:
    """The raw NumPy/CuPy array behind a Tensor, an array, a list or a number.

    Arrays are returned as they are; lists of Python floats become the default dtype
    (float32), as in :func:`dlcore.tensor`.
    """
    if isinstance(x, Tensor):
        return x.array
    if isinstance(x, np.ndarray) or is_gpu_array(x):
        return x
    x = np.asarray(x)
    return x.astype(default_dtype()) if x.dtype == np.float64 else x


class Dataset:
    """A map-style dataset: ``len(ds)`` samples, ``ds[i]`` a tuple of arrays or Tensors."""

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple:  # pragma: no cover - interface
        raise NotImplementedError


class TensorDataset(Dataset):
    """Arrays or Tensors that share their first dimension; sample ``i`` is ``(a[i], b[i], ...)``.

    The raw arrays are kept as they are (no copy, no dtype change).
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset expected at least one array")
        self.arrays = tuple(as_array(a) for a in arrays)
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
            raise ShapeError(f"TensorDataset expected arrays with the same first dimension, got {shapes}")

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, index: Any) -> tuple:
        return tuple(Tensor(a[index]) for a in self.arrays)

    def to(self, dev: "str | Device") -> "TensorDataset":
        """This dataset with its arrays on ``dev`` (itself when they are already there)."""
        dev = parse_device(dev)
        if all(device_of(a) == dev for a in self.arrays):
            return self
        return TensorDataset(*(to_device(a, dev) for a in self.arrays))


class DataLoader:
    """Iterate over a dataset in batches of Tensors.

    - ``batch_size``: samples per batch; ``None`` gives one batch with everything.
    - ``shuffle``: a new permutation every epoch. With ``seed`` the permutation of epoch ``e``
      depends only on ``(seed, e)`` (reproducible, and resumable with :meth:`set_epoch`);
      without it, the global generator seeded by ``dlcore.manual_seed`` is used.
    - ``drop_last``: drop a final batch smaller than ``batch_size``.
    - ``device``: where batches live. A ``TensorDataset`` is copied there once, up front.
    - ``sampler``: an iterable of indices with ``len`` (e.g. a ``DistributedSampler``) that
      replaces ``shuffle``; :meth:`set_epoch` is passed on to it.
    """

    def __init__(self, dataset: Any, batch_size: int | None = 32, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 device: "str | Device | None" = None, sampler: Any = None) -> None:
        if isinstance(dataset, (tuple, list)):
            dataset = TensorDataset(*dataset)
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
            raise ValueError(f"DataLoader expected batch_size >= 1 or None, got {batch_size!r}")
        self.device = None if device is None else parse_device(device)
        if isinstance(dataset, TensorDataset) and self.device is not None:
            dataset = dataset.to(self.device)
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.epoch = 0
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive (the sampler shuffles)")
        self.sampler = sampler

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use the permutation of ``epoch`` (with a ``seed``)."""
        self.epoch = int(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def _num_samples(self) -> int:
        return len(self.dataset) if self.sampler is None else len(self.sampler)

    def _size(self) -> int:
        return self._num_samples() if self.batch_size is None else min(self.batch_size, self._num_samples())

    def __len__(self) -> int:
        n, size = self._num_samples(), self._size()
        if n == 0:
            return 0
        return n // size if self.drop_last else math.ceil(n / size)

    def _permutation(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        n = len(self.dataset)
        rng = cpu_rng() if self.seed is None else np.random.default_rng((int(self.seed), self.epoch))
        return rng.permutation(n)

    def __iter__(self) -> Iterator[tuple]:
        n, size, count = self._num_samples(), self._size(), len(self)
        order = self._permutation() if self.shuffle or self.sampler is not None else None
        self.epoch += 1
        if isinstance(self.dataset, TensorDataset):
            arrays = self.dataset.arrays
            if order is not None:  # one index array per epoch, on the data's device
                order = get_array_module(arrays[0]).asarray(order) if is_gpu_array(arrays[0]) else order
            for b in range(count):
                if order is None:
                    index = slice(b * size, min((b + 1) * size, n))
                else:
                    index = order[b * size:(b + 1) * size]
                yield tuple(Tensor(a[index]) for a in arrays)
            return
        for b in range(count):
            indices = range(b * size, min((b + 1) * size, n)) if order is None else order[b * size:(b + 1) * size]
            yield self._collate([self.dataset[int(i)] for i in indices])

    def _collate(self, samples: list) -> tuple:
        first = samples[0]
        if not isinstance(first, (tuple, list)):
            samples = [(s,) for s in samples]
        fields = zip(*samples)
        out = []
        for field in fields:
            raws = [as_array(v) for v in field]
            batch = get_array_module(*raws).stack(raws)
            if self.device is not None:
                batch = to_device(batch, self.device)
            out.append(Tensor(batch))
        return tuple(out)

    def __repr__(self) -> str:
        return (f"DataLoader(n={len(self.dataset)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, device={self.device})")

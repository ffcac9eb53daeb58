"""``dlcore.utils.data``: datasets, samplers and the DataLoader, as ``torch.utils.data``.

This is the one home of these names; ``dlcore.data`` re-exports the same objects.

>>> import numpy as np
>>> X, y = np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5)
>>> loader = DataLoader(TensorDataset(X, y), batch_size=2)
>>> [tuple(t.shape for t in batch) for batch in loader]
[((2, 2), (2,)), ((2, 2), (2,)), ((1, 2), (1,))]

dlcore additions (keyword-only): ``seed=`` makes the shuffle of epoch ``e`` depend only on
``(seed, e)`` (reproducible, resumable with :meth:`DataLoader.set_epoch`); ``device=`` puts
batches on a device. With ``device="cuda"`` and ``num_workers=0`` a ``TensorDataset`` is copied
to the GPU once; each epoch copies one index array over and gathers every batch there.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import numbers
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ..backend import Device, cpu_rng, device_of, get_array_module, is_gpu_array, to_device
from ..backend import device as parse_device
from ..creation import as_array
from ..errors import DeviceError, DTypeError, RangeError, ShapeError
from ..tensor import Tensor
from .collate import default_collate, default_convert
from .samplers import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
    check_positive_int,
    resolve_generator,
)
from .workers import StalePassError, WorkerInfo, WorkerPool, get_worker_info

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler", "default_collate", "default_convert", "get_worker_info", "WorkerInfo"]


class Dataset:
    """A map-style dataset: ``len(ds)`` samples, ``ds[i]`` one sample (a tuple of arrays or Tensors)."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define ``__iter__``. With ``num_workers > 0`` every worker
    iterates its own copy (as in PyTorch): split the stream with :func:`get_worker_info`."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class TensorDataset(Dataset):
    """Arrays or Tensors that share their first dimension; sample ``i`` is ``(a[i], b[i], ...)``.

    The raw arrays are kept as they are (no copy, no dtype change) in ``.arrays``;
    ``.tensors`` are Tensors over them, as PyTorch's.
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise RangeError("TensorDataset expected at least one array, got none")
        self.arrays = tuple(as_array(a) for a in tensors)
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
            raise ShapeError(f"TensorDataset expected arrays with the same first dimension, got {shapes}")

    @property
    def tensors(self) -> tuple:
        return tuple(Tensor(a) for a in self.arrays)

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


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after the other."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise RangeError("ConcatDataset expected at least one dataset, got none")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"ConcatDataset index {index} out of range for {len(self)} samples")
        which = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def random_split(dataset: Any, lengths: Sequence[float], generator: Any = None) -> list[Subset]:
    """Split ``dataset`` at random into subsets of ``lengths`` (counts, or fractions summing to 1).

    >>> a, b = random_split(range(10), [0.7, 0.3], generator=np.random.default_rng(0))
    >>> len(a), len(b), sorted(a.indices + b.indices) == list(range(10))
    (7, 3, True)
    """
    rng = resolve_generator("random_split", generator)
    n = len(dataset)
    lengths = list(lengths)
    for i, v in enumerate(lengths):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
            raise RangeError(f"random_split: lengths[{i}] expected a count >= 0 or a fraction in [0, 1], got {v!r}")
    if lengths and math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):  # hand out the remainder round-robin, as PyTorch
            counts[i % len(counts)] += 1
        lengths = counts
    if any(v != int(v) for v in lengths) or sum(lengths) != n:
        raise RangeError(f"random_split: lengths {lengths} must be whole counts summing to len(dataset)={n}, "
                         f"or fractions summing to 1")
    order = (rng if rng is not None else cpu_rng()).permutation(n).tolist()
    ends = itertools.accumulate(int(v) for v in lengths)
    return [Subset(dataset, order[end - int(v):end]) for end, v in zip(ends, lengths)]


class _Fetcher:
    """Reads and collates one batch; the same object serves the main process and the workers."""

    def __init__(self, dataset: Any, collate_fn: Callable, auto_collation: bool, batch_size: int | None = None,
                 drop_last: bool = False) -> None:
        self.dataset, self.collate_fn, self.auto_collation = dataset, collate_fn, auto_collation
        self.batch_size, self.drop_last = batch_size, drop_last
        self.gather = isinstance(dataset, TensorDataset) and collate_fn is default_collate and auto_collation

    def next_batch(self, stream: Iterator[Any]) -> Any:
        """The next batch of an IterableDataset's stream; StopIteration at its end."""
        if not self.auto_collation:
            return self.collate_fn(next(stream))
        samples = list(itertools.islice(stream, self.batch_size))
        if not samples or (self.drop_last and len(samples) < self.batch_size):
            raise StopIteration
        return self.collate_fn(samples)

    def __call__(self, indices: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(self.dataset[indices])
        if self.gather:  # what default_collate of the samples gives, in one indexing per array
            index = np.asarray(indices, dtype=np.int64)
            return [Tensor(a[index]) for a in self.dataset.arrays]
        if isinstance(indices, np.ndarray):  # datasets get Python ints, as in PyTorch
            indices = indices.tolist()
        many = getattr(self.dataset, "__getitems__", None)
        return self.collate_fn(many(indices) if many is not None else [self.dataset[i] for i in indices])


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise DTypeError(f"DataLoader: {name} expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_callable(name: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise DTypeError(f"DataLoader: {name} expected a function or None, got {type(value).__name__}")
    return value


class DataLoader:
    """Iterate over a dataset in batches, as ``torch.utils.data.DataLoader`` (same arguments and
    defaults), optionally with ``num_workers`` worker processes (see :mod:`dlcore.utils.workers`),
    which give exactly the batches of ``num_workers=0``. ``pin_memory`` and ``pin_memory_device``
    are accepted and change nothing (batches are moved by ``device=``)."""

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None, sampler: Any = None,
                 batch_sampler: Any = None, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context: Any = None, generator: Any = None,
                 *, prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True, seed: int | None = None,
                 device: "str | Device | None" = None) -> None:
        iterable = isinstance(dataset, IterableDataset)
        if not iterable and (isinstance(dataset, (str, bytes)) or not (hasattr(dataset, "__getitem__")
                                                                          and hasattr(dataset, "__len__"))):
            raise DTypeError(f"DataLoader expected a dataset (an object with __getitem__ and __len__, such as "
                             f"TensorDataset, or an IterableDataset), got {type(dataset).__name__}")
        if iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise RangeError("DataLoader: an IterableDataset sets its own order; shuffle, sampler and batch_sampler "
                             f"must be left unset (got shuffle={shuffle!r}, sampler={sampler!r}, "
                             f"batch_sampler={batch_sampler!r})")
        if batch_size is not None:
            batch_size = check_positive_int("DataLoader", "batch_size", batch_size)
        shuffle = False if shuffle is None else _check_flag("shuffle", shuffle)
        drop_last = _check_flag("drop_last", drop_last)
        for name, flag in (("pin_memory", pin_memory), ("persistent_workers", persistent_workers),
                           ("in_order", in_order)):
            _check_flag(name, flag)
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise RangeError(f"DataLoader: num_workers expected an int >= 0, got {num_workers!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout >= 0:
            raise RangeError(f"DataLoader: timeout expected a number of seconds >= 0, got {timeout!r}")
        if num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise RangeError("DataLoader: prefetch_factor and persistent_workers need num_workers > 0 "
                             f"(got num_workers=0, prefetch_factor={prefetch_factor!r}, "
                             f"persistent_workers={persistent_workers!r})")
        if num_workers > 0:
            prefetch_factor = check_positive_int("DataLoader", "prefetch_factor",
                                                 2 if prefetch_factor is None else prefetch_factor)
        if isinstance(multiprocessing_context, str) and multiprocessing_context not in \
                multiprocessing.get_all_start_methods():
            raise RangeError(f"DataLoader: multiprocessing_context expected one of "
                             f"{multiprocessing.get_all_start_methods()}, got {multiprocessing_context!r}")
        if seed is not None and not shuffle:
            raise RangeError(f"DataLoader: seed={seed!r} orders the shuffle; it needs shuffle=True (and no sampler)")
        if sampler is not None and shuffle:
            raise RangeError("DataLoader: sampler is mutually exclusive with shuffle=True (got both)")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise RangeError("DataLoader: batch_sampler is mutually exclusive with batch_size, shuffle, "
                                 "sampler and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise RangeError("DataLoader: batch_size=None turns batching off, so drop_last=True means nothing")
        self.generator = resolve_generator("DataLoader", generator)
        self._iterable = iterable
        if iterable:
            pass
        elif sampler is None:
            sampler = RandomSampler(dataset, generator=self.generator, seed=seed) if shuffle \
                else SequentialSampler(dataset)
        self._own_batching = batch_size is not None and batch_sampler is None and not iterable
        if self._own_batching:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.device = None if device is None else parse_device(device)
        on_gpu = isinstance(dataset, TensorDataset) and any(is_gpu_array(a) for a in dataset.arrays)
        if num_workers > 0 and on_gpu:
            raise DeviceError("DataLoader: num_workers > 0 needs the dataset in host memory (workers never use the "
                              "GPU); keep the TensorDataset on the CPU and pass device=, or use num_workers=0")
        if isinstance(dataset, TensorDataset) and self.device is not None and num_workers == 0:
            dataset = dataset.to(self.device)
        self.dataset = dataset
        self.batch_size, self.drop_last, self.shuffle = batch_size, drop_last, shuffle
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.num_workers, self.prefetch_factor, self.timeout = int(num_workers), prefetch_factor, timeout
        self._auto_collation = batch_size is not None or batch_sampler is not None
        self.collate_fn = _check_callable("collate_fn", collate_fn) or (
            default_collate if self._auto_collation else default_convert)
        self.worker_init_fn = _check_callable("worker_init_fn", worker_init_fn)
        self.multiprocessing_context = multiprocessing_context
        self.pin_memory, self.pin_memory_device = bool(pin_memory), pin_memory_device
        self.persistent_workers, self.in_order = bool(persistent_workers), bool(in_order)
        self.seed = seed
        self.epoch = 0
        self._pool: WorkerPool | None = None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass the one of ``epoch`` (the shuffle with ``seed=``, a DistributedSampler)."""
        self.epoch = int(epoch)
        for s in (self.sampler, self.batch_sampler):
            if hasattr(s, "set_epoch"):
                s.set_epoch(epoch)

    def _batches(self) -> Iterator[Any]:
        """What the fetcher reads per batch: index arrays for the loader's own BatchSampler."""
        if self._own_batching:
            return self.batch_sampler.index_arrays()
        return iter(self._index_sampler)

    def __len__(self) -> int:
        if not self._iterable:
            return len(self._index_sampler)
        if not hasattr(self.dataset, "__len__"):
            raise DTypeError(f"DataLoader: the IterableDataset {type(self.dataset).__name__} has no len()")
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _base_seed(self) -> int:
        """Drawn at every pass whatever num_workers is (as PyTorch), so the random stream is the same."""
        if self.generator is not None:
            return int(self.generator.integers(2**62))
        if self.seed is not None:
            return int(np.random.default_rng((int(self.seed), self.epoch, 1)).integers(2**62))
        return int(cpu_rng().integers(2**62))

    def __iter__(self) -> Iterator[Any]:
        base_seed = self._base_seed()
        self.epoch += 1
        fetch = _Fetcher(self.dataset, self.collate_fn, self._auto_collation, self.batch_size, self.drop_last)
        if self._iterable and self.num_workers == 0:
            return self._from_stream(fetch)
        if self.num_workers == 0:
            if fetch.gather and is_gpu_array(self.dataset.arrays[0]):
                return self._gather_on_device()
            return (self._to_device(fetch(indices)) for indices in self._batches())
        return self._from_workers(fetch, base_seed)

    def _from_stream(self, fetch: _Fetcher) -> Iterator[Any]:
        stream = iter(self.dataset)
        while True:
            try:
                batch = fetch.next_batch(stream)
            except StopIteration:
                return
            yield self._to_device(batch)

    def _gather_on_device(self) -> Iterator[list]:
        """One host-to-device copy of the epoch's indices, then every batch is gathered on the GPU."""
        batches = list(self._batches())
        arrays = self.dataset.arrays
        xp = get_array_module(arrays[0])
        flat = xp.asarray(np.concatenate(batches) if batches else np.zeros(0, np.int64))
        start = 0
        for batch in batches:
            index = flat[start:start + len(batch)]
            start += len(batch)
            yield [Tensor(a[index]) for a in arrays]

    def _from_workers(self, fetch: _Fetcher, base_seed: int) -> Iterator[Any]:
        pool = self._pool
        if pool is None:
            pool = WorkerPool(fetch, self.num_workers, base_seed, self.worker_init_fn,
                              self.multiprocessing_context, self.timeout)
            if self.persistent_workers:
                self._pool = pool
        try:
            tasks = itertools.repeat(None) if self._iterable else self._batches()
            for batch in pool.run(tasks, self.prefetch_factor):
                yield self._to_device(batch)
        except StalePassError:
            raise
        except Exception:  # a broken pool is not kept (breaking out of the loop keeps a persistent one)
            if pool is self._pool:
                self._pool = None
            pool.close()
            raise
        finally:
            if pool is not self._pool:
                pool.close()

    def _to_device(self, batch: Any) -> Any:
        if self.device is None:
            return batch
        if isinstance(batch, Tensor):
            return batch if batch.device == self.device else Tensor(to_device(batch.array, self.device))
        if isinstance(batch, dict):
            return {k: self._to_device(v) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
            return type(batch)(self._to_device(v) for v in batch)
        return batch

    def __del__(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.close()

    def __repr__(self) -> str:
        return (f"DataLoader(n={len(self.dataset)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, num_workers={self.num_workers}, device={self.device})")

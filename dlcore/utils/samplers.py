"""Samplers: the order in which a DataLoader reads a dataset, as ``torch.utils.data``'s.

A sampler yields dataset indices (``BatchSampler``: lists of them) and has a ``len``. One with a
``set_epoch(epoch)`` method (``RandomSampler(seed=...)``, a ``DistributedSampler``) gets it called
by :meth:`DataLoader.set_epoch`, so the order of epoch ``e`` can be reproduced on resume.

    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    >>> sorted(RandomSampler(range(4), seed=0))
    [0, 1, 2, 3]
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sized

import numpy as np

from ..backend import cpu_rng
from ..errors import DTypeError, RangeError

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler",
           "check_positive_int", "resolve_generator"]


def check_positive_int(owner: str, name: str, value: Any) -> int:
    """``value`` as an int after checking it is a whole number (not a bool) >= 1.

    >>> check_positive_int("DataLoader", "batch_size", 2.5)
    Traceback (most recent call last):
    dlcore.errors.DTypeError: DataLoader: batch_size expected a positive int, got float 2.5
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DTypeError(f"{owner}: {name} expected a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise RangeError(f"{owner}: {name} expected a positive int (>= 1), got {value!r}")
    return int(value)


def resolve_generator(owner: str, generator: Any) -> np.random.Generator | None:
    """A NumPy Generator from ``generator``: None, a ``numpy.random.Generator``, or an object with
    a ``numpy_generator()`` method (a dlcore Generator); anything else is a clear error.

    >>> resolve_generator("DataLoader", None) is None
    True
    """
    if generator is None or isinstance(generator, np.random.Generator):
        return generator
    make = getattr(generator, "numpy_generator", None)
    if callable(make):
        return make()
    raise DTypeError(f"{owner}: generator expected a numpy.random.Generator or None, got {type(generator).__name__}")


class Sampler:
    """The base of every sampler: subclasses define ``__iter__`` (and usually ``__len__``)."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator:  # pragma: no cover - interface
        raise NotImplementedError


class SequentialSampler(Sampler):
    """Indices 0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def order(self) -> np.ndarray:
        """The indices as an int64 array."""
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order: a permutation, or ``num_samples`` draws with ``replacement``.

    The randomness comes from ``generator`` (a ``numpy.random.Generator``), else from the
    generator seeded by ``dlcore.manual_seed``. dlcore's ``seed=`` makes epoch ``e``'s order a
    function of ``(seed, e)`` only; the epoch advances after each pass or with :meth:`set_epoch`.
    """

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: Any = None, *, seed: int | None = None) -> None:
        if not isinstance(replacement, (bool, np.bool_)):
            raise DTypeError(f"RandomSampler: replacement expected a bool, got {replacement!r}")
        self.data_source = data_source
        self.replacement = bool(replacement)
        self._num_samples = None if num_samples is None else check_positive_int("RandomSampler", "num_samples",
                                                                                 num_samples)
        self.generator = resolve_generator("RandomSampler", generator)
        if seed is not None and self.generator is not None:
            raise RangeError("RandomSampler: give a generator or a seed, not both")
        self.seed = None if seed is None else int(seed)
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass use the order of ``epoch`` (with a ``seed``)."""
        self.epoch = int(epoch)

    def _rng(self) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng((self.seed, self.epoch))
        return self.generator if self.generator is not None else cpu_rng()

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def order(self) -> np.ndarray:
        """This pass's indices as an int64 array (what iterating yields); advances the epoch."""
        n, rng = len(self.data_source), self._rng()
        self.epoch += 1
        if self.replacement:
            order = rng.integers(0, n, size=self.num_samples) if n else np.zeros(0, dtype=np.int64)
        else:
            whole, rest = divmod(self.num_samples, n) if n else (0, 0)
            order = np.concatenate([rng.permutation(n) for _ in range(whole)] + [rng.permutation(n)[:rest]])
        return order.astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order."""

    def __init__(self, indices: Iterable[int], generator: Any = None) -> None:
        self.indices = list(indices)
        self.generator = resolve_generator("SubsetRandomSampler", generator)

    def __iter__(self) -> Iterator[int]:
        rng = self.generator if self.generator is not None else cpu_rng()
        return iter([self.indices[i] for i in rng.permutation(len(self.indices)).tolist()])

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (PyTorch's
    semantics; the draws come from NumPy, so the stream differs from PyTorch's multinomial)."""

    def __init__(self, weights: Iterable[float], num_samples: int, replacement: bool = True,
                 generator: Any = None) -> None:
        w = np.asarray(list(weights) if not isinstance(weights, np.ndarray) else weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise RangeError(f"WeightedRandomSampler: weights expected a non-empty 1-D list of finite numbers "
                             f">= 0 with a positive sum, got {w.tolist()[:8]}")
        if not isinstance(replacement, (bool, np.bool_)):
            raise DTypeError(f"WeightedRandomSampler: replacement expected a bool, got {replacement!r}")
        self.num_samples = check_positive_int("WeightedRandomSampler", "num_samples", num_samples)
        if not replacement and self.num_samples > np.count_nonzero(w):
            raise RangeError(f"WeightedRandomSampler: replacement=False cannot draw num_samples={num_samples} from "
                             f"{np.count_nonzero(w)} weights > 0")
        self.weights, self.replacement = w, bool(replacement)
        self.generator = resolve_generator("WeightedRandomSampler", generator)

    def __iter__(self) -> Iterator[int]:
        rng = self.generator if self.generator is not None else cpu_rng()
        draws = rng.choice(self.weights.size, size=self.num_samples, replace=self.replacement,
                           p=self.weights / self.weights.sum())
        return iter(draws.astype(np.int64).tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group another sampler's indices into lists of ``batch_size`` (the last one shorter unless
    ``drop_last``)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(drop_last, (bool, np.bool_)):
            raise DTypeError(f"BatchSampler: drop_last expected a bool, got {type(drop_last).__name__} {drop_last!r}")
        self.sampler = sampler
        self.batch_size = check_positive_int("BatchSampler", "batch_size", batch_size)
        self.drop_last = bool(drop_last)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def index_arrays(self) -> Iterator[np.ndarray]:
        """The batches as int64 arrays, the same indices as iterating (fast for the built-in samplers)."""
        order_of = getattr(self.sampler, "order", None)
        if order_of is None or type(self.sampler) not in (SequentialSampler, RandomSampler):
            for batch in self:
                yield np.asarray(batch, dtype=np.int64)
            return
        order = order_of()
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start:start + self.batch_size]

    def __iter__(self) -> Iterator[list]:
        batch: list = []
        for index in self.sampler:
            batch.append(int(index))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

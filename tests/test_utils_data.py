"""dlcore.utils.data against torch.utils.data: samplers, default_collate, DataLoader, random_split,
and the worker pool (num_workers > 0 gives exactly the batches of num_workers=0)."""

import collections
import os

import numpy as np
import pytest

import dlcore
from dlcore.errors import DlcoreError, DTypeError, RangeError, ShapeError
from dlcore.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

Point = collections.namedtuple("Point", "x label")


class Squares(Dataset):
    """A plain map-style dataset (module level, so spawn workers can unpickle it)."""

    def __init__(self, n=23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, i * i], dtype=np.float32), i % 3


class Failing(Squares):
    def __getitem__(self, i):
        if i == 5:
            raise KeyError(f"sample {i} is missing")
        return super().__getitem__(i)


class Dying(Squares):
    def __getitem__(self, i):
        if i == 9 and get_worker_info() is not None:
            os._exit(3)
        return super().__getitem__(i)


class WhoAmI(Squares):
    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([i, -1 if info is None else info.id, os.getpid()]), os.environ.get("CUDA_VISIBLE_DEVICES")


def _numpy(batch):
    if isinstance(batch, dlcore.Tensor):
        return ("tensor", batch.dtype.name, batch.numpy().tolist())
    if hasattr(batch, "detach"):  # a torch.Tensor
        return ("tensor", str(batch.dtype).replace("torch.", ""), batch.numpy().tolist())
    if isinstance(batch, dict):
        return {k: _numpy(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return (type(batch).__name__ if not hasattr(batch, "_fields") else "namedtuple", [_numpy(b) for b in batch])
    return batch


def _epochs(loader, n=2):
    return [[_numpy(b) for b in loader] for _ in range(n)]


# ---------------------------------------------------------------- against torch
SAMPLES = [
    [(np.array([1.0, 2.0], np.float32), 3), (np.array([4.0, 5.0], np.float32), 6)],
    [{"x": np.arange(3), "y": 1.5, "name": "a"}, {"x": np.arange(3) * 2, "y": 2.5, "name": "b"}],
    [Point(np.ones(2), 1), Point(np.zeros(2), 0)],
    [[1, 2.0], [3, 4.0]],
    [np.float32(1.5), np.float32(2.5)],
    [True, False],
    [np.array(3), np.array(4)],
]


@pytest.mark.parametrize("samples", SAMPLES, ids=lambda s: type(s[0]).__name__)
def test_default_collate_matches_torch(samples):
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate
    assert _numpy(default_collate(samples)) == _numpy(torch_collate(samples))


def test_default_convert_matches_torch():
    pytest.importorskip("torch")
    from torch.utils.data import default_convert as torch_convert
    sample = (np.arange(3), {"a": np.ones(2), "b": "text"}, 5)
    assert _numpy(default_convert(sample)) == _numpy(torch_convert(sample))


@pytest.mark.parametrize("kwargs", [dict(), dict(batch_size=4), dict(batch_size=4, drop_last=True),
                                    dict(batch_size=None), dict(batch_size=30),
                                    dict(sampler=list(range(22, -1, -2)), batch_size=3),
                                    dict(batch_sampler=[[0, 5], [7], [1, 2, 3]]),
                                    dict(batch_size=5, collate_fn=lambda b: len(b))],
                         ids=lambda k: str(sorted(k)))
def test_unshuffled_batches_match_torch(kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = DataLoader(Squares(), **kwargs), torch.utils.data.DataLoader(Squares(), **kwargs)
    assert len(ours) == len(theirs)
    assert [_numpy(b) for b in ours] == [_numpy(b) for b in theirs]


def test_tensor_dataset_batches_match_torch():
    torch = pytest.importorskip("torch")
    X, y = np.arange(30, dtype=np.float64).reshape(10, 3), np.arange(10)
    ours = DataLoader(TensorDataset(X, y), batch_size=4)
    theirs = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(y)), batch_size=4)
    assert [_numpy(b) for b in ours] == [_numpy(b) for b in theirs]


def test_samplers_match_torch():
    pytest.importorskip("torch")
    from torch.utils import data as td
    assert list(SequentialSampler(range(5))) == list(td.SequentialSampler(range(5)))
    for size, drop in [(2, False), (2, True), (5, False), (7, True)]:
        ours, theirs = BatchSampler(range(5), size, drop), td.BatchSampler(range(5), size, drop)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert len(RandomSampler(range(5), replacement=True, num_samples=12)) == 12


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.7], [0.5, 0.25, 0.25], [0.34, 0.33, 0.33], [10]])
def test_random_split_sizes_match_torch(lengths):
    torch = pytest.importorskip("torch")
    ours = random_split(range(10), lengths, generator=np.random.default_rng(0))
    theirs = torch.utils.data.random_split(range(10), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s.indices) == list(range(10))


# ---------------------------------------------------------------- dlcore alone
def test_random_sampler_is_a_permutation_and_follows_its_generator_or_seed():
    order = list(RandomSampler(range(20), generator=np.random.default_rng(1)))
    assert sorted(order) == list(range(20)) and order == list(RandomSampler(range(20), generator=np.random.default_rng(1)))
    seeded = RandomSampler(range(20), seed=4)
    first, second = list(seeded), list(seeded)
    assert first != second
    seeded.set_epoch(1)
    assert list(seeded) == second
    draws = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=np.random.default_rng(0)))
    assert len(draws) == 50 and set(draws) <= {0, 1, 2}
    many = list(RandomSampler(range(4), num_samples=10, generator=np.random.default_rng(0)))
    assert sorted(many[:4]) == sorted(many[4:8]) == [0, 1, 2, 3] and len(many) == 10


def test_subset_concat_and_tensors():
    ds = Squares(5)
    sub = Subset(ds, [4, 0])
    assert len(sub) == 2 and sub[0][1] == 4 % 3
    both = ds + Squares(3)
    assert isinstance(both, ConcatDataset) and len(both) == 8 and both[6][0].tolist() == [1.0, 1.0]
    with pytest.raises(IndexError):
        both[8]
    td = TensorDataset(np.ones((3, 2)), np.arange(3))
    assert [t.shape for t in td.tensors] == [(3, 2), (3,)]


def test_shuffle_uses_manual_seed_generator_or_seed_reproducibly():
    def run(**kw):
        dlcore.manual_seed(5)
        return _epochs(DataLoader(Squares(), batch_size=4, shuffle=True, **kw))
    assert run() == run() and run()[0] != run()[1]
    assert run(generator=np.random.default_rng(3)) == run(generator=np.random.default_rng(3))
    assert run(seed=2) == run(seed=2)


BAD_LOADERS = [
    (lambda: DataLoader(5), DTypeError, "expected a dataset .* got int"),
    (lambda: DataLoader("text"), DTypeError, "expected a dataset"),
    (lambda: DataLoader(Squares(), batch_size=0), RangeError, "batch_size expected a positive int .* got 0"),
    (lambda: DataLoader(Squares(), batch_size=2.5), DTypeError, "batch_size expected a positive int, got float"),
    (lambda: DataLoader(Squares(), batch_size=True), DTypeError, "batch_size"),
    (lambda: DataLoader(Squares(), batch_size="4"), DTypeError, "batch_size"),
    (lambda: DataLoader(Squares(), shuffle="yes"), DTypeError, "shuffle expected a bool"),
    (lambda: DataLoader(Squares(), shuffle=True, sampler=[0, 1]), RangeError, "sampler is mutually exclusive"),
    (lambda: DataLoader(Squares(), batch_size=4, batch_sampler=[[0]]), RangeError, "batch_sampler"),
    (lambda: DataLoader(Squares(), batch_size=None, drop_last=True), RangeError, "drop_last"),
    (lambda: DataLoader(Squares(), num_workers=-1), RangeError, "num_workers"),
    (lambda: DataLoader(Squares(), prefetch_factor=2), RangeError, "prefetch_factor"),
    (lambda: DataLoader(Squares(), persistent_workers=True), RangeError, "persistent_workers"),
    (lambda: DataLoader(Squares(), num_workers=1, prefetch_factor=0), RangeError, "prefetch_factor"),
    (lambda: DataLoader(Squares(), timeout=-1), RangeError, "timeout"),
    (lambda: DataLoader(Squares(), collate_fn=3), DTypeError, "collate_fn"),
    (lambda: DataLoader(Squares(), num_workers=1, multiprocessing_context="thread"), RangeError, "multiprocessing"),
    (lambda: DataLoader(Squares(), shuffle=True, generator=7), DTypeError, "generator"),
    (lambda: DataLoader(Squares(), seed=3), RangeError, "needs shuffle=True"),
    (lambda: TensorDataset(), RangeError, "at least one array"),
    (lambda: random_split(range(10), [3, 3]), RangeError, "summing"),
    (lambda: random_split(range(10), [-1, 11]), RangeError, "lengths"),
]


@pytest.mark.parametrize("make,error,match", BAD_LOADERS, ids=[str(i) for i in range(len(BAD_LOADERS))])
def test_bad_loader_arguments_name_the_argument(make, error, match):
    with pytest.raises(error, match=match) as info:
        make()
    assert isinstance(info.value, DlcoreError)


@pytest.mark.parametrize("samples,error,match", [
    ([[1.0, 2.0], [3.0]], ShapeError, "sample 1 has 1 fields, sample 0 has 2"),
    ([np.ones(2), np.ones(3)], ShapeError, r"sample 1 has shape \(3,\), sample 0 has \(2,\)"),
    ([1.0, "a"], DTypeError, "sample 1 is a str, sample 0 is a float"),
    ([(np.ones(2), 1), (np.ones(2), None)], DTypeError, "NoneType"),
    ([np.array(["a"]), np.array(["b"])], DTypeError, "numeric"),
    ([np.ones(2, np.float32), np.ones(2, np.float64)], DTypeError, "dtype float64"),
    ([{"a": 1}, {"b": 1}], ShapeError, "keys"),
])
def test_ragged_or_mixed_samples_are_clear_errors(samples, error, match):
    with pytest.raises(error, match=match):
        next(iter(DataLoader(samples, batch_size=2)))


# ---------------------------------------------------------------- the worker pool
@pytest.mark.parametrize("kwargs", [
    dict(batch_size=4, shuffle=True, seed=3),
    dict(batch_size=5, shuffle=True, drop_last=True),
    dict(batch_size=3, shuffle=True, generator="rng"),
    dict(batch_size=None),
    dict(batch_size=4, collate_fn=default_collate, prefetch_factor=1),
], ids=["seed", "manual_seed", "generator", "unbatched", "prefetch1"])
def test_workers_give_exactly_the_batches_of_the_main_process(kwargs):
    def run(workers):
        dlcore.manual_seed(11)
        kw = dict(kwargs)
        if kw.get("generator") == "rng":
            kw["generator"] = np.random.default_rng(8)
        if workers == 0:
            kw.pop("prefetch_factor", None)
        return _epochs(DataLoader(Squares(), num_workers=workers, **kw), n=2)
    assert run(2) == run(0)


def test_workers_on_a_tensor_dataset_and_with_device(device):
    X, y = np.arange(60, dtype=np.float32).reshape(20, 3), np.arange(20)
    loaders = [DataLoader(TensorDataset(X, y), batch_size=6, shuffle=True, seed=1, num_workers=w, device=device)
               for w in (0, 2)]
    got = [[[t.numpy().tolist() for t in batch] for batch in loader] for loader in loaders]
    assert got[0] == got[1]
    assert all(t.device == dlcore.device(device) for batch in loaders[1] for t in batch)


def test_workers_are_real_processes_with_ids_seeds_and_no_gpu():
    seen = []
    loader = DataLoader(WhoAmI(8), batch_size=2, num_workers=2, worker_init_fn=seen.append)
    batches = list(loader)
    ids = [int(b[0].numpy()[0, 1]) for b in batches]
    pids = {int(b[0].numpy()[0, 2]) for b in batches}
    assert ids == [0, 1, 0, 1] and os.getpid() not in pids and len(pids) == 2
    assert all(b[1] == ["", ""] for b in batches)  # CUDA hidden in every worker
    assert seen == []  # worker_init_fn ran in the workers, not here


def _record_seed(worker_id):
    info = get_worker_info()
    assert info.id == worker_id and info.num_workers == 2 and info.seed >= 0


def test_persistent_workers_are_kept_across_epochs():
    loader = DataLoader(WhoAmI(6), batch_size=2, num_workers=2, persistent_workers=True, worker_init_fn=_record_seed)
    first = {int(b[0].numpy()[0, 2]) for b in loader}
    for b in loader:  # break early: the pool survives
        break
    second = {int(b[0].numpy()[0, 2]) for b in loader}
    assert first == second and len(first) == 2
    loader._pool.close()


def test_an_error_in_a_worker_is_raised_here_with_its_type_and_traceback():
    with pytest.raises(KeyError, match="(?s)worker process .*sample 5 is missing"):
        list(DataLoader(Failing(), batch_size=2, num_workers=2))


def test_a_dead_worker_raises_instead_of_hanging():
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(DataLoader(Dying(), batch_size=2, num_workers=2))


def test_spawn_workers_give_the_same_batches():
    ours = _epochs(DataLoader(Squares(9), batch_size=4, shuffle=True, seed=0, num_workers=1,
                              multiprocessing_context="spawn"), n=1)
    assert ours == _epochs(DataLoader(Squares(9), batch_size=4, shuffle=True, seed=0), n=1)


# ---------------------------------------------------------------- IterableDataset
from dlcore.utils.data import IterableDataset  # noqa: E402


class Counting(IterableDataset):
    """0..n-1, split between workers with get_worker_info (PyTorch's documented pattern)."""

    def __init__(self, n=11):
        self.n = n

    def __len__(self):
        return self.n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter([np.array([i, i + 0.5]) for i in range(start, self.n, step)])


def _torch_counting(torch, n=11):
    class TorchCounting(torch.utils.data.IterableDataset):
        def __len__(self):
            return n

        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            start, step = (0, 1) if info is None else (info.id, info.num_workers)
            return iter([np.array([i, i + 0.5]) for i in range(start, n, step)])
    return TorchCounting()


@pytest.mark.parametrize("kwargs", [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None),
                                    dict(batch_size=4, num_workers=2), dict(batch_size=2, num_workers=2, prefetch_factor=1),
                                    dict(batch_size=None, num_workers=2)],
                         ids=lambda k: str(sorted(k.items())))
def test_iterable_dataset_batches_match_torch(kwargs):
    torch = pytest.importorskip("torch")
    ours = DataLoader(Counting(), **kwargs)
    theirs = torch.utils.data.DataLoader(_torch_counting(torch), **kwargs)
    assert [_numpy(b) for b in ours] == [_numpy(b) for b in theirs]
    if kwargs.get("num_workers", 0) == 0:
        assert len(ours) == len(theirs)


def test_iterable_dataset_refuses_shuffle_and_samplers():
    with pytest.raises(RangeError, match="IterableDataset sets its own order"):
        DataLoader(Counting(), shuffle=True)
    with pytest.raises(RangeError, match="IterableDataset"):
        DataLoader(Counting(), sampler=[0, 1])


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("make", [lambda: SequentialSampler(range(11)), lambda: RandomSampler(range(11), seed=3),
                                  lambda: RandomSampler(range(5), replacement=True, num_samples=13, seed=1),
                                  lambda: [4, 2, 9, 1, 0]])
def test_batch_sampler_index_arrays_are_its_batches(make, drop_last):
    a, b = BatchSampler(make(), 4, drop_last), BatchSampler(make(), 4, drop_last)
    for _ in range(2):  # two epochs: the seeded order advances the same way
        assert [x.tolist() for x in a.index_arrays()] == list(b)


def test_weighted_random_sampler_follows_the_weights():
    from dlcore.utils.data import WeightedRandomSampler
    draws = list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=np.random.default_rng(0)))
    counts = np.bincount(draws, minlength=3)
    assert counts[0] == 0 and abs(counts[2] / counts[1] - 3) < 0.3 and len(draws) == 4000
    unique = list(WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False, generator=np.random.default_rng(0)))
    assert sorted(unique) == [0, 1, 2]
    for bad, match in [(([1, -1], 2), "weights"), (([0, 0], 2), "weights"), (([1, 2], 0), "num_samples"),
                       (([1, float("nan")], 2), "weights")]:
        with pytest.raises(RangeError, match=match):
            WeightedRandomSampler(*bad)
    with pytest.raises(RangeError, match="replacement=False"):
        WeightedRandomSampler([1, 0, 1], 3, replacement=False)
    loader = DataLoader(Squares(6), batch_size=2, sampler=WeightedRandomSampler([1] * 6, 4, generator=np.random.default_rng(1)))
    assert len(loader) == 2 and sum(len(b[1]) for b in loader) == 4


def test_a_new_pass_over_persistent_workers_closes_the_older_iterator():
    loader = DataLoader(Squares(12), batch_size=2, num_workers=2, persistent_workers=True)
    old = iter(loader)
    next(old)
    assert len(list(loader)) == 6  # the new pass gets all its batches
    with pytest.raises(RuntimeError, match="new pass"):
        next(old)
    loader._pool.close()


class EnvAtUnpickle(Squares):
    """Records CUDA_VISIBLE_DEVICES when a spawned worker unpickles it (before any worker code runs)."""

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.seen = os.environ.get("CUDA_VISIBLE_DEVICES")

    def __getitem__(self, i):
        return str(getattr(self, "seen", "main process"))


def test_spawned_workers_see_no_gpu_from_the_start_and_the_parent_env_is_restored():
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    batches = list(DataLoader(EnvAtUnpickle(2), batch_size=2, num_workers=1, multiprocessing_context="spawn"))
    assert batches == [["", ""]] and os.environ.get("CUDA_VISIBLE_DEVICES") == before


def test_pytorch_import_paths_work():
    import dlcore as torch  # a ported script's only change
    assert torch.utils.data.DataLoader is DataLoader and torch.data.DataLoader is DataLoader
    assert torch.utils.data.TensorDataset is TensorDataset and torch.optim.lr_scheduler.StepLR
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        torch.utils.nothing

"""TensorDataset and DataLoader."""

import numpy as np
import pytest

from dlcore.backend import device as parse_device
from dlcore.backend import device_of, manual_seed, to_numpy
from dlcore.data import DataLoader, Dataset, TensorDataset
from dlcore.errors import ShapeError
from dlcore.tensor import Tensor


def arrays(n=10):
    return np.arange(n * 3, dtype=np.float32).reshape(n, 3), np.arange(n, dtype=np.int64)


def collect(loader):
    return [tuple(to_numpy(t.array) for t in batch) for batch in loader]


def test_tensor_dataset_indexing_and_errors():
    X, y = arrays()
    ds = TensorDataset(X, Tensor(y))
    assert len(ds) == 10
    xi, yi = ds[3]
    assert isinstance(xi, Tensor) and xi.shape == (3,) and yi.array == 3
    with pytest.raises(ShapeError, match=r"\(10, 3\), \(9,\)"):
        TensorDataset(X, y[:9])


@pytest.mark.parametrize("batch_size,drop_last,sizes", [
    (4, False, [4, 4, 2]), (4, True, [4, 4]), (1, False, [1] * 10), (32, False, [10]),
])
def test_batch_sizes_in_order(batch_size, drop_last, sizes):
    X, y = arrays()
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, drop_last=drop_last)
    batches = collect(loader)
    assert [len(b[1]) for b in batches] == sizes == [len(b[0]) for b in batches]
    assert len(loader) == len(sizes)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y[: sum(sizes)])


def test_shuffle_covers_everything_once_and_changes_per_epoch():
    X, y = arrays(50)
    loader = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, seed=0)
    epoch1 = np.concatenate([b[1] for b in collect(loader)])
    epoch2 = np.concatenate([b[1] for b in collect(loader)])
    assert sorted(epoch1) == list(range(50)) and sorted(epoch2) == list(range(50))
    assert not np.array_equal(epoch1, epoch2)
    for b in collect(loader):  # features stay paired with labels
        np.testing.assert_array_equal(b[0][:, 0], b[1] * 3)


def test_seeded_shuffle_is_reproducible_and_resumable():
    X, y = arrays(30)
    a = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=7)
    b = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=7)
    first_a, second_a = collect(a), collect(a)
    first_b = collect(b)
    for p, q in zip(first_a, first_b):
        np.testing.assert_array_equal(p[1], q[1])
    c = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=7)
    c.set_epoch(1)  # resume at the second epoch
    for p, q in zip(second_a, collect(c)):
        np.testing.assert_array_equal(p[1], q[1])


def test_unseeded_shuffle_follows_manual_seed():
    X, y = arrays(20)
    manual_seed(3)
    first = collect(DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True))
    manual_seed(3)
    again = collect(DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True))
    for p, q in zip(first, again):
        np.testing.assert_array_equal(p[1], q[1])


def test_generic_dataset_is_collated():
    class Squares(Dataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i % 2

    batches = collect(DataLoader(Squares(), batch_size=3))
    assert [b[0].shape for b in batches] == [(3, 2), (3, 2), (1, 2)]
    np.testing.assert_array_equal(batches[1][1], [1, 0, 1])


def test_batch_size_none_yields_samples_unbatched_as_pytorch():
    X, y = arrays(4)
    samples = list(DataLoader(TensorDataset(X, y), batch_size=None))
    assert len(samples) == 4 and samples[2][0].shape == (3,) and samples[2][1].item() == 2


def test_a_list_is_a_dataset_of_samples_as_pytorch():
    X, y = arrays()
    # PyTorch reads (X, y) as a dataset of two samples, X and y; it is not a TensorDataset
    assert len(DataLoader((X, y), batch_size=5)) == 1
    assert len(DataLoader(TensorDataset(X, y), batch_size=5)) == 2


def test_device_loader_keeps_data_on_device(device):
    X, y = arrays(20)
    loader = DataLoader(TensorDataset(X, y), batch_size=6, shuffle=True, seed=0, device=device)
    dev = parse_device(device)
    assert all(device_of(a) == dev for a in loader.dataset.arrays)  # copied once, up front
    stored = loader.dataset.arrays[0]
    seen = []
    for xb, yb in loader:
        assert xb.device == dev and yb.device == dev
        seen.append(to_numpy(yb.array))
    assert loader.dataset.arrays[0] is stored  # no re-copy per epoch
    assert sorted(np.concatenate(seen)) == list(range(20))


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(*arrays()), batch_size=0)

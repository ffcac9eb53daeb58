"""dlcore.distributed in one process: sampler, buckets, SyncBatchNorm without a group, errors.
The multi-process claims are in tests/test_distributed_mpi.py (it runs itself under mpiexec)."""

import numpy as np
import pytest

import dlcore
import dlcore.distributed as dist
import dlcore.nn as nn
from dlcore.data import DataLoader, TensorDataset
from dlcore.distributed.communicator import ReduceOp
from dlcore.distributed.ddp import flat_buckets


def test_sampler_matches_torch_without_shuffle():
    torch_data = pytest.importorskip("torch.utils.data")
    for n, replicas, drop_last in [(10, 3, False), (10, 3, True), (7, 2, False), (2, 3, False), (12, 4, True)]:
        for rank in range(replicas):
            ours = dist.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
            theirs = torch_data.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False,
                                                   drop_last=drop_last)
            assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, replicas, rank, drop_last)


def test_sampler_shuffle_partitions_the_dataset_and_changes_with_the_epoch():
    def shares(epoch):
        out = []
        for rank in range(3):
            s = dist.DistributedSampler(range(12), num_replicas=3, rank=rank, seed=5)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    first = shares(0)
    assert sorted(sum(first, [])) == list(range(12))  # disjoint, covers everything
    assert first == shares(0) and first != shares(1)  # same on every call, new per epoch
    assert first != [list(range(r, 12, 3)) for r in range(3)]


def test_sampler_needs_a_group_or_explicit_ranks():
    with pytest.raises(dist.DistributedError, match="init_process_group"):
        dist.DistributedSampler(range(4))
    with pytest.raises(ValueError, match="rank in"):
        dist.DistributedSampler(range(4), num_replicas=2, rank=2)


def test_dataloader_reads_the_sampler_share_and_forwards_set_epoch():
    X = np.arange(20, dtype=np.float64).reshape(10, 2)
    sampler = dist.DistributedSampler(range(10), num_replicas=2, rank=1, seed=3)
    loader = DataLoader(TensorDataset(X, np.arange(10)), batch_size=2, sampler=sampler)
    loader.set_epoch(4)
    assert sampler.epoch == 4 and len(loader) == 3
    seen = np.concatenate([y.numpy() for _, y in loader])
    assert seen.tolist() == list(sampler)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(TensorDataset(X), sampler=sampler, shuffle=True)
    assert dlcore.data.DistributedSampler is dist.DistributedSampler


def test_reduce_op_names():
    assert [ReduceOp.resolve(op) for op in ("sum", "mean", "AVG", "max", "min", ReduceOp.PRODUCT)] == \
        ["sum", "avg", "avg", "max", "min", "product"]
    torch_dist = pytest.importorskip("torch.distributed")
    if torch_dist.is_available():
        assert ReduceOp.resolve(torch_dist.ReduceOp.SUM) == "sum" and ReduceOp.resolve(torch_dist.ReduceOp.MAX) == "max"
    with pytest.raises(ValueError, match="expected op"):
        ReduceOp.resolve("median")


def test_flat_buckets_respect_dtype_and_cap():
    arrays = [np.zeros(4), np.zeros(4), np.zeros(4, np.float32), np.zeros(100), np.zeros(1)]
    assert flat_buckets(arrays, cap_bytes=64) == [[0, 1], [2], [3], [4]]
    assert flat_buckets(arrays, cap_bytes=10**6) == [[0, 1], [2], [3, 4]]


def test_collectives_and_ddp_need_an_initialized_group():
    assert not dist.is_initialized()
    for call in (dist.get_rank, dist.get_world_size, dist.barrier, lambda: dist.all_reduce(dlcore.zeros(2)),
                 lambda: dist.DistributedDataParallel(nn.Linear(2, 2))):
        with pytest.raises(dist.DistributedError, match="has not been initialized"):
            call()
    with pytest.raises(ValueError, match="backend 'mpi' or 'nccl'"):
        dist.init_process_group("gloo")


def test_convert_sync_batchnorm_keeps_parameters_and_buffers():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(27, 4),
                          nn.BatchNorm1d(4))
    model[1].weight.array[:] = [1.0, 2.0, 3.0]
    weight, running_mean = model[1].weight, model[1]._buffers["running_mean"]
    model.eval()
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert [type(m).__name__ for m in converted.children()][1::4] == ["SyncBatchNorm", "SyncBatchNorm"]
    assert converted[1].weight is weight and converted[1]._buffers["running_mean"] is running_mean
    assert not converted[1].training
    assert [k for k, _ in converted.named_parameters()] == [k for k, _ in model.named_parameters()]


def test_sync_batchnorm_without_a_group_is_batchnorm(device):
    x = dlcore.randn(6, 3, 4, 4).to(device)
    plain, synced = nn.BatchNorm2d(3).to(device), nn.SyncBatchNorm(3).to(device)
    np.testing.assert_allclose(synced(x).numpy(), plain(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(synced._buffers["running_var"].numpy(), plain._buffers["running_var"].numpy(), rtol=1e-6)


def test_nccl_backend_needs_a_gpu():
    if not dlcore.cuda.is_available():
        pytest.skip(f"the 'nccl' backend needs a GPU: {dlcore.cuda.unavailable_reason()}")
    pytest.skip("the 'nccl' backend is tested under mpiexec on a GPU machine (tests/test_distributed_mpi.py)")

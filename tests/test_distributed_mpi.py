"""dlcore.distributed across processes: each test starts ``mpiexec -n N`` on this very file.

Run as a script (``mpiexec -n 2 python tests/test_distributed_mpi.py SCENARIO``) it is the worker:
every rank runs the scenario and prints ``OK <scenario> <rank>``; a failed check is an uncaught
exception, which aborts all ranks. The claims: the collectives; in float64, N ranks with 1/N of
every global batch end with the parameters of one process on the whole batch (SGD with momentum,
Adam, gradient accumulation with no_sync, SyncBatchNorm); fit on a DistributedDataParallel model;
and a rank that raises, dies or hangs makes every rank stop with a clear error, not hang.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MPIEXEC = shutil.which("mpiexec", path=str(BIN)) or shutil.which("mpiexec")


# ----------------------------------------------------------------------------------------- worker
def _model(seed: int, bn: bool = False):
    import dlcore
    import dlcore.nn as nn

    dlcore.manual_seed(seed)
    if bn:
        return nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 3))
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))


def _data(steps: int, global_batch: int, bn: bool = False):
    rng = np.random.default_rng(42)
    X = rng.normal(size=(steps, global_batch) + ((2, 4, 4) if bn else (5,)))
    return X, rng.integers(0, 3, size=(steps, global_batch))


def _train(model, make_opt, X, y, rows, no_sync_every: int = 0, dev: str = "cpu"):
    """SGD-style steps on rows ``rows`` of each global batch; with no_sync_every=k, accumulate k
    micro-batches (the first k-1 inside no_sync) per optimizer step."""
    import dlcore
    import dlcore.functional as F

    opt = make_opt(model.parameters())
    for step in range(X.shape[0]):
        last = not no_sync_every or (step + 1) % no_sync_every == 0
        local = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with local:
            x, target = dlcore.tensor(X[step][rows]).to(dev), dlcore.tensor(y[step][rows]).to(dev)
            F.cross_entropy(model(x), target).backward()
        if last:
            opt.step()
            opt.zero_grad()
    return model


def _max_difference(a, b) -> float:
    return max(float(np.max(np.abs(p.numpy() - q.numpy()))) for p, q in zip(a, b))


def scenario_collectives(rank: int, size: int) -> None:
    import dlcore
    import dlcore.distributed as dist

    t = dlcore.tensor([rank + 1.0, -rank])
    dist.all_reduce(t)
    assert t.tolist() == [size * (size + 1) / 2, -size * (size - 1) / 2], t.tolist()
    for op, want in (("mean", (size + 1) / 2), ("max", size), ("min", 1), (dist.ReduceOp.PRODUCT, np.prod(range(1, size + 1)))):
        t = dlcore.tensor([rank + 1.0])
        dist.all_reduce(t, op=op)
        assert abs(t.item() - want) < 1e-12, (op, t.item(), want)
    t = dlcore.tensor(np.full((2, 2), float(rank)))
    dist.broadcast(t, src=size - 1)
    assert (t.numpy() == size - 1).all()
    out = [dlcore.zeros(3, dtype=np.int64) for _ in range(size)]
    dist.all_gather(out, dlcore.tensor(np.arange(3) + 10 * rank))
    assert [o.tolist() for o in out] == [[10 * r, 10 * r + 1, 10 * r + 2] for r in range(size)]
    t = dlcore.tensor([2.0 * rank])
    dist.reduce(t, dst=0)
    assert t.item() == (size * (size - 1) if rank == 0 else 2.0 * rank)
    dist.barrier()
    assert dist.get_backend() == "mpi" and dist.is_initialized() and dist.get_local_rank() == rank  # one machine
    for bad, error in ((lambda: dist.all_reduce(dlcore.tensor([1.0], dtype=np.float16)), dlcore.DTypeError),
                       (lambda: dist.all_reduce(dlcore.tensor([1]), op="mean"), dlcore.DTypeError),
                       (lambda: dist.broadcast(dlcore.zeros(1), src=size), ValueError),
                       (lambda: dist.init_process_group("mpi"), dist.DistributedError)):
        try:
            bad()
            raise AssertionError(f"no {error.__name__}")
        except error as exc:
            assert "dlcore.distributed" in str(exc) or "init_process_group" in str(exc), exc
    import dlcore.nn as nn

    try:  # a different model on the last rank (same number of values, other shapes) is refused on every rank
        dist.DistributedDataParallel(nn.Linear(4, 6) if rank < size - 1 else nn.Linear(6, 4))
        raise AssertionError("different models accepted")
    except dist.DistributedError as exc:
        assert f"rank(s) [{size - 1}] differ" in str(exc), exc
    if not dlcore.cuda.is_available():  # "nccl" without a GPU: a clear DeviceError, and "mpi" still works
        dist.destroy_process_group()
        try:
            dist.init_process_group("nccl")
            raise AssertionError("nccl without a GPU")
        except dlcore.DeviceError as exc:
            assert not dist.is_initialized() and str(exc), exc
        dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=60))


def scenario_equivalence(rank: int, size: int) -> None:
    """SGD+momentum and Adam: N ranks on 1/N of each batch == one process on all of it."""
    import dlcore
    import dlcore.distributed as dist
    from dlcore.distributed import communicator

    steps, batch = 4, 12  # 12 rows split evenly over 2 or 3 ranks
    X, y = _data(steps, batch)
    mine = np.arange(batch).reshape(size, -1)[rank]
    optimizers = {
        "sgd": lambda ps: dlcore.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
        "adam": lambda ps: dlcore.optim.Adam(ps, lr=0.01),
    }
    calls = []
    allreduce = communicator.MpiCommunicator.allreduce

    def counted(self, array, op):
        calls.append(array.size)
        return allreduce(self, array, op)

    communicator.MpiCommunicator.allreduce = counted
    with _float64():
        for name, make_opt in optimizers.items():
            for cap, accumulate in ((25, 0), (0.0002, 0), (25, 2)):
                reference = _train(_model(0), make_opt, X, y, np.arange(batch), no_sync_every=accumulate)
                ddp = dist.DistributedDataParallel(_model(0 if rank == 0 else 99), bucket_cap_mb=cap)  # rank 0 wins
                calls.clear()
                _train(ddp, make_opt, X, y, mine, no_sync_every=accumulate)
                syncs = steps // accumulate if accumulate else steps
                assert len(calls) == syncs * ddp.num_buckets, (len(calls), syncs, ddp.num_buckets)
                assert (ddp.num_buckets == 1) == (cap == 25), ddp.num_buckets
                diff = _max_difference(ddp.module.parameters(), reference.parameters())
                assert diff < 1e-12, (name, cap, accumulate, diff)
    communicator.MpiCommunicator.allreduce = allreduce
    # state_dict keys carry "module." as in PyTorch; load_state_dict takes them with or without it
    plain = _model(5)
    keys = list(ddp.state_dict())
    assert keys and all(k.startswith("module.") for k in keys) and [k[7:] for k in keys] == list(plain.state_dict())
    assert [n for n, _ in ddp.named_parameters()] == [f"module.{n}" for n, _ in plain.named_parameters()]
    for state in (plain.state_dict(), {f"module.{k}": v for k, v in plain.state_dict().items()}):
        ddp.module.load_state_dict(_model(6).state_dict())
        ddp.load_state_dict(state)
        assert _max_difference(ddp.module.parameters(), plain.parameters()) == 0


def scenario_unused(rank: int, size: int) -> None:
    """A parameter only rank 0 uses gets rank 0's gradient / N everywhere; one nobody uses keeps grad None."""
    import dlcore
    import dlcore.distributed as dist
    import dlcore.functional as F
    import dlcore.nn as nn

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.unused = nn.Linear(4, 2), nn.Linear(4, 2), nn.Linear(4, 2)

        def forward(self, x, use_b):
            return self.a(x) + self.b(x) if use_b else self.a(x)

    with _float64():
        dlcore.manual_seed(3)
        plain, wrapped = TwoHeads(), TwoHeads()
        wrapped.load_state_dict(plain.state_dict())
        ddp = dist.DistributedDataParallel(wrapped)
        x = dlcore.tensor(np.random.default_rng(rank).normal(size=(3, 4)))
        target = dlcore.tensor(np.arange(3) % 2)
        for model in (plain, ddp):
            F.cross_entropy(model(x, use_b=rank == 0), target).backward()
    for name, p in plain.named_parameters():
        expected = dlcore.zeros(p.shape, dtype=np.float64) if p.grad is None else p.grad.detach()
        dist.all_reduce(expected, op="sum")
        got = dict(ddp.module.named_parameters())[name].grad
        if name.startswith("unused"):
            assert got is None, name
        else:
            assert float(np.max(np.abs(got.numpy() - expected.numpy() / size))) < 1e-15, name


def scenario_syncbn(rank: int, size: int) -> None:
    """SyncBatchNorm over N ranks == BatchNorm2d in one process: parameters and running statistics."""
    import dlcore
    import dlcore.distributed as dist
    import dlcore.nn as nn

    steps, batch = 3, 12
    X, y = _data(steps, batch, bn=True)
    mine = np.arange(batch).reshape(size, -1)[rank]
    sgd = lambda ps: dlcore.optim.SGD(ps, lr=0.1, momentum=0.9)  # noqa: E731
    with _float64():
        reference = _train(_model(0, bn=True), sgd, X, y, np.arange(batch))
        ddp = dist.DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(_model(0, bn=True)))
        _train(ddp, sgd, X, y, mine)
    assert type(ddp.module[1]).__name__ == "SyncBatchNorm"
    ours, theirs = ddp.module.state_dict(), reference.state_dict()
    for key in theirs:
        diff = float(np.max(np.abs(ours[key].numpy() - theirs[key].numpy())))
        assert diff < 1e-12, (key, diff)


def scenario_syncbn_torch(rank: int, size: int) -> None:
    """SyncBatchNorm forward, every gradient and the running statistics over N ranks == torch's
    BatchNorm2d on the whole batch (float64)."""
    import torch

    import dlcore
    import dlcore.distributed as dist
    import dlcore.nn as nn

    rng = np.random.default_rng(7)
    x, g = rng.normal(2.0, 3.0, size=(12, 3, 4, 4)), rng.normal(size=(12, 3, 4, 4))
    weight, bias = rng.normal(size=3), rng.normal(size=3)
    mine = np.arange(12).reshape(size, -1)[rank]
    with _float64():
        bn = nn.SyncBatchNorm(3, momentum=0.3)
    bn.weight.array[:], bn.bias.array[:] = weight, bias
    x_local = dlcore.tensor(x[mine], requires_grad=True)
    y = bn(x_local)
    (y * dlcore.tensor(g[mine])).sum().backward()
    tbn = torch.nn.BatchNorm2d(3, momentum=0.3, dtype=torch.float64)
    with torch.no_grad():
        tbn.weight.copy_(torch.from_numpy(weight))
        tbn.bias.copy_(torch.from_numpy(bias))
    tx = torch.tensor(x, requires_grad=True)
    ty = tbn(tx)
    (ty * torch.from_numpy(g)).sum().backward()
    grads = {"weight": bn.weight.grad.detach(), "bias": bn.bias.grad.detach()}
    for t in grads.values():
        dist.all_reduce(t)  # each rank holds its rows' share, as before DDP's averaging
    checks = {"y": (y.detach().numpy(), ty.detach().numpy()[mine]), "dx": (x_local.grad.numpy(), tx.grad.numpy()[mine]),
              "dweight": (grads["weight"].numpy(), tbn.weight.grad.numpy()),
              "dbias": (grads["bias"].numpy(), tbn.bias.grad.numpy()),
              "running_mean": (bn._buffers["running_mean"].numpy(), tbn.running_mean.numpy()),
              "running_var": (bn._buffers["running_var"].numpy(), tbn.running_var.numpy())}
    for name, (ours, theirs) in checks.items():
        assert np.max(np.abs(ours - theirs)) < 1e-12, (name, np.max(np.abs(ours - theirs)))


def scenario_fit(rank: int, size: int) -> None:
    """fit on a DDP model with a DistributedSampler: equal to one process, rank 0 alone writes,
    every rank resumes, EarlyStopping stops every rank at the same epoch."""
    import dlcore
    import dlcore.distributed as dist
    import dlcore.functional as F
    from dlcore.data import DataLoader, TensorDataset
    from dlcore.train import Callback, EarlyStopping, ModelCheckpoint, fit

    class StopOn(Callback):
        def __init__(self, on_rank):
            self.on_rank = on_rank

        def on_epoch_end(self, run, epoch, logs):
            run.stop_training = rank == self.on_rank

    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logging.getLogger("dlcore.train").addHandler(handler)
    logging.getLogger("dlcore.train").setLevel(logging.INFO)
    folder = Path(os.environ["DIST_TEST_DIR"])
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(24, 5)), rng.integers(0, 3, size=24)
    sgd = lambda ps: dlcore.optim.SGD(ps, lr=0.2, momentum=0.9)  # noqa: E731
    with _float64():
        ddp = dist.DistributedDataParallel(_model(0))
        loader = DataLoader(TensorDataset(X, y), batch_size=12 // size,
                            sampler=dist.DistributedSampler(range(24), shuffle=False))
        ckpt = ModelCheckpoint(str(folder / "ckpt-{epoch}.npz"))
        history = fit(ddp, F.cross_entropy, sgd(ddp.parameters()), loader, epochs=2, val_data=(X, y),
                      callbacks=[ckpt], progress=False)
        single = _model(0)  # the same two epochs in one process: global batch b = every rank's batch b
        ref_opt, losses = sgd(single.parameters()), []
        for _ in range(2):
            for b in range(2):
                rows = np.concatenate([np.arange(24)[r::size][b * (12 // size):(b + 1) * (12 // size)]
                                       for r in range(size)])
                loss = F.cross_entropy(single(dlcore.tensor(X[rows])), dlcore.tensor(y[rows]))
                loss.backward()
                losses.append(loss.item())
                ref_opt.step()
                ref_opt.zero_grad()
        assert _max_difference(ddp.module.parameters(), single.parameters()) < 1e-12
        assert abs(history["loss"][-1] - np.mean(losses[2:])) < 1e-12, (history["loss"], losses)
        assert len([m for m in lines if m.startswith("epoch ")]) == (2 if rank == 0 else 0), lines
        gathered = [dlcore.zeros(1, dtype=np.float64) for _ in range(size)]
        dist.all_gather(gathered, dlcore.tensor([history["loss"][-1]]))
        assert len({g.item() for g in gathered}) == 1, [g.item() for g in gathered]  # one loss for all ranks
        dist.barrier()
        assert sorted(os.listdir(folder)) == ["ckpt-1.npz", "ckpt-2.npz"]
        resumed = dist.DistributedDataParallel(_model(7))
        more = fit(resumed, F.cross_entropy, sgd(resumed.parameters()), loader, epochs=3, progress=False,
                   resume_from=str(folder / "ckpt-2.npz"), callbacks=[ModelCheckpoint(str(folder / "again.npz"))])
        straight = dist.DistributedDataParallel(_model(0))
        fit(straight, F.cross_entropy, sgd(straight.parameters()), loader, epochs=3, progress=False)
        assert len(more["loss"]) == 3 and _max_difference(resumed.parameters(), straight.parameters()) < 1e-12
        # (X, y) is split by fit with a shuffling DistributedSampler(seed); a plain DataLoader is refused
        split = dist.DistributedDataParallel(_model(0))
        fit(split, F.cross_entropy, sgd(split.parameters()), (X, y), epochs=1, batch_size=12 // size, seed=4,
            progress=False)
        shares = [dist.DistributedSampler(range(24), num_replicas=size, rank=r, seed=4).indices() for r in range(size)]
        single, half = _model(0), 12 // size
        ref_opt = sgd(single.parameters())
        for b in range(2):
            rows = np.concatenate([share[b * half:(b + 1) * half] for share in shares])
            F.cross_entropy(single(dlcore.tensor(X[rows])), dlcore.tensor(y[rows])).backward()
            ref_opt.step()
            ref_opt.zero_grad()
        assert _max_difference(split.module.parameters(), single.parameters()) < 1e-12
        try:
            fit(split, F.cross_entropy, sgd(split.parameters()), DataLoader(TensorDataset(X, y)), epochs=1)
            raise AssertionError("a DataLoader without DistributedSampler was accepted")
        except dist.DistributedError as exc:
            assert "DistributedSampler" in str(exc)
        # every rank sees the same averaged logs, and rank 0's stop decision holds for all
        stopper = EarlyStopping(monitor="loss", patience=1, min_delta=1e9)
        short = fit(resumed, F.cross_entropy, sgd(resumed.parameters()), loader, epochs=10, progress=False,
                    callbacks=[stopper])
        assert len(short["loss"]) == 2 and stopper.stopped_epoch == 2, short["loss"]
        for on_rank, epochs in ((0, 1), (size - 1, 3)):
            run = fit(resumed, F.cross_entropy, sgd(resumed.parameters()), loader, epochs=3, progress=False,
                      callbacks=[StopOn(on_rank)])
            assert len(run["loss"]) == epochs, (on_rank, run["loss"])


def scenario_fail(rank: int, size: int) -> None:
    """Rank 1 raises, dies or hangs in the middle of training; the other ranks must not wait forever."""
    import dlcore
    import dlcore.distributed as dist
    import dlcore.functional as F

    how = os.environ["DIST_FAIL"]
    dist.destroy_process_group()
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=3))
    dlcore.set_default_dtype(np.float64)
    ddp = dist.DistributedDataParallel(_model(0))
    X, y = _data(5, 6)
    for step in range(5):
        if rank == 1 and step == 2:
            if how == "raise":
                raise ValueError("rank 1 fails on purpose")
            if how == "die":
                os._exit(7)
            if how == "hang":
                import time

                time.sleep(60)
        F.cross_entropy(ddp(dlcore.tensor(X[step])), dlcore.tensor(y[step])).backward()


def scenario_gpu(rank: int, size: int) -> None:
    """On GPUs, with DIST_BACKEND "nccl" (one GPU per rank) or "mpi" (staged through host memory):
    the collectives, and DDP+SGD equal to one process to 1e-12. Under DLCORE_CUDA_EMULATE=1 the
    ranks share the emulated GPU ("mpi" only)."""
    import dlcore
    import dlcore.distributed as dist

    cupy = dlcore.backend.cupy_module()  # the emulated CuPy under DLCORE_CUDA_EMULATE=1

    backend = os.environ["DIST_BACKEND"]
    cupy.cuda.Device(rank % dlcore.cuda.device_count()).use()
    dev = f"cuda:{rank % dlcore.cuda.device_count()}"
    dist.destroy_process_group()
    dist.init_process_group(backend)
    t = dlcore.tensor([rank + 1.0]).to(dev)
    dist.all_reduce(t, op="mean")
    assert dlcore.backend.is_gpu_array(t.array) and abs(t.item() - (size + 1) / 2) < 1e-12
    out = [dlcore.zeros(2).to(dev) for _ in range(size)]
    dist.all_gather(out, dlcore.tensor([rank, -rank], dtype=np.float32).to(dev))
    assert [o.tolist() for o in out] == [[r, -r] for r in range(size)]
    t = dlcore.tensor(np.full(3, float(rank))).to(dev)
    dist.broadcast(t, src=0)
    assert t.tolist() == [0.0] * 3
    X, y = _data(3, 6)
    mine = np.arange(6).reshape(size, -1)[rank]
    sgd = lambda ps: dlcore.optim.SGD(ps, lr=0.1, momentum=0.9)  # noqa: E731
    with _float64():
        reference = _train(_model(0), sgd, X, y, np.arange(6))
        ddp = dist.DistributedDataParallel(_model(0).to(dev))
        _train(ddp, sgd, X, y, mine, dev=dev)
    assert _max_difference(ddp.module.parameters(), reference.parameters()) < 1e-12


class _float64:
    """Default dtype float64 inside the block."""

    def __enter__(self):
        import dlcore

        self.previous = dlcore.default_dtype()
        dlcore.set_default_dtype(np.float64)

    def __exit__(self, *exc):
        import dlcore

        dlcore.set_default_dtype(self.previous)


def main(names: list) -> None:
    import dlcore.distributed as dist

    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=60))  # a deadlock fails in a minute
    rank, size = dist.get_rank(), dist.get_world_size()
    for name in names:
        globals()[f"scenario_{name}"](rank, size)
        print(f"OK {name} {rank}", flush=True)
    dist.destroy_process_group()


# ----------------------------------------------------------------------------------------- tests
def _mpiexec(n: int, names: list, timeout: float = 120, **env) -> subprocess.CompletedProcess:
    """``mpiexec -n n python this_file names...``."""
    return _launch(n, [__file__, *names], timeout, ROOT, **env)


def _launch(n: int, argv: list, timeout: float, cwd: Path, **env) -> subprocess.CompletedProcess:
    import pytest

    missing = importlib.util.find_spec("mpi4py") is None or MPIEXEC is None
    if missing and os.environ.get("CI") == "true":  # the test extra installs them: CI must not skip these
        pytest.fail("CI must install mpi4py and mpich (the test extra): the multi-process tests would skip")
    if missing:
        pytest.skip("dlcore.distributed needs mpi4py and mpiexec: pip install 'dlcore[dist]' (mpi4py + mpich)")
    environ = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **env}
    environ.pop("DLCORE_DEVICE", None)
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *argv], capture_output=True, text=True,
                          timeout=timeout, env=environ, cwd=cwd)


def _assert_ok(result: subprocess.CompletedProcess, n: int, names: list) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for name in names:
        for rank in range(n):
            assert f"OK {name} {rank}" in result.stdout, output


def test_two_ranks_match_one_process():
    names = ["collectives", "equivalence", "unused", "syncbn"]
    names += ["syncbn_torch"] if importlib.util.find_spec("torch") else []  # CI has torch
    _assert_ok(_mpiexec(2, names), 2, names)


def test_three_ranks_oversubscribed_match_one_process():
    names = ["collectives", "equivalence", "syncbn"]
    _assert_ok(_mpiexec(3, names), 3, names)


def test_fit_trains_data_parallel(tmp_path):
    _assert_ok(_mpiexec(2, ["fit"], DIST_TEST_DIR=str(tmp_path)), 2, ["fit"])


def test_gpu_tensors_over_nccl_and_mpi():
    import pytest

    import dlcore

    if not dlcore.cuda.is_available():
        pytest.skip(f"the GPU collectives need a GPU: {dlcore.cuda.unavailable_reason()}")
    _assert_ok(_mpiexec(2, ["gpu"], DIST_BACKEND="mpi"), 2, ["gpu"])  # two ranks may share one GPU
    if dlcore.cuda.device_count() < 2:
        pytest.skip("the 'nccl' backend needs one GPU per rank (2 GPUs); the 'mpi' staging path passed")
    _assert_ok(_mpiexec(2, ["gpu"], DIST_BACKEND="nccl"), 2, ["gpu"])


def test_mnist_ddp_example_on_a_tiny_synthetic_mnist(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 32), ("t10k", 8)):  # IDX: magic (0, 0, 8 = uint8, ndim), big-endian sizes, bytes
        for kind, shape in (("images-idx3", (n, 28, 28)), ("labels-idx1", (n,))):
            values = rng.integers(0, 256 if kind.startswith("images") else 10, size=shape).astype(np.uint8)
            header = bytes([0, 0, 8, len(shape)]) + np.asarray(shape, ">u4").tobytes()
            (tmp_path / f"{split}-{kind}-ubyte").write_bytes(header + values.tobytes())
    result = _launch(2, [str(ROOT / "examples" / "mnist_ddp.py"), "--data", str(tmp_path), "--epochs", "1",
                         "--batch-size", "8", "--device", "cpu", "--no-progress"], 120, tmp_path, DLCORE_DATA="")
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0 and lines, result.stdout + result.stderr
    assert "2 processes (mpi)" in result.stdout and "all-reduce" in result.stdout, result.stdout
    assert lines[-1].startswith("test accuracy: ") and lines[-1].endswith("%"), lines[-1]
    assert result.stdout.count("test accuracy") == 1  # rank 0 alone prints


def test_a_failing_rank_stops_every_rank():
    import time

    for how, clue in (("raise", "ValueError: rank 1 fails on purpose"), ("die", ""), ("hang", "timed out after 3 s")):
        t0 = time.monotonic()
        result = _mpiexec(2, ["fail"], timeout=60, DIST_FAIL=how)
        output = result.stdout + result.stderr
        assert result.returncode != 0, (how, output)
        assert time.monotonic() - t0 < 30, (how, output)
        assert clue in output, (how, output)
        if how != "die":
            assert "aborting all 2 ranks" in output, (how, output)


if __name__ == "__main__":
    main(sys.argv[1:])

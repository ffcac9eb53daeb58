"""MNIST with the reference CNN, data-parallel over MPI processes (DistributedDataParallel).

    mpiexec -n 2 .venv/bin/python examples/mnist_ddp.py --epochs 2

Every process reads the IDX files from --data (default: $DLCORE_DATA, else ../shared/data/mnist
next to the repository; nothing is downloaded) and trains on its own 1/N of every global batch
(DistributedSampler). --batch-size is the global batch, split evenly over the processes, so
N processes compute the same updates as one. Rank 0 alone prints; it ends with the line
``test accuracy: 99.xx%``, after one line with the epoch time and the gradient all-reduce time
per step. --backend nccl --device cuda puts rank r on GPU r.
"""

import json
import time

import _common

import dlcore
import dlcore.distributed as dist
import dlcore.functional as F
from dlcore.data import DataLoader, TensorDataset
from dlcore.datasets import mnist
from dlcore.models import mnist_cnn
from dlcore.train import evaluate, fit


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], epochs=2, lr=0.02, batch_size=64)
    _common.add_mnist_arg(p)
    p.add_argument("--backend", default="mpi", choices=["mpi", "nccl"], help="collectives backend (default: mpi)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images (quick runs)")
    p.add_argument("--json", default=None, help="also write the timings to this JSON file (rank 0)")
    args = p.parse_args()
    dist.init_process_group(args.backend)
    rank, size = dist.get_rank(), dist.get_world_size()
    if args.batch_size % size:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of the {size} processes")
    if dlcore.device(args.device).type == "cuda":  # "auto" too: one GPU per process on each machine
        args.device = f"cuda:{dist.get_local_rank() % dlcore.cuda.device_count()}"
    if rank == 0:  # rank 0 prints; fit shows its bar and log lines there only
        dev = _common.setup(args)
    else:
        dlcore.manual_seed(args.seed)
        dev = dlcore.device(args.device)

    X_train, y_train = mnist(args.data, "train")
    X_test, y_test = mnist(args.data, "test")
    if args.limit:
        X_train, y_train = X_train[:args.limit], y_train[:args.limit]
    mean, std = 0.1307, 0.3081
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    train = TensorDataset(X_train, y_train)
    sampler = dist.DistributedSampler(train, seed=args.seed, drop_last=True)
    loader = DataLoader(train, batch_size=args.batch_size // size, sampler=sampler, drop_last=True, device=dev)
    if rank == 0:
        print(f"{size} processes ({args.backend}), train {X_train.shape}, global batch {args.batch_size} "
              f"= {size} x {args.batch_size // size}", flush=True)

    model = dist.DistributedDataParallel(mnist_cnn().to(dev))
    optimizer = dlcore.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    t0 = time.perf_counter()
    history = fit(model, F.cross_entropy, optimizer, loader, epochs=args.epochs, progress=not args.no_progress,
                  metrics=("accuracy",))
    total = time.perf_counter() - t0
    steps = model.reduce_count
    reduce = (f"gradient all-reduce {1e3 * model.reduce_seconds / steps:.2f} ms per step over {steps} steps "
              f"({model.num_buckets} bucket(s))" if steps else "no all-reduce (1 process)")
    result = evaluate(model, (X_test, y_test), F.cross_entropy)  # every rank holds the same model
    if rank == 0:
        print(f"epoch time: {min(history['time']):.2f} s (best of {len(history['time'])}), total {total:.1f} s; "
              f"{reduce}", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"processes": size, "backend": args.backend, "global_batch": args.batch_size,
                           "epoch_s": history["time"], "steps": len(loader), "allreduce_count": steps,
                           "allreduce_s_per_step": model.reduce_seconds / steps if steps else 0.0,
                           "buckets": model.num_buckets, "test_accuracy": result["accuracy"]}, f, indent=1)
        print(f"test loss: {result['loss']:.4f}", flush=True)
        _common.result("test accuracy", result["accuracy"], percent=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

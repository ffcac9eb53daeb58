"""Scaling of one MNIST-CNN epoch from 1 to 2 MPI processes (one BLAS thread each).

    python docs/bench/distributed-scaling.py --runs 3 --out docs/bench/distributed-cpu-DATE.json

Runs ``mpiexec -n N python examples/mnist_ddp.py --epochs 1 --json ...`` for N = 1, 2 (global batch
64, so both compute the same updates), alternating N, and writes the medians and the ratio.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The all-reduce alone: the CNN's gradient (one float32 bucket) between 2 ranks that start together.
ALLREDUCE_ONLY = """
import json, sys, time, numpy as np
import dlcore.distributed as dist
from dlcore.models import mnist_cnn
dist.init_process_group("mpi")
comm = dist.process_group.default_communicator()
flat = np.zeros(mnist_cnn().num_parameters(), np.float32)
times = []
for _ in range(int(sys.argv[1])):
    comm.barrier()
    t0 = time.perf_counter()
    comm.allreduce(flat, "sum")
    times.append(time.perf_counter() - t0)
if comm.rank == 0:
    print(json.dumps({"parameters": int(flat.size), "median_s": float(np.median(times)), "min_s": float(min(times))}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", required=True)
    p.add_argument("--limit", type=int, default=None, help="first N training images only (a quick check)")
    args = p.parse_args()
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    runs: dict[int, list] = {1: [], 2: []}
    for r in range(args.runs):
        for n in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "run.json"
                cmd = [mpiexec, "-n", str(n), sys.executable, str(ROOT / "examples" / "mnist_ddp.py"), "--epochs", "1",
                       "--device", "cpu", "--no-progress", "--json", str(out)]
                cmd += ["--limit", str(args.limit)] if args.limit else []
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, env=env, capture_output=True, text=True, timeout=1800)
                run = json.loads(out.read_text())
                run["wall_s"] = time.perf_counter() - t0
                runs[n].append(run)
                print(f"run {r + 1}: {n} process(es): epoch {run['epoch_s'][0]:.2f} s, all-reduce "
                      f"{1e3 * run['allreduce_s_per_step']:.2f} ms/step", flush=True)
    alone = subprocess.run([mpiexec, "-n", "2", sys.executable, "-c", ALLREDUCE_ONLY, "200"], check=True, env=env,
                           capture_output=True, text=True, timeout=600)
    allreduce_only = json.loads(alone.stdout.strip().splitlines()[-1])
    epoch = {n: statistics.median(x["epoch_s"][0] for x in v) for n, v in runs.items()}
    result = {
        "what": "one MNIST-CNN epoch (examples/mnist_ddp.py, global batch 64, SGD momentum), CPU, 1 BLAS thread "
                "per process, mpich",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "limit": args.limit,
        "median_epoch_s": {str(n): v for n, v in epoch.items()},
        "speedup_2_over_1": epoch[1] / epoch[2],
        "median_allreduce_ms_per_step_2": 1e3 * statistics.median(x["allreduce_s_per_step"] for x in runs[2]),
        "allreduce_alone_ms_2": {"median": 1e3 * allreduce_only["median_s"], "min": 1e3 * allreduce_only["min_s"],
                                 "parameters": allreduce_only["parameters"]},
        "steps_per_epoch": runs[1][0]["steps"],
        "runs": {str(n): v for n, v in runs.items()},
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("median_epoch_s", "speedup_2_over_1", "median_allreduce_ms_per_step_2",
                                             "allreduce_alone_ms_2")}))


if __name__ == "__main__":
    main()

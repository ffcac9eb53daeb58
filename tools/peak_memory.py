"""Peak resident memory of CNN training steps, dlcore vs torch, each in a fresh child process.

    PYTHONPATH=. python tools/peak_memory.py [--batch 64] [--steps 3] [--model mnist|w3]

Each child imports its library, builds the model and a batch, runs one step on one sample (so
that code loaded on first use, dlcore's compiled Numba kernels and torch's oneDNN kernels, is not
counted; ``--cold`` skips it), resets the kernel's high-water mark (``echo 5 >
/proc/self/clear_refs``) and runs ``--steps`` training steps. It reports the
resident set before the first step, the high-water mark during the steps (VmHWM), and their
difference: the memory training itself needs on top of the libraries, weights and batch
(dlcore's recycled buffers and glibc's retained heap included, since the first step is in).
``--model mnist`` is the reference MNIST CNN (the bench's W2); ``--model w3`` is one conv layer
64x32x28x28 * 64x32x3x3 with a sum loss (the bench's W3 shapes). Linux only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys
import numpy as np
side, model_name, batch, steps, warm = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
rng = np.random.default_rng(0)
if model_name == "mnist":
    x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
else:
    x = rng.standard_normal((batch, 32, 28, 28), dtype=np.float32)
y = rng.integers(0, 10, batch)
if side == "dlcore":
    import dlcore, dlcore.functional as F
    from dlcore import cpu_jit, nn
    cpu_jit.available()  # import Numba (the compiled kernels' engine) with the library, as torch's import loads its kernels
    if model_name == "mnist":
        from dlcore.models import mnist_cnn
        model = mnist_cnn()
        loss_fn = lambda out: F.cross_entropy(out, dlcore.tensor(y[:len(out)]))
    else:
        model = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        loss_fn = lambda out: out.sum()
    opt = dlcore.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xs = dlcore.tensor(x)
    zero_grad = opt.zero_grad
else:
    import torch
    torch.set_num_threads(2)
    nn = torch.nn
    if model_name == "mnist":
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))
        yt = torch.from_numpy(y)
        loss_fn = lambda out: torch.nn.functional.cross_entropy(out, yt[:len(out)])
    else:
        model = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        loss_fn = lambda out: out.sum()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xs = torch.from_numpy(x)
    zero_grad = lambda: opt.zero_grad(set_to_none=True)

def step(inputs):
    zero_grad()
    loss_fn(model(inputs)).backward()
    opt.step()
if warm:  # one step on one sample first: code loaded on first use (dlcore's compiled kernels,
    step(xs[:1])  # torch's oneDNN kernels) is not counted as training memory
before = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")
for _ in range(steps):
    step(xs)
peak = status("VmHWM")
print(json.dumps({"side": side, "rss_before": before, "peak": peak, "step_peak": peak - before}))
"""


def measure(side: str, model: str, batch: int, steps: int, warm: bool = True) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, side, model, str(batch), str(steps), str(int(warm))],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--model", choices=("mnist", "w3"), default="mnist")
    parser.add_argument("--reps", type=int, default=3, help="children per side; the median is reported")
    parser.add_argument("--cold", action="store_true",
                        help="no one-sample step before the baseline: count code loaded on first use as step memory")
    args = parser.parse_args()
    mb = 2.0 ** 20
    results = {}
    for side in ("dlcore", "torch"):
        runs = sorted((measure(side, args.model, args.batch, args.steps, not args.cold) for _ in range(args.reps)),
                      key=lambda r: r["step_peak"])
        results[side] = runs[len(runs) // 2]
        r = results[side]
        print(f"{side:7s} RSS before {r['rss_before'] / mb:7.1f} MB  peak {r['peak'] / mb:7.1f} MB  "
              f"step needs {r['step_peak'] / mb:6.1f} MB  (median of {args.reps} children)")
    ratio = results["dlcore"]["step_peak"] / max(results["torch"]["step_peak"], 1)
    print(f"step memory dlcore / torch: {ratio:.2f}; whole-process peak dlcore / torch: "
          f"{results['dlcore']['peak'] / results['torch']['peak']:.2f}")
    print(json.dumps({"model": args.model, "batch": args.batch, "steps": args.steps, "warm": not args.cold, **results}))


if __name__ == "__main__":
    main()

"""Does numexpr beat dlcore's threads + NumPy on W5's element-wise work? (issue 16's rule for a
new dependency: only if it measurably does.)

    PYTHONPATH=. python tools/numexpr_check.py [--threads 2] [--path DIR]

relu, sigmoid and tanh of 16M float32, the two sides alternating in blocks with a pause (the
bench's method), medians. numexpr is not a dlcore dependency: install it anywhere
(``pip install --target /tmp/ne numexpr``) and pass ``--path /tmp/ne``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--path", default=None, help="folder that holds numexpr (put first on sys.path)")
    p.add_argument("--blocks", type=int, default=6)
    args = p.parse_args()
    if args.path:
        sys.path.insert(0, args.path)
    try:
        import numexpr
    except ImportError:
        print("numexpr is not importable: pip install --target DIR numexpr, then --path DIR", file=sys.stderr)
        return 2
    os.environ["DLCORE_NUM_THREADS"] = str(args.threads)
    from dlcore import cpu

    numexpr.set_num_threads(args.threads)
    x = np.random.default_rng(0).standard_normal(1 << 24).astype(np.float32)

    def ours() -> None:
        cpu.relu(x), cpu.sigmoid(x), cpu.tanh(x)

    def theirs() -> None:
        for expression in ("where(x > 0, x, 0)", "1 / (1 + exp(-x))", "tanh(x)"):
            numexpr.evaluate(expression, local_dict={"x": x})

    times: dict = {ours: [], theirs: []}
    for fn in times:
        fn()
    for _ in range(args.blocks):
        for fn in times:
            time.sleep(0.2)
            for _ in range(3):
                start = time.perf_counter()
                fn()
                times[fn].append(time.perf_counter() - start)
    a, b = statistics.median(times[ours]), statistics.median(times[theirs])
    print(f"dlcore.cpu {a * 1e3:.1f} ms, numexpr {numexpr.__version__} {b * 1e3:.1f} ms: numexpr / dlcore = {b / a:.2f} "
          f"({args.threads} threads, load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Command line of ``python -m dlcore.bench`` (the only place in dlcore that prints)."""

from __future__ import annotations

import argparse
import os
import sys

from . import reference as ref
from .report import format_rates, format_table, plot, write_json
from .runner import ALL_WORKLOADS, Config, run

EPILOG = """\
workloads: W1 MLP train step (batch 128), W2 MNIST CNN train step (batch 64),
W3 conv2d 64x32x28x28 * 64x32x3x3 fwd+bwd, W4 max_pool2d 2x2 on 64x64x28x28 fwd+bwd,
W5 relu+sigmoid+tanh on 16M floats, E2E (= E2E-MLP,E2E-CNN) one MNIST training epoch.
ratio = dlcore median / reference median: below 1 means dlcore is faster.
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m dlcore.bench", description="Benchmark dlcore against PyTorch on "
                                "every device, alternating the two in one process.", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help="comma-separated: cpu,cuda,cuda:1 (default: every available device)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, few reps, E2E left out unless named")
    p.add_argument("--json", metavar="PATH", help="write machine, versions, settings and raw timings as JSON")
    p.add_argument("--plot", metavar="PATH", help="bar chart of the ratios (PNG, needs matplotlib)")
    p.add_argument("--reference", choices=("torch", "none"), default=None,
                   help="reference implementation (default: torch when importable, else none)")
    p.add_argument("--data", metavar="PATH", default=None,
                   help="MNIST folder for E2E (default: $DLCORE_DATA; without it E2E uses synthetic data)")
    p.add_argument("--workloads", default=None, help="comma-separated subset of " + ",".join(ALL_WORKLOADS) + ",E2E")
    p.add_argument("--reps", type=int, default=None, help="timed reps per side (default: 15 CPU, 50 GPU, 3 quick)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls per side after the first (default 3/5/1)")
    p.add_argument("--block", type=int, default=5, metavar="N",
                   help="timed calls of one side before switching to the other (default 5)")
    p.add_argument("--settle", type=float, default=None, metavar="S",
                   help="pause in seconds before each block, so the other side's CPU worker threads stop "
                        "spinning (default 0.25 on the CPU, 0.02 with --quick, 0 on a GPU)")
    p.add_argument("--e2e-batches", type=int, default=None, metavar="N",
                   help="time N batches and extrapolate to an epoch (default: the whole epoch; 2 with --quick)")
    p.add_argument("--e2e-reps", type=int, default=1, metavar="N", help="epochs timed per side (default 1)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for NumPy's BLAS, dlcore's pooling threads and torch alike "
                        "(default: what NumPy's BLAS already uses)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _fail(msg: str) -> int:
    print(f"dlcore.bench: {msg}", file=sys.stderr)
    return 2


def _workloads(text: str | None, quick: bool) -> list[str]:
    if text is None:
        return [w for w in ALL_WORKLOADS if not (quick and w.startswith("E2E"))]
    names: list[str] = []
    for part in text.split(","):
        part = part.strip().upper()
        if not part:
            continue
        expanded = ["E2E-MLP", "E2E-CNN"] if part == "E2E" else [part]
        for w in expanded:
            if w not in ALL_WORKLOADS:
                raise ValueError(f"unknown workload {part!r}; choose from {', '.join(ALL_WORKLOADS)} or E2E")
            if w not in names:
                names.append(w)
    return names


def _devices(text: str | None) -> list:
    from dlcore.backend import cuda_device_count, cuda_emulated, cuda_is_available
    from dlcore.backend import device as parse_device
    from dlcore.errors import DeviceError

    if text is None:
        gpus = cuda_device_count() if cuda_is_available() and not cuda_emulated() else 0
        return [parse_device("cpu")] + [parse_device(f"cuda:{i}") for i in range(gpus)]
    devs = []
    for part in text.split(","):
        if part.strip():
            d = parse_device(part.strip())   # raises DeviceError with the reason CUDA is unusable
            if d.type == "cuda" and cuda_emulated():
                raise DeviceError(f"--device {part.strip()}: DLCORE_CUDA_EMULATE=1 makes 'cuda' the CPU emulator, "
                                  "which is never timed; unset it to benchmark a real GPU")
            if d not in devs:
                devs.append(d)
    return devs


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    from dlcore.errors import DeviceError

    try:
        workloads = _workloads(args.workloads, args.quick)
        devices = _devices(args.device)
    except (ValueError, DeviceError) as exc:
        return _fail(str(exc))
    if not workloads or not devices:
        return _fail("nothing to run: give at least one workload and one device")
    if args.reps is not None and args.reps < 1:
        return _fail("--reps must be at least 1")
    if args.block < 1 or (args.settle is not None and args.settle < 0):
        return _fail("--block must be at least 1 and --settle at least 0")

    torch, note = None, ""
    if args.reference in (None, "torch"):
        torch, reason = ref.load_torch()
        if torch is None:
            if args.reference == "torch":
                return _fail(f"--reference torch was asked for, but {reason}")
            note = f"no reference: {reason}"
            print(f"note: {note}; timing dlcore alone")
    else:
        note = "no reference (--reference none)"
    limiter = None
    if args.threads is not None:
        if args.threads < 1:
            return _fail("--threads must be at least 1")
        try:
            limiter = ref.limit_blas_threads(args.threads)
        except RuntimeError as exc:
            return _fail(str(exc))
        os.environ["DLCORE_NUM_THREADS"] = str(args.threads)  # dlcore's own pool threads (dlcore/cpu.py)
    threads, source = ref.blas_threads()
    if limiter is not None:
        source = f"--threads {args.threads}, {source}"
    if args.data and not os.path.isdir(args.data):
        return _fail(f"--data {args.data} is not a folder")

    cfg = Config(devices=devices, workloads=workloads, torch=torch, reference_note=note, quick=args.quick,
                 reps=args.reps, warmup=args.warmup, data=args.data, e2e_batches=args.e2e_batches,
                 e2e_reps=args.e2e_reps, block=args.block, settle_s=args.settle, seed=args.seed, threads=threads, threads_source=source, argv=argv)
    try:
        doc = run(cfg, progress=lambda s: print(s, file=sys.stderr, flush=True))
    finally:
        if limiter is not None:
            limiter.restore_original_limits()

    print(format_table(doc))
    rates = format_rates(doc)
    if rates:
        print()
        print(rates)
    print(f"\ntotal time {doc['total_s']:.1f} s")
    if args.json:
        write_json(doc, args.json)
        print(f"wrote {args.json}")
    if args.plot:
        try:
            made = plot(doc, args.plot)
        except ImportError as exc:
            print(f"no plot: matplotlib is not importable ({exc})")
        else:
            print(f"wrote {args.plot}" if made else "no plot: no ratios to plot (no reference)")
    return 1 if any(r["status"] == "error" for r in doc["results"]) else 0

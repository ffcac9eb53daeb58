"""Run the selected workloads on the selected devices and collect one JSON-ready document."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from dlcore.blas import blas_kernel

from . import reference as ref
from .e2e import E2E_MODELS, WARMUP_BATCHES, load_data, run_e2e
from .timing import compare, paired_ratio, summarize
from .workloads import BUILDERS, TF32_WORKLOADS, WORKLOADS, Context, Unavailable, copy_bandwidth

SCHEMA = "dlcore-bench/1"
ALL_WORKLOADS = WORKLOADS + tuple(E2E_MODELS)


@dataclass
class Config:
    devices: list            # dlcore Devices
    workloads: list[str]
    torch: Any = None        # the torch module, or None: no reference
    reference_note: str = ""
    quick: bool = False
    reps: int | None = None
    warmup: int | None = None
    data: str | None = None
    e2e_batches: int | None = None
    e2e_reps: int = 1
    block: int = 5
    settle_s: float | None = None
    seed: int = 0
    threads: int = 1
    threads_source: str = ""
    argv: list = field(default_factory=list)


def default_reps(dev: Any, quick: bool) -> tuple[int, int]:
    """(reps, warmup) when the user gives none."""
    if quick:
        return 3, 1
    return (15, 3) if dev.type == "cpu" else (50, 5)


def default_settle(dev: Any, quick: bool) -> float:
    """Pause before each block: lets the other side's spinning CPU thread-pool workers go to sleep."""
    if dev.type != "cpu":
        return 0.0
    return 0.02 if quick else 0.25


# --------------------------------------------------------------------------- machine and versions
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> list[dict]:
    """The real GPUs (none under DLCORE_CUDA_EMULATE=1: the emulator is not a GPU and is never timed)."""
    from dlcore.backend import cuda_emulated, cuda_is_available

    if cuda_emulated() or not cuda_is_available():
        return []
    import cupy

    out = []
    for i in range(cupy.cuda.runtime.getDeviceCount()):
        p = cupy.cuda.runtime.getDeviceProperties(i)
        name = p["name"].decode() if isinstance(p["name"], bytes) else str(p["name"])
        out.append({"index": i, "name": name, "memory_gib": round(p["totalGlobalMem"] / 2**30, 1),
                    "compute_capability": f"{p['major']}.{p['minor']}", "multiprocessors": p["multiProcessorCount"]})
    return out


def _dist_version(prefixes: tuple[str, ...]) -> str | None:
    from importlib import metadata

    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if any(name == p or name.startswith(p + "-") for p in prefixes):
            return f"{dist.version} ({name})"
    return None


def _git_commit() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not commit:
        return None
    return commit + ("-dirty" if dirty else "")


def versions(torch: Any) -> dict:
    import dlcore

    return {"python": platform.python_version(), "numpy": np.__version__,
            "cupy": _dist_version(("cupy", "cupy-cuda12x", "cupy-cuda13x", "cupy-cuda11x")),
            "torch": getattr(torch, "__version__", None) if torch is not None else _dist_version(("torch",)),
            "dlcore": dlcore.__version__, "dlcore_git": _git_commit()}


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (other processes share the machine), or None."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine() -> dict:
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "gpus": gpu_info(), "load_average_start": load_average()}


# --------------------------------------------------------------------------- one row
def _achieved(work: dict, stats: dict | None, copy_bw: dict | None) -> dict | None:
    if not stats or not work or not np.isfinite(stats["median_s"]):
        return None
    t = stats["median_s"]
    if "flops" in work:
        return {"gflop_per_s": work["flops"] / t / 1e9}
    if "bytes" in work:
        out = {"gb_per_s": work["bytes"] / t / 1e9}
        if copy_bw:
            out["fraction_of_copy_bw"] = out["gb_per_s"] / copy_bw["gb_per_s"]
        return out
    return None


def _row(workload: str, dev: Any, **fields: Any) -> dict:
    return {"workload": workload, "variant": "main", "device": str(dev), "status": "ok", **fields}


def run_workload(name: str, ctx: Context, reps: int, warmup: int, copy_bw: dict | None,
                 block: int = 1, settle_s: float = 0.0) -> list[dict]:
    """Rows for one W-workload on one device (two on a GPU with torch: FP32 and torch-TF32)."""
    case = BUILDERS[name](ctx)
    a, b = compare(case.ours, case.theirs, reps, warmup, block, settle_s)
    check = case.check(a.first_result, b.first_result) if (b is not None and case.check) else None
    for s in (a, b):  # free the outputs
        if s is not None:
            s.first_result = None

    def row(a, b, variant: str) -> dict:
        sa, sb = a.summary(), (b.summary() if b is not None else None)
        ratio = sa["median_s"] / sb["median_s"] if sb else None
        return _row(name, ctx.dev, variant=variant, description=case.description, params=case.params,
                    source=case.source, dlcore=sa, reference=sb, ratio=ratio, ratio_paired=paired_ratio(a, b),
                    work=case.work, achieved={"dlcore": _achieved(case.work, sa, copy_bw),
                                              "reference": _achieved(case.work, sb, copy_bw)},
                    check=check if variant == "main" else None)

    rows = [row(a, b, "main")]
    if ctx.dev.type == "cuda" and ctx.torch is not None and name in TF32_WORKLOADS:
        ref.set_tf32(ctx.torch, True)
        try:
            a2, b2 = compare(case.ours, case.theirs, reps, warmup, block, settle_s)
        finally:
            ref.set_tf32(ctx.torch, False)
        rows.append(row(a2, b2, "torch-tf32"))
    return rows


def run_e2e_row(name: str, ctx: Context, data: tuple, batches: int | None, reps: int, settle_s: float = 0.0) -> dict:
    X, y, label = data
    out = run_e2e(ctx, name, X, y, batches, reps, settle_s)
    ta, tb = out["epoch_times_s"]["dlcore"], out["epoch_times_s"]["reference"]
    sa = summarize(ta) | {"first_call_s": out["first_calls_s"]["dlcore"], "times_s": ta}
    sb = (summarize(tb) | {"first_call_s": out["first_calls_s"]["reference"], "times_s": tb}) if tb else None
    what = "MLP 784-256-128-10" if name == "E2E-MLP" else "MNIST CNN"
    timed = f"{out['batches_timed']} of {out['batches_per_epoch']} batches, extrapolated" if out["extrapolated"] \
        else f"{out['batches_per_epoch']} batches"
    return _row(name, ctx.dev, description=f"one epoch, {what}, batch {out['batch']}, {label} ({timed})",
                params={"batch": out["batch"], "samples": out["samples"]}, dataset=label,
                extrapolated=out["extrapolated"], batches_timed=out["batches_timed"],
                batches_per_epoch=out["batches_per_epoch"], first_call_note=f"first {WARMUP_BATCHES} batches",
                dlcore=sa, reference=sb, ratio=(sa["median_s"] / sb["median_s"]) if sb else None,
                ratio_paired=None, work={}, achieved=None, check=None)


# --------------------------------------------------------------------------- everything
def run(cfg: Config, progress: Callable[[str], None] = lambda s: None) -> dict:
    """Run every selected workload on every device; returns the JSON document."""
    import dlcore

    started = time.perf_counter()
    doc: dict = {
        "schema": SCHEMA,
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python -m dlcore.bench", *cfg.argv]),
        "machine": machine(),
        "versions": versions(cfg.torch),
        "settings": {
            "devices": [str(d) for d in cfg.devices], "workloads": list(cfg.workloads), "quick": cfg.quick,
            "reps": cfg.reps, "warmup": cfg.warmup, "block": cfg.block, "settle_s": cfg.settle_s, "seed": cfg.seed,
            "reference": "torch" if cfg.torch is not None else "none", "reference_note": cfg.reference_note,
            "numpy_blas_threads": cfg.threads, "numpy_blas_threads_source": cfg.threads_source,
            "numpy_blas": blas_kernel(),
            "e2e_batches": cfg.e2e_batches, "e2e_reps": cfg.e2e_reps,
            "method": "first call timed apart; warm-up; dlcore and reference alternate in blocks of `block` "
                      "calls (order flipped every round), each block after a `settle_s` pause and one untimed "
                      "call; each call bracketed by a device synchronize; median and IQR",
        },
        "copy_bandwidth": {},
        "results": [],
    }
    if cfg.torch is not None:
        doc["settings"].update(ref.configure(cfg.torch, cfg.threads))
    data = None
    for dev in cfg.devices:
        dlcore.manual_seed(cfg.seed)
        torch = cfg.torch
        note = ""
        if torch is not None:
            ok, note = ref.device_status(torch, dev)
            torch = torch if ok else None
        ctx = Context(dev=dev, quick=cfg.quick, torch=torch, seed=cfg.seed)
        reps, warmup = default_reps(dev, cfg.quick)
        reps = cfg.reps if cfg.reps is not None else reps
        warmup = cfg.warmup if cfg.warmup is not None else warmup
        settle = cfg.settle_s if cfg.settle_s is not None else default_settle(dev, cfg.quick)
        doc["settings"].setdefault("per_device", {})[str(dev)] = {"reps": reps, "warmup": warmup, "block": cfg.block,
                                                                  "settle_s": settle,
                                                                  "reference_unavailable": note or None}
        needs_bw = any(w in ("W3", "W4", "W5") for w in cfg.workloads)
        bw = None
        if needs_bw:
            progress(f"[{dev}] copy bandwidth ...")
            bw = copy_bandwidth(dev, nbytes=(16 << 20) if cfg.quick else (256 << 20))
            doc["copy_bandwidth"][str(dev)] = bw
        for name in cfg.workloads:
            t0 = time.perf_counter()
            progress(f"[{dev}] {name} ...")
            try:
                if name in E2E_MODELS:
                    if data is None:
                        data = load_data(cfg.data, cfg.quick)
                    batches = cfg.e2e_batches if cfg.e2e_batches else (2 if cfg.quick else None)
                    rows = [run_e2e_row(name, ctx, data, batches, cfg.e2e_reps, settle)]
                else:
                    rows = run_workload(name, ctx, reps, warmup, bw, cfg.block, settle)
            except Unavailable as exc:
                rows = [_row(name, dev, status="skipped", reason=str(exc))]
            except Exception as exc:  # report the failure, keep benchmarking the rest
                tb = traceback.format_exc(limit=4)
                rows = [_row(name, dev, status="error", reason=f"{type(exc).__name__}: {exc}", traceback=tb)]
            if note:
                for r in rows:
                    r["reference_note"] = note
            doc["results"].extend(rows)
            progress(f"[{dev}] {name} {rows[0]['status']} in {time.perf_counter() - t0:.1f} s")
    doc["machine"]["load_average_end"] = load_average()
    doc["total_s"] = time.perf_counter() - started
    return doc


"""End-to-end: one training epoch of the MNIST MLP (batch 128) and the MNIST CNN (batch 64).

The data is real MNIST from ``--data`` / ``DLCORE_DATA`` (read with :func:`dlcore.datasets.mnist`)
or, without it, a synthetic set of the same shape (60000 x 1 x 28 x 28 in [0, 1), labels 0-9),
labelled "synthetic". An epoch shuffles with one permutation shared by both sides, slices the
batches on the host (the last one partial), copies each to the device and takes one SGD-momentum
step; the time includes all of that. With ``batches`` set only that many batches are timed and the
epoch time is extrapolated (``time * batches_per_epoch / batches``), labelled "extrapolated".
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from .workloads import Context, copy_weights, dlcore_cnn, dlcore_mlp, torch_cnn, torch_mlp

E2E_MODELS = {"E2E-MLP": 128, "E2E-CNN": 64}   # name -> batch size
WARMUP_BATCHES = 2


def load_data(path: str | None, quick: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """``(X, y, label)``: MNIST train split from ``path`` (or DLCORE_DATA), else synthetic data."""
    root = path or os.environ.get("DLCORE_DATA")
    if root:
        from dlcore.datasets import mnist

        X, y = mnist(root, "train")
        return X, y, f"mnist ({root})"
    n = 2048 if quick else 60000
    rng = np.random.default_rng(0)
    X = rng.random((n, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.int64)
    return X, y, "synthetic"


class _Trainer:
    """One side of the E2E run: a model, its optimizer and a ``batch(x, y)`` step."""

    def __init__(self, ctx: Context, name: str, use_torch: bool, weights_from: Any = None):
        self.ctx, self.use_torch = ctx, use_torch
        if not use_torch:
            import dlcore
            import dlcore.functional as F

            self.model = dlcore_mlp() if name == "E2E-MLP" else dlcore_cnn()[0]
            self.model.to(ctx.dev)
            self.opt = dlcore.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
            self.loss_fn = F.cross_entropy
            self.sync = ctx.ours_sync()
        else:
            torch = ctx.torch
            self.model = torch_mlp(torch) if name == "E2E-MLP" else torch_cnn(torch)
            if weights_from is not None:
                copy_weights(weights_from, self.model)
            self.model.to(ctx.tdev)
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
            self.loss_fn = torch.nn.functional.cross_entropy
            self.sync = ctx.theirs_sync()

    def step(self, xb: np.ndarray, yb: np.ndarray) -> None:
        if self.use_torch:
            torch = self.ctx.torch
            x = torch.from_numpy(xb).to(self.ctx.tdev)
            y = torch.from_numpy(yb).to(self.ctx.tdev)
            self.opt.zero_grad(set_to_none=True)
        else:
            import dlcore

            x = dlcore.tensor(xb, device=self.ctx.dev)
            y = dlcore.tensor(yb, device=self.ctx.dev)
            self.opt.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.opt.step()

    def run(self, X: np.ndarray, y: np.ndarray, order: np.ndarray, batch: int, n_batches: int) -> float:
        """Seconds for ``n_batches`` batches in ``order`` (synchronised at both ends)."""
        self.sync()
        t0 = time.perf_counter()
        for i in range(n_batches):
            idx = order[i * batch:(i + 1) * batch]
            self.step(X[idx], y[idx])
        self.sync()
        return time.perf_counter() - t0


def run_e2e(ctx: Context, name: str, X: np.ndarray, y: np.ndarray, batches: int | None, reps: int = 1,
            settle_s: float = 0.0) -> dict:
    """Time one epoch (or ``batches`` batches, extrapolated) of dlcore and, if given, torch, in turn."""
    batch = E2E_MODELS[name]
    if name == "E2E-MLP":
        X = X.reshape(len(X), -1)
    per_epoch = math.ceil(len(X) / batch)
    n = per_epoch if not batches else min(int(batches), per_epoch)
    ours = _Trainer(ctx, name, use_torch=False)
    theirs = _Trainer(ctx, name, use_torch=True, weights_from=ours.model) if ctx.torch is not None else None
    rng = np.random.default_rng(ctx.seed)
    # Warm-up (first calls, compiles) on a few batches, timed as the first-call cost.
    warm = rng.permutation(len(X))
    # A pause before each side lets the other side's spinning thread-pool workers go to sleep.
    time.sleep(settle_s)
    first = {"dlcore": ours.run(X, y, warm, batch, WARMUP_BATCHES)}
    if theirs is not None:
        time.sleep(settle_s)
        first["reference"] = theirs.run(X, y, warm, batch, WARMUP_BATCHES)
    times: dict[str, list[float]] = {"dlcore": [], "reference": []}
    for _ in range(max(1, reps)):
        order = rng.permutation(len(X))
        time.sleep(settle_s)
        times["dlcore"].append(ours.run(X, y, order, batch, n) * per_epoch / n)
        if theirs is not None:
            time.sleep(settle_s)
            times["reference"].append(theirs.run(X, y, order, batch, n) * per_epoch / n)
    return {"batch": batch, "batches_per_epoch": per_epoch, "batches_timed": n, "extrapolated": n < per_epoch,
            "samples": len(X), "first_calls_s": first, "epoch_times_s": times}

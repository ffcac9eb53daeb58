"""The benchmark's workloads W1-W5: the same computation written once in dlcore and once in torch.

Each builder takes a :class:`Context` and returns a :class:`Case`: a dlcore side, a torch side
(or None without a reference), the sizes, and the work done per call (FLOPs or bytes) where it is
well defined. Both sides get the same random inputs (never zeros) and, for models, the same
initial weights, so the first call's outputs can be compared as a check that both sides do the
same work.

=====  ==================================================================================
W1     MLP 784-256-128-10, batch 128: one SGD-momentum step (zero_grad, forward,
       cross-entropy, backward, step)
W2     the reference MNIST CNN (``dlcore.models.mnist_cnn``), batch 64: one training step
W3     conv2d, input 64x32x28x28, filters 64x32x3x3, padding 1, no bias: forward + backward
W4     max_pool2d 2x2 on 64x64x28x28: forward + backward
W5     relu, sigmoid and tanh forward on 16M float32 values (three separate ops)
=====  ==================================================================================

Work counts (per call):

* W3: forward ``2*N*F*OH*OW*C*KH*KW`` FLOPs; backward (dX and dW) twice that, 3x in all.
* W4: the bytes that any implementation must move: read x, write y (forward), read dy,
  write dx (backward), i.e. ``4 * (2 * |x| + 2 * |y|)`` for float32; index/mask traffic is
  implementation-specific and not counted.
* W5: each op reads and writes ``n`` floats: ``3 * 2 * 4 * n`` bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .timing import Side

WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
# Workloads whose torch side changes with TF32 (matmuls and convolutions).
TF32_WORKLOADS = ("W1", "W2", "W3")
CHECK_RTOL = 1e-3


class Unavailable(Exception):
    """A workload cannot run here (for example, the models differ from the reference)."""


@dataclass
class Context:
    dev: Any                 # dlcore.backend.Device
    quick: bool = False
    torch: Any = None        # the torch module, or None: no reference on this device
    seed: int = 0

    @property
    def tdev(self) -> str:
        return "cpu" if self.dev.type == "cpu" else f"cuda:{self.dev.index or 0}"

    def ours_sync(self) -> Callable[[], None]:
        if self.dev.type == "cpu":
            return lambda: None
        import cupy

        device = cupy.cuda.Device(self.dev.index or 0)
        return device.synchronize

    def theirs_sync(self) -> Callable[[], None]:
        if self.dev.type == "cpu":
            return lambda: None
        index = self.dev.index or 0
        return lambda: self.torch.cuda.synchronize(index)

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)


@dataclass
class Case:
    ours: Side
    theirs: Side | None
    description: str
    params: dict
    work: dict = field(default_factory=dict)      # {"flops": n} or {"bytes": n}
    check: Callable[[Any, Any], dict] | None = None
    source: str = ""                               # where the dlcore model came from


# --------------------------------------------------------------------------- helpers
def _ours_tensor(ctx: Context, a: np.ndarray, requires_grad: bool = False):
    import dlcore

    return dlcore.tensor(a, device=ctx.dev, requires_grad=requires_grad)


def _theirs_tensor(ctx: Context, a: np.ndarray, requires_grad: bool = False):
    t = ctx.torch.from_numpy(np.ascontiguousarray(a)).to(ctx.tdev)
    return t.requires_grad_(True) if requires_grad else t


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):      # torch tensor
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy"):       # dlcore Tensor
        return x.numpy()
    return np.asarray(x)


def compare_outputs(a: Any, b: Any) -> dict:
    """Largest difference between two outputs (tensors or tuples), relative to the largest value."""
    a_list = list(a) if isinstance(a, (tuple, list)) else [a]
    b_list = list(b) if isinstance(b, (tuple, list)) else [b]
    worst = 0.0
    for x, y in zip(a_list, b_list):
        x, y = _as_numpy(x).astype(np.float64), _as_numpy(y).astype(np.float64)
        if x.shape != y.shape:
            return {"max_rel_diff": float("inf"), "ok": False, "note": f"shapes differ: {x.shape} vs {y.shape}"}
        scale = max(float(np.max(np.abs(y))) if y.size else 0.0, 1e-12)
        worst = max(worst, float(np.max(np.abs(x - y))) / scale if y.size else 0.0)
    return {"max_rel_diff": worst, "ok": bool(worst <= CHECK_RTOL)}


def copy_weights(ours_model: Any, theirs_model: Any) -> None:
    """Copy dlcore parameters into a torch model, in order; shapes must match one to one."""
    import torch

    ours = list(ours_model.parameters())
    theirs = list(theirs_model.parameters())
    ours_shapes = [tuple(p.shape) for p in ours]
    theirs_shapes = [tuple(p.shape) for p in theirs]
    if ours_shapes != theirs_shapes:
        raise Unavailable(f"parameter shapes differ: dlcore {ours_shapes} vs torch {theirs_shapes}")
    with torch.no_grad():
        for p, q in zip(ours, theirs):
            q.copy_(torch.from_numpy(np.ascontiguousarray(p.numpy())))


def _train_step_sides(ctx: Context, model, torch_model, x: np.ndarray, y: np.ndarray, lr: float = 0.01):
    """dlcore and torch sides doing one SGD-momentum training step on the same batch."""
    import dlcore
    import dlcore.functional as F

    model.to(ctx.dev)
    opt = dlcore.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    xs, ys = _ours_tensor(ctx, x), _ours_tensor(ctx, y)

    def ours():
        opt.zero_grad()
        loss = F.cross_entropy(model(xs), ys)
        loss.backward()
        opt.step()
        return loss

    side_a = Side(ours, ctx.ours_sync())
    if torch_model is None:
        return side_a, None
    torch = ctx.torch
    copy_weights(model, torch_model)
    torch_model.to(ctx.tdev)
    topt = torch.optim.SGD(torch_model.parameters(), lr=lr, momentum=0.9)
    xt, yt = _theirs_tensor(ctx, x), _theirs_tensor(ctx, y)
    tce = torch.nn.functional.cross_entropy

    def theirs():
        topt.zero_grad(set_to_none=True)
        loss = tce(torch_model(xt), yt)
        loss.backward()
        topt.step()
        return loss

    return side_a, Side(theirs, ctx.theirs_sync())


def _loss_check(a: Any, b: Any) -> dict:
    la, lb = float(a.item()), float(b.item())
    diff = abs(la - lb) / max(abs(lb), 1e-12)
    return {"max_rel_diff": diff, "ok": bool(diff <= CHECK_RTOL), "dlcore_loss": la, "reference_loss": lb}


# --------------------------------------------------------------------------- models
MLP_SIZES = (784, 256, 128, 10)
CNN_SHAPES = [(16, 1, 3, 3), (16,), (32, 16, 3, 3), (32,), (128, 1568), (128,), (10, 128), (10,)]


def dlcore_mlp():
    from dlcore import nn

    return nn.MLP(list(MLP_SIZES), activation="relu")


def torch_mlp(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def torch_cnn(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))


def dlcore_cnn() -> tuple[Any, str]:
    """``(model, source)``: ``dlcore.models.mnist_cnn()``, checked to be the reference CNN."""
    from dlcore.models import mnist_cnn

    model, source = mnist_cnn(), "dlcore.models.mnist_cnn()"
    shapes = [tuple(p.shape) for p in model.parameters()]
    if shapes != CNN_SHAPES:
        raise Unavailable(f"{source} is not the reference CNN: parameter shapes {shapes}, expected {CNN_SHAPES}")
    return model, source


def _fwd_bwd_sides(ctx: Context, ours_op: Callable, theirs_op: Callable | None, inputs: list, grad: np.ndarray):
    """dlcore and torch sides computing ``op(*inputs)`` and backpropagating ``grad`` through it."""

    def side(tensor, op, sync):
        xs = [tensor(ctx, a, True) for a in inputs]
        gy = tensor(ctx, grad)

        def run():
            for x in xs:
                x.grad = None
            out = op(*xs)
            out.backward(gy)
            return out

        return Side(run, sync)

    theirs = None if theirs_op is None else side(_theirs_tensor, theirs_op, ctx.theirs_sync())
    return side(_ours_tensor, ours_op, ctx.ours_sync()), theirs


# --------------------------------------------------------------------------- workloads
def w1(ctx: Context) -> Case:
    batch = 16 if ctx.quick else 128
    rng = ctx.rng()
    x = rng.standard_normal((batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    ours, theirs = _train_step_sides(ctx, dlcore_mlp(), torch_mlp(ctx.torch) if ctx.torch else None, x, y)
    return Case(ours, theirs, f"MLP 784-256-128-10 train step, batch {batch}", {"batch": batch},
                check=_loss_check, source="dlcore.nn.MLP")


def w2(ctx: Context) -> Case:
    batch = 4 if ctx.quick else 64
    rng = ctx.rng()
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    model, source = dlcore_cnn()
    ours, theirs = _train_step_sides(ctx, model, torch_cnn(ctx.torch) if ctx.torch else None, x, y)
    return Case(ours, theirs, f"MNIST CNN train step, batch {batch}", {"batch": batch},
                check=_loss_check, source=source)


def w3(ctx: Context) -> Case:
    from dlcore.functional import conv2d

    N, C, H, W, F, K = (2, 4, 8, 8, 4, 3) if ctx.quick else (64, 32, 28, 28, 64, 3)
    rng = ctx.rng()
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = (rng.standard_normal((F, C, K, K), dtype=np.float32) / np.float32(np.sqrt(C * K * K)))
    gy = rng.standard_normal((N, F, H, W), dtype=np.float32)
    tconv = ctx.torch.nn.functional.conv2d if ctx.torch is not None else None
    ours, theirs = _fwd_bwd_sides(ctx, lambda x, w: conv2d(x, w, None, padding=1),
                                  tconv and (lambda x, w: tconv(x, w, None, padding=1)), [x, w], gy)
    fwd = 2 * N * F * H * W * C * K * K
    return Case(ours, theirs, f"conv2d fwd+bwd, x {N}x{C}x{H}x{W}, w {F}x{C}x{K}x{K}, pad 1",
                {"N": N, "C": C, "H": H, "W": W, "F": F, "K": K},
                work={"flops": 3 * fwd, "flops_forward": fwd}, check=compare_outputs)


def w4(ctx: Context) -> Case:
    from dlcore.functional import max_pool2d

    N, C, H, W = (2, 4, 8, 8) if ctx.quick else (64, 64, 28, 28)
    rng = ctx.rng()
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    gy = rng.standard_normal((N, C, H // 2, W // 2), dtype=np.float32)
    tpool = ctx.torch.nn.functional.max_pool2d if ctx.torch is not None else None
    ours, theirs = _fwd_bwd_sides(ctx, lambda x: max_pool2d(x, 2), tpool and (lambda x: tpool(x, 2)), [x], gy)
    n_in, n_out = N * C * H * W, N * C * (H // 2) * (W // 2)
    return Case(ours, theirs, f"max_pool2d 2x2 fwd+bwd, x {N}x{C}x{H}x{W}",
                {"N": N, "C": C, "H": H, "W": W}, work={"bytes": 4 * (2 * n_in + 2 * n_out)},
                check=compare_outputs)


def w5(ctx: Context) -> Case:
    import dlcore
    import dlcore.functional as F

    n = (1 << 16) if (ctx.quick and ctx.dev.type == "cpu") else (16 << 20)
    x = ctx.rng().standard_normal(n, dtype=np.float32)
    xs = _ours_tensor(ctx, x)

    def ours():
        with dlcore.no_grad():
            return F.relu(xs), F.sigmoid(xs), F.tanh(xs)

    theirs = None
    if ctx.torch is not None:
        torch = ctx.torch
        xt = _theirs_tensor(ctx, x)

        def theirs_fn():
            with torch.no_grad():
                return torch.relu(xt), torch.sigmoid(xt), torch.tanh(xt)

        theirs = Side(theirs_fn, ctx.theirs_sync())
    return Case(Side(ours, ctx.ours_sync()), theirs, f"relu + sigmoid + tanh forward, {n} floats",
                {"n": n}, work={"bytes": 3 * 2 * 4 * n}, check=compare_outputs)


BUILDERS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5}


# --------------------------------------------------------------------------- copy bandwidth
def copy_bandwidth(dev: Any, nbytes: int = 256 << 20, reps: int = 10) -> dict:
    """Measured copy bandwidth on ``dev``, counting read + write bytes (2 * nbytes per copy).

    GPU: a device-to-device ``cudaMemcpy`` of one CuPy buffer into another. CPU: ``np.copyto``
    (one thread).
    """
    import time

    n = nbytes // 4
    if dev.type == "cpu":
        a = np.random.default_rng(0).random(n, dtype=np.float32)
        b = np.empty_like(a)

        def copy():
            np.copyto(b, a)

        sync, method = (lambda: None), "np.copyto, one thread"
    else:
        import cupy

        with cupy.cuda.Device(dev.index or 0):
            a = cupy.random.random(n, dtype=cupy.float32)
            b = cupy.empty_like(a)

        def copy():
            b.data.copy_from_device(a.data, a.nbytes)

        sync, method = cupy.cuda.Device(dev.index or 0).synchronize, "cupy device-to-device memcpy"
    copy()
    sync()
    times = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        copy()
        sync()
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    return {"bytes_per_copy": 2 * a.nbytes, "median_s": med, "gb_per_s": 2 * a.nbytes / med / 1e9,
            "method": method + " (read + write bytes)", "times_s": times}

"""Every entry point of kernels/*.cu, executed on the CPU emulator against float64 NumPy.

Each launch runs under all four schedules (round robin, lowest first, highest first, seeded
random) and must give bit-identical results under every one of them; outputs start as NaN (int
outputs as -7), so an element a kernel forgot to write fails; grids are small, so every
grid-stride and row loop really strides; float32 and float64; warp and block modes of the row
kernels; padding / stride / dilation combinations for conv and pool. Entry points are discovered
from the sources, and ``test_every_entry_point_is_launched`` fails when a kernel exists that no
case here launches.

The sources are the exact text the GPU path compiles (``loader.kernel_source`` when the loader
has it, else the file). The emulator proves logic, bounds and barriers, never speed: no timing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dlcore.cuda import loader
from dlcore.emulator import emulator_status
from dlcore.emulator.kernel import POLICIES, Module

pytestmark = pytest.mark.skipif(not emulator_status()[0], reason=emulator_status()[1])

KERNEL_DIR = Path(os.environ.get("DLCORE_EMU_KERNEL_DIR") or loader.kernel_dir())
SCHEDULES = tuple(POLICIES)
DTYPES = {"f32": np.float32, "f64": np.float64}
RTOL = {"f32": 2e-5, "f64": 1e-12}
ACTS = ("relu", "leaky_relu", "sigmoid", "tanh")
SLOPE = 0.1
i32, i64 = np.int32, np.int64


def source_text(path: Path) -> str:
    """What NVRTC compiles for ``path`` (the prelude, then the file), from ``path``'s folder."""
    return loader.kernel_source(path.stem, directory=path.parent)  # a mutated copy's own prelude too


_modules: dict[str, Module] = {}


def module(filename: str) -> Module:
    if filename not in _modules:
        path = KERNEL_DIR / filename
        _modules[filename] = Module(code=source_text(path), name=path.name)
    return _modules[filename]


def launch(filename: str, kernel: str, grid, block, args) -> None:
    module(filename).get_function(kernel)(grid, block, args, schedules=SCHEDULES)


def rand(shape, seed, scale=3.0):
    """Values with |v| in [0.25, 2] * scale, random signs: never zero."""
    rng = np.random.default_rng(seed)
    return scale * rng.uniform(0.25, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def poisoned(shape, dtype):
    return np.full(shape, -7 if np.dtype(dtype).kind == "i" else np.nan, dtype)


def close(got, ref, sfx, what):
    got = np.asarray(got, np.float64)
    assert not (np.isnan(got) & ~np.isnan(ref)).any(), f"{what}: NaN where the reference has none (unwritten?)"
    assert np.array_equal(np.isnan(got), np.isnan(ref)), f"{what}: NaN pattern differs"
    finite = ref[np.isfinite(ref)]
    scale = float(np.max(np.abs(finite), initial=1.0))
    np.testing.assert_allclose(got, ref, rtol=RTOL[sfx], atol=RTOL[sfx] * scale, err_msg=what)


# --------------------------------------------------------------------------- activation.cu
def act_fwd(name, x):
    if name == "relu":
        return np.where(x <= 0, 0.0, x)
    if name == "leaky_relu":
        return np.where(x > 0, x, SLOPE * x)
    if name == "sigmoid":
        return 0.5 * (1 + np.tanh(x / 2))  # exact, and no overflow at +-1000
    if name == "tanh":
        return np.tanh(x)
    return x  # identity


def act_bwd(name, saved, g):
    if name == "relu":
        return np.where(saved > 0, g, 0.0)
    if name == "leaky_relu":
        return np.where(saved > 0, g, SLOPE * g)
    return g * saved * (1 - saved) if name == "sigmoid" else g * (1 - saved * saved)


def act_input(n, dt, seed=1):
    x = rand(n, seed).astype(dt)
    x[:4] = [1000.0, -1000.0, 0.5, -0.5]  # sigmoid's extremes, both signs near zero
    return x


# (n, grid, block): one partial block; several blocks striding over n; a block size that is
# not a multiple of 32 (elementwise kernels allow any).
ELEMENTWISE_GEOMETRY = [(37, (1,), (64,)), (1000, (2,), (64,)), (999, (3,), (96,)), (130, (1,), (50,))]


@pytest.mark.parametrize("n,grid,block", ELEMENTWISE_GEOMETRY)
@pytest.mark.parametrize("sfx", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_activation_forward_and_backward(act, sfx, n, grid, block):
    dt = DTYPES[sfx]
    x = act_input(n, dt)
    y = poisoned(n, dt)
    launch("activation.cu", f"{act}_forward_{sfx}", grid, block, (x, y, i64(n), dt(SLOPE)))
    close(y, act_fwd(act, x.astype(np.float64)), sfx, f"{act}_forward_{sfx}")
    saved = x if act in ("relu", "leaky_relu") else y
    g = rand(n, 2).astype(dt)
    dx = poisoned(n, dt)
    launch("activation.cu", f"{act}_backward_{sfx}", grid, block, (saved, g, dx, i64(n), dt(SLOPE)))
    close(dx, act_bwd(act, saved.astype(np.float64), g.astype(np.float64)), sfx, f"{act}_backward_{sfx}")


@pytest.mark.parametrize("nvec,grid,block", [(9, (1,), (32,)), (300, (2,), (64,))])
@pytest.mark.parametrize("sfx", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_activation_forward_vectorised(act, sfx, nvec, grid, block):
    dt = DTYPES[sfx]
    width = 16 // np.dtype(dt).itemsize
    x = act_input(nvec * width, dt)
    y = poisoned(nvec * width, dt)
    launch("activation.cu", f"{act}_forward_vec_{sfx}", grid, block, (x, y, i64(nvec), dt(SLOPE)))
    close(y, act_fwd(act, x.astype(np.float64)), sfx, f"{act}_forward_vec_{sfx}")


# --------------------------------------------------------------------------- softmax.cu
# (rows, cols, warp_per_row, grid, block): warp mode with fewer warps than rows (row stride),
# block mode with cols below, near and above the block size; a single-warp block.
ROW_GEOMETRY = [(5, 7, 1, (1,), (64,)), (33, 100, 1, (2,), (128,)), (7, 33, 0, (2,), (64,)),
                (3, 1500, 0, (2,), (256,)), (4, 40, 0, (3,), (32,)), (2, 3000, 0, (1,), (1024,))]


def log_softmax_ref(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("rows,cols,wpr,grid,block", ROW_GEOMETRY)
@pytest.mark.parametrize("sfx", DTYPES)
def test_softmax_family(sfx, rows, cols, wpr, grid, block):
    dt = DTYPES[sfx]
    x, g = rand((rows, cols), 5).astype(dt), rand((rows, cols), 6, 1.0).astype(dt)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    shape_args = (i64(rows), i32(cols), i32(wpr))
    y, yl = poisoned(x.shape, dt), poisoned(x.shape, dt)
    launch("softmax.cu", f"softmax_forward_{sfx}", grid, block, (x, y, *shape_args))
    close(y, np.exp(log_softmax_ref(x64)), sfx, "softmax_forward")
    launch("softmax.cu", f"log_softmax_forward_{sfx}", grid, block, (x, yl, *shape_args))
    close(yl, log_softmax_ref(x64), sfx, "log_softmax_forward")
    dx, dxl = poisoned(x.shape, dt), poisoned(x.shape, dt)
    launch("softmax.cu", f"softmax_backward_{sfx}", grid, block, (y, g, dx, *shape_args))
    y64 = y.astype(np.float64)
    close(dx, y64 * (g64 - (g64 * y64).sum(axis=1, keepdims=True)), sfx, "softmax_backward")
    launch("softmax.cu", f"log_softmax_backward_{sfx}", grid, block, (yl, g, dxl, *shape_args))
    yl64 = yl.astype(np.float64)
    close(dxl, g64 - np.exp(yl64) * g64.sum(axis=1, keepdims=True), sfx, "log_softmax_backward")


@pytest.mark.parametrize("rows,cols,wpr,grid,block", ROW_GEOMETRY)
@pytest.mark.parametrize("sfx", DTYPES)
def test_cross_entropy(sfx, rows, cols, wpr, grid, block):
    dt = DTYPES[sfx]
    x = rand((rows, cols), 7).astype(dt)
    target = np.random.default_rng(8).integers(0, cols, rows).astype(np.int64)
    target[-1] = cols if rows > 1 else target[-1]  # out of range: NaN loss, never an out-of-bounds read
    loss, logp = poisoned(rows, dt), poisoned(x.shape, dt)
    launch("softmax.cu", f"cross_entropy_forward_{sfx}", grid, block, (x, target, loss, logp, i64(rows), i32(cols), i32(wpr)))
    ref_logp = log_softmax_ref(x.astype(np.float64))
    close(logp, ref_logp, sfx, "cross_entropy_forward logp")
    valid = target < cols
    ref_loss = np.full(rows, np.nan)
    ref_loss[valid] = -ref_logp[np.arange(rows)[valid], target[valid]]
    close(loss, ref_loss, sfx, "cross_entropy_forward loss")
    g = rand(rows, 9, 1.0).astype(dt)
    target = np.clip(target, 0, cols - 1)
    dx = poisoned(x.shape, dt)
    n = rows * cols
    launch("softmax.cu", f"cross_entropy_backward_{sfx}", (2,), (64,), (logp, target, g, dx, i64(n), i32(cols)))
    onehot = np.zeros((rows, cols))
    onehot[np.arange(rows), target] = 1
    close(dx, (np.exp(logp.astype(np.float64)) - onehot) * g.astype(np.float64)[:, None], sfx, "cross_entropy_backward")


# --------------------------------------------------------------------------- conv2d.cu
# (N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw)
CONV_GEOMETRY = [(2, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1), (1, 3, 7, 6, 3, 2, 2, 1, 0, 1, 1, 1),
                 (2, 1, 9, 8, 3, 3, 2, 2, 2, 1, 2, 2), (1, 2, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1),
                 (1, 1, 6, 7, 2, 3, 3, 2, 1, 2, 2, 1)]


def im2col_index(N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw):
    """Flat indices into the zero-padded (N, C, H + 2ph, W + 2pw) input, shaped (CKK, N, L)."""
    OH = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    n, c, ki, kj, oh, ow = np.meshgrid(np.arange(N), np.arange(C), np.arange(kh), np.arange(kw), np.arange(OH),
                                       np.arange(OW), indexing="ij")
    flat = ((n * C + c) * (H + 2 * ph) + oh * sh + ki * dh) * (W + 2 * pw) + ow * sw + kj * dw
    return flat.transpose(1, 2, 3, 0, 4, 5).reshape(C * kh * kw, N, OH * OW), OH, OW


@pytest.mark.parametrize("geom", CONV_GEOMETRY)
@pytest.mark.parametrize("sfx", DTYPES)
def test_im2col_and_col2im(sfx, geom):
    dt = DTYPES[sfx]
    N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw = geom
    idx, OH, OW = im2col_index(*geom)
    L = OH * OW
    x = rand((N, C, H, W), 10).astype(dt)
    args = (i32(C), i32(H), i32(W), i32(kh), i32(kw), i32(sh), i32(sw), i32(ph), i32(pw), i32(dh), i32(dw),
            i32(OH), i32(OW), i64(L), i64(N * L))
    col = poisoned(idx.shape, dt)
    launch("conv2d.cu", f"im2col_{sfx}", (3,), (64,), (x, col, i64(col.size), *args))
    xpad = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    close(col, xpad.ravel()[idx], sfx, "im2col")
    dcol = rand(idx.shape, 11).astype(dt)
    dx = poisoned(x.shape, dt)
    launch("conv2d.cu", f"col2im_{sfx}", (3,), (64,), (dcol, dx, i64(dx.size), *args))
    ref = np.zeros(xpad.size)
    np.add.at(ref, idx.ravel(), dcol.astype(np.float64).ravel())
    ref = ref.reshape(xpad.shape)[:, :, ph: ph + H, pw: pw + W]
    close(dx, ref, sfx, "col2im")


# --------------------------------------------------------------------------- pool2d.cu
# (N, C, H, W, kh, kw, sh, sw, ph, pw): overlapping windows, padding, non-square, stride > kernel
POOL_GEOMETRY = [(2, 3, 9, 9, 3, 3, 2, 2, 1, 1), (1, 2, 6, 7, 2, 3, 2, 1, 0, 1), (1, 1, 5, 5, 3, 3, 1, 1, 1, 1),
                 (2, 1, 7, 8, 2, 2, 3, 3, 0, 0)]


def pool_windows(x, kh, kw, sh, sw, ph, pw, fill):
    """(N, C, OH, OW, kh * kw) windows of the padded input (row-major taps) and each tap's
    (row, col) in the padded plane, shaped (OH, OW, kh * kw)."""
    N, C, H, W = x.shape
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh, ow, ki, kj = np.meshgrid(np.arange(OH), np.arange(OW), np.arange(kh), np.arange(kw), indexing="ij")
    rows, cols = (oh * sh + ki).reshape(OH, OW, -1), (ow * sw + kj).reshape(OH, OW, -1)
    return xpad[:, :, rows, cols], rows, cols


def max_pool_ref(x, kh, kw, sh, sw, ph, pw):
    """(y, argmax as ih * W + iw): the first NaN wins, else the first maximum (padding never wins)."""
    W = x.shape[3]
    win, rows, cols = pool_windows(x, kh, kw, sh, sw, ph, pw, -np.inf)
    nan = np.isnan(win)
    first = np.where(nan.any(-1), nan.argmax(-1), np.nanargmax(np.where(nan, -np.inf, win), -1))
    y = np.take_along_axis(win, first[..., None], -1)[..., 0]
    flat = np.broadcast_to((rows - ph) * W + (cols - pw), win.shape)
    return y, np.take_along_axis(flat, first[..., None], -1)[..., 0]


POOL_CASES = pytest.mark.parametrize("sfx,geom", [(sfx, g) for g in POOL_GEOMETRY for sfx in DTYPES])


@POOL_CASES
def test_max_pool(sfx, geom):
    N, C, H, W, kh, kw, sh, sw, ph, pw = geom
    dt = DTYPES[sfx]
    x = rand((N, C, H, W), 12).astype(dt)
    x[0, 0, 1, 1] = np.nan  # a NaN wins its windows, like np.argmax
    x[-1, -1, 2, :3] = x[-1, -1, 2, 0]  # ties keep the first tap
    ref_y, ref_arg = max_pool_ref(x.astype(np.float64), kh, kw, sh, sw, ph, pw)
    OH, OW = ref_y.shape[2:]
    geo = tuple(i32(v) for v in (H, W, OH, OW, kh, kw, sh, sw, ph, pw))
    y, arg = poisoned(ref_y.shape, dt), poisoned(ref_y.shape, np.int32)
    launch("pool2d.cu", f"max_pool2d_forward_{sfx}", (2,), (64,), (x, y, arg, i64(y.size), *geo))
    close(y, ref_y, sfx, "max_pool2d_forward")
    np.testing.assert_array_equal(arg, ref_arg, err_msg="max_pool2d_forward argmax")
    gy = rand(y.shape, 13).astype(dt)
    dx = poisoned(x.shape, dt)
    launch("pool2d.cu", f"max_pool2d_backward_{sfx}", (2,), (64,), (gy, arg, dx, i64(dx.size), *geo))
    ref = np.zeros((N * C, H * W))
    planes = np.repeat(np.arange(N * C), OH * OW)
    np.add.at(ref, (planes, ref_arg.ravel()), gy.astype(np.float64).ravel())
    close(dx, ref.reshape(x.shape), sfx, "max_pool2d_backward")


@POOL_CASES
def test_avg_pool(sfx, geom):
    dt = DTYPES[sfx]
    N, C, H, W, kh, kw, sh, sw, ph, pw = geom
    x = rand((N, C, H, W), 14).astype(dt)
    win, rows, cols = pool_windows(x.astype(np.float64), kh, kw, sh, sw, ph, pw, 0.0)
    OH, OW = win.shape[2:4]
    geo = (i32(H), i32(W), i32(OH), i32(OW), i32(kh), i32(kw), i32(sh), i32(sw), i32(ph), i32(pw))
    y = poisoned((N, C, OH, OW), dt)
    launch("pool2d.cu", f"avg_pool2d_forward_{sfx}", (2,), (64,), (x, y, i64(y.size), *geo))
    close(y, win.sum(-1) / (kh * kw), sfx, "avg_pool2d_forward")
    gy = rand(y.shape, 15).astype(dt)
    dx = poisoned(x.shape, dt)
    launch("pool2d.cu", f"avg_pool2d_backward_{sfx}", (2,), (64,), (gy, dx, i64(dx.size), *geo))
    ref = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    share = np.broadcast_to(gy.astype(np.float64)[..., None] / (kh * kw), win.shape)
    np.add.at(ref, (slice(None), slice(None), rows, cols), share)
    close(dx, ref[:, :, ph: ph + H, pw: pw + W], sfx, "avg_pool2d_backward")


# --------------------------------------------------------------------------- coverage
def test_every_entry_point_is_launched(request):
    """A kernel in kernels/*.cu that no test above launches fails here (it runs after them)."""
    from dlcore.emulator.kernel import launch_counts

    discovered = {name for path in sorted(KERNEL_DIR.glob("*.cu")) for name in module(path.name).entry_points}
    assert len(discovered) >= 2 * len(list(KERNEL_DIR.glob("*.cu"))), f"too few entry points found in {KERNEL_DIR}"
    covered = {f"{act}_{kind}_{sfx}" for act in ACTS for kind in ("forward", "backward", "forward_vec") for sfx in DTYPES}
    covered |= {f"bias_{act}_{sfx}" for act in ("identity", *ACTS) for sfx in DTYPES}
    covered |= {f"{k}_{sfx}" for k in ("softmax_forward", "log_softmax_forward", "softmax_backward",
                                      "log_softmax_backward", "cross_entropy_forward", "cross_entropy_backward",
                                      "im2col", "col2im", "max_pool2d_forward", "max_pool2d_backward",
                                      "avg_pool2d_forward", "avg_pool2d_backward") for sfx in DTYPES}
    missing = sorted(discovered - covered)
    assert not missing, f"entry points that no emulator test launches: {missing}: add a case to {__file__}"
    selected = {getattr(item, "originalname", "") for item in request.session.items
                if getattr(getattr(item, "module", None), "__name__", "") == __name__}
    everything = {name for name in globals() if name.startswith("test_")}
    if selected >= everything:  # the whole file ran before this test: each kernel was really launched
        not_run = sorted(k for k in discovered if launch_counts[k] == 0)
        assert not not_run, f"entry points never launched by this file: {not_run}"

"""Launchers for ``kernels/conv2d.cu``: 2-D convolution forward and backward on the GPU.

    y = conv2d_forward(x, w, b, stride, padding, dilation)
    dx, dw, db = conv2d_backward(x, w, grad_out, stride, padding, dilation, needs=(True, True, True))

x is (N, C, H, W), w is (K, C, kh, kw), b is (K,) or None; stride, padding (symmetric) and
dilation are pairs of ints. No groups.

Method (im2col + GEMM), per chunk of nb images so the column buffer stays under
:data:`COL_BUDGET_BYTES`:

* im2col writes the (CKK, nb * L) column matrix, CKK = C * kh * kw, L = OH * OW;
* forward:     y  = w(K, CKK) @ cols                         -> (K, nb, L) -> (nb, K, OH, OW)
* grad-weight: dw += grad_out(K, nb * L) @ cols.T            (one cuBLAS GEMM per chunk)
* grad-input:  dcols = w.T @ grad_out(K, nb * L), then col2im gathers dcols into dx: each
  input pixel sums its own taps, no atomics, deterministic;
* grad-bias:   grad_out.sum((0, 2, 3)).

CuPy is imported only when a launcher runs.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..backend import cupy_module
from ..errors import ShapeError, shape_str
from ..functional.window import conv_output_size
from . import loader

#: The entry points of kernels/conv2d.cu this module launches (checked by the compile test).
KERNELS = loader.KernelFile("conv2d", ("im2col", "col2im"))

#: Upper bound on one column buffer (im2col output or its gradient), in bytes.
COL_BUDGET_BYTES = 256 * 2**20


def _geometry(op: str, x: Any, w: Any, stride: Any, padding: Any, dilation: Any) -> dict:
    """Every size the kernels need. The conv arguments were checked once, by dlcore.functional.conv;
    here only what the kernels themselves need: matching channels, a kernel that fits, 32-bit sizes."""
    N, C, H, W = x.shape
    K, Cw, kh, kw = w.shape
    if Cw != C:
        raise ShapeError(f"{op} expected weight (K, {C}, kh, kw) for input {shape_str(x.shape)}, "
                         f"got weight {shape_str(w.shape)}")
    if kh < 1 or kw < 1:
        raise ShapeError(f"{op} expected a kernel of at least 1x1, got weight {shape_str(w.shape)}")
    (sh, sw), (ph, pw), (dh, dw) = (tuple(int(v) for v in a) for a in (stride, padding, dilation))
    OH, OW = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    if OH < 1 or OW < 1:
        raise ShapeError(f"{op}: input {shape_str(x.shape)} with padding {(ph, pw)} is smaller than the "
                         f"dilated kernel {(dh * (kh - 1) + 1, dw * (kw - 1) + 1)}")
    loader.check_int32(op, H_padded=H + 2 * ph, W_padded=W + 2 * pw, C=C, OH_times_stride=OH * sh,
                       OW_times_stride=OW * sw)
    return dict(N=N, C=C, H=H, W=W, K=K, kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, dh=dh, dw=dw,
                OH=OH, OW=OW, CKK=C * kh * kw, L=OH * OW)


def _chunks(g: dict, itemsize: int) -> Iterator[tuple[int, int]]:
    """Batch ranges [n0, n1) whose column buffer fits COL_BUDGET_BYTES (at least 1 image)."""
    per_image = max(1, g["CKK"] * g["L"] * itemsize)
    step = max(1, COL_BUDGET_BYTES // per_image)
    for n0 in range(0, g["N"], step):
        yield n0, min(n0 + step, g["N"])


def _kernel_sizes(g: dict) -> tuple:
    i32 = loader.i32
    return (i32(g["C"]), i32(g["H"]), i32(g["W"]), i32(g["kh"]), i32(g["kw"]), i32(g["sh"]), i32(g["sw"]),
            i32(g["ph"]), i32(g["pw"]), i32(g["dh"]), i32(g["dw"]), i32(g["OH"]), i32(g["OW"]))


def _im2col(xc: Any, g: dict) -> Any:
    """(CKK, nb * L) columns of the contiguous chunk xc (nb, C, H, W)."""
    nb = xc.shape[0]
    col = loader.empty((g["CKK"], nb * g["L"]), xc.dtype)
    total = col.size
    loader.launch(KERNELS.function("im2col", xc.dtype), loader.grid_1d(total), (loader.THREADS,),
                  (xc, col, loader.i64(total), *_kernel_sizes(g), loader.i64(g["L"]), loader.i64(nb * g["L"])))
    return col


def _col2im(dcol: Any, out: Any, g: dict) -> None:
    """Gather the (CKK, nb * L) column gradient into the contiguous chunk out (nb, C, H, W)."""
    nb = out.shape[0]
    total = out.size
    loader.launch(KERNELS.function("col2im", out.dtype), loader.grid_1d(total), (loader.THREADS,),
                  (dcol, out, loader.i64(total), *_kernel_sizes(g), loader.i64(g["L"]), loader.i64(nb * g["L"])))


def conv2d_forward(x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any) -> Any:
    """Cross-correlation of x (N, C, H, W) with w (K, C, kh, kw), plus b (K,) when given."""
    op = "cuda.conv.conv2d_forward"
    x = loader.check_array(op, "x", x, ndim=4)
    w = loader.check_array(op, "w", w, ndim=4)
    if b is not None:
        b = loader.check_array(op, "b", b, ndim=1)
    loader.check_same(op, "x", x, w=w, b=b)
    g = _geometry(op, x, w, stride, padding, dilation)
    K = g["K"]
    if b is not None and b.shape != (K,):
        raise ShapeError(f"{op} expected bias of shape ({K},), got {shape_str(b.shape)}")
    y = loader.empty((g["N"], K, g["OH"], g["OW"]), x.dtype)
    if y.size == 0:
        return y
    cp = cupy_module()
    with x.device:
        w2d = w.reshape(K, g["CKK"])
        for n0, n1 in _chunks(g, x.itemsize):
            nb = n1 - n0
            col = _im2col(x[n0:n1], g)
            y2d = cp.matmul(w2d, col)  # (K, nb * L)
            y[n0:n1] = y2d.reshape(K, nb, g["OH"], g["OW"]).transpose(1, 0, 2, 3)
            del col, y2d
        if b is not None:
            y += b.reshape(1, K, 1, 1)
    return y


def conv2d_backward(x: Any, w: Any, grad_out: Any, stride: Any, padding: Any, dilation: Any,
                    needs: tuple[bool, bool, bool] = (True, True, True)) -> tuple[Any, Any, Any]:
    """(dx, dw, db) for the forward above; an entry is None where ``needs`` says False."""
    op = "cuda.conv.conv2d_backward"
    need_dx, need_dw, need_db = (bool(v) for v in needs)
    x = loader.check_array(op, "x", x, ndim=4)
    w = loader.check_array(op, "w", w, ndim=4)
    grad_out = loader.check_array(op, "grad_out", grad_out, ndim=4)
    loader.check_same(op, "x", x, w=w, grad_out=grad_out)
    g = _geometry(op, x, w, stride, padding, dilation)
    N, K, CKK, L = g["N"], g["K"], g["CKK"], g["L"]
    if grad_out.shape != (N, K, g["OH"], g["OW"]):
        raise ShapeError(f"{op} expected grad_out of shape {shape_str((N, K, g['OH'], g['OW']))}, "
                         f"got {shape_str(grad_out.shape)}")
    dx = dw = db = None
    cp = cupy_module()
    with x.device:
        if need_dx:
            dx = loader.empty(x.shape, x.dtype)
        if need_dw:
            dw = cp.zeros((K, CKK), dtype=x.dtype)
        if need_db:
            db = grad_out.sum(axis=(0, 2, 3))
        if (need_dx or need_dw) and N > 0:
            if x.size == 0 or K == 0:  # nothing to multiply: zero gradients
                if need_dx:
                    dx[...] = 0
            else:
                w2d = w.reshape(K, CKK)
                for n0, n1 in _chunks(g, x.itemsize):
                    nb = n1 - n0
                    # (nb, K, L) -> (K, nb * L): the same column order as im2col's output
                    go = cp.ascontiguousarray(grad_out[n0:n1].reshape(nb, K, L).transpose(1, 0, 2)).reshape(K, nb * L)
                    if need_dw:
                        col = _im2col(x[n0:n1], g)
                        dw += cp.matmul(go, col.T)
                        del col
                    if need_dx:
                        dcol = cp.matmul(w2d.T, go)  # (CKK, nb * L)
                        _col2im(cp.ascontiguousarray(dcol), dx[n0:n1], g)
                        del dcol
        if need_dw:
            dw = dw.reshape(w.shape)
    return dx, dw, db

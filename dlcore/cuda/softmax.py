"""Launchers for ``kernels/softmax.cu``: row-wise softmax / log-softmax over the last axis of a
2-D array, their backward passes, and fused softmax cross-entropy.

    y  = softmax(x2d);              dx = softmax_backward(y, grad)
    yl = log_softmax(x2d);          dx = log_softmax_backward(yl, grad)
    loss_per_row, log_probs = cross_entropy_forward(logits2d, targets_int64)
    dlogits = cross_entropy_backward(log_probs, targets, grad_per_row)

Rows of up to 1024 columns get one warp each; longer rows get a block of 256 threads each.
CuPy is imported only when a launcher runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import cupy_module, is_gpu_array
from ..errors import DeviceError, DTypeError, ShapeError, shape_str
from . import loader

#: The entry points of kernels/softmax.cu this module launches (checked by the compile test).
KERNELS = loader.KernelFile("softmax", ("softmax_forward", "log_softmax_forward", "softmax_backward",
                                        "log_softmax_backward", "cross_entropy_forward", "cross_entropy_backward"))

#: Rows up to this many columns are reduced by one warp (32 lanes) each.
WARP_ROW_MAX_COLS = 1024
#: Threads per block: 8 warps (8 rows per block in warp mode, one row in block mode).
ROW_THREADS = 256


def _row_geometry(rows: int, cols: int) -> tuple[tuple[int], tuple[int], np.int32]:
    """(grid, block, warp_per_row flag) for a row kernel; the kernels loop over rows, so the
    grid is capped (at 32 blocks per SM) without losing rows."""
    cap = 32 * loader.sm_count()
    if cols <= WARP_ROW_MAX_COLS:
        rows_per_block = ROW_THREADS // 32
        blocks = (rows + rows_per_block - 1) // rows_per_block
        return (max(1, min(blocks, cap)),), (ROW_THREADS,), np.int32(1)
    return (max(1, min(rows, cap)),), (ROW_THREADS,), np.int32(0)


def _check_2d(op: str, arg: str, a: Any) -> Any:
    a = loader.check_array(op, arg, a, ndim=2)
    loader.check_int32(op, cols=a.shape[1])
    return a


def _check_like(op: str, ref_name: str, ref: Any, arg: str, a: Any) -> Any:
    a = _check_2d(op, arg, a)
    loader.check_same(op, ref_name, ref, **{arg: a})
    if a.shape != ref.shape:
        raise ShapeError(f"{op} expected {arg} of shape {shape_str(ref.shape)} like {ref_name}, got {shape_str(a.shape)}")
    return a


def _rowwise(kernel: Any, *arrays: Any) -> Any:
    """Launch the row kernel ``kernel`` over (rows, cols) inputs; returns the new output."""
    rows, cols = arrays[0].shape
    out = loader.empty((rows, cols), arrays[0].dtype)
    if out.size == 0:
        return out
    grid, block, wpr = _row_geometry(rows, cols)
    with arrays[0].device:
        loader.launch(kernel, grid, block, (*arrays, out, loader.i64(rows), loader.i32(cols), wpr))
    return out


def _row_op(kernel: str, op: str, x2d: Any, grad: Any = None) -> Any:
    """Check and launch one of the row kernels on a (rows, cols) input (and its gradient)."""
    x2d = _check_2d(op, "x", x2d)
    arrays = (x2d,) if grad is None else (x2d, _check_like(op, "x", x2d, "grad", grad))
    with x2d.device:
        return _rowwise(KERNELS.function(kernel, x2d.dtype), *arrays)


def softmax(x2d: Any) -> Any:
    """exp(x - max) / sum(exp(x - max)) along axis 1 of a (rows, cols) array."""
    return _row_op("softmax_forward", "cuda.softmax.softmax", x2d)


def log_softmax(x2d: Any) -> Any:
    """x - max - log(sum(exp(x - max))) along axis 1 of a (rows, cols) array."""
    return _row_op("log_softmax_forward", "cuda.softmax.log_softmax", x2d)


def softmax_backward(y: Any, grad: Any) -> Any:
    """dx = y * (grad - sum(grad * y, axis=1)), given y = softmax(x)."""
    return _row_op("softmax_backward", "cuda.softmax.softmax_backward", y, grad)


def log_softmax_backward(y_log: Any, grad: Any) -> Any:
    """dx = grad - exp(y_log) * sum(grad, axis=1), given y_log = log_softmax(x)."""
    return _row_op("log_softmax_backward", "cuda.softmax.log_softmax_backward", y_log, grad)


def _check_targets(op: str, logits: Any, targets: Any) -> Any:
    """(rows,) int64 CuPy targets. Out-of-range values are not checked here (that would cost a
    device-to-host sync): the forward kernel gives them a NaN loss and never reads out of
    bounds; dlcore.functional.loss checks the range before calling."""
    cp = cupy_module()
    if not is_gpu_array(targets):
        raise DeviceError(f"{op} expected targets as a CuPy integer array on a CUDA device, got {type(targets).__name__}")
    if targets.dtype.kind not in "iu":
        raise DTypeError(f"{op} expected integer class targets (int64), got dtype {targets.dtype}")
    if targets.shape != (logits.shape[0],):
        raise ShapeError(f"{op} expected targets of shape ({logits.shape[0]},) for logits "
                         f"{shape_str(logits.shape)}, got {shape_str(targets.shape)}")
    if targets.device.id != logits.device.id:
        raise DeviceError(f"{op} got logits on cuda:{logits.device.id} but targets on cuda:{targets.device.id}")
    with targets.device:
        return cp.ascontiguousarray(targets, dtype=cp.int64)


def cross_entropy_forward(logits2d: Any, targets_int64: Any) -> tuple[Any, Any]:
    """Per-row loss -log_softmax(logits)[r, target[r]] and the (rows, cols) log-probabilities."""
    op = "cuda.softmax.cross_entropy_forward"
    logits2d = _check_2d(op, "logits", logits2d)
    targets = _check_targets(op, logits2d, targets_int64)
    rows, cols = logits2d.shape
    loss = loader.empty((rows,), logits2d.dtype)
    logp = loader.empty((rows, cols), logits2d.dtype)
    if rows == 0:
        return loss, logp
    if cols == 0:
        raise ShapeError(f"{op} expected at least one class, got logits {shape_str(logits2d.shape)}")
    grid, block, wpr = _row_geometry(rows, cols)
    with logits2d.device:
        loader.launch(KERNELS.function("cross_entropy_forward", logits2d.dtype), grid, block,
                      (logits2d, targets, loss, logp, loader.i64(rows), loader.i32(cols), wpr))
    return loss, logp


def cross_entropy_backward(log_probs: Any, targets: Any, grad_per_row: Any) -> Any:
    """dlogits[r, c] = (exp(log_probs[r, c]) - (c == target[r])) * grad_per_row[r]."""
    op = "cuda.softmax.cross_entropy_backward"
    log_probs = _check_2d(op, "log_probs", log_probs)
    targets = _check_targets(op, log_probs, targets)
    grad_per_row = loader.check_array(op, "grad_per_row", grad_per_row)
    loader.check_same(op, "log_probs", log_probs, grad_per_row=grad_per_row)
    rows, cols = log_probs.shape
    if grad_per_row.shape != (rows,):
        raise ShapeError(f"{op} expected grad_per_row of shape ({rows},), got {shape_str(grad_per_row.shape)}")
    dx = loader.empty((rows, cols), log_probs.dtype)
    n = rows * cols
    if n == 0:
        return dx
    with log_probs.device:
        loader.launch(KERNELS.function("cross_entropy_backward", log_probs.dtype), loader.grid_1d(n), (loader.THREADS,),
                      (log_probs, targets, grad_per_row, dx, loader.i64(n), loader.i32(cols)))
    return dx

"""Communicators: collectives on raw arrays over MPI (mpi4py) or NCCL (``cupy.cuda.nccl``).

This is ChainerMN's design: one communicator object per process; MPI carries the control
traffic (barriers, the NCCL id) and the collectives of CPU arrays; the NCCL communicator
all-reduces GPU arrays on the device. ``MpiCommunicator`` also accepts GPU arrays by staging
them through host memory.

Every collective waits with a deadline (``timeout`` seconds): a rank that is stuck makes the
others raise :class:`DistributedError` instead of hanging. An uncaught exception on any rank
calls ``MPI_Abort``, so the launcher stops every rank at once (see :func:`install_abort_hook`).

    >>> ReduceOp.resolve("mean"), ReduceOp.resolve(ReduceOp.SUM)
    ('avg', 'sum')
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from ..backend import device_of, is_gpu_array, to_device, to_numpy
from ..errors import DeviceError, DlcoreError, DTypeError

__all__ = ["DistributedError", "ReduceOp", "MpiCommunicator", "NcclCommunicator", "import_mpi"]


class DistributedError(DlcoreError, RuntimeError):
    """A collective failed: not initialized, timed out, or the ranks disagree."""


class ReduceOp:
    """PyTorch's reduction names; plain strings ("sum", "mean", "max", "min") work too."""

    SUM, AVG, MAX, MIN, PRODUCT = "sum", "avg", "max", "min", "product"
    _ALIASES = {"sum": SUM, "avg": AVG, "mean": AVG, "max": MAX, "min": MIN, "product": PRODUCT, "prod": PRODUCT}

    @classmethod
    def resolve(cls, op: Any) -> str:
        """The canonical name of ``op`` (a ReduceOp member, a string, or torch's ReduceOp)."""
        key = str(getattr(op, "name", op)).lower().rsplit(".", 1)[-1]
        if key not in cls._ALIASES:
            raise ValueError(f"dlcore.distributed expected op sum, mean (avg), max, min or product, got {op!r}")
        return cls._ALIASES[key]


def import_mpi() -> Any:
    """``mpi4py.MPI``, or a DistributedError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise DistributedError("dlcore.distributed needs mpi4py and an MPI library: "
                               "pip install 'dlcore[dist]' (mpi4py + mpich)") from exc
    return MPI


class MpiCommunicator:
    """Collectives over an MPI communicator; GPU arrays are staged through host memory."""

    backend = "mpi"

    def __init__(self, timeout: float, device_id: int | None = None) -> None:
        MPI = self.MPI = import_mpi()
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank = node.Get_rank()  # rank among the processes on this machine
        node.Free()
        self.timeout = float(timeout)
        self._mpi_ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX,
                         ReduceOp.MIN: MPI.MIN, ReduceOp.PRODUCT: MPI.PROD}

    # -------------------------------------------------------------- waiting with a deadline
    def wait(self, request: Any, what: str) -> None:
        """Wait for a non-blocking MPI request, raising DistributedError after ``timeout`` s."""
        deadline = time.monotonic() + self.timeout
        tests, pause = 0, 1e-6
        while not request.Test():  # each Test also drives MPI's progress: spin a little before sleeping
            tests += 1
            if time.monotonic() > deadline:
                raise DistributedError(
                    f"dlcore.distributed: {what} on rank {self.rank} of {self.size} timed out after "
                    f"{self.timeout:g} s: another rank is stuck, died, or called a different collective")
            if tests > 200:
                time.sleep(pause)
                pause = min(2 * pause, 1e-3)

    # -------------------------------------------------------------- collectives on raw arrays
    def allreduce(self, array: Any, op: str) -> Any:
        """The reduction over ranks of ``array`` (a new array on its device)."""
        host = _host_copy(array, op, copy=False)  # only read
        out = np.empty_like(host)
        self.wait(self.comm.Iallreduce(host, out, self._mpi_ops[op]), f"all_reduce({op}) of {host.shape}")
        return _back(_finish_mean(out, op, self.size), array)

    def bcast(self, array: Any, src: int) -> Any:
        """Rank ``src``'s ``array`` on every rank."""
        host = _host_copy(array)
        self.wait(self.comm.Ibcast(host, root=src), f"broadcast(src={src}) of {host.shape}")
        return _back(host, array)

    def allgather(self, array: Any) -> Any:
        """Every rank's ``array`` stacked along a new first axis (size world_size)."""
        host = _host_copy(array)
        out = np.empty((self.size,) + host.shape, host.dtype)
        self.wait(self.comm.Iallgather(host, out), f"all_gather of {host.shape}")
        return _back(out, array)

    def reduce(self, array: Any, op: str, dst: int) -> Any:
        """The reduction on rank ``dst``; other ranks get their input back unchanged."""
        host = _host_copy(array, op)
        out = np.empty_like(host)
        self.wait(self.comm.Ireduce(host, out, self._mpi_ops[op], root=dst), f"reduce({op}, dst={dst}) of {host.shape}")
        return _back(_finish_mean(out, op, self.size), array) if self.rank == dst else array

    def barrier(self) -> None:
        self.wait(self.comm.Ibarrier(), "barrier")

    def close(self) -> None:
        self.comm.Free()


class NcclCommunicator(MpiCommunicator):
    """NCCL for GPU arrays (``cupy.cuda.nccl``), MPI for the rest; the NCCL id travels over MPI.

    The process uses GPU ``device_id``, by default its local rank modulo the GPU count (made
    the current CuPy device). CPU arrays are refused, as PyTorch's "nccl" backend refuses them.
    """

    backend = "nccl"

    def __init__(self, timeout: float, device_id: int | None = None) -> None:
        super().__init__(timeout)
        from ..backend import cupy_module

        self.cp = cupy_module()
        count = self.cp.cuda.runtime.getDeviceCount()
        self.device_id = self.local_rank % count if device_id is None else int(device_id)
        self.cp.cuda.Device(self.device_id).use()
        from cupy.cuda import nccl

        self.nccl = nccl
        uid = np.zeros(128, np.int64)  # NCCL_UNIQUE_ID_BYTES
        if self.rank == 0:
            raw = nccl.get_unique_id()
            uid[:len(raw)] = raw
        self.wait(self.comm.Ibcast(uid, root=0), "broadcast of the NCCL id")
        self.nccl_comm = nccl.NcclCommunicator(self.size, tuple(int(v) for v in uid), self.rank)
        self._nccl_ops = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM, ReduceOp.MAX: nccl.NCCL_MAX,
                          ReduceOp.MIN: nccl.NCCL_MIN, ReduceOp.PRODUCT: nccl.NCCL_PROD}

    def _gpu(self, array: Any, what: str) -> tuple[Any, int, int]:
        if not is_gpu_array(array):
            raise DeviceError(f"dlcore.distributed {what} with the 'nccl' backend expected a CUDA tensor, got one on "
                              f"{device_of(array)}: move it with .to('cuda'), or use init_process_group('mpi')")
        if array.device.id != self.device_id:
            raise DeviceError(f"dlcore.distributed {what} with 'nccl': this rank's NCCL communicator is on cuda:"
                              f"{self.device_id}, the tensor on cuda:{array.device.id}; move the model and data there")
        types = {np.dtype(np.float16): self.nccl.NCCL_FLOAT16, np.dtype(np.float32): self.nccl.NCCL_FLOAT32,
                 np.dtype(np.float64): self.nccl.NCCL_FLOAT64, np.dtype(np.int32): self.nccl.NCCL_INT32,
                 np.dtype(np.int64): self.nccl.NCCL_INT64, np.dtype(np.uint8): self.nccl.NCCL_UINT8}
        if array.dtype not in types:
            raise DTypeError(f"dlcore.distributed {what} with 'nccl' cannot send dtype {array.dtype}")
        return self.cp.ascontiguousarray(array), types[array.dtype], self.cp.cuda.get_current_stream().ptr

    def _wait_gpu(self, what: str) -> None:
        """Wait for the NCCL call just queued on the current stream, with the same deadline as MPI's."""
        event = self.cp.cuda.Event(block=False, disable_timing=True)
        event.record(self.cp.cuda.get_current_stream())
        deadline, pause = time.monotonic() + self.timeout, 1e-6
        while not event.done:
            if time.monotonic() > deadline:
                self.nccl_comm.abort()
                raise DistributedError(f"dlcore.distributed: NCCL {what} on rank {self.rank} of {self.size} timed out "
                                       f"after {self.timeout:g} s: another rank is stuck or died")
            time.sleep(pause)
            pause = min(2 * pause, 1e-3)

    def allreduce(self, array: Any, op: str) -> Any:
        src, dtype, stream = self._gpu(array, "all_reduce")
        _check_mean(src, op)
        out = self.cp.empty_like(src)
        self.nccl_comm.allReduce(src.data.ptr, out.data.ptr, src.size, dtype, self._nccl_ops[op], stream)
        self._wait_gpu(f"all_reduce({op})")
        return _finish_mean(out, op, self.size)

    def bcast(self, array: Any, src: int) -> Any:
        buf, dtype, stream = self._gpu(array, "broadcast")
        buf = buf.copy()
        self.nccl_comm.bcast(buf.data.ptr, buf.size, dtype, src, stream)
        self._wait_gpu(f"broadcast(src={src})")
        return buf

    def allgather(self, array: Any) -> Any:
        src, dtype, stream = self._gpu(array, "all_gather")
        out = self.cp.empty((self.size,) + src.shape, src.dtype)
        self.nccl_comm.allGather(src.data.ptr, out.data.ptr, src.size, dtype, stream)
        self._wait_gpu("all_gather")
        return out

    def reduce(self, array: Any, op: str, dst: int) -> Any:
        src, dtype, stream = self._gpu(array, "reduce")
        _check_mean(src, op)
        out = self.cp.empty_like(src)
        self.nccl_comm.reduce(src.data.ptr, out.data.ptr, src.size, dtype, self._nccl_ops[op], dst, stream)
        self._wait_gpu(f"reduce({op}, dst={dst})")
        return _finish_mean(out, op, self.size) if self.rank == dst else array

    def close(self) -> None:
        self.cp.cuda.get_current_stream().synchronize()
        self.nccl_comm.destroy()
        super().close()


def _check_mean(array: Any, op: str) -> None:
    if op == ReduceOp.AVG and array.dtype.kind != "f":
        raise DTypeError(f"dlcore.distributed: op 'mean' needs a floating-point tensor, got dtype {array.dtype}")


MPI_DTYPES = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                                              np.uint8, np.uint16, np.uint32, np.uint64))


def _host_copy(array: Any, op: str | None = None, copy: bool = True) -> np.ndarray:
    """A C-contiguous host array with ``array``'s values (a fresh copy unless ``copy=False``)."""
    if array.dtype not in MPI_DTYPES:
        raise DTypeError(f"dlcore.distributed over MPI cannot send dtype {array.dtype}: use float32/float64 or an "
                         f"integer dtype (convert with .to(dtype='float32'))")
    if op is not None:
        _check_mean(array, op)
    host = to_numpy(array)
    return np.array(host, order="C", copy=True) if copy else np.ascontiguousarray(host)


def _finish_mean(out: Any, op: str, size: int) -> Any:
    if op == ReduceOp.AVG:
        out /= size
    return out


def _back(host: np.ndarray, like: Any) -> Any:
    return to_device(host, device_of(like)) if is_gpu_array(like) else host


def install_abort_hook(comm: MpiCommunicator) -> Any:
    """Make an uncaught exception on this rank abort every rank (MPI_Abort) after printing it.

    Without it the other ranks would wait forever in their next collective. Returns the
    previous ``sys.excepthook`` so that it can be restored.
    """
    previous = sys.excepthook

    def abort_all(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.write(f"dlcore.distributed: rank {comm.rank} of {comm.size} stopped on an uncaught "
                         f"{kind.__name__}; aborting all {comm.size} ranks (MPI_Abort)\n")
        sys.stderr.flush()
        time.sleep(0.5)  # let the launcher forward the message before it kills every rank
        comm.MPI.COMM_WORLD.Abort(1)

    sys.excepthook = abort_all
    return previous

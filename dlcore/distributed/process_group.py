"""The default process group and PyTorch's collective functions on Tensors (in place).

Start every process under an MPI launcher (``mpiexec -n 2 python train.py``); rank and size
come from it. Outside a launcher a process is a world of one::

    >>> import dlcore, dlcore.distributed as dist
    >>> dist.is_initialized()
    False
    >>> dist.init_process_group("mpi")                # doctest: +SKIP
    >>> t = dlcore.tensor([float(dist.get_rank())])   # doctest: +SKIP
    >>> dist.all_reduce(t, op="sum")                  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
from typing import Any

from ..tensor import Tensor
from .communicator import DistributedError, MpiCommunicator, NcclCommunicator, ReduceOp, install_abort_hook

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available", "get_rank",
           "get_world_size", "get_local_rank", "get_backend", "barrier", "all_reduce", "broadcast", "all_gather", "reduce",
           "default_communicator", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # PyTorch's default for CPU backends
BACKENDS = {"mpi": MpiCommunicator, "nccl": NcclCommunicator}

_group: dict[str, Any] = {"comm": None, "hook": None}


def is_available() -> bool:
    """Whether mpi4py (and so an MPI library) can be imported."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def init_process_group(backend: str = "mpi", init_method: str | None = None,
                       timeout: datetime.timedelta | None = None, world_size: int = -1, rank: int = -1,
                       device_id: int | None = None) -> None:
    """Join the default process group: ``"mpi"`` (CPU, or GPU staged through host memory) or
    ``"nccl"`` (GPU arrays all-reduced on the device). Rank and size come from the MPI launcher;
    ``world_size``/``rank``, when given, must agree with it. Every collective waits at most
    ``timeout`` (default 30 minutes), then raises :class:`DistributedError`. With "nccl" the
    process uses GPU ``device_id`` (default: :func:`get_local_rank` modulo the GPU count).
    """
    if _group["comm"] is not None:
        raise DistributedError("init_process_group: the default process group is already initialized; "
                               "call destroy_process_group() first")
    name = str(backend).lower()
    if name not in BACKENDS:
        raise ValueError(f"init_process_group expected backend 'mpi' or 'nccl', got {backend!r} "
                         f"(gloo and TCP/env:// rendezvous are not provided: launch with mpiexec)")
    if init_method not in (None, "mpi://", "env://"):
        raise ValueError(f"init_process_group: rank and size come from the MPI launcher; init_method "
                         f"{init_method!r} is not supported (leave it None)")
    seconds = (timeout or DEFAULT_TIMEOUT).total_seconds()
    if seconds <= 0:
        raise ValueError(f"init_process_group expected a positive timeout, got {timeout!r}")
    comm = BACKENDS[name](seconds, device_id)
    for label, given, actual in (("world_size", world_size, comm.size), ("rank", rank, comm.rank)):
        if given not in (-1, None) and int(given) != actual:
            comm.close()
            raise DistributedError(f"init_process_group({label}={given}) disagrees with the MPI launcher, "
                                   f"which started this process as rank {comm.rank} of {comm.size}")
    _group["comm"] = comm
    _group["hook"] = install_abort_hook(comm) if comm.size > 1 else None


def destroy_process_group() -> None:
    """Leave the default process group (collectives raise again until the next init)."""
    comm = default_communicator()
    if _group["hook"] is not None:
        import sys

        sys.excepthook = _group["hook"]
    _group.update(comm=None, hook=None)
    comm.close()


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and no destroy since)."""
    return _group["comm"] is not None


def default_communicator() -> MpiCommunicator:
    """The communicator of the default group, or a DistributedError saying to initialize it."""
    comm = _group["comm"]
    if comm is None:
        raise DistributedError("dlcore.distributed: the default process group has not been initialized; "
                               "call dlcore.distributed.init_process_group('mpi') first")
    return comm


def _check_group(group: Any) -> MpiCommunicator:
    if group is not None:
        raise DistributedError("dlcore.distributed supports the default group only (group=None)")
    return default_communicator()


def get_rank(group: Any = None) -> int:
    """This process's rank, 0 .. world_size - 1."""
    return _check_group(group).rank


def get_world_size(group: Any = None) -> int:
    """The number of processes in the group."""
    return _check_group(group).size


def get_local_rank() -> int:
    """This process's rank among the processes on its machine (torchrun's ``LOCAL_RANK``); pick a GPU with it."""
    return default_communicator().local_rank


def get_backend(group: Any = None) -> str:
    """"mpi" or "nccl"."""
    return _check_group(group).backend


def barrier(group: Any = None, async_op: bool = False) -> None:
    """Wait until every rank has reached this call."""
    _check_sync(async_op, "barrier")
    _check_group(group).barrier()


def _check_sync(async_op: bool, what: str) -> None:
    if async_op:
        raise DistributedError(f"dlcore.distributed.{what}: async_op=True is not supported; collectives are synchronous")


def _raw(tensor: Any, what: str) -> Any:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"dlcore.distributed.{what} expected a dlcore Tensor, got {type(tensor).__name__}")
    return tensor.array


def _rank_arg(value: int, comm: MpiCommunicator, what: str) -> int:
    if not 0 <= int(value) < comm.size:
        raise ValueError(f"dlcore.distributed.{what} expected a rank in [0, {comm.size}), got {value}")
    return int(value)


def all_reduce(tensor: Tensor, op: Any = ReduceOp.SUM, group: Any = None, async_op: bool = False) -> None:
    """Replace ``tensor`` on every rank by its reduction over ranks (sum, mean, max, min, product)."""
    _check_sync(async_op, "all_reduce")
    array = _raw(tensor, "all_reduce")
    array[...] = _check_group(group).allreduce(array, ReduceOp.resolve(op))


def broadcast(tensor: Tensor, src: int = 0, group: Any = None, async_op: bool = False) -> None:
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank."""
    _check_sync(async_op, "broadcast")
    comm = _check_group(group)
    array = _raw(tensor, "broadcast")
    array[...] = comm.bcast(array, _rank_arg(src, comm, "broadcast(src)"))


def all_gather(tensor_list: list, tensor: Tensor, group: Any = None, async_op: bool = False) -> None:
    """Fill ``tensor_list[r]`` (world_size tensors shaped like ``tensor``) with rank r's ``tensor``."""
    _check_sync(async_op, "all_gather")
    comm = _check_group(group)
    array = _raw(tensor, "all_gather")
    if len(tensor_list) != comm.size or any(tuple(t.shape) != array.shape for t in tensor_list):
        raise ValueError(f"dlcore.distributed.all_gather expected a list of {comm.size} tensors of shape "
                         f"{tuple(array.shape)}, got {[tuple(t.shape) for t in tensor_list]}")
    gathered = comm.allgather(array)
    for r, out in enumerate(tensor_list):
        _raw(out, "all_gather")[...] = gathered[r]


def reduce(tensor: Tensor, dst: int = 0, op: Any = ReduceOp.SUM, group: Any = None, async_op: bool = False) -> None:
    """Reduce ``tensor`` over ranks into rank ``dst``'s ``tensor``; the others keep theirs."""
    _check_sync(async_op, "reduce")
    comm = _check_group(group)
    array = _raw(tensor, "reduce")
    array[...] = comm.reduce(array, ReduceOp.resolve(op), _rank_arg(dst, comm, "reduce(dst)"))

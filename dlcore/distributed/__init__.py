"""Data-parallel training over processes and machines, with PyTorch's names.

    import dlcore.distributed as dist
    dist.init_process_group("mpi")            # or "nccl" for GPU tensors; launch with mpiexec -n N
    model = dist.DistributedDataParallel(model)
    sampler = dist.DistributedSampler(dataset)

Layers: the communicator and the collectives (``communicator``, ``process_group``) sit just
above the tensor core and the SyncBatchNorm op (``sync_batchnorm``) with the functional ops,
so ``nn.SyncBatchNorm`` can use them; ``DistributedDataParallel``, ``DistributedSampler`` and
what ``fit`` asks (``training``) sit above ``nn``.

    >>> import dlcore.distributed as dist
    >>> dist.is_initialized()
    False
"""

from .communicator import DistributedError, ReduceOp
from .ddp import DistributedDataParallel
from .process_group import (
    all_gather,
    all_reduce,
    barrier,
    broadcast,
    destroy_process_group,
    get_backend,
    get_local_rank,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    reduce,
)
from .sampler import DistributedSampler

__all__ = [
    "DistributedError", "ReduceOp", "DistributedDataParallel", "DistributedSampler",
    "all_gather", "all_reduce", "barrier", "broadcast", "destroy_process_group", "get_backend", "get_local_rank", "get_rank",
    "get_world_size", "init_process_group", "is_available", "is_initialized", "reduce",
]

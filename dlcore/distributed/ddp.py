"""DistributedDataParallel: the same model on every rank, gradients averaged after each backward.

At wrap time rank 0's parameters and buffers are broadcast, so every rank starts equal. Each
``loss.backward()`` through the wrapped model ends with the gradients all-reduced (summed and
divided by the world size) in a few flat buckets of at most ``bucket_cap_mb`` each, so after
``backward()`` every rank holds the mean gradient and the optimizers stay in step::

    model = dist.DistributedDataParallel(model)
    loss_fn(model(x_local), y_local).backward()   # .grad is now the mean over ranks
    optimizer.step()

``no_sync()`` skips the all-reduce for gradient accumulation; the first backward after it
averages the accumulated gradients. As in PyTorch, ``broadcast_buffers=True`` copies rank 0's
buffers (BatchNorm running statistics) to every rank before each training forward; use
:class:`dlcore.nn.SyncBatchNorm` for batch statistics over all ranks.
"""

from __future__ import annotations

import contextlib
import time
import weakref
import zlib
from typing import Any, Iterator, Sequence

import numpy as np

from .. import autograd
from ..backend import get_array_module
from ..nn.module import LoadResult, Module
from .communicator import DistributedError
from .process_group import default_communicator

__all__ = ["DistributedDataParallel", "flat_buckets"]

PREFIX = "module."


def flat_buckets(arrays: Sequence[Any], cap_bytes: int) -> list[list[int]]:
    """Indices of ``arrays`` grouped into runs of one dtype and at most ``cap_bytes`` each.

    >>> import numpy as np
    >>> flat_buckets([np.zeros(3), np.zeros(3), np.zeros(2, np.int64), np.zeros(9)], cap_bytes=48)
    [[0, 1], [2], [3]]
    """
    buckets: list[list[int]] = []
    size = 0
    for i, a in enumerate(arrays):
        same = buckets and arrays[buckets[-1][0]].dtype == a.dtype
        if same and size + a.nbytes <= cap_bytes:
            buckets[-1].append(i)
            size += a.nbytes
        else:
            buckets.append([i])
            size = a.nbytes
    return buckets


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the default process group.

    ``device_ids``/``output_device`` may name the module's single device (or be None).
    Parameters a rank did not use get a zero contribution; a parameter no rank used keeps
    ``grad`` None (PyTorch's ``find_unused_parameters=True`` result, whatever the flag says).
    """

    def __init__(self, module: Module, device_ids: Sequence[Any] | None = None, output_device: Any = None,
                 broadcast_buffers: bool = True, process_group: Any = None, bucket_cap_mb: float = 25,
                 find_unused_parameters: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel expected a dlcore.nn.Module, got {type(module).__name__}")
        if process_group is not None:
            raise ValueError("DistributedDataParallel supports the default process group only (process_group=None)")
        if bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel expected bucket_cap_mb > 0, got {bucket_cap_mb}")
        self._check_devices(module, device_ids, output_device)
        self.comm = default_communicator()
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self._grad_pending = False
        self.reduce_seconds, self.reduce_count = 0.0, 0  # time in (and number of) gradient all-reduces
        self._params = [p for p in module.parameters() if p.requires_grad][::-1]  # about the order grads finish
        if not self._params:
            raise ValueError("DistributedDataParallel is not needed when a module has no parameter that requires grad")
        self._buckets = flat_buckets([p.array for p in self._params], int(self.bucket_cap_mb * 2**20))
        self._check_same_model(module)
        self._broadcast([p for p in module.parameters()] + [b for _, b in module.named_buffers()])
        hook = _weak_hook(self)
        autograd._backward_end_hooks.append(hook)
        weakref.finalize(self, _remove_hook, hook)

    @staticmethod
    def _check_devices(module: Module, device_ids: Any, output_device: Any) -> None:
        dev = module.device
        for label, given in (("device_ids", device_ids), ("output_device", output_device)):
            values = [] if given is None else (list(given) if isinstance(given, (list, tuple)) else [given])
            if label == "device_ids" and len(values) > 1:
                raise ValueError("DistributedDataParallel drives one device per process: pass device_ids=[i] or None")
            for v in values:
                index = v if isinstance(v, int) else getattr(v, "index", None)
                if dev.type != "cuda" or (index is not None and index != dev.index):
                    raise ValueError(f"DistributedDataParallel({label}={given!r}) does not match the module's "
                                     f"device {dev}: move the module with .to(device) first")

    def _check_same_model(self, module: Module) -> None:
        """Every rank must wrap the same architecture: compare a checksum of names, shapes and dtypes."""
        if self.comm.size == 1:
            return
        layout = [(name, tuple(t.shape), str(t.dtype)) for name, t in module.state_dict().items()]
        mine = np.asarray([zlib.crc32(repr(layout).encode()), len(layout)], np.int64)
        every = self.comm.allgather(mine)
        differ = [r for r in range(self.comm.size) if (every[r] != every[0]).any()]
        if differ:
            raise DistributedError(
                f"DistributedDataParallel expects the same model on every rank: the parameters and buffers "
                f"(names, shapes, dtypes) of rank(s) {differ} differ from rank 0's; this is rank {self.comm.rank} "
                f"with {len(layout)} of them")

    @property
    def num_buckets(self) -> int:
        """How many all-reduce messages one synchronised backward sends."""
        return len(self._buckets)

    # ---------------------------------------------------------------- forward and backward
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        buffers = [b for _, b in self.module.named_buffers()]
        if self.require_forward_param_sync and self.broadcast_buffers and buffers and self.comm.size > 1:
            self._broadcast(buffers)
        syncing = autograd.is_grad_enabled() and self.require_backward_grad_sync
        self._grad_pending = self._grad_pending or syncing
        self.require_forward_param_sync = syncing
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes of forwards run inside this block keep their gradients local."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _after_backward(self, leaves: list) -> None:
        if not self._grad_pending:
            return
        ids = {id(t) for t in leaves}
        if not any(id(p) in ids for p in self._params):
            return  # a backward through some other graph
        self._grad_pending = False
        if self.comm.size > 1:
            self._reduce_gradients()

    def _reduce_gradients(self) -> None:
        """All-reduce every bucket: mean gradients, plus one flag per parameter (did any rank use it)."""
        size, t0 = self.comm.size, time.perf_counter()
        for bucket in self._buckets:
            params = [self._params[i] for i in bucket]
            xp = get_array_module(params[0].array)
            dtype = params[0].dtype
            parts = [xp.zeros(p.array.size, dtype) if p.grad is None else p.grad.array.ravel() for p in params]
            parts.append(xp.asarray([p.grad is not None for p in params], dtype=dtype))
            total = self.comm.allreduce(xp.concatenate(parts), "sum")
            used, offset = total[-len(params):], 0
            for p, flag in zip(params, used.tolist()):
                chunk = total[offset:offset + p.array.size].reshape(p.shape)
                offset += p.array.size
                if flag:
                    chunk /= size
                    if p.grad is None:
                        p._accumulate_grad(chunk)
                    else:
                        p.grad.array = chunk
        self.reduce_seconds += time.perf_counter() - t0
        self.reduce_count += 1

    def _broadcast(self, tensors: list) -> None:
        """Copy rank 0's values of ``tensors`` to every rank, one message per bucket."""
        if self.comm.size == 1 or not tensors:
            return
        for bucket in flat_buckets([t.array for t in tensors], int(self.bucket_cap_mb * 2**20)):
            group = [tensors[i] for i in bucket]
            xp = get_array_module(group[0].array)
            flat = self.comm.bcast(xp.concatenate([t.array.ravel() for t in group]), 0)
            offset = 0
            for t in group:
                t.array[...] = flat[offset:offset + t.array.size].reshape(t.shape)
                offset += t.array.size

    # ---------------------------------------------------------------- state
    def load_state_dict(self, state: dict, strict: bool = True) -> LoadResult:
        """Load a state dict with ``module.``-prefixed keys (this wrapper's) or plain ones (the module's)."""
        if hasattr(state, "keys") and state and not any(str(k).startswith(PREFIX) for k in state):
            state = {PREFIX + k: v for k, v in state.items()}
        return super().load_state_dict(state, strict=strict)

    def extra_repr(self) -> str:
        return f"world_size={self.comm.size}, buckets={self.num_buckets}, bucket_cap_mb={self.bucket_cap_mb:g}"


def _weak_hook(ddp: DistributedDataParallel):
    method = weakref.WeakMethod(ddp._after_backward)

    def hook(leaves: list) -> None:
        bound = method()
        if bound is not None:
            bound(leaves)

    return hook


def _remove_hook(hook: Any) -> None:
    with contextlib.suppress(ValueError):
        autograd._backward_end_hooks.remove(hook)

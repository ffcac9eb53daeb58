"""The DataLoader's worker pool: ``num_workers`` processes that read and collate batches.

The main process decides every batch's indices (so the batches are exactly those of
``num_workers=0``) and hands batch ``k`` to worker ``k % num_workers``; a worker reads the
samples, collates them and sends the batch back; the main process yields batches in order.

- Start method: the platform's default (``fork`` on Linux, ``spawn`` on macOS/Windows), or
  ``multiprocessing_context``. With ``spawn``/``forkserver`` the dataset and functions are
  pickled, and the script needs the usual ``if __name__ == "__main__":`` guard.
- CuPy is never initialised in a worker: a worker hides the GPUs (``CUDA_VISIBLE_DEVICES=""``)
  before anything runs, batches are moved to the GPU by the main process, and a dataset whose
  arrays live on the GPU is refused for ``num_workers > 0``.
- Worker ``i`` is seeded with ``base_seed + i`` (``dlcore.manual_seed`` and ``random.seed``);
  ``get_worker_info()`` tells code inside a worker its id, the worker count, seed and dataset.
- An exception in a worker is re-raised in the main process (same type when it can be), with
  the worker's traceback; a worker that dies makes the loader raise instead of hanging.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
import random
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from ..backend import manual_seed

__all__ = ["WorkerInfo", "get_worker_info", "WorkerPool", "StalePassError"]

_POLL_S = 0.2


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The :class:`WorkerInfo` of this DataLoader worker process; ``None`` in the main process.

    >>> get_worker_info() is None
    True
    """
    return _worker_info


class StalePassError(RuntimeError):
    """An iterator over persistent workers was overtaken by a newer pass (the workers are fine)."""


class _RemoteError:
    """An exception raised in a worker, carried back to the main process."""

    def __init__(self, exc: BaseException, worker_id: int) -> None:
        self.type_name = type(exc).__name__
        self.text = f"Caught {self.type_name} in DataLoader worker process {worker_id}:\n" + "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.exc_type = type(exc)

    def reraise(self) -> None:
        try:
            err = self.exc_type(self.text)
        except Exception:  # an exception type that needs other arguments
            err = RuntimeError(self.text)
        raise err


def _worker_loop(fetch: Any, tasks: Any, results: Any, worker_id: int,
                 num_workers: int, seed: int, worker_init_fn: Callable[[int], None] | None) -> None:
    global _worker_info
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # never initialise CuPy/CUDA in a worker
    _worker_info = WorkerInfo(worker_id, num_workers, seed, fetch.dataset)
    manual_seed(seed)
    random.seed(seed)
    parent = os.getppid()
    init_error = None
    stream, stream_epoch = None, None
    if worker_init_fn is not None:
        try:
            worker_init_fn(worker_id)
        except Exception as exc:
            init_error = _RemoteError(exc, worker_id)
    while True:
        try:
            task = tasks.get(timeout=_POLL_S * 5)
        except queue.Empty:
            if os.getppid() != parent:  # the main process is gone
                return
            continue
        except (KeyboardInterrupt, EOFError, OSError):
            return
        if task is None:
            return
        epoch, k, indices = task
        if init_error is not None:
            results.put((epoch, k, "error", init_error))
            continue
        try:
            if indices is None:  # an IterableDataset: this worker's own stream, restarted each epoch
                if stream_epoch != epoch:
                    stream, stream_epoch = iter(fetch.dataset), epoch
                results.put((epoch, k, "ok", fetch.next_batch(stream)))
            else:
                results.put((epoch, k, "ok", fetch(indices)))
        except StopIteration:
            results.put((epoch, k, "end", None))
        except Exception as exc:
            results.put((epoch, k, "error", _RemoteError(exc, worker_id)))

@contextlib.contextmanager
def _gpus_hidden() -> Any:
    saved = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    try:
        yield
    finally:
        if saved is None:
            del os.environ["CUDA_VISIBLE_DEVICES"]
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved


class WorkerPool:
    """``num_workers`` processes serving ``fetch(indices)`` calls, results delivered in order
    (``fetch`` is picklable and has the ``dataset`` it reads)."""

    def __init__(self, fetch: Any, num_workers: int, base_seed: int,
                 worker_init_fn: Callable[[int], None] | None, context: Any, timeout: float) -> None:
        ctx = context if isinstance(context, multiprocessing.context.BaseContext) else multiprocessing.get_context(context)
        self.timeout = timeout
        self.results = ctx.Queue()
        self.tasks = [ctx.Queue() for _ in range(num_workers)]
        self.workers = []
        self.epoch = 0
        for i in range(num_workers):
            w = ctx.Process(target=_worker_loop, daemon=True,
                            args=(fetch, self.tasks[i], self.results, i, num_workers, base_seed + i,
                                  worker_init_fn))
            with _gpus_hidden():  # a spawned child sees no GPU from its first import on
                w.start()
            self.workers.append(w)

    def run(self, batches: Any, prefetch: int) -> Any:
        """Yield ``fetch(indices)`` for each item of ``batches`` in order, ``prefetch`` tasks in flight per
        worker, handed out round-robin. An item ``None`` asks a worker for the next batch of its own
        stream (an IterableDataset); a worker whose stream ends is not asked again."""
        self.epoch += 1
        epoch, n = self.epoch, len(self.workers)
        pending = iter(batches)
        active = [True] * n
        turn = itertools.cycle(range(n))
        owner: dict[int, int] = {}
        done: dict[int, Any] = {}
        sent = received = 0
        exhausted = False
        while True:
            while not exhausted and sent - received < prefetch * n and any(active):
                try:
                    indices = next(pending)
                except StopIteration:
                    exhausted = True
                    break
                worker = next(w for w in turn if active[w])
                owner[sent] = worker
                self.tasks[worker].put((epoch, sent, indices))
                sent += 1
            if received == sent:
                return
            if self.epoch != epoch:  # a newer pass took the (persistent) workers over
                raise StalePassError("DataLoader: a new pass over this loader's persistent workers started; "
                                     "this older iterator cannot continue")
            while received not in done:
                got_epoch, k, status, data = self._get()
                if got_epoch == epoch:
                    done[k] = (status, data)
            status, data = done.pop(received)
            received += 1
            if status == "end":
                active[owner[received - 1]] = False
            elif status == "error":
                data.reraise()
            else:
                yield data

    def _get(self) -> tuple:
        waited = 0.0
        while True:
            try:
                return self.results.get(timeout=_POLL_S)
            except queue.Empty:
                waited += _POLL_S
                dead = [w for w in self.workers if not w.is_alive()]
                if dead:
                    self.close()
                    raise RuntimeError(f"DataLoader worker (pid {dead[0].pid}) exited unexpectedly with exit code "
                                       f"{dead[0].exitcode}") from None
                if self.timeout and waited >= self.timeout:
                    self.close()
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} s waiting for a batch") from None

    def close(self) -> None:
        """Stop the workers (politely, then by force) and release the queues."""
        for q in self.tasks:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 2.0
        while any(w.is_alive() for w in self.workers) and time.monotonic() < deadline:
            try:  # drain what is in flight, so that no worker blocks on a full pipe while exiting
                self.results.get(timeout=0.05)
            except (queue.Empty, OSError, ValueError, EOFError):
                pass
        for w in self.workers:
            if w.is_alive():
                w.terminate()
            w.join(timeout=1.0)
        for q in [*self.tasks, self.results]:
            q.cancel_join_thread()
            q.close()
        self.workers = []

    def __del__(self) -> None:
        if getattr(self, "workers", None):
            self.close()

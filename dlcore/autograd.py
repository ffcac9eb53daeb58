"""Reverse-mode automatic differentiation: the chain rule over a graph of Functions.

A ``Function`` is one differentiable op with ``forward`` and ``backward`` on raw arrays
(NumPy or CuPy). ``Function.apply`` wraps it for Tensors and records the graph::

    >>> class Square(Function):
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x * x
    ...     def backward(self, grad):
    ...         return (2 * self.x * grad,)
    >>> import dlcore
    >>> t = dlcore.tensor([3.0], requires_grad=True)
    >>> Square.apply(t).sum().backward(); t.grad.item()
    6.0
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, Iterator

from .backend import device_of, is_gpu_array
from .errors import DeviceError

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

_state = threading.local()
_backward_end_hooks: list = []  # fn(leaves) after every backward(); DistributedDataParallel reduces gradients there


def is_grad_enabled() -> bool:
    """Whether ops record the graph (False inside ``no_grad()``)."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager that turns graph recording off, e.g. for evaluation.

    >>> with no_grad():
    ...     pass
    """
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Turn graph recording back on inside a ``no_grad`` block."""
    previous = is_grad_enabled()
    _state.enabled = True
    try:
        yield
    finally:
        _state.enabled = previous


def unbroadcast(grad: Any, shape: tuple) -> Any:
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting.

    >>> import numpy as np
    >>> unbroadcast(np.ones((4, 3)), (3,)).tolist()
    [4.0, 4.0, 4.0]
    """
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


class Function:
    """One differentiable op. Subclasses define ``forward(*arrays, **params)`` and ``backward(grad)``.

    Device dispatch happens here and nowhere else: when the inputs are GPU arrays and the op
    defines ``forward_gpu`` / ``backward_gpu``, those run instead of ``forward`` / ``backward``.
    A GPU method may return ``NotImplemented`` to decline (say, softmax over a non-last axis);
    the generic method then runs, on CuPy arrays.
    """

    needs_input_grad: tuple[bool, ...] = ()
    name: str | None = None
    on_gpu: bool = False
    forward_gpu: Any = None
    backward_gpu: Any = None

    def forward(self, *arrays: Any, **params: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad: Any) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_forward(self, arrays: list, params: dict) -> Any:
        """``forward_gpu`` on GPU inputs when defined and not declined, else ``forward``."""
        self.on_gpu = any(a is not None and is_gpu_array(a) for a in arrays)
        if self.on_gpu and self.forward_gpu is not None:
            out = self.forward_gpu(*arrays, **params)
            if out is not NotImplemented:
                return out
            self.on_gpu = False  # declined: backward stays on the generic path too
        return self.forward(*arrays, **params)

    def run_backward(self, grad: Any) -> tuple:
        """``backward_gpu`` when the forward ran on the GPU path, else ``backward``."""
        if self.on_gpu and self.backward_gpu is not None:
            out = self.backward_gpu(grad)
            if out is not NotImplemented:
                return out
        return self.backward(grad)

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> "Tensor":
        """Run the op on Tensors (None passes through) and record it for backward."""
        from .tensor import Tensor

        fn = cls()
        tensors = [t if t is None or isinstance(t, Tensor) else Tensor(t) for t in inputs]
        arrays = [None if t is None else t.array for t in tensors]
        _check_same_device(cls.__name__, arrays)
        record = is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
        fn.needs_input_grad = tuple(t is not None and t.requires_grad for t in tensors)
        out = Tensor(fn.run_forward(arrays, params), requires_grad=record)
        if record:
            out._ctx = fn
            fn.parents = tensors
        return out


def _check_same_device(op: str, arrays: list) -> None:
    devices = {str(device_of(a)) for a in arrays if a is not None}
    if len(devices) > 1:
        raise DeviceError(
            f"{op} expected all inputs on one device, got {sorted(devices)}: move them with .to(device)"
        )


def backward(root: "Tensor", grad: Any = None) -> None:
    """Backpropagate from ``root``: accumulate d(root)/d(leaf) into each leaf's ``.grad``.

    Uses an iterative topological sort, so very deep graphs do not hit Python's recursion limit.
    """
    from .tensor import Tensor

    if not root.requires_grad:
        raise RuntimeError("backward() called on a tensor that does not require grad")
    xp = root.xp
    if grad is None:
        if root.array.size != 1:
            raise RuntimeError(f"backward() without a gradient needs a scalar output, got shape {root.shape}")
        grad = xp.ones_like(root.array)
    elif isinstance(grad, Tensor):
        grad = grad.array

    order = _topological_order(root)
    grads: dict[int, Any] = {id(root): grad}
    leaves = []
    for node in order:
        g = grads.pop(id(node), None)
        if g is None:
            continue
        fn = node._ctx
        if fn is None:  # a leaf
            node._accumulate_grad(g)
            leaves.append(node)
            continue
        for parent, pg in zip(fn.parents, fn.run_backward(g)):
            if parent is None or pg is None or not parent.requires_grad:
                continue
            key = id(parent)
            grads[key] = pg if key not in grads else grads[key] + pg
        node._ctx = None  # free the graph as we go (no retain_graph)
        fn.parents = ()
    for hook in list(_backward_end_hooks):
        hook(leaves)


def _topological_order(root: "Tensor") -> list:
    """Nodes reachable from ``root``, each before all of its parents (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        fn = node._ctx
        for parent in fn.parents if fn is not None else ():
            if parent is not None and parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order

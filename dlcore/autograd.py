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

In-place safety works as PyTorch's version counter: every Tensor carries ``_version`` (a
one-element list shared by tensors that share memory through ``detach``/``.data``); an in-place
op bumps it, and ``backward`` refuses to use a saved input or output whose version changed.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .backend import device_of, is_gpu_array
from .errors import DeviceError, DlcoreError

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

_state = threading.local()
_CPU_ARRAY = {np.ndarray}
_backward_end_hooks: list = []  # fn(leaves) after every backward(); DistributedDataParallel reduces gradients there


class AutogradError(DlcoreError, RuntimeError):
    """Autograd misuse: a second backward through a freed graph, an in-place op that breaks backward."""


def is_grad_enabled() -> bool:
    """Whether ops record the graph (False inside ``no_grad()``).

    >>> is_grad_enabled()
    True
    """
    return getattr(_state, "enabled", True)


class set_grad_enabled:
    """Turn graph recording on or off: a function call, a context manager or a decorator (as PyTorch).

    >>> with set_grad_enabled(False):
    ...     is_grad_enabled()
    False
    """

    def __init__(self, mode: bool) -> None:
        self.previous = is_grad_enabled()
        self.mode = bool(mode)
        _state.enabled = self.mode

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        _state.enabled = self.previous

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode
        _state.enabled = self.previous  # used as a decorator: only switch while fn runs

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        wrapper.__name__, wrapper.__doc__ = getattr(fn, "__name__", "wrapper"), fn.__doc__
        return wrapper


class _GradMode:
    """Base of ``no_grad``/``enable_grad``: a context manager that is also a decorator (with or without ``()``)."""

    mode = True

    def __new__(cls, *args: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and cls is not inference_mode:  # bare @no_grad
            return object.__new__(cls)(args[0])
        return object.__new__(cls)

    def __enter__(self) -> None:
        self.previous = is_grad_enabled()
        _state.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        _state.enabled = self.previous

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        wrapper.__name__, wrapper.__doc__ = getattr(fn, "__name__", "wrapper"), fn.__doc__
        return wrapper


class no_grad(_GradMode):
    """Turn graph recording off, e.g. for evaluation or a manual SGD step.

    >>> with no_grad():
    ...     is_grad_enabled()
    False
    """

    mode = False


class enable_grad(_GradMode):
    """Turn graph recording back on inside a ``no_grad`` block.

    >>> with no_grad(), enable_grad():
    ...     is_grad_enabled()
    True
    """

    mode = True


class inference_mode(_GradMode):
    """PyTorch's ``inference_mode(mode=True)``: here the same as ``no_grad`` when ``mode`` is True.

    >>> with inference_mode():
    ...     is_grad_enabled()
    False
    """

    def __init__(self, mode: bool = True) -> None:
        self.mode = not mode


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


class AccumulateGrad:
    """The graph node of a leaf that requires grad (what ``next_functions`` shows for it)."""

    def __init__(self, variable: "Tensor") -> None:
        self.variable = variable
        self.next_functions: tuple = ()

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"


class Function:
    """One differentiable op. Subclasses define ``forward(*arrays, **params)`` and ``backward(grad)``.

    Device dispatch happens here and nowhere else: when the inputs are GPU arrays and the op
    defines ``forward_gpu`` / ``backward_gpu``, those run instead of ``forward`` / ``backward``.
    A GPU method may return ``NotImplemented`` to decline (say, softmax over a non-last axis);
    the generic method then runs, on CuPy arrays.

    ``saves_inputs`` / ``saves_output`` (True unless a subclass says otherwise) tell the engine
    whether ``backward`` reads the inputs' / output's values; only then does an in-place change
    of them make ``backward`` raise. ``returns_view`` marks ops whose output may share the first
    input's memory (reshape, indexing). ``fresh_grads`` marks ops whose backward returns
    new arrays that nothing else holds (no pass-through of ``grad``, no array twice, no pooled
    buffer): a leaf's first gradient from such an op becomes its ``.grad`` without a copy, as
    PyTorch's AccumulateGrad steals a gradient nobody else references. A recorded Function is
    the output's ``grad_fn``.
    """

    needs_input_grad: tuple[bool, ...] = ()
    on_gpu: bool = False
    forward_gpu: Any = None
    backward_gpu: Any = None
    saves_inputs: bool = True
    saves_output: bool = True
    returns_view: bool = False
    fresh_grads: bool = False
    parents: tuple = ()
    _versions: tuple = ()
    _out_version: Any = None
    _freed: bool = False

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
        if {type(a) for a in arrays if a is not None} - _CPU_ARRAY:  # plain NumPy inputs cannot mix devices
            _check_same_device(cls.__name__, arrays)
        fn.needs_input_grad = needs = tuple(t is not None and t.requires_grad for t in tensors)
        record = is_grad_enabled() and any(needs)
        out = Tensor(fn.run_forward(arrays, params), requires_grad=record)
        if cls.returns_view:  # may share memory: share the version counter too
            base = tensors[0]
            out._version, out._base = base._version, base._base if base._base is not None else base
        if record:
            out._ctx = fn
            fn.parents = tensors
            fn._versions = tuple(0 if t is None else t._version[0] for t in tensors)
            if cls.saves_output:
                fn._out_version = (out._version, 0)
        return out

    # ------------------------------------------------------------------ grad_fn interface
    def name(self) -> str:
        """PyTorch-style node name, e.g. ``MulBackward0``."""
        return f"{type(self).__name__}Backward0"

    @property
    def next_functions(self) -> tuple:
        """``((node, 0), ...)`` per input: its grad_fn, an AccumulateGrad for a leaf, or None.

        After a backward without ``retain_graph`` the saved arrays are freed but the edges stay
        (as nodes, not tensors), as in PyTorch.
        """
        if self._freed:
            return self.__dict__.get("_edges", ())
        out = []
        for t in self.parents:
            if t is None or not t.requires_grad:
                out.append((None, 0))
            elif t._ctx is not None:
                out.append((t._ctx, 0))
            else:
                out.append((t._grad_accumulator(), 0))
        return tuple(out)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

    # ------------------------------------------------------------------ engine helpers
    def _check_versions(self, node: "Tensor") -> None:
        """Raise if an input or the output that backward reads was changed in place."""
        out = self._out_version
        if out is not None and out[0][0] != out[1]:
            _modified(self, node, out[0][0], out[1])
        for t, v in zip(self.parents, self._versions):
            if t is not None and t._version[0] != v and (self.saves_inputs or t._ctx is not None):
                _modified(self, t, t._version[0], v)

    def _free(self) -> None:
        """Drop what backward saved and the input tensors, keeping the edges as graph nodes (what
        ``next_functions`` shows) and a marker for a second backward."""
        edges = self.next_functions
        self.__dict__.clear()
        self._freed = True
        self._edges = edges


def _modified(fn: Function, t: "Tensor", now: int, expected: int) -> None:
    raise AutogradError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [tensor of shape {list(t.shape)}], which is input or output of {fn.name()}, "
        f"is at version {now}; expected version {expected} instead. Clone it before the in-place op "
        f"(x = x.clone()) or use the out-of-place form"
    )


def _check_same_device(op: str, arrays: list) -> None:
    devices = {str(device_of(a)) for a in arrays if a is not None}
    if len(devices) > 1:
        raise DeviceError(
            f"{op} expected all inputs on one device, got {sorted(devices)}: move them with .to(device)"
        )


def backward(root: "Tensor", grad: Any = None, retain_graph: bool | None = None) -> None:
    """Backpropagate from ``root``: accumulate d(root)/d(leaf) into each leaf's ``.grad``.

    Uses an iterative topological sort, so very deep graphs do not hit Python's recursion limit.
    Without ``retain_graph`` the saved arrays are freed on the way; a second backward through
    the same nodes then raises :class:`AutogradError`, as in PyTorch.
    """
    from .tensor import Tensor

    if not root.requires_grad:
        raise AutogradError("element 0 of tensors does not require grad and does not have a grad_fn: "
                            "backward() needs a tensor computed from one with requires_grad=True")
    xp = root.xp
    if grad is None:
        if root.array.size != 1:
            raise AutogradError(f"grad can be implicitly created only for scalar outputs: backward() "
                                f"without a gradient needs a one-element output, got shape {root.shape}")
        grad = xp.ones_like(root.array)
    elif isinstance(grad, Tensor):
        grad = grad.array
    if not hasattr(grad, "shape"):
        raise AutogradError(f"backward() expected the gradient as a Tensor or an array, got {type(grad).__name__}")
    _check_same_device("backward", [root.array, grad])  # a host gradient for a cuda output is a DeviceError
    if tuple(grad.shape) != root.shape:
        raise AutogradError(f"backward() got a gradient of shape {tuple(grad.shape)} for an output of shape {root.shape}")

    order = _topological_order(root)
    grads: dict[int, Any] = {id(root): grad}
    owned: set[int] = set()  # keys whose gradient array only the engine holds (see Function.fresh_grads)
    leaves = []
    for node in order:
        g = grads.pop(id(node), None)
        if g is None:
            continue
        fn = node._ctx
        if fn is None:  # a leaf
            node._accumulate_grad(g, owned=id(node) in owned)
            leaves.append(node)
            continue
        if fn._freed:
            raise AutogradError(
                "Trying to backward through the graph a second time (or directly access saved tensors "
                "after they have already been freed). Saved intermediate values of the graph are freed "
                "when you call .backward(). Specify retain_graph=True if you need to backward through "
                "the graph a second time"
            )
        if node._retains_grad:
            node._accumulate_grad(g)
        fn._check_versions(node)
        for parent, pg in zip(fn.parents, fn.run_backward(g)):
            if parent is None or pg is None or not parent.requires_grad:
                continue
            key = id(parent)
            if key in grads:
                grads[key] = grads[key] + pg
                owned.add(key)
            else:
                grads[key] = pg
                if fn.fresh_grads and getattr(getattr(pg, "flags", None), "owndata", False):  # NumPy and CuPy
                    owned.add(key)
        if not retain_graph:
            fn._free()
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

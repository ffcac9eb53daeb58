"""Module: the base of every layer. It registers parameters, buffers and submodules in order.

    >>> import dlcore.nn as nn
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    >>> [name for name, _ in model.named_parameters()]
    ['0.weight', '0.bias']
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator, NamedTuple

import numpy as np

from ..backend import Device, default_device, device, get_array_module, to_device
from ..errors import StateDictError, shape_str
from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module trains: ``requires_grad`` is on by default."""

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data.array if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class LoadResult(NamedTuple):
    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class for layers and models: subclass it and define ``forward``."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        for store in ("_parameters", "_buffers", "_modules"):
            items = self.__dict__.get(store, {})
            if name in items:
                return items[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def register_buffer(self, name: str, value: Any) -> None:
        """Register non-trained state saved with the model (e.g. BatchNorm's running mean)."""
        self._buffers[name] = value if isinstance(value, Tensor) or value is None else Tensor(value)

    def add_module(self, name: str, module: "Module") -> None:
        self._modules[name] = module

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def children(self) -> Iterator["Module"]:
        yield from self._modules.values()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs, in registration order, each parameter once."""
        seen = set()
        for mod_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        for mod_name, module in self.named_modules():
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    # ------------------------------------------------------------------ modes and devices
    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active, batch statistics); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode (dropout off, running statistics)."""
        return self.train(False)

    def to(self, dev: "str | Device") -> "Module":
        """Move every parameter, gradient and buffer to ``dev`` in place; returns self."""
        dev = device(dev)
        for t in list(self.parameters()) + [b for _, b in self.named_buffers()]:
            t.array = to_device(t.array, dev)
            if t.grad is not None:
                t.grad.array = to_device(t.grad.array, dev)
        return self

    @property
    def device(self) -> Device:
        for p in self.parameters():
            return p.device
        return default_device()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ state
    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Parameters and buffers by dotted name, detached (a snapshot of references)."""
        state = OrderedDict((name, p.detach()) for name, p in self.named_parameters())
        state.update((name, b.detach()) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> LoadResult:
        """Copy arrays from ``state`` into this module's parameters and buffers, all or nothing.

        Every entry is checked and converted before anything is written: keys (missing,
        unexpected), shapes, value types (arrays or Tensors of numbers), dtypes, and for integer
        buffers such as ``num_batches_tracked`` that the values are whole numbers in range. All
        problems are reported at once in a :class:`~dlcore.errors.StateDictError` (a
        CheckpointError, ShapeError and DTypeError), and then the module is unchanged. With
        ``strict=False`` missing and unexpected keys are returned instead and the rest is loaded.

        >>> import dlcore.nn as nn
        >>> nn.Linear(2, 1).load_state_dict(nn.Linear(2, 1).state_dict())
        LoadResult(missing_keys=[], unexpected_keys=[])
        """
        who = f"{type(self).__name__}.load_state_dict"
        if not hasattr(state, "keys") or not hasattr(state, "__getitem__"):
            raise StateDictError(f"{who} expected a dict of arrays by name, got {type(state).__name__}")
        if "model" in state and isinstance(state["model"], dict) and "model" not in dict(self.named_parameters()):
            raise StateDictError(f"{who} got a whole training checkpoint (keys {sorted(state)}): pass its model "
                                 f"part, state['model']")
        own = OrderedDict(self.named_parameters())
        own.update(self.named_buffers())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        wrong, bad_values, converted = [], [], {}
        for key, target in own.items():
            if key not in state:
                continue
            value, problem = _convert_entry(state[key], target)
            if problem is None:
                converted[key] = value
            elif problem.startswith("expected ("):
                wrong.append(f"{key}: {problem}")
            else:
                bad_values.append(f"{key}: {problem}")
        problems = []
        if wrong:
            problems.append("wrong shapes: " + "; ".join(sorted(wrong)))
        problems += sorted(bad_values)
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if problems:  # everything was checked and converted first, so a failed load changes nothing
            raise StateDictError(f"{who}: " + " | ".join(problems))
        for key, array in converted.items():
            own[key].array = array
        return LoadResult(missing, unexpected)

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


def _convert_entry(value: Any, target: Tensor) -> tuple[Any, "str | None"]:
    """``value`` as a new array with ``target``'s dtype and device, or (None, what is wrong with it)."""
    raw = value.array if isinstance(value, Tensor) else value
    if isinstance(raw, (bool, int, float, np.generic)):
        raw = np.asarray(raw)
    if not (hasattr(raw, "shape") and hasattr(raw, "dtype")):
        return None, f"expected an array or Tensor, got {type(value).__name__}"
    kind = np.dtype(raw.dtype).kind
    if kind not in "biuf":
        return None, f"expected a numeric array, got dtype {raw.dtype}"
    if tuple(raw.shape) != target.shape:
        return None, f"expected {shape_str(target.shape)}, got {shape_str(raw.shape)}"
    if target.dtype.kind in "iu" and raw.size:
        xp = get_array_module(raw)
        info = np.iinfo(target.dtype)
        whole = bool(xp.all(xp.isfinite(raw) & (raw == xp.round(raw)))) if kind == "f" else True
        if not whole or float(raw.min()) < info.min or float(raw.max()) > info.max:
            return None, (f"expected whole numbers in [{info.min}, {info.max}] for this {target.dtype} buffer, "
                          f"got values in [{float(raw.min())}, {float(raw.max())}] ({raw.dtype})")
    try:
        array = get_array_module(target.array).array(to_device(raw, target.device), dtype=target.dtype, copy=True)
    except (TypeError, ValueError, OverflowError) as exc:
        return None, f"cannot be converted to {target.dtype} ({exc})"
    return array, None

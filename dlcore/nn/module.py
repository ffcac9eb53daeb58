"""Module: the base of every layer. It registers parameters, buffers and submodules in order.

    >>> import dlcore.nn as nn
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    >>> [name for name, _ in model.named_parameters()]
    ['0.weight', '0.bias']
    >>> [name for name, _ in model.named_children()]
    ['0', '1']
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from ..backend import Device, default_device, device, get_array_module, to_device
from ..dtypes import cast_method
from ..errors import DTypeError, StateDictError, shape_str
from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module trains: ``requires_grad`` is on by default."""

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.zeros(0, np.float32)
        super().__init__(data.array if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class LoadResult(NamedTuple):
    missing_keys: list
    unexpected_keys: list


def _check_name(owner: "Module", kind: str, name: Any) -> None:
    if not isinstance(name, str):
        raise DTypeError(f"{type(owner).__name__}.{kind} expected a str name, got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{type(owner).__name__}.{kind}: name must be non-empty and contain no '.', got {name!r}")
    if hasattr(type(owner), name) or (name in owner.__dict__ and name not in ("training",)):
        raise KeyError(f"{type(owner).__name__}.{kind}: attribute {name!r} already exists")


def _to_arguments(owner: str, args: tuple, kwargs: dict) -> tuple:
    """(device or None, float dtype or None) from Module.to's PyTorch-style arguments."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking"}
    if unknown or len(args) > 2:
        raise DTypeError(f"{owner}.to got unexpected arguments {sorted(unknown) or args}")
    dev, dtype = kwargs.get("device"), kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, Tensor):
            dev, dtype = arg.device, arg.dtype
        elif isinstance(arg, (str, Device)) and not _is_dtype_name(arg):
            dev = arg
        else:
            dtype = arg
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise DTypeError(f"{owner}.to expected a dtype or a device, got {dtype!r}") from None
        if dtype.kind != "f":
            raise DTypeError(f"{owner}.to expected a floating-point dtype, got {dtype}")
    return (None if dev is None else device(dev)), dtype


def _is_dtype_name(arg: Any) -> bool:
    if not isinstance(arg, str):
        return False
    try:
        np.dtype(arg)
    except TypeError:
        return False
    return True


class Module:
    """Base class for layers and models: subclass it and define ``forward``."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif name in self._parameters:
            if value is not None:
                raise DTypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                                f"{type(self).__name__} (Parameter or None expected)")
            self._parameters[name] = None
        elif name in self._buffers and (value is None or isinstance(value, Tensor)):
            self._buffers[name] = value  # assigning a tensor to a buffer's name updates the buffer
        elif name in self._modules and value is None:
            self._modules[name] = None
        else:
            self._forget(name)
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        self._non_persistent_buffers.discard(name)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        for store in ("_parameters", "_buffers", "_modules"):
            items = self.__dict__.get(store, {})
            if name in items:
                return items[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register non-trained state (e.g. BatchNorm's running mean); saved in ``state_dict``
        unless ``persistent=False``."""
        if name not in self._buffers:
            _check_name(self, "register_buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, for an optional one such as a missing bias) under ``name``."""
        if name not in self._parameters:
            _check_name(self, "register_parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise DTypeError(f"{type(self).__name__}.register_parameter expected a Parameter or None for "
                            f"{name!r}, got {type(param).__name__}")
        self._parameters[name] = param

    def add_module(self, name: str, module: "Module | None") -> None:
        """Add a child module under ``name`` (what attribute assignment does)."""
        if module is not None and not isinstance(module, Module):
            raise DTypeError(f"{type(self).__name__}.add_module expected a Module, got {type(module).__name__}")
        if name not in self._modules:
            _check_name(self, "add_module", name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        """The submodule at a dotted path such as ``"features.0"``."""
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (looking for {target!r})")
            module = module._modules[part]
        return module

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) pairs, this module first, each module once."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator["Module"]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, store: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name, t in getattr(module, store).items():
                if t is not None and (id(t) not in seen or not remove_duplicate):
                    seen.add(id(t))
                    yield (f"{mod_name}.{name}" if mod_name else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs, in registration order, each parameter once (unless
        ``remove_duplicate=False``)."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn`` on every submodule (children first) and then on this module; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and devices
    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active, batch statistics); returns self."""
        if not isinstance(mode, bool):
            raise DTypeError(f"{type(self).__name__}.train expected mode to be True or False, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode (dropout off, running statistics)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Switch gradient tracking of every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, *args: Any, **kwargs: Any) -> "Module":
        """Move every parameter, gradient and buffer in place; returns self. As PyTorch's:
        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` or the keywords
        ``device=`` and ``dtype=``; a dtype applies to the floating-point tensors only."""
        dev, dtype = _to_arguments(type(self).__name__, args, kwargs)
        for t in list(self.parameters()) + list(self.buffers()):
            for target in (t, t.grad):
                if target is None:
                    continue
                if dev is not None:
                    target.array = to_device(target.array, dev)
                if dtype is not None and target.dtype.kind == "f":
                    target.array = target.array.astype(dtype)
        return self

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, device: int | None = None) -> "Module":
        return self.to("cuda" if device is None else f"cuda:{device}")

    float, double, half = cast_method("float"), cast_method("double"), cast_method("half")

    @property
    def device(self) -> Device:
        for p in self.parameters():
            return p.device
        return default_device()

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every gradient (``set_to_none=True``, PyTorch's default) or fill it with zeros."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.array[...] = 0

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ state
    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Parameters and persistent buffers by dotted name, in PyTorch's order (each module's
        parameters, then its buffers, then its children), detached unless ``keep_vars``."""
        state = OrderedDict() if destination is None else destination
        for mod_name, module in self.named_modules(prefix=prefix.rstrip(".")):
            members = list(module._parameters.items()) + [
                (k, b) for k, b in module._buffers.items() if k not in module._non_persistent_buffers]
            for name, t in members:
                if t is not None:
                    key = f"{mod_name}.{name}" if mod_name else name
                    state[key] = t if keep_vars else t.detach()
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
        own = self.state_dict(keep_vars=True)  # what state_dict saves: non-persistent buffers excluded
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

    def __dir__(self) -> list:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))


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

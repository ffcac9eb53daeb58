"""Optimizer: the base of every optimizer. It holds parameter groups and per-parameter state.

It follows ``torch.optim.Optimizer``: ``param_groups`` (a list of dicts with ``"params"`` and
the hyper-parameters), ``state`` (a dict keyed by the parameter Tensor), ``zero_grad``,
``step(closure)``, ``add_param_group`` and ``state_dict``/``load_state_dict`` in PyTorch's
structure (``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``).

    >>> import dlcore, dlcore.nn as nn
    >>> opt = dlcore.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> opt.param_groups[0]["lr"], opt.param_groups[0]["params"][0].shape
    (0.1, (1, 2))
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable, Iterable

import numpy as np

from ..autograd import enable_grad
from ..backend import get_array_module, is_gpu_array, to_device
from ..errors import CheckpointError, DlcoreError, DTypeError, RangeError
from ..tensor import Tensor

__all__ = ["Optimizer", "check_number", "check_betas"]

# Keys a scheduler may add to a group (PyTorch's names): not hyper-parameters of the optimizer.
SCHEDULER_KEYS = frozenset({"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"})
# PyTorch implementation switches: accepted (same numbers), listed in the group like PyTorch's.
_NO_OP_FLAGS = ("foreach", "fused", "capturable")


def check_number(owner: str, name: str, value: Any, low: float = 0.0, high: float | None = None,
                 high_open: bool = False) -> float:
    """``value`` as a float after checking ``low <= value (<|<=) high``; else a clear error.

    >>> check_number("SGD", "lr", 0.1)
    0.1
    >>> check_number("SGD", "lr", -1)
    Traceback (most recent call last):
    dlcore.errors.RangeError: SGD: lr expected a number >= 0.0, got -1
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise DTypeError(f"{owner}: {name} expected a real number, got {type(value).__name__} {value!r}")
    top = "" if high is None else f" and {'<' if high_open else '<='} {high}"
    if not (value >= low) or (high is not None and (value >= high if high_open else value > high)):
        raise RangeError(f"{owner}: {name} expected a number >= {low}{top}, got {value!r}")
    return float(value)


def check_betas(owner: str, betas: Any) -> tuple:
    """``betas`` as a tuple of exactly two numbers, each in [0, 1).

    >>> check_betas("Adam", [0.9, 0.999])
    (0.9, 0.999)
    """
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise RangeError(f"{owner}: betas expected exactly two numbers in [0, 1), got {betas!r}")
    return tuple(check_number(owner, f"betas[{i}]", b, 0.0, 1.0, high_open=True) for i, b in enumerate(betas))


def _check_flags(owner: str, group: dict) -> None:
    if group.get("differentiable"):
        raise RangeError(f"{owner}: differentiable=True is not supported by dlcore (got differentiable=True)")
    for name in ("maximize", "amsgrad", "nesterov", "centered", "decoupled_weight_decay"):
        if name in group and not isinstance(group[name], (bool, np.bool_)):
            raise DTypeError(f"{owner}: {name} expected a bool, got {type(group[name]).__name__} {group[name]!r}")


class Optimizer:
    """Holds ``param_groups`` (dicts of params + hyper-parameters) and ``state`` per parameter.

    A subclass sets ``defaults`` (passed to ``__init__``), ``STATE_KEYS`` (the names of its
    per-parameter state), ``check_group(group)`` (validates and normalises hyper-parameters)
    and ``update(p, grad, group, state)`` (one parameter's in-place update on raw arrays).
    """

    STATE_KEYS: frozenset = frozenset()
    DEFAULT_KEYS: frozenset = frozenset()
    NON_NEGATIVE: tuple = ()  # hyper-parameters that must be numbers >= 0
    _registry: dict[str, type] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = inspect.signature(cls.__init__).parameters
        cls.DEFAULT_KEYS = frozenset(names) - {"self", "params"}
        Optimizer._registry.setdefault(cls.__name__, cls)

    def __init__(self, params: Iterable[Any], defaults: dict) -> None:
        if isinstance(params, (set, frozenset)):
            raise DTypeError(f"{type(self).__name__}: params must be an ordered collection (list, tuple, "
                             f"generator), not a set, so that their order (and the state_dict) is reproducible")
        if isinstance(params, (Tensor, dict)):
            raise DTypeError(f"{type(self).__name__}: params expected an iterable of Tensors or dicts, "
                             f"got a single {type(params).__name__}; pass [t] or model.parameters()")
        self.defaults = dict(defaults)
        self.check_group(dict(self.defaults, params=[]))
        self.state: dict[Tensor, dict] = {}
        self.param_groups: list[dict] = []
        groups = list(params)
        if not groups:
            raise RangeError(f"{type(self).__name__} got an empty parameter list (expected at least one Tensor)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def check_group(self, group: dict) -> None:
        """Validate (and normalise in place) a group's hyper-parameters; subclasses extend it."""
        _check_flags(type(self).__name__, group)
        for key in self.NON_NEGATIVE:
            check_number(type(self).__name__, key, group[key])

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (with its own hyper-parameters) to optimise.

        >>> import dlcore, dlcore.nn as nn
        >>> a, b = nn.Linear(2, 2), nn.Linear(2, 1)
        >>> opt = dlcore.optim.SGD(a.parameters(), lr=0.1)
        >>> opt.add_param_group({"params": b.parameters(), "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise DTypeError(f"{name}.add_param_group expected a dict with 'params', got {type(param_group).__name__}")
        if "params" not in param_group:
            raise RangeError(f"{name}.add_param_group: the group has no 'params' entry (keys: {sorted(param_group)})")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise DTypeError(f"{name}: a group's params must be an ordered collection (list, tuple, generator), "
                             f"not a set, so that their order (and the state_dict) is reproducible")
        params = list(params)
        names = None
        if any(isinstance(p, tuple) for p in params):  # named_parameters(): (name, tensor) pairs
            if not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params):
                raise RangeError(f"{name}: give every parameter of a group with a name (name, tensor) or none")
            names, params = [p[0] for p in params], [p[1] for p in params]
        if self.param_groups and ("param_names" in self.param_groups[0]) != (names is not None):
            raise RangeError(f"{name}: every parameter group must be given with names or every one without "
                             f"(this group is {'with' if names is not None else 'without'} names)")
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise DTypeError(f"{name} can only optimise Tensors, got {type(p).__name__} at params[{i}]")
            if not p.is_leaf:
                raise RangeError(f"{name} can't optimise a non-leaf Tensor (params[{i}], shape {p.shape}): "
                                 f"optimise the leaf it was computed from")
        if len({id(p) for p in params}) != len(params):
            raise RangeError(f"{name}: a parameter group lists the same parameter more than once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise RangeError(f"{name}: some parameters appear in more than one parameter group")
        group = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}, "params": params}
        if names is not None:
            group["param_names"] = names
        self.check_group(group)
        self.param_groups.append(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])

    def params(self) -> list[Tensor]:
        """Every parameter, group by group."""
        return [p for g in self.param_groups for p in g["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``.grad = None`` (PyTorch 2.x's default), or zero them in place.

        >>> import dlcore, dlcore.nn as nn
        >>> layer = nn.Linear(2, 1)
        >>> opt = dlcore.optim.SGD(layer.parameters(), lr=0.1)
        >>> layer(dlcore.ones(1, 2)).sum().backward()
        >>> opt.zero_grad(set_to_none=False); layer.bias.grad.sum().item()
        0.0
        >>> opt.zero_grad(); layer.bias.grad is None
        True
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.array[...] = 0

    # ------------------------------------------------------------------ stepping
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` when one is given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        state = self.state
        update = self.update
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                entry = state.get(p)
                if entry is None:
                    entry = self.init_state(p, group)
                    update(p, grad.array, group, entry)
                    if entry:  # plain SGD keeps no state, as in PyTorch
                        state[p] = entry
                else:
                    update(p, grad.array, group, entry)
        return loss

    def init_state(self, p: Tensor, group: dict) -> dict:
        """A parameter's state before its first step (subclasses fill in their buffers)."""
        return {}

    def update(self, p: Tensor, grad: Any, group: dict, state: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def directed_grad(p: Tensor, grad: Any, group: dict) -> Any:
        """The gradient to descend: negated with ``maximize``, plus ``weight_decay * w`` (L2)."""
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.array
        return grad

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """PyTorch's structure: ``{"state": {index: {name: Tensor | number}}, "param_groups": [...]}``.

        Parameters are numbered in group order; state arrays are shared (not copied), as in PyTorch.

        >>> import dlcore, dlcore.nn as nn
        >>> sd = dlcore.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1).state_dict()
        >>> sd["state"], sd["param_groups"][0]["params"]
        ({}, [0, 1])
        """
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            ids = [index.setdefault(id(p), len(index)) for p in g["params"]]
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {}
        for p in self.params():
            entry = self.state.get(p)
            if entry is not None:
                state[index[id(p)]] = {k: Tensor(v) if _is_array(v) else v for k, v in entry.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict`'s output: everything is checked first, then applied.

        On any problem a :class:`~dlcore.errors.CheckpointError` says what and where, and the
        optimizer is exactly as before. State arrays move to each parameter's device and dtype.
        """
        groups, state = self._checked(state_dict)
        for group, saved in zip(self.param_groups, groups):
            params, names = group["params"], group.get("param_names")
            group.clear()
            group.update(saved)
            group["params"] = params
            if names is not None and "param_names" not in saved:
                group["param_names"] = names
        self.state = state

    def _checked(self, state_dict: Any) -> tuple[list[dict], dict]:
        """Validate ``state_dict`` against this optimizer; the new groups and state, nothing applied."""
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            keys = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise CheckpointError(f"{where} expected a dict with 'state' and 'param_groups', got {keys}")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not isinstance(saved_state, dict):
            raise CheckpointError(f"{where}: 'param_groups' must be a list and 'state' a dict "
                                  f"(got {type(saved_groups).__name__} and {type(saved_state).__name__}); "
                                  f"was it written by an older dlcore?")
        if len(saved_groups) != len(self.param_groups):
            raise CheckpointError(f"{where}: the state has {len(saved_groups)} parameter group(s), "
                                  f"this optimizer has {len(self.param_groups)}")
        by_index: dict[int, Tensor] = {}
        groups = []
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                raise CheckpointError(f"{where}: param_groups[{gi}] is not a dict with a 'params' list")
            self._check_saver(saved, gi)
            if len(saved["params"]) != len(group["params"]):
                raise CheckpointError(f"{where}: param_groups[{gi}] has {len(saved['params'])} parameters in the "
                                      f"state, {len(group['params'])} in this optimizer")
            new = {k: v for k, v in saved.items() if k != "params"}
            names = new.get("param_names")
            if names is not None and (not isinstance(names, (list, tuple)) or len(names) != len(group["params"])
                                      or not all(isinstance(n, str) for n in names)):
                raise CheckpointError(f"{where}: param_groups[{gi}]['param_names'] expected "
                                      f"{len(group['params'])} names, got {names!r}"[:300])
            if "betas" in new and isinstance(new["betas"], list):
                new["betas"] = tuple(new["betas"])
            try:
                self.check_group(new)
            except DlcoreError as exc:
                raise CheckpointError(f"{where}: param_groups[{gi}] has a bad hyper-parameter: {exc}") from None
            for i, p in zip(saved["params"], group["params"]):
                if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or int(i) in by_index:
                    raise CheckpointError(f"{where}: param_groups[{gi}] lists parameter index {i!r} twice or "
                                          f"not as an integer")
                by_index[int(i)] = p
            groups.append(new)
        state: dict[Tensor, dict] = {}
        for key, entry in saved_state.items():
            p = by_index.get(_as_index(key))
            if p is None or not isinstance(entry, dict):
                raise CheckpointError(f"{where}: state[{key!r}] is not a dict for a parameter of this optimizer "
                                      f"(indices 0..{len(by_index) - 1})")
            state[p] = self._checked_entry(p, entry, f"{where}: state[{key!r}]")
        return groups, state

    def _check_saver(self, saved: dict, gi: int) -> None:
        """Refuse the hyper-parameters of another optimizer type, naming it when it is known."""
        mine = set(self.defaults)
        theirs = set(saved) - {"params", "param_names"} - SCHEDULER_KEYS
        if theirs == mine:
            return
        for other_name, other in Optimizer._registry.items():
            if other is not type(self) and other.DEFAULT_KEYS == theirs:
                raise CheckpointError(f"{type(self).__name__}.load_state_dict got state saved by {other_name}: "
                                      f"resume with {other_name}, the optimizer that wrote it")
        raise CheckpointError(f"{type(self).__name__}.load_state_dict: param_groups[{gi}] has hyper-parameters "
                              f"{sorted(theirs)}, expected {sorted(mine)}")

    def _checked_entry(self, p: Tensor, entry: dict, where: str) -> dict:
        xp = get_array_module(p.array)
        out = {}
        for k, v in entry.items():
            if k not in self.STATE_KEYS:
                raise CheckpointError(f"{where} has {k!r}, which {type(self).__name__} does not keep "
                                      f"(it keeps {sorted(self.STATE_KEYS)})")
            if k == "step":
                v = v.array if isinstance(v, Tensor) else v
                if _is_array(v) and np.ndim(v) == 0:
                    v = v.item()
                if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not v >= 0 \
                        or v != int(v):
                    raise CheckpointError(f"{where}['step'] expected a whole number >= 0, got {v!r}")
                out[k] = int(v)
                continue
            if v is None and k == "momentum_buffer":
                out[k] = None
                continue
            raw = v.array if isinstance(v, Tensor) else v
            if not _is_array(raw) or raw.dtype.kind not in "fiu" or tuple(raw.shape) != p.shape:
                got = f"shape {tuple(raw.shape)} dtype {raw.dtype}" if _is_array(raw) else type(raw).__name__
                raise CheckpointError(f"{where}[{k!r}] expected a numeric array of shape {p.shape}, got {got}")
            out[k] = xp.array(to_device(raw, p.device), dtype=p.dtype, copy=True)
        return out


def _is_array(v: Any) -> bool:
    return isinstance(v, np.ndarray) or is_gpu_array(v)


def _as_index(key: Any) -> int | None:
    """A state key as an index: an int, or its decimal string (JSON checkpoints store keys as strings)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    if isinstance(key, str) and key.isdigit():
        return int(key)
    return None

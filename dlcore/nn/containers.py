"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``, ``ParameterDict``.

They register what they hold, so its parameters are found by ``parameters()`` and saved by
``state_dict()`` under the index or key (``"layers.0.weight"``), as in PyTorch.

    >>> import dlcore.nn as nn
    >>> blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    >>> len(blocks), len(list(blocks.parameters()))
    (3, 6)
    >>> nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))[:2]  # doctest: +ELLIPSIS
    Sequential(
      (0): Linear(in_features=2, out_features=4, bias=True)
      (1): ReLU()
    )
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator, Mapping

from ..errors import DTypeError
from .module import Module, Parameter

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _index(owner: str, i: Any, n: int) -> int:
    if not isinstance(i, int) or isinstance(i, bool):
        raise DTypeError(f"{owner} indices must be ints or slices, got {type(i).__name__}")
    if not -n <= i < n:
        raise IndexError(f"{owner} index {i} is out of range for length {n}")
    return i % n


def _module(owner: str, m: Any, where: Any) -> Module:
    if not isinstance(m, Module):
        raise DTypeError(f"{owner} expected Modules, got {type(m).__name__} at {where!r}")
    return m


class _IndexedModules(Module):
    """Modules stored under "0", "1", ...: indexing, slicing, len, iteration."""

    def _items(self) -> list:
        return list(self._modules.values())

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items())

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return type(self)(self._items()[i]) if type(self) is ModuleList else Sequential(*self._items()[i])
        return self._items()[_index(type(self).__name__, i, len(self))]

    def __setitem__(self, i: int, m: Module) -> None:
        key = list(self._modules)[_index(type(self).__name__, i, len(self))]
        self._modules[key] = _module(type(self).__name__, m, i)

    def __delitem__(self, i: Any) -> None:
        items = self._items()
        if isinstance(i, slice):
            del items[i]
        else:
            del items[_index(type(self).__name__, i, len(self))]
        self._modules.clear()
        for k, m in enumerate(items):  # renumber, as PyTorch does
            self._modules[str(k)] = m

    def append(self, m: Module) -> "_IndexedModules":
        self.add_module(str(len(self)), _module(type(self).__name__, m, len(self)))
        return self

    def extend(self, modules: Iterable[Module]) -> "_IndexedModules":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, m: Module) -> None:
        items = self._items()
        items.insert(index, _module(type(self).__name__, m, index))
        self._modules.clear()
        for k, item in enumerate(items):
            self._modules[str(k)] = item


class Sequential(_IndexedModules):
    """Apply modules in order: ``Sequential(Linear(2, 8), Tanh(), Linear(8, 1))``, or from an
    ``OrderedDict`` of named modules."""

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, m in modules[0].items():
                self.add_module(name, _module("Sequential", m, name))
            return
        for i, m in enumerate(modules):
            self.add_module(str(i), _module("Sequential", m, i))

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(_IndexedModules):
    """A list of modules, registered so their parameters belong to the parent. No ``forward``."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> "ModuleList":
        return ModuleList(list(self) + list(other))

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(): iterate over it and call its modules")


class _NamedStore(Module):
    """Dict access by name to one of the Module's stores (``_modules`` or ``_parameters``)."""

    _store_name = "_modules"

    def _items(self) -> OrderedDict:
        return self.__dict__[self._store_name]

    def __getitem__(self, key: str) -> Any:
        return self._items()[key]

    def __delitem__(self, key: str) -> None:
        del self._items()[key]

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __contains__(self, key: str) -> bool:
        return key in self._items()

    def keys(self):
        return self._items().keys()

    def values(self):
        return self._items().values()

    def items(self):
        return self._items().items()


class ModuleDict(_NamedStore):
    """A dict of modules by name, registered so their parameters belong to the parent."""

    def __init__(self, modules: Mapping[str, Module] | Iterable | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    _store_name = "_modules"

    def __setitem__(self, key: str, m: Module) -> None:
        self.add_module(key, _module("ModuleDict", m, key))

    def pop(self, key: str) -> Module:
        return self._items().pop(key)

    def clear(self) -> None:
        self._items().clear()

    def update(self, modules: Mapping[str, Module] | Iterable) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, m in pairs:
            self[key] = m

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward(): look up its modules by name")


def _parameter(owner: str, p: Any, where: Any) -> Parameter:
    if not isinstance(p, Parameter):
        raise DTypeError(f"{owner} expected Parameters, got {type(p).__name__} at {where!r}")
    return p


class ParameterList(Module):
    """A list of parameters registered under "0", "1", ..."""

    def __init__(self, values: Iterable[Parameter] | None = None) -> None:
        super().__init__()
        for p in values or ():
            self.append(p)

    def __getitem__(self, i: int) -> Parameter:
        return list(self._parameters.values())[_index("ParameterList", i, len(self))]

    def __setitem__(self, i: int, p: Parameter) -> None:
        self._parameters[str(_index("ParameterList", i, len(self)))] = _parameter("ParameterList", p, i)

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(list(self._parameters.values()))

    def append(self, p: Parameter) -> "ParameterList":
        self.register_parameter(str(len(self)), _parameter("ParameterList", p, len(self)))
        return self

    def extend(self, values: Iterable[Parameter]) -> "ParameterList":
        for p in values:
            self.append(p)
        return self

    def extra_repr(self) -> str:
        return ", ".join(f"({k}): Parameter of shape {tuple(p.shape)}" for k, p in self._parameters.items())


class ParameterDict(_NamedStore):
    """A dict of parameters by name."""

    def __init__(self, parameters: Mapping[str, Parameter] | None = None) -> None:
        super().__init__()
        for key, p in (parameters or OrderedDict()).items():
            self[key] = p

    _store_name = "_parameters"

    def __setitem__(self, key: str, p: Parameter) -> None:
        self.register_parameter(key, _parameter("ParameterDict", p, key))

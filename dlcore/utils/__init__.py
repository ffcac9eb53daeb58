"""``dlcore.utils``: PyTorch-style utilities, imported on first use.

- ``dlcore.utils.data``: Dataset, TensorDataset, DataLoader, samplers, random_split, default_collate
  (as ``torch.utils.data``).

    >>> import dlcore.utils
    >>> dlcore.utils.data.DataLoader.__name__
    'DataLoader'
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("data", "dlpack")


def __getattr__(name: str) -> Any:
    """Import ``dlcore.utils.<name>`` lazily, so that low layers can use one utils module
    without pulling in the data layer."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""``dlcore.data``: the same objects as :mod:`dlcore.utils.data` (their one home), kept so that
``from dlcore.data import DataLoader`` keeps working, plus ``DistributedSampler``.

>>> import dlcore.data, dlcore.utils.data
>>> dlcore.data.DataLoader is dlcore.utils.data.DataLoader
True
"""

from __future__ import annotations

from .distributed.sampler import DistributedSampler
from .utils.data import *  # noqa: F403 - the same objects, one home
from .utils.data import __all__ as _names

__all__ = [*_names, "DistributedSampler"]

"""``dlcore.data``: the same objects as :mod:`dlcore.utils.data` (their one home), kept so that
``from dlcore.data import DataLoader`` keeps working, plus :func:`as_array`.

>>> import dlcore.data, dlcore.utils.data
>>> dlcore.data.DataLoader is dlcore.utils.data.DataLoader
True
"""

from __future__ import annotations

from .utils.collate import as_array
from .utils.data import (
                         BatchSampler,
                         ConcatDataset,
                         DataLoader,
                         Dataset,
                         RandomSampler,
                         Sampler,
                         SequentialSampler,
                         Subset,
                         SubsetRandomSampler,
                         TensorDataset,
                         WorkerInfo,
                         default_collate,
                         default_convert,
                         get_worker_info,
                         random_split,
)

__all__ = ["as_array", "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler", "default_collate",
           "default_convert", "get_worker_info", "WorkerInfo"]

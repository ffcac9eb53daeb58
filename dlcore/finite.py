"""Cheap checks that a model's numbers are finite, for ``fit`` and ``ModelCheckpoint``.

:func:`all_finite` is the fused check ``fit`` runs once per step: one sum of squares per array
(a BLAS dot), added on the device, and a single transfer to the host. A NaN or an infinity
anywhere makes the total non-finite; when it is, the arrays are confirmed element by element
(a huge finite value may overflow the total), and :func:`nonfinite_names` says which.

    >>> import numpy as np
    >>> all_finite([np.ones(3, np.float32), np.zeros((2, 2))])
    True
    >>> nonfinite_names([("w", np.array([1.0, np.nan])), ("b", np.ones(2))])
    ['w']
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from .backend import get_array_module

__all__ = ["all_finite", "nonfinite_names", "model_arrays"]


def _floats(arrays: Iterable[Any]) -> list:
    return [a for a in arrays if a is not None and getattr(a, "dtype", None) is not None and a.dtype.kind in "fc"]


def all_finite(arrays: Sequence[Any]) -> bool:
    """True when every floating-point array in ``arrays`` holds only finite values (one host sync).

    Each array contributes its sum of squares (``dot(a, a)``, one BLAS call): a NaN or an infinity
    makes it NaN or infinite, never finite. Only when the total is not finite are the arrays
    looked at element by element, so a huge but finite value (whose square overflows) is no alarm.

    >>> import numpy as np
    >>> all_finite([np.array([1.0, np.inf])])
    False
    """
    floats = _floats(arrays)
    if not floats:
        return True
    xp = get_array_module(floats[0])
    with np.errstate(over="ignore", invalid="ignore"):  # a NaN or an overflow is the answer, not a warning
        total = 0.0
        for a in floats:
            flat = a.reshape(-1)
            total = total + xp.dot(flat, flat)
        if math.isfinite(float(abs(total))):
            return True
    return not any(not bool(get_array_module(a).isfinite(a).all()) for a in floats)


def nonfinite_names(named: Iterable[tuple[str, Any]]) -> list[str]:
    """The names whose floating-point arrays hold a NaN or an infinity, in order.

    >>> import numpy as np
    >>> nonfinite_names([("a", np.ones(2)), ("n", np.array(3))])
    []
    """
    bad = []
    for name, a in named:
        if _floats([a]) and not bool(get_array_module(a).isfinite(a).all()):
            bad.append(name)
    return bad


def model_arrays(model: Any) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """``([(name, parameter array)], [(name, buffer array)])`` of a :class:`~dlcore.nn.Module`.

    >>> import dlcore.nn as nn
    >>> [name for name, _ in model_arrays(nn.Linear(2, 1))[0]]
    ['weight', 'bias']
    """
    params = [(name, p.array) for name, p in model.named_parameters()]
    buffers = [(name, b.array) for name, b in model.named_buffers()]
    return params, buffers

"""Argument checks shared by the training loop, metrics, scalers and datasets.

Each raises :class:`~dlcore.errors.RangeError` (a ``ValueError``, as PyTorch raises for a bad
``batch_size``) naming the function, the argument, what it accepts and what it got.

    >>> positive_int(32, "fit", "batch_size")
    32
    >>> positive_int(2.5, "fit", "batch_size")
    Traceback (most recent call last):
    dlcore.errors.RangeError: fit expected batch_size to be a positive int, got 2.5 (float)
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .errors import RangeError

__all__ = ["positive_int", "nonnegative_int", "finite_number", "one_of", "boolean"]


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value: Any, who: str, name: str) -> int:
    """``value`` as an int when it is an int >= 1 (not a bool, float or string)."""
    if not _is_int(value) or value < 1:
        raise RangeError(f"{who} expected {name} to be a positive int, got {_got(value)}")
    return int(value)


def nonnegative_int(value: Any, who: str, name: str) -> int:
    """``value`` as an int when it is an int >= 0.

    >>> nonnegative_int(0, "EarlyStopping", "patience")
    0
    """
    if not _is_int(value) or value < 0:
        raise RangeError(f"{who} expected {name} to be an int >= 0, got {_got(value)}")
    return int(value)


def finite_number(value: Any, who: str, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a float when it is a finite real number in ``[low, high]``.

    >>> finite_number(0.1, "linear", "noise", low=0.0)
    0.1
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        span = f" in [{low}, {high}]" if math.isfinite(low) or math.isfinite(high) else ""
        raise RangeError(f"{who} expected {name} to be a finite number{span}, got {_got(value)}")
    return float(value)


def one_of(value: Any, choices: tuple, who: str, name: str) -> Any:
    """``value`` when it is one of ``choices``.

    >>> one_of("skip", ("raise", "skip"), "fit", "on_nonfinite")
    'skip'
    """
    if not isinstance(value, (str, type(None), bool, int)) or value not in choices:
        raise RangeError(f"{who} expected {name} to be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def boolean(value: Any, who: str, name: str) -> bool:
    """``value`` when it is a bool (NumPy bools included).

    >>> boolean(True, "fit", "progress")
    True
    """
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise RangeError(f"{who} expected {name} to be True or False, got {_got(value)}")
    return bool(value)

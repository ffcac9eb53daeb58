"""Argument checks shared by the functional ops and the nn layers: one clear error per bad value.

Each check names the owner (the layer or function), the argument, what it expects and what it got.

    >>> positive_int("Linear", "in_features", 3)
    3
    >>> positive_int("Linear", "in_features", 2.5)
    Traceback (most recent call last):
    dlcore.errors.DTypeError: Linear expected in_features to be a positive int, got 2.5 (float)
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..errors import DeviceError, DTypeError, RangeError

REDUCTIONS = ("mean", "sum", "none")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int, or an error unless it is an int (not a bool) >= ``minimum``."""
    what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if not _is_int(value):
        raise DTypeError(f"{owner} expected {name} to be {what}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise RangeError(f"{owner} expected {name} to be {what}, got {value}")
    return int(value)


def real_number(owner: str, name: str, value: Any, low: float = -math.inf, high: float = math.inf,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float, or an error unless it is a real number in the given interval."""
    lb, rb = "(" if low_open else "[", ")" if high_open else "]"
    interval = f"in {lb}{low}, {high}{rb}"
    if not _is_real(value):
        raise DTypeError(f"{owner} expected {name} to be a number {interval}, got {value!r} ({type(value).__name__})")
    v = float(value)
    below = v <= low if low_open else v < low
    above = v >= high if high_open else v > high
    if math.isnan(v) or below or above:
        raise RangeError(f"{owner} expected {name} {interval}, got {value}")
    return v


def probability(owner: str, name: str, value: Any) -> float:
    """A probability in [0, 1] (dropout's ``p``, label smoothing)."""
    return real_number(owner, name, value, 0.0, 1.0)


def positive_float(owner: str, name: str, value: Any) -> float:
    """A finite number > 0 (``eps``, ``beta``)."""
    return real_number(owner, name, value, 0.0, math.inf, low_open=True, high_open=True)


def flag(owner: str, name: str, value: Any) -> bool:
    """A bool (``bias``, ``affine``): not a string or a number."""
    if not isinstance(value, bool):
        raise DTypeError(f"{owner} expected {name} to be True or False, got {value!r} ({type(value).__name__})")
    return value


def reduction(owner: str, value: Any) -> str:
    """One of "mean", "sum", "none"."""
    if value not in REDUCTIONS:
        raise RangeError(f"{owner} expected reduction in {REDUCTIONS}, got {value!r}")
    return value


def dim_index(owner: str, name: str, value: Any, ndim: int, context: str | None = None) -> int:
    """A dimension index in [-ndim, ndim) (0-d tensors accept -1 and 0), as a non-negative int.

    ``context`` ends the error message (default "for a {ndim}-d input").
    """
    if not _is_int(value):
        raise DTypeError(f"{owner} expected {name} to be an int, got {value!r} ({type(value).__name__})")
    span = max(ndim, 1)
    if not -span <= value < span:
        context = f"for a {ndim}-d input" if context is None else context
        raise RangeError(f"{owner} expected {name} in [{-span}, {span - 1}] {context}, got {value}")
    return int(value) % span


def same_device(owner: str, name: str, value: Any, like: Any) -> Any:
    """``value`` (a Tensor) when it is on ``like``'s device, else a DeviceError naming ``name``
    (PyTorch refuses a loss ``weight`` on another device than the input too)."""
    if value.device != like.device:
        raise DeviceError(f"{owner} expected {name} on the input's device {like.device}, got it on {value.device}: "
                          f"move it with {name}.to({str(like.device)!r})")
    return value

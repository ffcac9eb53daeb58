"""Exceptions dlcore raises for bad input.

Each message names the layer or op, what it expected and what it got::

    >>> raise ShapeError("Linear(784→256) expected input (*, 784), got (64, 1, 28, 28)")
    Traceback (most recent call last):
    dlcore.errors.ShapeError: Linear(784→256) expected input (*, 784), got (64, 1, 28, 28)
"""


class DlcoreError(Exception):
    """Base class of every error dlcore raises on purpose."""


class ShapeError(DlcoreError, ValueError):
    """An input has the wrong shape or rank."""


class DTypeError(DlcoreError, TypeError):
    """An input has the wrong dtype (integers where floats are needed, say)."""


class DeviceError(DlcoreError, RuntimeError):
    """Arrays live on different devices, or a device is not usable."""


class CheckpointError(DlcoreError, ValueError):
    """A checkpoint file is truncated, foreign, pickled or of an unknown version."""


class StateDictError(CheckpointError, ShapeError, DTypeError):
    """A state dict does not fit a module (keys, shapes, dtypes or values): nothing was loaded.

    Catch it as ``CheckpointError``, ``ShapeError`` or ``DTypeError``."""


class RangeError(DlcoreError, ValueError):
    """An input holds values outside the range an op accepts (class targets, probabilities)."""


class UnsupportedArgumentError(DlcoreError, NotImplementedError):
    """A PyTorch argument dlcore does not implement (``Embedding(sparse=True)``, ``size_average=``):
    refused by name instead of being silently ignored."""


class NonFiniteLossError(DlcoreError, FloatingPointError):
    """Training produced a NaN or infinite loss."""


def shape_str(shape) -> str:
    """Format a shape as ``(64, 1, 28, 28)``."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"

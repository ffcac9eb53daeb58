"""Optimizers (lecture 001): SGD with momentum, Adam, and learning-rate schedules.

    >>> import dlcore
    >>> dlcore.optim.SGD, dlcore.optim.Adam, dlcore.optim.lr_scheduler.StepLR  # doctest: +ELLIPSIS
    (...)
"""

from . import lr_scheduler
from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "Optimizer", "SGD", "lr_scheduler"]

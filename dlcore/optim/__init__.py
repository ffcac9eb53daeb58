"""Optimizers (lecture 001) and learning-rate schedules, as ``torch.optim``.

    >>> import dlcore
    >>> dlcore.optim.SGD, dlcore.optim.Adam, dlcore.optim.lr_scheduler.StepLR  # doctest: +ELLIPSIS
    (...)
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]

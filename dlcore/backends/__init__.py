"""``dlcore.backends``: PyTorch's ``torch.backends`` switches that scripts query.

    >>> import dlcore
    >>> dlcore.backends.mps.is_available()
    False
"""

from . import mps

__all__ = ["mps"]

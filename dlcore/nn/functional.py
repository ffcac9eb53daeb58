"""``dlcore.nn.functional`` is :mod:`dlcore.functional` (PyTorch's spelling).

    >>> import dlcore.nn.functional as F
"""

from ..functional import *  # noqa: F401,F403
from ..functional import __all__  # noqa: F401

"""The CPU convolution algorithm switch (re-exported by :mod:`dlcore.cpu`): "auto", "im2col",
"winograd" or "direct", process-wide like ``torch.backends.cudnn``'s flags.

:func:`dlcore.functional.conv.cpu_algorithm` reads it; this module only holds the setting.

    >>> from dlcore.cpu import conv_algorithm, get_conv_algorithm
    >>> with conv_algorithm("im2col"):
    ...     get_conv_algorithm()
    'im2col'
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

__all__ = ["CONV_ALGORITHMS", "conv_algorithm", "get_conv_algorithm", "set_conv_algorithm"]

log = logging.getLogger("dlcore")

CONV_ALGORITHMS = ("auto", "im2col", "winograd", "direct")
_conv_algorithm = os.environ.get("DLCORE_CONV_ALGORITHM", "auto").strip().lower() or "auto"
if _conv_algorithm not in CONV_ALGORITHMS:
    log.warning("dlcore: DLCORE_CONV_ALGORITHM=%r is not one of %s; using 'auto'", _conv_algorithm, CONV_ALGORITHMS)
    _conv_algorithm = "auto"


def set_conv_algorithm(name: str) -> str:
    """Choose how CPU ``conv2d`` computes: "auto" (default), "im2col", "winograd" or "direct";
    returns the old one.

    Like ``torch.backends.cudnn`` flags, this is a process-wide backend setting: "auto" runs
    Winograd F(4x4, 3x3) on stride-1 3x3 convolutions where it measured faster (see
    ``dlcore.functional.winograd.choose``), the direct C kernels on other stride-1 float32
    convolutions with cache-sized weights (``dlcore.functional.conv_direct.choose``) and im2col +
    GEMM elsewhere; "im2col" always runs the GEMM path; "winograd" and "direct" force theirs and
    raise ValueError on a shape they cannot do. GPU convolutions are not affected (except that
    "winograd" and "direct" refuse them). The starting value comes from the environment variable
    ``DLCORE_CONV_ALGORITHM`` (default "auto").

    >>> old = set_conv_algorithm("im2col")
    >>> get_conv_algorithm(), set_conv_algorithm(old)
    ('im2col', 'im2col')
    """
    global _conv_algorithm
    if name not in CONV_ALGORITHMS:
        raise ValueError(f"set_conv_algorithm expected one of {CONV_ALGORITHMS}, got {name!r}")
    old, _conv_algorithm = _conv_algorithm, name
    return old


def get_conv_algorithm() -> str:
    """The CPU convolution algorithm in force: "auto", "im2col", "winograd" or "direct"."""
    return _conv_algorithm


@contextmanager
def conv_algorithm(name: str) -> Iterator[None]:
    """``with conv_algorithm("im2col"): ...`` sets the CPU convolution algorithm for a block.

    >>> with conv_algorithm("winograd"):
    ...     get_conv_algorithm()
    'winograd'
    """
    old = set_conv_algorithm(name)
    try:
        yield
    finally:
        set_conv_algorithm(old)

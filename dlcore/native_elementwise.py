"""One-pass float32 element-wise kernels in C (``dlcore/native/elementwise.c``).

NumPy spends two to four passes, and temporaries, on ReLU's backward pass or on an optimizer's
``y = a * y + b * x``; the C loops read each input once and write once. The functions here work on
1-D blocks, as :func:`dlcore.cpu.elementwise` and :func:`dlcore.cpu.in_place` hand them out (those
split the work over dlcore's threads; ctypes releases the GIL during each call). They give
exactly the NumPy paths' results: the same comparisons, and for ``axpby`` the same roundings
(no fused multiply-add). :func:`usable` says whether they apply: float32 NumPy arrays, with the
library built (see :mod:`dlcore.cpu_native`).

    >>> import numpy as np
    >>> x = np.array([-1.0, 2.0], np.float32); out = np.empty_like(x)
    >>> if usable(x): relu(out, x); assert out.tolist() == [0.0, 2.0]
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from . import cpu_native

__all__ = ["axpby", "relu", "relu_backward", "usable"]

_PTR, _LONG, _FLOAT = ctypes.c_void_p, ctypes.c_long, ctypes.c_float


def _lib() -> Any:
    lib = cpu_native.library("elementwise")
    if lib is not None and not getattr(lib, "_dlcore_typed", False):
        lib.dl_relu_f32.argtypes = [_PTR, _PTR, _LONG]
        lib.dl_relu_backward_f32.argtypes = [_PTR, _PTR, _PTR, _LONG]
        lib.dl_axpby_f32.argtypes = [_PTR, _FLOAT, _PTR, _FLOAT, _LONG]
        for fn in (lib.dl_relu_f32, lib.dl_relu_backward_f32, lib.dl_axpby_f32):
            fn.restype = None
        lib._dlcore_typed = True
    return lib


def usable(*arrays: Any) -> bool:
    """Whether the C kernels take these arrays: all float32 NumPy arrays (the callers pass
    contiguous blocks), and the library is built here."""
    return (all(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in arrays)
            and _lib() is not None)


def relu(out: np.ndarray, x: np.ndarray) -> None:
    """``out = max(x, 0)`` on contiguous 1-D float32 blocks (NaN and -0 stay, as in torch.relu)."""
    _lib().dl_relu_f32(x.ctypes.data, out.ctypes.data, out.size)


def relu_backward(out: np.ndarray, g: np.ndarray, x: np.ndarray) -> None:
    """``out = 0 where x <= 0, else g`` on contiguous 1-D float32 blocks (torch's threshold_backward)."""
    _lib().dl_relu_backward_f32(g.ctypes.data, x.ctypes.data, out.ctypes.data, out.size)


def axpby(y: np.ndarray, a: float, x: np.ndarray, b: float) -> None:
    """``y = a * y + b * x`` in place on contiguous 1-D float32 blocks, NumPy's roundings."""
    _lib().dl_axpby_f32(y.ctypes.data, a, x.ctypes.data, b, y.size)

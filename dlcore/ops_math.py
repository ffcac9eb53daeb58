"""More element-wise graph ops under PyTorch's names: ``log2``, ``log10``, ``tan``, ``erf`` and the
rounding family (``floor``, ``ceil``, ``round``, ``trunc``, whose gradient is zero, as PyTorch's).

Each is an ``ops._Unary``: the forward ``f(xp, x)`` and the derivative ``df(xp, x)``.

    >>> import numpy as np
    >>> Log2.f(np, np.array([8.0])).tolist(), Round.f(np, np.array([2.5, -0.5])).tolist()
    ([3.0], [2.0, -0.0])
"""

from __future__ import annotations

import math

from .backend import erf
from .ops import _Unary


class Log2(_Unary):
    f = staticmethod(lambda xp, x: xp.log2(x))
    df = staticmethod(lambda xp, x: 1 / (x * math.log(2.0)))


class Log10(_Unary):
    f = staticmethod(lambda xp, x: xp.log10(x))
    df = staticmethod(lambda xp, x: 1 / (x * math.log(10.0)))


class Tan(_Unary):
    f = staticmethod(lambda xp, x: xp.tan(x))
    df = staticmethod(lambda xp, x: 1 / xp.cos(x) ** 2)


class Erf(_Unary):
    f = staticmethod(lambda xp, x: erf(x))
    df = staticmethod(lambda xp, x: (2 / math.sqrt(math.pi)) * xp.exp(-x * x))


def _rounding(name: str, ufunc: str, doc: str) -> type:
    """An ``_Unary`` applying ``xp.<ufunc>`` whose gradient is zero (PyTorch's for rounding)."""
    return type(name, (_Unary,), {"f": staticmethod(lambda xp, x: getattr(xp, ufunc)(x)),
                                  "df": staticmethod(lambda xp, x: xp.zeros_like(x)), "__doc__": doc})


Floor = _rounding("Floor", "floor", "Round down.")
Ceil = _rounding("Ceil", "ceil", "Round up.")
Round = _rounding("Round", "round", "Round half to even, as PyTorch (and NumPy).")
Trunc = _rounding("Trunc", "trunc", "Round towards zero.")

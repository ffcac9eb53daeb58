"""Weight initialisation: normal, Xavier (Glorot) and He (Kaiming), from dlcore's seeded generator.

    >>> import numpy as np
    >>> w = initial_weight((256, 784), "he")
    >>> round(float(w.std()), 2)            # sqrt(2 / 784)
    0.05
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import cpu_rng, default_dtype

SCHEMES = ("he", "xavier", "normal")


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear (out, in) or Conv (out, in, kh, kw) weight."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def initial_weight(shape: tuple, scheme: str = "xavier", std: float = 0.1, dtype=None) -> np.ndarray:
    """A NumPy weight array drawn by ``scheme``.

    - "he": N(0, 2 / fan_in), for ReLU nets (He et al. 2015);
    - "xavier": U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), for tanh/sigmoid (Glorot 2010);
    - "normal": N(0, std^2), std = 0.1 as in lecture 003.
    """
    fan_in, fan_out = fans(shape)
    rng = cpu_rng()
    if scheme == "he":
        w = rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
    elif scheme == "xavier":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-bound, bound, shape)
    elif scheme == "normal":
        w = rng.standard_normal(shape) * std
    else:
        raise ValueError(f"init expected one of {SCHEMES}, got {scheme!r}")
    return w.astype(dtype or default_dtype())

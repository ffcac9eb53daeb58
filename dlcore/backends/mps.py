"""Apple's Metal backend: dlcore has none, so ``is_available()`` and ``is_built()`` are False.

    >>> is_available(), is_built()
    (False, False)
"""


def is_available() -> bool:
    """False: dlcore runs on the CPU (NumPy) and NVIDIA GPUs (CuPy) only."""
    return False


def is_built() -> bool:
    """False: dlcore is not built with MPS support."""
    return False

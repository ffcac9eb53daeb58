"""PyTorch's ``torch.accelerator``: is there an accelerator, and which one (CUDA, or none).

    >>> import dlcore
    >>> dlcore.accelerator.is_available() == dlcore.cuda.is_available()
    True
"""

from __future__ import annotations

from .backend import Device, cuda_device_count, cuda_is_available


def is_available() -> bool:
    """True when a CUDA device is usable."""
    return cuda_is_available()


def current_accelerator(check_available: bool = False) -> Device | None:
    """``device(type='cuda', index=0)`` when CUDA is usable, else None (PyTorch returns None without one).

    >>> current_accelerator() is None or current_accelerator().type == "cuda"
    True
    """
    return Device("cuda", 0) if cuda_is_available() else None


def device_count() -> int:
    """Number of accelerator devices (CUDA devices here)."""
    return cuda_device_count()


__all__ = ["current_accelerator", "device_count", "is_available"]

"""``dlcore.cuda``: is CUDA usable, and the GPU launchers for ``kernels/*.cu``.

Importing this package (or any of its submodules) never imports CuPy; CuPy is imported the
first time a launcher runs.

    >>> import dlcore
    >>> isinstance(dlcore.cuda.is_available(), bool)
    True

Launcher modules (see each one's docstring): ``dlcore.cuda.activation``, ``softmax``,
``conv``, ``pool``; ``dlcore.cuda.loader`` compiles and caches the kernel modules.
"""

import importlib

from ..backend import cuda_device_count as device_count
from ..backend import cuda_is_available as is_available
from ..backend import cuda_manual_seed, cuda_status, cupy_module

_SUBMODULES = ("activation", "conv", "loader", "pool", "softmax")


def unavailable_reason() -> str:
    """Why CUDA is not usable ('' when it is): not installed, no driver, no device, no NVRTC."""
    return cuda_status()[1]


def manual_seed(seed: int) -> None:
    """Seed the GPU generators (PyTorch's ``torch.cuda.manual_seed``); harmless without a GPU.

    >>> manual_seed(0)
    """
    cuda_manual_seed(seed)


manual_seed_all = manual_seed


def synchronize(device: object = None) -> None:
    """Wait for all GPU work to finish (``torch.cuda.synchronize``); a DeviceError without CUDA."""
    cp = cupy_module()
    index = None if device is None else getattr(device, "index", device)
    (cp.cuda.Device() if index is None else cp.cuda.Device(index)).synchronize()


def current_device() -> int:
    """The index of the current CUDA device; a DeviceError without CUDA."""
    return int(cupy_module().cuda.runtime.getDevice())


def __getattr__(name: str):
    """``dlcore.cuda.conv`` etc. without an explicit import (the submodules are light)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["current_device", "device_count", "is_available", "manual_seed", "manual_seed_all", "synchronize",
           "unavailable_reason", *_SUBMODULES]

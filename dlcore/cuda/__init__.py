"""``dlcore.cuda``: is CUDA usable, and the GPU launchers for ``kernels/*.cu``.

Importing this package never imports CuPy.

    >>> import dlcore
    >>> isinstance(dlcore.cuda.is_available(), bool)
    True
"""

from ..backend import cuda_device_count as device_count
from ..backend import cuda_is_available as is_available
from ..backend import cuda_status


def unavailable_reason() -> str:
    """Why CUDA is not usable ('' when it is): not installed, no driver, no device, no NVRTC."""
    return cuda_status()[1]


__all__ = ["device_count", "is_available", "unavailable_reason"]

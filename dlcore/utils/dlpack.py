"""DLPack interop, as ``torch.utils.dlpack``: exchange tensors with NumPy, PyTorch, CuPy, JAX without a copy.

``to_dlpack(t)`` gives a capsule (or use ``t`` itself: Tensors implement ``__dlpack__`` and
``__dlpack_device__``); ``from_dlpack(x)`` takes any object that implements the protocol (or a
capsule) and returns a Tensor sharing its memory. Gradients do not cross the boundary: an
exported tensor that requires grad must be ``detach()``-ed first, and an imported one is a leaf.

    >>> import numpy as np
    >>> a = np.arange(3.0)
    >>> t = from_dlpack(a); a[0] = 7.0; t.tolist()
    [7.0, 1.0, 2.0]
    >>> bool(np.shares_memory(np.from_dlpack(t), a))
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import cupy_module
from ..tensor import Tensor

_CPU, _CUDA, _CUDA_HOST, _CUDA_MANAGED = 1, 2, 3, 13


def to_dlpack(tensor: Tensor) -> Any:
    """A DLPack capsule for ``tensor``'s memory (no copy).

    >>> import dlcore
    >>> type(to_dlpack(dlcore.zeros(2))).__name__
    'PyCapsule'
    """
    return tensor.__dlpack__()


def from_dlpack(ext_tensor: Any) -> Tensor:
    """A Tensor sharing the memory of an object that implements DLPack (NumPy, PyTorch, CuPy, JAX) or a capsule.

    >>> import numpy as np
    >>> from_dlpack(np.ones(2, np.float32)).dtype
    dtype('float32')
    """
    if isinstance(ext_tensor, Tensor):
        return ext_tensor.detach()
    if not hasattr(ext_tensor, "__dlpack__"):
        if type(ext_tensor).__name__ == "PyCapsule":
            return Tensor(cupy_module().from_dlpack(ext_tensor))  # legacy capsules: CuPy still reads them
        raise TypeError(f"from_dlpack expected an object with __dlpack__ (or a DLPack capsule), got {type(ext_tensor).__name__}")
    device_type = ext_tensor.__dlpack_device__()[0]
    if device_type in (_CUDA, _CUDA_MANAGED):
        return Tensor(cupy_module().from_dlpack(ext_tensor))
    if device_type in (_CPU, _CUDA_HOST):
        return Tensor(np.from_dlpack(ext_tensor))
    raise TypeError(f"from_dlpack: DLPack device type {device_type} is not supported (CPU and CUDA are)")

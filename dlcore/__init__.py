"""dlcore: a small deep-learning framework from first principles (NumPy on CPU, CuPy + CUDA on GPU).

    >>> import numpy as np, dlcore as dl
    >>> x = dl.tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward(); x.grad.tolist()
    [[2.0, 4.0]]
"""

from . import cuda, data, datasets, functional, metrics, nn, optim, plot, preprocessing, train, utils
from .autograd import Function, enable_grad, is_grad_enabled, no_grad
from .backend import Device, default_dtype, device, get_array_module, manual_seed, set_default_dtype, to_device
from .errors import CheckpointError, DeviceError, DlcoreError, DTypeError, NonFiniteLossError, RangeError, ShapeError
from .serialization import load, save
from .tensor import Tensor, arange, ones, rand, randn, tensor, zeros
from .train import evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "cuda", "data", "datasets", "functional", "metrics", "nn", "optim", "plot", "preprocessing", "train", "utils",
    "evaluate", "fit", "predict",
    "Function", "enable_grad", "is_grad_enabled", "no_grad",
    "Device", "default_dtype", "device", "get_array_module", "manual_seed", "set_default_dtype", "to_device",
    "CheckpointError", "DeviceError", "DlcoreError", "DTypeError", "NonFiniteLossError", "RangeError", "ShapeError",
    "load", "save", "Tensor", "arange", "ones", "rand", "randn", "tensor", "zeros",
]

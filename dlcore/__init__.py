"""dlcore: a small deep-learning framework from first principles (NumPy on CPU, CuPy + CUDA on GPU).

``import dlcore as torch`` gives PyTorch's names for tensors, autograd and devices::

    >>> import numpy as np, dlcore as dl
    >>> x = dl.tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward(); x.grad.tolist()
    [[2.0, 4.0]]
"""

from . import accelerator, backends, cuda, functional
from .autograd import AutogradError, Function, enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .backend import (
    Device,
    default_dtype,
    device,
    get_array_module,
    get_default_device,
    manual_seed,
    set_default_device,
    set_default_dtype,
    to_device,
)
from .backend import default_dtype as get_default_dtype
from .creation import (
    arange,
    as_array,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .dtypes import (
    bfloat16,
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from .errors import (
    CheckpointError,
    DeviceError,
    DlcoreError,
    DTypeError,
    NonFiniteLossError,
    RangeError,
    ShapeError,
    UnsupportedArgumentError,
)
from .functions import (
    abs,
    allclose,
    amax,
    amin,
    argmax,
    argmin,
    argsort,
    cat,
    chunk,
    clamp,
    clip,
    clone,
    concat,
    concatenate,
    cos,
    cumsum,
    eq,
    equal,
    exp,
    flatten,
    gather,
    index_select,
    is_tensor,
    isfinite,
    isinf,
    isnan,
    log,
    log1p,
    log_softmax,
    logical_and,
    logical_not,
    logical_or,
    logsumexp,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    msort,
    norm,
    numel,
    permute,
    pow,
    prod,
    relu,
    reshape,
    sigmoid,
    sign,
    sin,
    softmax,
    sort,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    tanh,
    topk,
    transpose,
    unsqueeze,
    var,
    where,
)
from .tensor import Tensor
from .tensor_methods import use_functional
from .utils.dlpack import from_dlpack

use_functional(functional)  # Tensor.relu/sigmoid/tanh/softmax/log_softmax call dlcore.functional

from . import data, datasets, metrics, nn, optim, plot, preprocessing, train, utils  # noqa: E402
from .dtypes import bool, float, int  # noqa: E402  (last: they shadow the builtins in this module)
from .serialization import load, save  # noqa: E402
from .train import evaluate, fit, predict  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "accelerator", "backends", "cuda", "data", "datasets", "functional", "metrics", "nn", "optim", "plot",
    "preprocessing", "train", "utils", "evaluate", "fit", "predict", "load", "save",
    "AutogradError", "Function", "enable_grad", "inference_mode", "is_grad_enabled", "no_grad", "set_grad_enabled",
    "Device", "default_dtype", "device", "get_array_module", "get_default_device", "get_default_dtype",
    "manual_seed", "set_default_device", "set_default_dtype", "to_device",
    "arange", "as_array", "as_tensor", "empty", "empty_like", "eye", "from_numpy", "full", "full_like", "linspace",
    "normal", "ones", "ones_like", "rand", "rand_like", "randint", "randn", "randn_like", "randperm", "tensor", "zeros", "zeros_like",
    "bfloat16", "bool", "cdouble", "cfloat", "complex64", "complex128", "double", "float", "float16", "float32",
    "float64", "half", "int", "int8", "int16", "int32", "int64", "long", "short", "uint8",
    "CheckpointError", "DeviceError", "DlcoreError", "DTypeError", "NonFiniteLossError", "RangeError", "ShapeError",
    "UnsupportedArgumentError",
    "abs", "allclose", "amax", "amin", "argmax", "argmin", "cat", "chunk", "clamp", "clip", "clone", "concat",
    "argsort", "msort", "sort", "topk",
    "concatenate", "cos", "cumsum", "eq", "equal", "exp", "flatten", "gather", "index_select", "is_tensor",
    "isfinite", "isinf", "isnan", "log", "log1p", "log_softmax", "logical_and", "logical_not", "logical_or",
    "logsumexp", "masked_fill", "matmul", "max", "maximum", "mean", "min", "minimum", "norm", "numel", "permute",
    "pow", "prod", "relu", "reshape", "sigmoid", "sign", "sin", "softmax", "split", "sqrt", "squeeze", "stack",
    "std", "sum", "tanh", "transpose", "unsqueeze", "var", "where", "Tensor", "from_dlpack",
]

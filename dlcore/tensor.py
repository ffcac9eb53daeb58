"""Tensor: a NumPy or CuPy array that remembers how it was made, so it can backpropagate.

    >>> import dlcore
    >>> x = dlcore.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.numpy().tolist()
    [[2.0, 4.0], [6.0, 8.0]]

This file holds the Tensor itself (storage, autograd, conversion, operators, in-place ops);
the named methods (``sum``, ``view``, ``max``, ...) come from :mod:`dlcore.tensor_methods`.
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np

from . import autograd, ops
from .autograd import AutogradError
from .backend import Device, default_dtype, device_of, get_array_module, is_gpu_array, to_numpy
from .backend import device as parse_device
from .dtypes import cast_method, result_dtype, scalar_dtype, tensor_type_dtype, tensor_type_name, to_dtype
from .errors import DeviceError, DTypeError, ShapeError
from .ops_shape import GetItem, torch_index
from .tensor_inplace import InPlaceMethods
from .tensor_math import MathMethods
from .tensor_methods import TensorMethods, _shape_arg
from .tensor_sort import SortMethods


def _arithmetic(op: str, reflected: bool = False, floating: bool = False):
    """A Tensor operator method (``__add__``, ``__radd__``...) applying the graph op ``ops.<op>``
    after wrapping the other operand and promoting both to PyTorch's result dtype."""

    def method(self: "Tensor", other: Any) -> "Tensor":
        other = self._wrap(other)
        a, b = (other, self) if reflected else (self, other)
        return self._binary(getattr(ops, op), a, b, floating=floating)

    method.__name__ = method.__qualname__ = f"__{'r' if reflected else ''}{op.lower()}__"
    return method


def _elementwise(name: str, logical: bool = False):
    """A comparison (or, with ``logical``, a bitwise-logical) operator method: the array operator
    ``name`` on the raw arrays, a Tensor out, no gradient. A logical operator wraps a plain operand
    first (a number or array; anything else is a TypeError), a comparison hands it to the array."""

    def method(self: "Tensor", other: Any) -> "Tensor":
        if isinstance(other, Tensor) or logical:
            other = self._wrap(other).array
        return Tensor(self.xp.asarray(getattr(self.array, name)(other)))

    method.__name__ = method.__qualname__ = name
    return method


class Tensor(InPlaceMethods, TensorMethods, SortMethods, MathMethods):
    """An n-dimensional array on a device, with an optional gradient.

    Build one with :func:`dlcore.tensor`; ``Tensor(array)`` wraps a raw array without copying.
    """

    __array_priority__ = 1000  # numpy scalars defer to Tensor's operators
    _ctx: autograd.Function | None = None
    _base: "Tensor | None" = None  # the tensor this one is a view of (shares memory and version)
    _retains_grad = False
    _accumulator: Any = None
    grad: "Tensor | None" = None  # class defaults: a new tensor sets only what differs
    requires_grad: bool = False

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            data = data.array
        elif not (isinstance(data, np.ndarray) or is_gpu_array(data)):
            data = np.asarray(data)
        self.array = data
        self._version = [0]
        if requires_grad:
            self.requires_grad_(True)

    def _new(self, array: Any) -> "Tensor":
        """A plain Tensor (never a Parameter subclass) around a raw array."""
        return Tensor(array)

    # ------------------------------------------------------------------ properties
    @property
    def data(self) -> "Tensor":
        """PyTorch's ``.data``: a Tensor sharing this one's memory, outside the graph.

        The raw NumPy/CuPy array is ``.array``. Assigning ``t.data = other`` replaces the array.
        """
        out = Tensor(self.array)
        out._version = self._version
        return out

    @data.setter
    def data(self, value: Any) -> None:
        self.array = value.array if isinstance(value, Tensor) else value

    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def device(self) -> Device:
        return device_of(self.array)

    @property
    def is_cuda(self) -> bool:
        return is_gpu_array(self.array)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def xp(self) -> Any:
        """The array module of this tensor: numpy or cupy."""
        return get_array_module(self.array)

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (all tensors with ``requires_grad=False``)."""
        return self._ctx is None

    @property
    def grad_fn(self) -> autograd.Function | None:
        """The Function that made this tensor (None for a leaf); see ``.name()`` and ``.next_functions``."""
        return self._ctx

    @property
    def _version_number(self) -> int:
        return self._version[0]

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Any:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        extra = "" if self.device.type == "cpu" else f", device='{self.device}'"
        if self.dtype not in (np.float32, np.int64, np.bool_) and self.dtype != default_dtype():
            extra += f", dtype=dlcore.{self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.name()}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({np.array2string(to_numpy(self.array), separator=', ', prefix='tensor(')}{extra})"

    # ------------------------------------------------------------------ Python number protocol
    def _one_value(self, what: str) -> Any:
        if self.array.size != 1:
            raise ShapeError(f"{what} of a Tensor with {self.array.size} elements is ambiguous: "
                             "it needs exactly one element (use .any() / .all() or index one)")
        return to_numpy(self.array).reshape(()).item()

    def __bool__(self) -> bool:
        return bool(self._one_value("Boolean value"))

    def __float__(self) -> float:
        return float(self._one_value("float()"))

    def __int__(self) -> int:
        return int(self._one_value("int()"))

    def __index__(self) -> int:
        if self.dtype.kind not in "biu":
            raise TypeError(f"only integer tensors of a single element can be converted to an index, got dtype {self.dtype}")
        return int(self._one_value("__index__()"))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The numeric NumPy array (``np.asarray(t)``); a GPU tensor copies only with ``copy=True``."""
        if self.is_cuda and not copy:
            raise DeviceError("np.asarray() of a CUDA tensor would copy it to the host: call .cpu() "
                              "or .numpy() first (or np.array(t, copy=True))")
        out = to_numpy(self.array)
        if dtype is not None:
            out = out.astype(dtype, copy=False)
        return out.copy() if copy and out is self.array else out

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        """DLPack export of the raw array (zero-copy); gradients do not cross the boundary."""
        if self.requires_grad:
            raise AutogradError("can't export a tensor that requires grad through DLPack: use tensor.detach()")
        return self.array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple:
        return self.array.__dlpack_device__()

    # ------------------------------------------------------------------ autograd
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Turn gradient tracking on or off for this leaf tensor; floats only."""
        if requires_grad and self.dtype.kind not in "fc" and str(self.dtype) != "bfloat16":
            raise DTypeError(
                f"requires_grad needs a floating-point tensor, got dtype {self.dtype}: "
                "convert with .float() first"
            )
        if not requires_grad and self._ctx is not None:
            raise AutogradError("you can only change requires_grad flags of leaf variables; use .detach() for a "
                                "non-leaf tensor")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` of this non-leaf tensor after backward (a no-op on leaves), as PyTorch."""
        if not self.requires_grad:
            raise AutogradError("can't retain_grad on a tensor that has requires_grad=False")
        if self._ctx is not None:
            self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs: Any = None) -> None:
        """Accumulate the gradient of this tensor into every leaf's ``.grad`` (PyTorch's signature)."""
        if create_graph:
            raise AutogradError("backward(create_graph=True) is not supported: dlcore has no higher-order gradients")
        if inputs is not None:
            raise AutogradError("backward(inputs=...) is not supported: gradients go to every leaf")
        autograd.backward(self, gradient, retain_graph=retain_graph)

    def _accumulate_grad(self, g: Any, owned: bool = False) -> None:
        """Add ``g`` to ``.grad``; the first one is copied unless ``owned`` (nothing else holds it)
        and it is already a writeable C-contiguous array of this tensor's dtype and shape."""
        if self.grad is None:
            if not (owned and g.dtype == self.dtype and tuple(g.shape) == self.shape and g.flags.c_contiguous
                    and getattr(g.flags, "writeable", True)):  # CuPy's flags have no writeable
                g = self.xp.array(g, dtype=self.dtype, copy=True)
            self.grad = Tensor(g)
        else:
            self.grad.array = self.grad.array + g

    def _grad_accumulator(self) -> autograd.AccumulateGrad:
        if self._accumulator is None:
            self._accumulator = autograd.AccumulateGrad(self)
        return self._accumulator

    def detach(self) -> "Tensor":
        """The same memory, cut from the graph (shares the version counter, as PyTorch)."""
        return self.data

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph in place: it becomes a leaf."""
        self._ctx, self.requires_grad = None, False
        return self

    # ------------------------------------------------------------------ conversion
    def numpy(self, force: bool = False) -> np.ndarray:
        """The data as a NumPy array: shared on the CPU, a copy from the GPU.

        PyTorch refuses ``.numpy()`` on a CUDA tensor; dlcore copies (the one deliberate, permissive
        difference here, so that metrics and plots work on either device).
        """
        return to_numpy(self.array)

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        return self._one_value("item()")

    def tolist(self) -> Any:
        return to_numpy(self.array).tolist()

    def to(self, *args: Any, **kwargs: Any) -> "Tensor":
        """PyTorch's ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)``; gradients flow through.

        >>> import dlcore
        >>> dlcore.tensor([1, 2]).to(dlcore.float64).dtype
        dtype('float64')
        """
        dev, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        copy = kwargs.pop("copy", False)
        if kwargs:
            raise TypeError(f"Tensor.to() got unsupported argument(s) {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dev, dtype = a.device, a.dtype
            elif isinstance(a, Device) or (isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda", "auto", "mps")):
                dev = a
            elif a is not None:
                dtype = a
        out = self
        if dev is not None and parse_device(dev) != self.device:
            out = ops.ToDevice.apply(out, device=parse_device(dev))
        if dtype is not None and to_dtype(dtype) != out.dtype:
            out = ops.Cast.apply(out, dtype=to_dtype(dtype))
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device: Any = None, non_blocking: bool = False) -> "Tensor":
        index = 0 if device is None else device.index if isinstance(device, Device) else device
        return self.to(f"cuda:{index or 0}")

    def type(self, dtype: Any = None) -> Any:
        """Without an argument PyTorch's type string (``'torch.FloatTensor'``), else a cast copy."""
        if dtype is None:
            return tensor_type_name(self.dtype, self.is_cuda)
        return self.to(dtype=tensor_type_dtype(dtype) if isinstance(dtype, str) else dtype)

    float, double, half = cast_method("float"), cast_method("double"), cast_method("half")
    long, int, bool = cast_method("long"), cast_method("int"), cast_method("bool")

    def new_tensor(self, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> "Tensor":
        """A new tensor from ``data`` with this tensor's dtype and device unless given."""
        from .creation import tensor

        return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)  # type: ignore[attr-defined]

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> "Tensor":
        """A tensor of ``fill_value`` with this tensor's dtype and device unless given."""
        from .creation import full

        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,  # type: ignore[attr-defined]
                    requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> "Tensor":
        return self.new_full(_shape_arg(size), 0, dtype, device, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> "Tensor":
        return self.new_full(_shape_arg(size), 1, dtype, device, requires_grad)

    new_empty = new_zeros

    # ------------------------------------------------------------------ operators (PyTorch's type promotion)
    def _wrap(self, other: Any) -> "Tensor":
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (Number, np.bool_)) and not isinstance(other, np.generic):
            return Tensor(self.xp.asarray(other, dtype=scalar_dtype(other, self.dtype, default_dtype())))
        if isinstance(other, np.generic):
            return Tensor(self.xp.asarray(other))
        if isinstance(other, np.ndarray) or is_gpu_array(other):
            return Tensor(other)
        raise TypeError(f"unsupported operand: Tensor and {type(other).__name__}")

    @staticmethod
    def _binary(cls: type, a: "Tensor", b: "Tensor", floating: bool = False) -> "Tensor":
        """``cls.apply(a, b)`` after casting both to PyTorch's result dtype."""
        da, db = a.array.dtype, b.array.dtype
        dt = da if da == db else result_dtype(a.array, b.array)
        if floating and dt.kind not in "fcV":
            dt = default_dtype()
        if da != dt:
            a = ops.Cast.apply(a, dtype=dt)
        if db != dt:
            b = ops.Cast.apply(b, dtype=dt)
        return cls.apply(a, b)

    # Python's operators: the other operand is wrapped, both are promoted as PyTorch does.
    __add__, __radd__ = _arithmetic("Add"), _arithmetic("Add", reflected=True)
    __sub__, __rsub__ = _arithmetic("Sub"), _arithmetic("Sub", reflected=True)
    __mul__, __rmul__ = _arithmetic("Mul"), _arithmetic("Mul", reflected=True)
    __truediv__ = _arithmetic("Div", floating=True)
    __rtruediv__ = _arithmetic("Div", reflected=True, floating=True)

    def __floordiv__(self, other: Any) -> "Tensor":
        return Tensor(self.array // self._wrap(other).array)

    def __rfloordiv__(self, other: Any) -> "Tensor":
        return Tensor(self._wrap(other).array // self.array)

    def __mod__(self, other: Any) -> "Tensor":
        return Tensor(self.array % self._wrap(other).array)

    def __neg__(self) -> "Tensor":
        if self.dtype == np.bool_:
            raise DTypeError("negation, the `-` operator, on a bool tensor is not supported: use ~ or logical_not()")
        return ops.Neg.apply(self)

    def __pos__(self) -> "Tensor":
        return self

    def __abs__(self) -> "Tensor":
        return self.abs()

    def __pow__(self, exponent: Any) -> "Tensor":
        if isinstance(exponent, Number) and not isinstance(exponent, (bool, complex)):
            base = self
            if scalar_dtype(exponent, self.dtype, default_dtype()) != self.dtype:
                base = self.to(dtype=default_dtype())
            return ops.Pow.apply(base, exponent=exponent)
        return self._binary(ops.PowTensor, self, self._wrap(exponent))

    __rpow__ = _arithmetic("PowTensor", reflected=True)
    __matmul__, __rmatmul__ = _arithmetic("MatMul"), _arithmetic("MatMul", reflected=True)

    __and__, __or__ = _elementwise("__and__", logical=True), _elementwise("__or__", logical=True)
    __xor__ = _elementwise("__xor__", logical=True)

    def __invert__(self) -> "Tensor":
        if self.dtype.kind not in "biu":
            raise DTypeError(f"~ (bitwise not) needs an integer or bool tensor, got dtype {self.dtype}")
        return Tensor(~self.array)

    # comparisons give boolean tensors without gradients
    __eq__, __ne__ = _elementwise("__eq__"), _elementwise("__ne__")  # type: ignore[assignment]
    __lt__, __le__ = _elementwise("__lt__"), _elementwise("__le__")
    __gt__, __ge__ = _elementwise("__gt__"), _elementwise("__ge__")
    __hash__ = object.__hash__

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, index: Any) -> "Tensor":
        return GetItem.apply(self, index=torch_index(index))


# The factory functions live in dlcore.creation; these two stay importable from here for the
# functional layer (``from ..tensor import Tensor, as_tensor``).
from .creation import as_tensor, tensor  # noqa: E402

__all__ = ["Tensor", "as_tensor", "tensor"]

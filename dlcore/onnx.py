"""Export a dlcore model to ONNX, for deployment with onnxruntime, TensorRT, OpenVINO and friends.

The model must be built from dlcore's layers, nested in ``Sequential`` containers (``MLP`` and the
reference models in :mod:`dlcore.models` are). The graph is built and checked with the ``onnx``
package (``pip install 'dlcore[interop]'``); the batch dimension stays dynamic.

    >>> import dlcore, dlcore.nn as nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.onnx")
    >>> export(model, dlcore.zeros(1, 4), path)          # doctest: +SKIP
    >>> import onnxruntime                               # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession(path)     # doctest: +SKIP

Layers that have no ONNX translation here raise :class:`UnsupportedLayerError` naming the layer.
Export runs the model in eval mode (Dropout is the identity, BatchNorm uses its running
statistics) and restores the mode afterwards.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import nn
from .backend import to_numpy
from .errors import DlcoreError
from .tensor import Tensor, as_tensor

__all__ = ["export", "UnsupportedLayerError", "DEFAULT_OPSET"]

#: The ONNX opset the exporter writes (Softmax along one axis needs 13 or later).
DEFAULT_OPSET = 17


class UnsupportedLayerError(DlcoreError, TypeError):
    """A layer (or a layer option) that :func:`export` cannot translate to ONNX."""


class _Graph:
    """The nodes and initializers being collected, with unique names."""

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx, self.dtype = onnx, dtype
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, hint: str, value: Any, dtype: Any = None) -> str:
        array = np.asarray(to_numpy(value.array) if isinstance(value, Tensor) else value,
                           dtype=dtype or self.dtype)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], **attrs))
        return out


def _pair(value: Any) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (tuple, list)) else [int(value)] * 2


def _conv_pads(layer: Any, in_shape: tuple) -> list[int]:
    """ONNX pads [top, left, bottom, right] for a Conv2d layer's padding spec."""
    from .functional.window import padding4  # the one place that interprets conv padding

    top, bottom, left, right = padding4(layer.padding, tuple(layer.kernel_size), tuple(layer.stride),
                                         tuple(layer.dilation), layer.name if hasattr(layer, "name") else "Conv2d")
    return [top, left, bottom, right]


def _linear(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
    y = g.node("MatMul", [x, g.constant("weight_t", to_numpy(layer.weight.array).T)])
    return g.node("Add", [y, g.constant("bias", layer.bias)]) if layer.bias is not None else y


def _conv2d(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
    if getattr(layer, "padding_mode", "zeros") != "zeros":
        raise UnsupportedLayerError(f"export: Conv2d(padding_mode={layer.padding_mode!r}) has no ONNX translation here")
    inputs = [x, g.constant("weight", layer.weight)]
    if layer.bias is not None:
        inputs.append(g.constant("bias", layer.bias))
    return g.node("Conv", inputs, kernel_shape=_pair(layer.kernel_size), strides=_pair(layer.stride),
                  dilations=_pair(layer.dilation), pads=_conv_pads(layer, shape), group=int(getattr(layer, "groups", 1)))


def _pool_attrs(layer: Any) -> dict:
    ph, pw = _pair(layer.padding)
    attrs = dict(kernel_shape=_pair(layer.kernel_size), strides=_pair(layer.stride), pads=[ph, pw, ph, pw],
                 ceil_mode=int(bool(getattr(layer, "ceil_mode", False))))
    return attrs


def _max_pool(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
    attrs = _pool_attrs(layer)
    dilation = getattr(layer, "dilation", 1)
    if _pair(dilation) != [1, 1]:
        attrs["dilations"] = _pair(dilation)
    return g.node("MaxPool", [x], **attrs)


def _avg_pool(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
    attrs = _pool_attrs(layer)
    attrs["count_include_pad"] = int(bool(getattr(layer, "count_include_pad", True)))
    if getattr(layer, "divisor_override", None) is not None:
        raise UnsupportedLayerError("export: AvgPool2d(divisor_override=...) has no ONNX translation")
    return g.node("AveragePool", [x], **attrs)


def _adaptive_avg_pool(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
    if _pair(layer.output_size) != [1, 1]:
        raise UnsupportedLayerError(f"export: AdaptiveAvgPool2d(output_size={layer.output_size}) is exported only "
                                    "for output_size 1 (GlobalAveragePool)")
    return g.node("GlobalAveragePool", [x])


def _batch_norm(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
    if layer._buffers.get("running_mean") is None:
        raise UnsupportedLayerError(f"export: {type(layer).__name__}(track_running_stats=False) has no eval-mode "
                                    "statistics to export")
    c = layer.num_features
    scale = layer.weight if layer.weight is not None else np.ones(c)
    bias = layer.bias if layer.bias is not None else np.zeros(c)
    inputs = [x, g.constant("bn_scale", scale), g.constant("bn_bias", bias),
              g.constant("bn_mean", layer._buffers["running_mean"]), g.constant("bn_var", layer._buffers["running_var"])]
    return g.node("BatchNormalization", inputs, epsilon=float(layer.eps))


def _flatten(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
    start = layer.start_dim % len(shape)
    end = getattr(layer, "end_dim", -1) % len(shape)
    if start == 1 and end == len(shape) - 1:
        return g.node("Flatten", [x], axis=1)
    if start == 0:
        raise UnsupportedLayerError("export: Flatten(start_dim=0) would merge the dynamic batch dimension")
    new = [0] + list(shape[1:start]) + [int(np.prod(shape[start:end + 1]))] + list(shape[end + 1:])
    return g.node("Reshape", [x, g.constant("shape", new, np.int64)])


def _softmax(op: str) -> Callable:
    def convert(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
        axis = getattr(layer, "dim", getattr(layer, "axis", -1))
        return g.node(op, [x], axis=int(-1 if axis is None else axis))
    return convert


def _simple(op: str, **attrs_from_layer: str) -> Callable:
    def convert(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
        attrs = {k: float(getattr(layer, v)) for k, v in attrs_from_layer.items()}
        return g.node(op, [x], **attrs)
    return convert


def _silu(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


def _gelu(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
    if getattr(layer, "approximate", "none") != "none":
        raise UnsupportedLayerError("export: GELU(approximate='tanh') is not exported; use GELU()")
    erf = g.node("Erf", [g.node("Div", [x, g.constant("sqrt2", np.sqrt(2.0))])])
    half_x = g.node("Mul", [x, g.constant("half", 0.5)])
    return g.node("Mul", [half_x, g.node("Add", [erf, g.constant("one", 1.0)])])


def _identity(g: _Graph, layer: Any, x: str, shape: tuple) -> str:
    return x


def _converters() -> dict[str, Callable]:
    """Layer class name -> converter. Names, so layers added later need no import here."""
    return {
        "Linear": _linear, "Conv2d": _conv2d, "MaxPool2d": _max_pool, "AvgPool2d": _avg_pool,
        "AdaptiveAvgPool2d": _adaptive_avg_pool, "BatchNorm1d": _batch_norm, "BatchNorm2d": _batch_norm,
        "Flatten": _flatten, "Softmax": _softmax("Softmax"), "LogSoftmax": _softmax("LogSoftmax"),
        "ReLU": _simple("Relu"), "Sigmoid": _simple("Sigmoid"), "Tanh": _simple("Tanh"),
        "LeakyReLU": _simple("LeakyRelu", alpha="negative_slope"), "ELU": _simple("Elu", alpha="alpha"),
        "SiLU": _silu, "GELU": _gelu, "Identity": _identity, "Dropout": _identity, "Dropout2d": _identity,
    }


def _leaves(model: Any) -> list:
    """The layers of a model made of nested Sequential containers, in order."""
    if isinstance(model, nn.Sequential):
        return [leaf for child in model for leaf in _leaves(child)]
    return [model]


def export(model: Any, example_input: Any, path: str, opset_version: int = DEFAULT_OPSET,
           input_names: tuple[str, ...] = ("input",), output_names: tuple[str, ...] = ("output",)) -> Any:
    """Write ``model`` as an ONNX file at ``path`` and return the checked ``onnx.ModelProto``.

    ``example_input`` fixes every dimension but the first (the batch, left dynamic).
    """
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("dlcore.onnx.export needs the onnx package: pip install 'dlcore[interop]'") from exc
    x = as_tensor(example_input)
    if x.dtype.kind != "f":
        raise UnsupportedLayerError(f"export expected a floating-point example input, got dtype {x.dtype}")
    converters, layers = _converters(), _leaves(model)
    for layer in layers:
        if type(layer).__name__ not in converters:
            raise UnsupportedLayerError(
                f"export: {type(layer).__name__} has no ONNX translation (supported: {', '.join(sorted(converters))}; "
                "models must be Sequential stacks of these layers)")
    g = _Graph(onnx, x.dtype)
    was_training = [m.training for m in model.modules()]
    model.eval()
    try:
        name = input_names[0]
        from .autograd import no_grad

        with no_grad():
            value = x
            for layer in layers:
                name = converters[type(layer).__name__](g, layer, name, value.shape)
                value = layer(value)
    finally:
        for m, mode in zip(model.modules(), was_training):
            m.training = mode
    g.nodes.append(onnx.helper.make_node("Identity", [name], [output_names[0]]))
    elem = onnx.helper.np_dtype_to_tensor_dtype(x.dtype)
    inp = onnx.helper.make_tensor_value_info(input_names[0], elem, ["batch", *x.shape[1:]])
    out = onnx.helper.make_tensor_value_info(output_names[0], elem, ["batch", *value.shape[1:]])
    graph = onnx.helper.make_graph(g.nodes, "dlcore_model", [inp], [out], g.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset_version)],
                                   producer_name="dlcore")
    proto.ir_version = min(proto.ir_version, 8)  # readable by onnxruntime releases of the last years
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, path)
    return proto

"""Convert an ONNX model (a file or an ``onnx.ModelProto``) to a Net.

Walks the graph once in its (topological) node order. Nodes computing only
on constants are folded - weights and the shape arithmetic exporters write
never become layers; nodes computing on the data become one Strata layer per
used output, named after the node (or after the output where the node has
no name, or for a node's further outputs). Every node that cannot be
converted - an unknown op, another domain's op, an unsupported option - is
collected, and all of them are reported in one ConversionError.

Weights kept beside the model (``external_data``, e.g. PyTorch's
``model.onnx.data``) are read only from inside the model's own folder.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from viewer.convert.onnx_ops import Ops
from viewer.convert.onnx_rnn import recurrent
from viewer.convert.onnx_values import (BatchConst, Refused, Tensor, Unknown, fold, foldable, is_const,
                                        shape_of)
from viewer.errors import ConversionError, FileFormatError, LayerError, file_error
from viewer.net import Net
from viewer.net.layers import Input, Layer


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is a dev/converter requirement
        raise ConversionError("converting ONNX needs the 'onnx' package (pip install onnx)") from None
    return onnx


def load_model(path: str) -> Any:
    """Read an ONNX file and its external weights, which must sit inside its folder."""
    onnx = _onnx()
    if not os.path.isfile(path):
        raise file_error(path, "no such file")
    if os.path.getsize(path) == 0:
        raise file_error(path, "empty file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf reports damage as several exception types
        raise file_error(path, f"not an ONNX model ({type(exc).__name__})") from None
    if not model.graph.node or model.ir_version <= 0:
        raise file_error(path, "not an ONNX model (no graph)")
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for tensor in _all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            _read_external(onnx, tensor, folder, path)
    return model


def _all_tensors(model: Any) -> list:
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                tensors.append(attr.t)
    return tensors


def _read_external(onnx: Any, tensor: Any, folder: str, path: str) -> None:
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    where = f"tensor {tensor.name!r}'s external data {location!r}"
    full = os.path.realpath(os.path.join(folder, location))
    if not location or os.path.isabs(location) or os.path.commonpath([full, folder]) != folder:
        raise file_error(path, f"{where} points outside the model's folder; refused")
    if not os.path.isfile(full):
        raise file_error(path, f"{where} is missing")
    itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    need = int(np.prod(tensor.dims, dtype=np.float64)) * itemsize
    offset = int(info.get("offset", 0))
    length = int(info.get("length", need))
    if length != need or offset < 0 or offset + length > os.path.getsize(full):
        raise file_error(path, f"{where}: {length:,} bytes at {offset:,} do not hold shape "
                               f"{list(tensor.dims)} in a file of {os.path.getsize(full):,} bytes")
    with open(full, "rb") as fh:
        fh.seek(offset)
        tensor.raw_data = fh.read(length)
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.DEFAULT


def convert_onnx(source: Any) -> Net:
    """Convert an ONNX model.

    Parameters
    ----------
    source : str, PathLike or onnx.ModelProto
        A .onnx file (with its external data in the same folder), or a model
        already in memory.

    Raises
    ------
    FileFormatError
        Not a readable ONNX model, or external data outside the model's folder.
    ConversionError
        Nodes that cannot be converted; the message lists every one.
    """
    onnx = _onnx()
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        model = load_model(path)
        name = os.path.splitext(os.path.basename(path))[0]
    else:
        path, model = "<onnx model>", source
        name = model.graph.name or "onnx"
    try:
        return _Converter(onnx, model, path).run(name)
    except (ConversionError, LayerError) as exc:
        text = str(exc)
        raise ConversionError(text if text.startswith(path) else f"{path}: {text}") from None


class _Converter:
    """One conversion: the values of the graph's tensors and the layers made so far."""

    def __init__(self, onnx: Any, model: Any, path: str) -> None:
        self.onnx, self.model, self.path = onnx, model, path
        graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.values: dict[str, Any] = {}
        self.layers: list[Layer] = []
        self.names: set[str] = set()
        self.refused: list[str] = []
        for init in graph.initializer:
            self.values[init.name] = self._array(init)
        self.used = {i for node in graph.node for i in node.input} | {o.name for o in graph.output}
        static_batch = self._inputs(graph)
        self.ops = Ops(self._name, self.opset, static_batch)
        self.handlers = self.ops.handlers()
        for op in ("LSTM", "GRU", "RNN"):
            self.handlers[op] = lambda node, ins, attrs: recurrent(self.ops, self.used, node, ins, attrs)

    def _array(self, tensor: Any) -> np.ndarray:
        try:
            return self.onnx.numpy_helper.to_array(tensor)
        except Exception as exc:
            raise FileFormatError(f"tensor {tensor.name!r} is damaged ({exc})") from None

    def _inputs(self, graph: Any) -> int | None:
        """Make the Input layers; return the batch size if the model fixes it."""
        static = None
        for value in graph.input:
            if value.name in self.values:
                continue  # an initializer listed as an input (older exporters)
            dims = [d.dim_value if d.HasField("dim_value") else None
                    for d in value.type.tensor_type.shape.dim]
            if not dims:
                raise ConversionError(f"input {value.name!r} has no batch axis")
            static = dims[0]
            layer = Input(name=self._unique(value.name), shape=dims[1:],
                          data_format="channels_first" if len(dims) == 4 else None)
            self.layers.append(layer)
            self.values[value.name] = Tensor(layer, 0)
        return static

    def _unique(self, wanted: str) -> str:
        name, i = wanted or "node", 2
        while name in self.names:
            name, i = f"{wanted}_{i}", i + 1
        self.names.add(name)
        return name

    def _name(self, node: Any, index: int) -> str:
        if index == 0 and node.name:
            return self._unique(node.name)
        return self._unique(node.output[index] or f"{node.op_type}_{index}")

    def _attrs(self, node: Any) -> dict:
        attrs = {}
        for attr in node.attribute:
            if attr.type in (self.onnx.AttributeProto.GRAPH, self.onnx.AttributeProto.GRAPHS):
                raise Refused("control flow (sub-graphs) is not supported")
            value = self.onnx.helper.get_attribute_value(attr)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            elif isinstance(value, list) and value and isinstance(value[0], bytes):
                value = [v.decode("utf-8", "replace") for v in value]
            elif attr.type == self.onnx.AttributeProto.TENSOR:
                value = self._array(value)
            attrs[attr.name] = value
        return attrs

    def run(self, name: str) -> Net:
        for node in self.model.graph.node:
            self._node(node)
        if self.refused:
            count = "1 node" if len(self.refused) == 1 else f"{len(self.refused)} nodes"
            raise ConversionError(f"cannot convert {count}: " + "; ".join(self.refused))
        outputs = [self.values.get(o.name) for o in self.model.graph.output]
        if not any(isinstance(v, Tensor) for v in outputs):
            raise ConversionError("no model output depends on the input")
        producer = " ".join(p for p in (self.model.producer_name, self.model.producer_version) if p)
        source = f"ONNX opset {self.opset}{f' ({producer})' if producer else ''}: {self.path}"
        net = Net(self.layers, name=name, source=source)
        for layer in net:
            layer.output_shape  # noqa: B018 - every shape is checked now, not in the viewer
        return net

    def _refuse(self, node: Any, reason: str) -> None:
        where = node.name or (node.output[0] if node.output else "?")
        self.refused.append(f"{node.op_type} {where!r} ({reason})")
        for out in node.output:
            self.values[out] = Unknown("refused")

    def _node(self, node: Any) -> None:
        missing = [i for i in node.input if i and i not in self.values]
        if missing:
            raise FileFormatError(f"node {node.name or node.op_type!r} reads {missing}, which no "
                                  "earlier node makes")
        inputs = [self.values[i] if i else None for i in node.input]
        unknown = [v for v in inputs if isinstance(v, Unknown)]
        if node.domain not in ("", "ai.onnx"):
            return self._refuse(node, f"an op of domain {node.domain!r}")
        known = node.op_type in self.handlers or foldable(node.op_type) or node.op_type == "Constant"
        try:
            attrs = self._attrs(node)
            if not known:
                raise Refused("not supported")
            if unknown:
                outs = self._from_unknown(node, unknown[0], inputs)
            elif node.op_type == "Shape" and isinstance(inputs[0], Tensor):
                dims = shape_of(inputs[0])
                outs = [dims if isinstance(dims, Unknown) else dims[attrs.get("start", 0):attrs.get("end")]]
            elif node.op_type == "Constant":
                outs = [self._constant(attrs)]
            elif all(v is None or is_const(v) for v in inputs) and foldable(node.op_type):
                outs = fold(node.op_type, attrs, inputs)
            elif not any(isinstance(v, Tensor) for v in inputs):
                outs = self._batch_const(node, inputs, attrs)
            elif node.op_type in self.handlers:
                outs = self.handlers[node.op_type](node, inputs, attrs)
            else:
                raise Refused("supported on constants only, not on data")
        except Refused as exc:
            return self._refuse(node, str(exc))
        except (ValueError, IndexError, TypeError, KeyError) as exc:
            return self._refuse(node, f"cannot be computed ({type(exc).__name__}: {exc})")
        for out, value in zip(node.output, outs):
            if out:
                self.values[out] = value
                if isinstance(value, Tensor) and value.layer not in self.layers:
                    self.layers.append(value.layer)

    def _from_unknown(self, node: Any, value: Unknown, inputs: list) -> list:
        if value.reason == "refused":
            return [value] * len(node.output)  # reported where it started
        if foldable(node.op_type) and not any(isinstance(v, Tensor) for v in inputs):
            return [value] * len(node.output)  # an error only if data ever needs it
        raise Refused(f"it reads {value.reason}, which cannot be followed")

    def _constant(self, attrs: dict) -> np.ndarray:
        for key in ("value", "value_float", "value_int", "value_floats", "value_ints"):
            if key in attrs:
                return np.asarray(attrs[key])
        raise Refused("a Constant without a numeric value")

    def _batch_const(self, node: Any, inputs: list, attrs: dict) -> list:
        """Fold an op on constants where some repeat along the batch (e.g. a zero state).

        The op runs twice, with the batch-sized inputs repeated 2 and 3 times
        along their batch axis; the one output axis whose size follows is the
        batch axis of the result, which must not vary along it.
        """
        if not foldable(node.op_type):
            raise Refused("not supported")
        runs = []
        for copies in (2, 3):
            plain = [np.repeat(v.value, copies, axis=v.batch_axis) if isinstance(v, BatchConst) else v
                     for v in inputs]
            try:
                runs.append(fold(node.op_type, attrs, plain))
            except (ValueError, IndexError, TypeError, ConversionError):
                return [Unknown(f"{node.op_type} of a batch-sized constant")] * len(node.output)
        outs = []
        for two, three in zip(*runs):
            if not (is_const(two) and is_const(three)) or two.ndim != three.ndim:
                outs.append(Unknown(f"{node.op_type} of a batch-sized constant"))
                continue
            axes = [a for a in range(two.ndim) if two.shape[a] != three.shape[a]]
            if len(axes) != 1 or two.shape[axes[0]] != 2 or \
                    not np.all(np.take(three, [0], axes[0]) == three):
                outs.append(Unknown(f"{node.op_type} mixing the batch"))
                continue
            outs.append(BatchConst(np.take(two, [0], axis=axes[0]), axes[0]))
        return outs

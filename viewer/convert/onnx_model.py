"""Convert an ONNX model (a file or an ``onnx.ModelProto``) to a Net.

Walks the graph once in its (topological) node order. Nodes computing only
on constants are folded - weights and the shape arithmetic exporters write
never become layers; nodes computing on the data become one Strata layer per
used output, named after the node (or after the output where the node has
no name, or for a node's further outputs). Every node that cannot be
converted - an unknown op, another domain's op, an unsupported option - is
collected, and all of them are reported in one ConversionError.

Reading the file and its external weights is :mod:`viewer.convert.onnx_file`'s job.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viewer.convert.onnx_budget import FoldBudget
from viewer.convert.onnx_control import branch_shapes, if_parts, next_picks
from viewer.convert.onnx_file import load_model, onnx_package
from viewer.convert.onnx_generic import (constant_layer, inferred_shapes, op_key, operator_layers,
                                         restore_batch)
from viewer.convert.onnx_names import layer_names
from viewer.convert.onnx_ops import Ops
from viewer.convert.onnx_rnn import recurrent
from viewer.convert.onnx_values import (BATCH, BatchConst, Refused, Tensor, Unknown, foldable, is_const,
                                        shape_of)
from viewer.errors import ConversionError, FileFormatError, LayerError, StrataError
from viewer.net import Net
from viewer.net.layers import Input, Layer
from viewer.net.operators import OPERATORS, compute


@dataclass
class OnnxLayout:
    """Where each ONNX graph input and output lives in a converted net.

    Attributes
    ----------
    inputs, outputs : dict
        ONNX name -> (layer name, batch axis): the Strata layer holding the
        tensor, and the ONNX axis that is Strata's batch axis, or None where
        the whole ONNX tensor is one Strata sample (a net run one sample at
        a time, or an input without a batch axis).
    """

    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)

    def feed(self, arrays: dict) -> dict:
        """ONNX input arrays -> the net's input dict (batch first)."""
        out = {}
        for name, (layer, axis) in self.inputs.items():
            value = np.asarray(arrays[name])
            out[layer] = value[None] if axis is None else np.moveaxis(value, axis, 0)
        return out

    def fetch(self, name: str, value: np.ndarray) -> np.ndarray:
        """A Strata output (batch first) -> the ONNX output ``name`` for a batch of one
        net-sample (where the whole tensor is a sample) or the whole batch."""
        axis = self.outputs[name][1]
        return value[0] if axis is None else np.moveaxis(value, 0, axis)


def convert_onnx(source: Any, inputs: dict | None = None) -> Net:
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
    return convert_onnx_layout(source, inputs)[0]


#: Refused nodes named per (op type, reason); the rest are counted.
NAMED_REFUSALS = 3


def refusal_text(refused: dict[tuple[str, str], list[str]]) -> str:
    """One line for the nodes a conversion refused, grouped by op type and reason.

    ``refused`` maps (op type, reason) to the nodes' names; e.g. "cannot convert
    3 nodes: Reshape 'a', 'b', 'c' (it reads a shape ...)".
    """
    total = sum(len(names) for names in refused.values())
    parts = []
    for (op, reason), names in refused.items():
        shown = ", ".join(repr(n) for n in names[:NAMED_REFUSALS])
        more = len(names) - NAMED_REFUSALS
        parts.append(f"{op} {shown}{f' and {more} more' if more > 0 else ''} ({reason})")
    return f"cannot convert {'1 node' if total == 1 else f'{total} nodes'}: " + "; ".join(parts)


def convert_onnx_layout(source: Any, inputs: dict | None = None) -> tuple[Net, OnnxLayout]:
    """:func:`convert_onnx`, plus where the graph's inputs and outputs are in the net."""
    onnx = onnx_package()
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        model = load_model(path)
        name = os.path.splitext(os.path.basename(path))[0]
    else:
        path, model = "<onnx model>", source
        name = model.graph.name or "onnx"
    try:
        try:
            converter = _Converter(onnx, model, path, per_sample=False, given=inputs)
            net = converter.run(name)
        except (ConversionError, LayerError) as exc:
            # The batch axis cannot be followed everywhere: run one sample at a time.
            converter, net = _per_sample(onnx, model, path, name, inputs)
            why = str(exc).split(": ", 1)[-1]
            net.source += f"; runs one sample at a time, because batch first {why}"
        return net, converter.layout
    except StrataError as exc:
        text = str(exc)
        kind = type(exc) if isinstance(exc, (FileFormatError, ConversionError)) else ConversionError
        raise (exc if text.startswith(path) else kind(f"{path}: {text}")) from None
    except (AttributeError, TypeError, ValueError, IndexError, KeyError, OverflowError,
            ZeroDivisionError, RecursionError) as exc:  # a graph no exporter writes
        raise ConversionError(f"{path}: the graph cannot be converted as written "
                              f"({type(exc).__name__}: {exc})") from None


MAX_ATTEMPTS = 8  # conversions tried for the branch choices of run-time Ifs


def _per_sample(onnx: Any, model: Any, path: str, name: str, inputs: dict | None) -> tuple:
    """(converter, net) converted to run one sample at a time, trying the branch choices of
    run-time Ifs whose branches differ in rank until one converts; else the first refusal."""
    picks: dict | None = {}
    first = None
    for _ in range(MAX_ATTEMPTS):
        converter = _Converter(onnx, model, path, per_sample=True, given=inputs, picks=picks)
        try:
            return converter, converter.run(name)
        except (ConversionError, LayerError) as exc:
            first = first or exc
            picks = next_picks(converter.speculative, converter.picks)
            if picks is None:
                break
    raise first


# Ops that compute every sample on its own wherever its batch axis is: one element at a time,
# or only moving axes around it. Batch first, those without a handler for a case are kept as ONNX
# ops when ONNX's shape inference follows the batch axis through them.
BATCH_LOCAL = frozenset("""Relu LeakyRelu Elu Selu Celu Sigmoid HardSigmoid HardSwish Mish Softplus
Softsign Tanh Gelu Swish Erf Exp Log Sqrt Abs Neg Reciprocal Floor Ceil Round Sign Sin Cos Tan Identity
Not IsNaN IsInf Cast Shrink ThresholdedRelu Squeeze Unsqueeze""".split())


def _reads(graph: Any) -> set[str]:
    """Every tensor name read by a node of ``graph`` or of its sub-graphs."""
    names = set()
    for node in graph.node:
        names.update(node.input)
        for attr in node.attribute:
            if attr.HasField("g"):
                names |= _reads(attr.g) | {o.name for o in attr.g.output}
    return names


class _Converter:
    """One conversion: the values of the graph's tensors and the layers made so far."""

    def __init__(self, onnx: Any, model: Any, path: str, per_sample: bool,
                 given: dict | None = None, picks: dict | None = None) -> None:
        self.onnx, self.model, self.path = onnx, model, path
        self.per_sample = per_sample
        # Run-time Ifs whose branches give different ranks: (node, number of choices) met,
        # and the choice made for each (index into the choices; 0 if not given).
        self.speculative: list[tuple[str, int]] = []
        self.picks = dict(picks or {})
        self.given = dict(given or {})
        graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.values: dict[str, Any] = {}
        self.layers: list[Layer] = []
        self.names: set[str] = set()
        # (op type, reason) -> the names of the nodes refused for it, in graph order.
        self.refused: dict[tuple[str, str], list[str]] = {}
        self.budget = FoldBudget(model.ByteSize())
        self.layout = OnnxLayout()
        for init in graph.initializer:
            self.values[init.name] = self._array(init)
        self.used = _reads(graph) | {o.name for o in graph.output}
        static_batch = self._inputs(graph)
        # Names from the exporter's module scopes, for every node in graph order.
        by_index = layer_names(graph, set(self.names))
        self.node_names = {(tuple(node.output), i): by_index[(n, i)]
                           for n, node in enumerate(graph.node) for i in range(len(node.output))}
        self._shapes: tuple[dict, dict] | None = None
        if per_sample:
            static_batch = 1
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
        names = [v.name for v in graph.input]
        unknown = sorted(set(self.given) - set(names))
        if unknown:
            raise ConversionError(f"--input names {unknown}, which the graph does not have "
                                  f"(its inputs: {names})")
        for value in graph.input:
            if value.name in self.given:
                self.values[value.name] = self._given(value)
                continue
            if value.name in self.values:
                continue  # an initializer listed as an input: its value is the default
            dims = [d.dim_value if d.HasField("dim_value") else None
                    for d in value.type.tensor_type.shape.dim]
            first = value.type.tensor_type.shape.dim[0].dim_param if dims else ""
            # A first axis the exporter named as time or length is no batch.
            timed = bool(re.search(r"seq|len|time|step|frame", first, re.IGNORECASE))
            whole = not dims or (self.per_sample and (dims[0] not in (None, 1) or timed))
            if not dims and not self.per_sample:
                raise ConversionError(f"input {value.name!r} has no batch axis")
            if not whole:
                static = dims[0]
            layer = Input(name=self._unique(value.name), shape=dims if whole else dims[1:],
                          data_format="channels_first" if len(dims) == 4 and not whole else None)
            self.layers.append(layer)
            axis = None if whole else 0
            self.values[value.name] = Tensor(layer, axis)
            self.layout.inputs[value.name] = (layer.name, axis)
        return static

    def _given(self, value: Any) -> np.ndarray:
        """A side input's value from ``--input NAME=VALUE``, in the input's type and shape."""
        tensor = value.type.tensor_type
        try:
            dtype = self.onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
            array = np.asarray(self.given[value.name], dtype=dtype)
        except (TypeError, ValueError, KeyError) as exc:
            raise ConversionError(f"--input {value.name}: not a value of the input's type ({exc})") from None
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if tensor.HasField("shape") and (array.ndim != len(dims) or
                                         any(d is not None and d != n for d, n in zip(dims, array.shape))):
            raise ConversionError(f"--input {value.name}: shape {array.shape} does not fit the "
                                  f"input's {tuple('?' if d is None else d for d in dims)}")
        return array

    def _unique(self, wanted: str) -> str:
        name, i = wanted or "node", 2
        while name in self.names:
            name, i = f"{wanted}_{i}", i + 1
        self.names.add(name)
        return name

    def _name(self, node: Any, index: int) -> str:
        wanted = self.node_names.get((tuple(node.output), index))
        if wanted is not None:
            return self._unique(wanted)
        if index == 0 and node.name:  # a node of a sub-graph
            return self._unique(node.name)
        return self._unique(node.output[index] or f"{node.op_type}_{index}")

    def _attrs(self, node: Any) -> dict:
        attrs = {}
        for attr in node.attribute:
            if attr.type in (self.onnx.AttributeProto.GRAPH, self.onnx.AttributeProto.GRAPHS):
                raise Refused("control flow (sub-graphs) is run only for If, one sample at a time")
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
            raise ConversionError(refusal_text(self.refused))
        outputs = [self.values.get(o.name) for o in self.model.graph.output]
        if not any(isinstance(v, Tensor) for v in outputs) and not self.per_sample:
            raise ConversionError("no model output depends on the input")
        feeder = next((v.layer for v in self.values.values() if isinstance(v, Tensor)), None)
        read = {i for node in self.model.graph.node for i in node.input}
        if self.per_sample and any(axis is not None for _, axis in self.layout.inputs.values()):
            outputs = [restore_batch(v) if isinstance(v, Tensor) and o.name not in read else v
                       for o, v in zip(self.model.graph.output, outputs)]
        for i, (out, value) in enumerate(zip(self.model.graph.output, outputs)):
            if is_const(value) and feeder is not None:
                # A constant output (e.g. the Shape of a fixed-size input) still gets a layer.
                outputs[i] = constant_layer(value, feeder, self._unique(out.name), self.opset)
                self.layers.append(outputs[i].layer)
        producer = " ".join(p for p in (self.model.producer_name, self.model.producer_version) if p)
        source = f"ONNX opset {self.opset}{f' ({producer})' if producer else ''}: {self.path}"
        if self.given:
            fixed = ", ".join(f"{k}={np.asarray(v).tolist()}" for k, v in self.given.items())
            source += f"; inputs fixed when converting: {fixed}"
        net = Net(self.layers, name=name, source=source)
        for out, value in zip(self.model.graph.output, outputs):
            if isinstance(value, Tensor):
                self.layout.outputs[out.name] = (value.layer.name, value.batch_axis)
        for layer in net:
            layer.output_shape  # noqa: B018 - every shape is checked now, not in the viewer
        return net

    def _refuse(self, node: Any, reason: str) -> None:
        where = node.name or (node.output[0] if node.output else "?")
        self.refused.setdefault((node.op_type, reason), []).append(where)
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
            return self._other_domain(node, inputs, unknown)
        known = (node.op_type in self.handlers or foldable(node.op_type) or node.op_type == "Constant"
                 or node.op_type in OPERATORS)
        if node.op_type == "If" and not unknown:
            return self._if(node, inputs[0])
        if node.op_type == "If":
            try:
                return self._store(node, self._from_unknown(node, unknown[0], inputs))
            except Refused as exc:
                return self._refuse(node, str(exc))
        try:
            attrs = self._attrs(node)
            if not known:
                raise Refused("not supported")
            if unknown:
                outs = self._from_unknown(node, unknown[0], inputs)
            elif node.op_type == "Shape" and isinstance(inputs[0], Tensor):
                dims = shape_of(inputs[0], 1 if self.per_sample else BATCH)
                if isinstance(dims, Unknown) and self.per_sample:
                    outs = self._generic(node, inputs, attrs, "")
                else:
                    outs = [dims if isinstance(dims, Unknown) else dims[attrs.get("start", 0):attrs.get("end")]]
            elif node.op_type == "Constant":
                outs = [self._constant(attrs)]
            elif all(v is None or is_const(v) for v in inputs) and foldable(node.op_type):
                outs = self.budget.fold(node.op_type, attrs, inputs)
            elif all(v is None or is_const(v) for v in inputs) and node.op_type in OPERATORS:
                outs = self.budget.run(node.op_type, inputs, lambda: compute(
                    node.op_type, inputs, self._plain(attrs, node), self.opset))
            elif self.per_sample and any(isinstance(v, Tensor) and v.batch_axis is None for v in inputs):
                outs = self._generic(node, inputs, attrs, "")
            elif not any(isinstance(v, Tensor) for v in inputs):
                outs = self._batch_const(node, inputs, attrs)
            elif node.op_type in self.handlers:
                outs = self._handled(node, inputs, attrs)
            elif self.per_sample:
                outs = self._generic(node, inputs, attrs, "")
            else:
                outs = self._batch_local(node, inputs, attrs, "not supported on data batch first")
        except Refused as exc:
            return self._refuse(node, str(exc))
        except (ValueError, IndexError, TypeError, KeyError, ZeroDivisionError, LayerError) as exc:
            return self._refuse(node, f"cannot be computed ({type(exc).__name__}: {exc})")
        self._store(node, outs)

    def _store(self, node: Any, outs: list) -> None:
        """Record a node's output values, and the layers that make them."""
        for out, value in zip(node.output, outs):
            if out:
                self.values[out] = value
                if isinstance(value, Tensor) and value.layer not in self.layers:
                    self.layers.append(value.layer)

    def _other_domain(self, node: Any, inputs: list, unknown: list) -> None:
        """An op of another domain that viewer.net.operators computes (onnxruntime's
        com.microsoft ops): kept as the op itself, one sample at a time."""
        if op_key(node) not in OPERATORS:
            return self._refuse(node, f"an op of domain {node.domain!r}")
        try:
            if unknown:
                outs = self._from_unknown(node, unknown[0], inputs)
            elif not self.per_sample:
                raise Refused(f"an op of domain {node.domain!r}, computed one sample at a time only")
            else:
                outs = self._generic(node, inputs, self._attrs(node), "")
        except Refused as exc:
            return self._refuse(node, str(exc))
        self._store(node, outs)

    def _if(self, node: Any, cond: Any) -> None:
        """An If whose condition is a constant: its taken branch, inlined. One whose
        condition depends on the data: both branches kept, the taken one run at run time."""
        branches = {a.name for a in node.attribute if a.HasField("g")}
        missing = [name for name in ("then_branch", "else_branch") if name not in branches]
        if missing:
            return self._refuse(node, "If without its " + " and ".join(missing) + " sub-graph")
        if not is_const(cond):
            try:
                return self._store(node, self._runtime_if(node, cond))
            except Refused as exc:
                return self._refuse(node, str(exc))
        key = "then_branch" if bool(np.asarray(cond).reshape(-1)[0]) else "else_branch"
        branch = next(a.g for a in node.attribute if a.name == key)
        for init in branch.initializer:
            self.values[init.name] = self._array(init)
        for inner in branch.node:
            self._node(inner)
        for out, value in zip(node.output, branch.output):
            if out:
                self.values[out] = self.values.get(value.name, Unknown("refused"))

    def _runtime_if(self, node: Any, cond: Any) -> list:
        """An If run at run time (one sample at a time): Operator layers holding both branches."""
        if not self.per_sample:
            raise Refused("an If whose condition depends on the data, which runs one sample at a time")
        if not isinstance(cond, Tensor):
            raise Refused("an If whose condition cannot be followed")
        attrs, values, scope = if_parts(self.onnx, self._array, node, self.values)
        candidates = branch_shapes(attrs, scope, self.opset, len(node.output))
        where = node.name or node.output[0]
        if len(candidates) > 1:
            self.speculative.append((where, len(candidates)))
        shapes = candidates[min(self.picks.get(where, 0), len(candidates) - 1)]
        return operator_layers(node, [cond] + values, attrs, self.opset, self._name, self.shapes,
                               self.used, given=shapes)

    @property
    def shapes(self) -> tuple[dict, dict]:
        """ONNX's inferred shapes and batch positions, worked out when first needed."""
        if self._shapes is None:
            batch_inputs = {n for n, (_, axis) in self.layout.inputs.items() if axis is not None}
            self._shapes = inferred_shapes(self.onnx, self.model, batch_inputs)
        return self._shapes

    def _batch_local(self, node: Any, inputs: list, attrs: dict, why: str) -> list:
        """Batch first, an op without a handler for this case kept as the ONNX op, if ONNX's
        inference follows the batch through it (each sample then computes alone, as the
        batch would)."""
        data = [v for v in inputs if isinstance(v, Tensor)]
        if node.op_type not in BATCH_LOCAL or len(data) != 1 or not isinstance(inputs[0], Tensor) or \
                any(isinstance(v, (BatchConst, Unknown)) or isinstance(v, Tensor) and v.batch_axis is None
                    or is_const(v) and v.dtype.kind in "iu" and v.size and np.abs(v).max() >= BATCH // 2
                    for v in inputs):
            raise Refused(why)
        try:
            outs = operator_layers(node, inputs, self._plain(attrs, node), self.opset, self._name,
                                   self.shapes, self.used)
        except Refused:
            raise Refused(why) from None
        same = node.op_type not in ("Squeeze", "Unsqueeze")
        if any(isinstance(v, Tensor) and (v.batch_axis is None or same and v.batch_axis != data[0].batch_axis)
               for v in outs):
            raise Refused(why)
        return outs

    def _handled(self, node: Any, inputs: list, attrs: dict) -> list:
        """The op's own handler; one sample at a time, the ONNX op itself where that refuses."""
        if not self.per_sample:
            try:
                return self.handlers[node.op_type](node, inputs, attrs)
            except Refused as exc:
                if node.op_type not in OPERATORS:
                    raise
                return self._batch_local(node, inputs, attrs, str(exc))
        try:
            outs = self.handlers[node.op_type](node, inputs, attrs)
            for value in outs:
                if isinstance(value, Tensor):
                    value.layer.output_shape  # noqa: B018 - a shape rule that fails falls back too
            return outs
        except (Refused, ValueError, IndexError, TypeError, KeyError, LayerError) as exc:
            return self._generic(node, inputs, attrs, str(exc))

    def _generic(self, node: Any, inputs: list, attrs: dict, why: str) -> list:
        try:
            return operator_layers(node, inputs, self._plain(attrs, node), self.opset, self._name,
                                   self.shapes, self.used)
        except Refused as exc:
            raise Refused(f"{why}; {exc}" if why else str(exc)) from None

    @staticmethod
    def _plain(attrs: dict, node: Any) -> dict:
        """Attributes for viewer.net.operators: Split also needs its number of outputs."""
        return {**attrs, "_outputs": len(node.output)} if node.op_type == "Split" else attrs

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
        if not foldable(node.op_type) and node.op_type not in OPERATORS:
            raise Refused("not supported")
        runs = []
        for copies in (2, 3):
            plain = [np.repeat(v.value, copies, axis=v.batch_axis) if isinstance(v, BatchConst) else v
                     for v in inputs]
            try:
                runs.append(self.budget.fold(node.op_type, attrs, plain) if foldable(node.op_type) else
                            self.budget.run(node.op_type, plain, lambda: compute(
                                node.op_type, plain, self._plain(attrs, node), self.opset)))
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

"""ONNX nodes kept as ONNX ops: the converter's general path.

When a graph cannot be converted batch first (it reshapes the batch into
other axes, computes shapes from sizes known only at run time, feeds
tensors without a batch axis, or uses an op that has no Strata kind), the
converter runs it one sample at a time: every such node becomes an
:class:`~viewer.net.layers.operator.Operator` layer computing the ONNX op
itself on each sample's whole tensor. Output shapes come from ONNX's own
shape inference (unknown sizes stay None), or from running the op on zeros.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viewer.convert.onnx_values import BatchConst, Refused, Tensor, Unknown, is_const
from viewer.net.layers import Layer
from viewer.net.layers.operator import MAX_CONSTS, Operator
from viewer.net.operators import OPERATORS, compute


def inferred_shapes(onnx: Any, model: Any, batch_one: set[str]) -> dict[str, list | None]:
    """Every tensor's ONNX shape by ONNX shape inference (None for unknown sizes).

    The inputs named in ``batch_one`` get a batch size of 1, as they have
    when the net runs one sample at a time.
    """
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for value in copy.graph.input:
        dims = value.type.tensor_type.shape.dim
        if value.name in batch_one and len(dims):
            dims[0].Clear()
            dims[0].dim_value = 1
    try:
        inferred = onnx.shape_inference.infer_shapes(copy, strict_mode=False, data_prop=True)
    except Exception:  # inference is a help only; any failure leaves shapes to be computed
        return {}
    shapes: dict[str, list | None] = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.output):
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return shapes


def sample_shape(t: Tensor) -> list:
    """The ONNX shape of one sample's tensor: the batch axis (if any) of size 1."""
    dims = list(t.layer.output_shape)
    if t.batch_axis is not None:
        dims.insert(t.batch_axis, 1)
    return dims


def operator_layers(node: Any, inputs: list, attrs: dict, opset: int, name: Any,
                    shapes: dict, used: set) -> list:
    """One Operator layer per used output of ``node``; raises Refused where impossible."""
    op = node.op_type
    if op not in OPERATORS:
        raise Refused("not supported")
    prev: list[Layer] = []
    consts: dict[str, np.ndarray] = {}
    args: list = []
    for value in inputs:
        if value is None:
            args.append(["none"])
        elif isinstance(value, Tensor):
            if value.layer not in prev:
                prev.append(value.layer)
            args.append(["data", prev.index(value.layer), value.batch_axis])
        elif isinstance(value, (BatchConst, Unknown)):
            raise Refused("a value computed from the batch size, in an op kept as ONNX")
        else:
            key = len(consts)
            consts[f"const{key}"] = np.asarray(value)
            args.append(["const", key])
    plain = {}
    for key, value in attrs.items():
        if is_const(value):
            plain[key] = {"const": len(consts)}
            consts[f"const{len(consts)}"] = value
        else:
            plain[key] = value
    if len(consts) > MAX_CONSTS:
        raise Refused(f"more than {MAX_CONSTS} constant inputs")
    if not prev:
        raise Refused("this input combination (no data input)")
    outs: list = []
    trial = None
    for i, out in enumerate(node.output):
        if not out or out not in used:
            outs.append(None)
            continue
        shape = shapes.get(out)
        if shape is not None and any(isinstance(v, Tensor) for v in inputs[1:]):
            # Inference assumed values for the data inputs (axes, sizes, shapes): only the rank holds.
            shape = [None] * len(shape)
        if shape is None:
            if trial is None:
                trial = _trial(op, inputs, plain, consts, opset)
            if trial is None or i >= len(trial) or trial[i] is None:
                raise Refused("its output shape cannot be worked out before run time")
            shape = list(trial[i].shape)
        layer = Operator(tuple(prev), name=name(node, i), op=op, args=args, shape=shape,
                         attrs=plain, opset=opset, output=i, **consts)
        outs.append(Tensor(layer, None))
    return outs


def _trial(op: str, inputs: list, attrs: dict, consts: dict, opset: int) -> list | None:
    """Run the op on zeros shaped like one sample, to learn its output shapes."""
    values = []
    for value in inputs:
        if isinstance(value, Tensor):
            dims = sample_shape(value)
            if any(d is None for d in dims):
                return None
            values.append(np.zeros(dims, np.float32))
        else:
            values.append(None if value is None else np.asarray(value))
    plain = {k: consts[f"const{v['const']}"] if isinstance(v, dict) else v for k, v in attrs.items()}
    try:
        return compute(op, values, plain, opset)
    except Exception:  # zeros may not be valid data for the op (indices, shapes): no shape then
        return None


def constant_layer(value: np.ndarray, feeder: Layer, name: str, opset: int) -> Tensor:
    """A graph output that is a constant, as a layer repeating it for every sample."""
    layer = Operator((feeder,), name=name, op="Identity", args=[["const", 0]],
                     shape=list(np.shape(value)), opset=opset, const0=np.asarray(value))
    return Tensor(layer, None)

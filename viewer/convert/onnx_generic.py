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


BATCH_SYMBOL = "strata_batch"


def inferred_shapes(onnx: Any, model: Any, batch_inputs: set[str]) -> tuple[dict, dict]:
    """Every tensor's ONNX shape by ONNX shape inference, and where its batch axis is.

    The inputs named in ``batch_inputs`` have a batch axis first; it gets the
    size 1 it has when the net runs one sample at a time. Returns ({name:
    dims, None for unknown sizes}, {name: position of the batch axis}), the
    batch axis being followed through the graph by ONNX's own inference of a
    symbolic size.
    """
    return _infer(onnx, model, batch_inputs, None), _batch_positions(onnx, model, batch_inputs)


def _infer(onnx: Any, model: Any, batch_inputs: set[str], symbol: str | None) -> dict:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for value in copy.graph.input:
        dims = value.type.tensor_type.shape.dim
        if value.name in batch_inputs and len(dims):
            dims[0].Clear()
            if symbol is None:
                dims[0].dim_value = 1
            else:
                dims[0].dim_param = symbol
    try:
        inferred = onnx.shape_inference.infer_shapes(copy, strict_mode=False, data_prop=True)
    except Exception:  # inference is a help only; any failure leaves shapes to be computed
        return {}
    shapes: dict = {}
    for value in _value_infos(inferred.graph):
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        if symbol is None:
            shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        else:
            shapes[value.name] = [d.dim_param == symbol for d in tensor.shape.dim]
    return shapes


def _value_infos(graph: Any) -> list:
    """The inferred value infos of ``graph`` and of its sub-graphs (an If's branches, which
    the converter inlines where their condition folds)."""
    found = list(graph.value_info) + list(graph.output)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                found += _value_infos(attr.g)
    return found


def _batch_positions(onnx: Any, model: Any, batch_inputs: set[str]) -> dict:
    if not batch_inputs:
        return {}
    marks = _infer(onnx, model, batch_inputs, BATCH_SYMBOL)
    return {name: flags.index(True) for name, flags in marks.items() if flags.count(True) == 1}


def _rank(op: str, inputs: list, attrs: dict) -> int | None:
    """The output rank of ops whose sizes depend on input values, from input shapes alone."""
    ranks = [len(sample_shape(v)) if isinstance(v, Tensor) else np.ndim(v) if v is not None else None
             for v in inputs]
    if op in ("Squeeze", "Unsqueeze"):
        axes = inputs[1] if len(inputs) > 1 and inputs[1] is not None else attrs.get("axes")
        if axes is None or isinstance(axes, Tensor):
            return None
        return ranks[0] + (1 if op == "Unsqueeze" else -1) * int(np.size(axes))
    if op in ("Reshape", "ConstantOfShape") and len(inputs) > 1 or op == "ConstantOfShape":
        shape_input = inputs[1] if op == "Reshape" else inputs[0]
        if isinstance(shape_input, Tensor):
            size = sample_shape(shape_input)
            return size[0] if len(size) == 1 else None
        return int(np.size(shape_input))
    if op in SAME_RANK or op in ("Concat", "Split"):
        return ranks[0]
    if op == "Gather" and None not in ranks[:2]:
        return ranks[0] - 1 + ranks[1]
    if op in BROADCAST and all(r is not None for r in ranks):
        return max(ranks)
    if op in ("MatMul", "MatMulInteger") and all(r is not None for r in ranks):
        return max(ranks)
    if op in ("Gemm", "Range"):
        return 2 if op == "Gemm" else 1
    return None


# Ops whose output sizes depend on the values of their inputs (shapes, axes, counts).
VALUE_SHAPED = frozenset("""Reshape Expand Tile Slice Pad Resize Upsample Squeeze Unsqueeze Split TopK
OneHot ConstantOfShape Range NonZero Compress CenterCropPad ReduceSum ReduceMean ReduceMax ReduceMin
ReduceProd ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceSumSquare""".split())
# Ops whose output has their first input's rank, and element-wise ops of several inputs.
SAME_RANK = frozenset("""Slice Pad Tile Resize Upsample TopK Cast CastLike ScatterND ScatterElements
GatherElements Transpose Softmax LogSoftmax Hardmax Relu LeakyRelu Elu Selu Celu Sigmoid HardSigmoid
HardSwish Mish Softplus Softsign Tanh Gelu Swish Erf Exp Log Sqrt Abs Neg Reciprocal Floor Ceil Round
Sign Sin Cos Identity Dropout Clip Not IsNaN IsInf CumSum LRN InstanceNormalization
LayerNormalization BatchNormalization Conv ConvTranspose MaxPool AveragePool""".split())
BROADCAST = frozenset("Add Sub Mul Div Pow Mod Max Min Sum Mean Where Equal Less Greater And Or Xor "
                      "LessOrEqual GreaterOrEqual PRelu".split())


def restore_batch(t: Tensor) -> Tensor:
    """A graph output kept whole whose first axis has size 1: that is its batch axis.

    Only for an Operator layer nothing else reads; it drops the axis from
    its samples, so the net's output is batch first like its input.
    """
    layer = t.layer
    if t.batch_axis is not None or not isinstance(layer, Operator) or layer.batch_axis is not None \
            or not layer.shape or layer.shape[0] != 1:
        return t
    layer.batch_axis, layer.shape, layer._shape = 0, layer.shape[1:], None
    return Tensor(layer, 0)


def sample_shape(t: Tensor) -> list:
    """The ONNX shape of one sample's tensor: the batch axis (if any) of size 1."""
    dims = list(t.layer.output_shape)
    if t.batch_axis is not None:
        dims.insert(t.batch_axis, 1)
    return dims


def op_key(node: Any) -> str:
    """The node's name in :data:`viewer.net.operators.OPERATORS`: its op type, prefixed
    with its domain outside ONNX's default one (``com.microsoft.DynamicQuantizeLSTM``)."""
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def operator_layers(node: Any, inputs: list, attrs: dict, opset: int, name: Any,
                    shapes: tuple[dict, dict], used: set, given: list | None = None) -> list:
    """One Operator layer per used output of ``node``; raises Refused where impossible.

    ``given``: the outputs' sample shapes where the caller knows them (each
    whole, without a batch axis), instead of inference and trial runs.
    """
    op = op_key(node)
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
        if given is not None:
            layer = Operator(tuple(prev), name=name(node, i), op=op, args=args, shape=given[i],
                             attrs=plain, opset=opset, output=i, **consts)
            outs.append(Tensor(layer, None))
            continue
        sizes, positions = shapes
        shape = sizes.get(out)
        trusted = shape is not None
        if shape is not None and op in VALUE_SHAPED and any(isinstance(v, Tensor) for v in inputs[1:]) \
                or op in ("ConstantOfShape", "Range", "NonZero", "Compress") and shape is not None:
            # Inference assumed values for the data inputs (axes, sizes, shapes): only the rank holds,
            # and where the batch axis went is not known.
            shape = [None] * len(shape)
            trusted = False
        if shape is None and i == 0 and _rank(op, inputs, plain) is not None:
            shape = [None] * _rank(op, inputs, plain)
        if shape is None or None in shape:
            # Sizes inference left open may follow from running the op on zeros of the sample's shape.
            if trial is None:
                trial = _trial(op, inputs, plain, consts, opset) or []
            guess = trial[i] if i < len(trial) else None
            if shape is None:
                if guess is None:
                    raise Refused("its output shape cannot be worked out before run time")
                shape = guess
            elif guess is not None and len(guess) == len(shape) and (trusted or op not in VALUE_SHAPED):
                shape = [d if d is not None else g for d, g in zip(shape, guess)]
        batch = positions.get(out) if trusted else None
        if batch is not None and (batch >= len(shape) or shape[batch] != 1):
            batch = None
        if batch is not None:
            shape = shape[:batch] + shape[batch + 1:]
        layer = Operator(tuple(prev), name=name(node, i), op=op, args=args, shape=shape,
                         attrs=plain, opset=opset, output=i, batch_axis=batch, **consts)
        outs.append(Tensor(layer, batch))
    return outs


def _trial(op: str, inputs: list, attrs: dict, consts: dict, opset: int) -> list | None:
    """Output shapes learnt by running the op on zeros shaped like one sample.

    Sizes unknown until run time are tried as 5 and as 7; an output size that
    differs between the two runs is unknown (None) too.
    """
    runs = []
    for guess in (5, 7):
        values = []
        for value in inputs:
            if isinstance(value, Tensor):
                values.append(np.zeros([guess if d is None else d for d in sample_shape(value)], np.float32))
            else:
                values.append(None if value is None else np.asarray(value))
        plain = {k: consts[f"const{v['const']}"] if isinstance(v, dict) else v for k, v in attrs.items()}
        try:
            runs.append(compute(op, values, plain, opset))
        except Exception:  # zeros may not be valid data for the op (indices, shapes): no shape then
            return None
    shapes = []
    for a, b in zip(*runs):
        if a is None or b is None or a.ndim != b.ndim:
            shapes.append(None)
        else:
            shapes.append([x if x == y else None for x, y in zip(a.shape, b.shape)])
    return shapes


def constant_layer(value: np.ndarray, feeder: Layer, name: str, opset: int) -> Tensor:
    """A graph output that is a constant, as a layer repeating it for every sample."""
    layer = Operator((feeder,), name=name, op="Identity", args=[["const", 0]],
                     shape=list(np.shape(value)), opset=opset, const0=np.asarray(value))
    return Tensor(layer, None)

"""Backward of the Operator kind (:mod:`viewer.net.layers.operator`): ONNX ops kept as they are.

Like the forward, it works on one sample at a time. Ops that only move values
(shapes, layouts, slices, gathers, scatters, padding, nearest resizing) share
the exact rule of :func:`~viewer.net.backward.indexing.moved_grad`; the
computing ops have their own in :mod:`~viewer.net.backward.operator_math`.
Any other op is refused by name.
"""

from __future__ import annotations

import numpy as np

from viewer.net.backward.indexing import moved_grad
from viewer.net.backward.operator_math import FIXED_INPUTS, OP_GRADS
from viewer.net.backward.operator_rnn import OUTPUT_GRADS, OUTPUT_REFUSALS
from viewer.net.backward.registry import backward
from viewer.net.layers.base import Layer

#: Ops whose output cells are copies of input cells (or constants), wherever the values lie.
MOVING = frozenset({"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split",
                    "Slice", "Gather", "GatherElements", "GatherND", "Expand", "Tile", "Pad",
                    "DepthToSpace", "SpaceToDepth", "Identity", "Dropout", "Compress",
                    "ReverseSequence", "CenterCropPad", "Trilu", "MaxUnpool", "ScatterElements",
                    "Scatter", "ScatterND"})
_NEAREST_RESIZE = frozenset({"Resize", "Upsample"})


def _moves(layer: Layer) -> bool:
    if layer.op in ("ScatterElements", "Scatter", "ScatterND"):
        return layer.attrs.get("reduction", "none") == "none"   # add/mul combine values
    if layer.op in _NEAREST_RESIZE:
        return layer.attrs.get("mode", "nearest") == "nearest"
    return layer.op in MOVING


def _refusal(layer: Layer) -> str | None:
    fixed = [k for k, arg in enumerate(layer.args) if arg[0] == "data" and k in FIXED_INPUTS.get(layer.op, ())]
    if fixed:
        return (f"ONNX operator {layer.op} takes its input {fixed[0]} as a fixed weight, "
                f"but here it is computed")
    if layer.op in OUTPUT_REFUSALS:
        return OUTPUT_REFUSALS[layer.op](layer._attrs, layer.args)
    if _moves(layer) or layer.op in OP_GRADS:
        return None
    if layer.op in _NEAREST_RESIZE or layer.op.startswith("Scatter"):
        return f"ONNX operator {layer.op} with these attributes has no backward"
    return f"ONNX operator {layer.op} has no backward"


def _op_output(layer: Layer, values: list) -> np.ndarray:
    from viewer.net.operators import compute
    return compute(layer.op, values, layer._attrs, layer.opset)[layer.output]


def _moved_input_grad(layer: Layer, values: list, k: int, g: np.ndarray) -> np.ndarray:
    """d / d values[k] of a moving op, the other inputs held as they are."""
    def move(numbers: np.ndarray) -> np.ndarray:
        trial = list(values)
        trial[k] = numbers[0]
        return np.asarray(_op_output(layer, trial), np.float64)[None]
    return moved_grad(move, (1,) + np.shape(values[k]), np.asarray(g)[None])[0]


def _sample_grads(layer: Layer, values: list, g: np.ndarray) -> list:
    """The op's gradient for each of its inputs on one sample (None: none flows there)."""
    out = _op_output(layer, values)
    if out.dtype.kind != "f":   # integers or booleans: piecewise constant
        return [None] * len(values)
    if _moves(layer):   # only data flows back: constants (sizes, scales, pads) stay
        return [_moved_input_grad(layer, values, k, g)
                if arg[0] == "data" and np.asarray(v).dtype.kind == "f" else None
                for k, (arg, v) in enumerate(zip(layer.args, values))]
    wide = [None if v is None else (np.asarray(v, np.float64) if np.asarray(v).dtype.kind == "f" else v)
            for v in values]
    if layer.op in OUTPUT_GRADS:     # several outputs: the gradient depends on which this is
        return OUTPUT_GRADS[layer.op](wide, layer._attrs, layer.output, np.asarray(g, np.float64))
    return OP_GRADS[layer.op](wide, layer._attrs, layer.opset, np.asarray(out, np.float64),
                              np.asarray(g, np.float64))


@backward("Operator", inputs=True, refusal=_refusal)
def _operator(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    grads = [np.zeros(np.shape(x), grad.dtype if np.asarray(x).dtype.kind != "f" else np.asarray(x).dtype)
             for x in inputs]
    for i in range(grad.shape[0]):
        g = grad[i] if layer.batch_axis is None else np.expand_dims(grad[i], layer.batch_axis)
        for arg, ga in zip(layer.args, _sample_grads(layer, layer._sample(tuple(inputs), i), g)):
            if arg[0] != "data":
                continue
            if ga is None:
                continue
            x = np.asarray(inputs[arg[1]])
            grads[arg[1]][i] += np.asarray(ga).reshape(x.shape[1:]) if arg[2] is None else \
                np.squeeze(np.asarray(ga), arg[2])
    return [g.astype(grad.dtype, copy=False) for g in grads]

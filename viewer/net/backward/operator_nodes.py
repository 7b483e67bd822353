"""One ONNX node's backward, for an Operator layer and for the nodes of an If's branch.

A node is an op, its attributes and its input values (ONNX-shaped arrays, one
sample's); its gradient goes to the inputs that carry data. Ops that only move
values share the rule of :func:`~viewer.net.backward.indexing.moved_grad`;
computing ops have their own (:mod:`~viewer.net.backward.operator_math`,
LSTM's in :mod:`~viewer.net.backward.operator_rnn`); an If backpropagates
through the branch its condition took, node by node, back to the names its
branch reads from the scope around it.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from viewer.net.backward.indexing import moved_grad
from viewer.net.backward.operator_math import FIXED_INPUTS, OP_GRADS
from viewer.net.backward.operator_rnn import OUTPUT_GRADS, OUTPUT_REFUSALS

#: Ops whose output cells are copies of input cells (or constants), wherever the values lie.
MOVING = frozenset({"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split",
                    "Slice", "Gather", "GatherElements", "GatherND", "Expand", "Tile", "Pad",
                    "DepthToSpace", "SpaceToDepth", "Identity", "Dropout", "Compress",
                    "ReverseSequence", "CenterCropPad", "Trilu", "MaxUnpool", "ScatterElements",
                    "Scatter", "ScatterND"})
_NEAREST_RESIZE = frozenset({"Resize", "Upsample"})


def moves(op: str, attrs: dict) -> bool:
    """Whether the op's output cells are copies of its input cells."""
    if op in ("ScatterElements", "Scatter", "ScatterND"):
        return attrs.get("reduction", "none") == "none"   # add/mul combine values
    if op in _NEAREST_RESIZE:
        return attrs.get("mode", "nearest") == "nearest"
    return op in MOVING


def node_refusal(op: str, attrs: dict, data: Sequence[bool], present: Sequence[bool],
                 depth: int = 0) -> Optional[str]:
    """Why a node has no backward (None when it has one).

    ``data[k]``: input k is computed from the net's input (not a constant);
    ``present[k]``: input k is given at all.
    """
    fixed = [k for k, is_data in enumerate(data) if is_data and k in FIXED_INPUTS.get(op, ())]
    if fixed:
        return f"ONNX operator {op} takes its input {fixed[0]} as a fixed weight, but here it is computed"
    if op == "If":   # inputs: the condition, then the scope's values in order
        scope = attrs.get("scope", [])
        return _if_refusal(attrs, {scope[k - 1] for k in range(1, len(data)) if data[k]}, depth)
    if op in OUTPUT_REFUSALS:
        return OUTPUT_REFUSALS[op](attrs, present)
    if moves(op, attrs) or op in OP_GRADS:
        return None
    if op in _NEAREST_RESIZE or op.startswith("Scatter"):
        return f"ONNX operator {op} with these attributes has no backward"
    return f"ONNX operator {op} has no backward"


def node_grads(op: str, attrs: dict, opset: int, values: list, output: int, g: np.ndarray,
               data: Sequence[bool]) -> list:
    """The gradient for each of the node's inputs of its output ``output`` (None: none flows)."""
    from viewer.net.operators import compute
    if op == "If":
        return _if_grads(values, attrs, opset, output, g)
    out = compute(op, values, attrs, opset)[output]
    if out.dtype.kind != "f":   # integers or booleans: piecewise constant
        return [None] * len(values)
    if moves(op, attrs):   # only data flows back: constants (sizes, scales, pads) stay
        def moved(k: int) -> np.ndarray:
            def move(numbers: np.ndarray) -> np.ndarray:
                trial = list(values)
                trial[k] = numbers[0]
                return np.asarray(compute(op, trial, attrs, opset)[output], np.float64)[None]
            return moved_grad(move, (1,) + np.shape(values[k]), np.asarray(g)[None])[0]
        return [moved(k) if is_data and np.asarray(v).dtype.kind == "f" else None
                for k, (is_data, v) in enumerate(zip(data, values))]
    wide = [None if v is None else (np.asarray(v, np.float64) if np.asarray(v).dtype.kind == "f" else v)
            for v in values]
    if op in OUTPUT_GRADS:     # several outputs: the gradient depends on which this is
        return OUTPUT_GRADS[op](wide, attrs, opset, output, np.asarray(g, np.float64))
    return OP_GRADS[op](wide, attrs, opset, np.asarray(out, np.float64), np.asarray(g, np.float64))


# -- If: back through the taken branch -------------------------------------------------

def _if_refusal(attrs: dict, data_names: set, depth: int) -> Optional[str]:
    """The first node of either branch without a backward, named (None: both have one).

    ``data_names``: the scope names computed from the net's input; a branch's values
    computed from them are data too, the rest (weights passed in) constants.
    """
    from viewer.net.operators.control import BRANCHES, MAX_DEPTH
    if depth > MAX_DEPTH:
        return "ONNX operator If nests too deep for its backward"
    for key in BRANCHES:
        live = set(data_names)
        for op, ins, outs, node_attrs in attrs[key]["nodes"]:
            data = [bool(n) and n in live for n in ins]
            plain = {k: v for k, v in node_attrs.items()
                     if not (isinstance(v, dict) and set(v) == {"tensor"})}
            if op == "If":   # a nested If reads the names around it, not inputs of its own
                why = _if_refusal(plain, live, depth + 1)
            else:
                why = node_refusal(op, plain, data, [bool(n) for n in ins], depth + 1)
            if why is not None:
                return f"ONNX operator If: its {key.replace('_', ' ')} computes {op}: {why}"
            if any(data):
                live.update(n for n in outs if n)
    return None


def _if_grads(inputs: list, attrs: dict, opset: int, output: int, g: np.ndarray) -> list:
    """d / d (condition, scope values) of the If's output ``output``: through the taken branch."""
    from viewer.net.operators.control import taken_branch
    scope = dict(zip(attrs["scope"], inputs[1:]))
    branch = taken_branch(inputs[0], attrs)
    grads = graph_grads(branch, scope, opset, {branch["outputs"][output]: g})
    return [None] + [grads.get(name) for name in attrs["scope"]]


def graph_grads(graph: dict, scope: dict, opset: int, wanted: dict) -> dict:
    """Reverse mode over a branch: the gradient reaching each scope name from ``wanted``
    (output name -> gradient), its nodes' values recomputed as the forward made them."""
    from viewer.net.operators.control import taken_branch, trace_graph
    values, steps = trace_graph(graph, scope, opset)
    literal = set(graph.get("literals", {}))
    grads = {name: np.asarray(g, np.float64) for name, g in wanted.items()}

    def add(name: str, ga: np.ndarray) -> None:
        ga = np.asarray(ga, np.float64).reshape(np.shape(values[name]))
        grads[name] = ga if name not in grads else grads[name] + ga

    for op, ins, outs, plain, inputs in reversed(steps):
        data = [bool(n) and n not in literal for n in ins]
        for k, name in enumerate(outs):
            if not name or name not in grads:
                continue
            g = grads.pop(name)
            if op == "If":   # a nested If: through its taken branch to the names around it
                branch = taken_branch(inputs[0], plain)
                inner = {n: v for n, v in values.items() if n not in literal}
                for n, ga in graph_grads(branch, inner, opset, {branch["outputs"][k]: g}).items():
                    add(n, ga)
                continue
            for n, ga in zip(ins, node_grads(op, plain, opset, inputs, k, g, data)):
                if n and ga is not None and n not in literal:
                    add(n, ga)
    return {name: grads[name] for name in scope if name in grads}

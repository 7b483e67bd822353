"""ONNX If nodes whose condition is known only at run time: their branches as data.

The converter inlines an If whose condition folds to a constant. Where the
condition depends on the data (exporters test a size known only at run
time: ``if x.shape[-1] == 1: x = x.squeeze(-1)``), the If becomes one
:class:`~viewer.net.layers.operator.Operator` layer per output, holding both
branches in the JSON form :mod:`viewer.net.operators.control` runs; this
module writes that form and works out the shapes a branch gives.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from viewer.convert.onnx_generic import sample_shape
from viewer.convert.onnx_values import BatchConst, Refused, Unknown, is_const
from viewer.net.operators import OPERATORS
from viewer.net.operators.control import BRANCHES, run_graph

MAX_LITERAL = 64  # constants up to this many values are written into the branch itself
# Sizes tried for the sizes known only at run time: 1 as well, since a branch that
# squeezes an axis only works when that axis has size 1.
GUESSES = (1, 5, 7)


def free_names(graph: Any) -> list[str]:
    """The names ``graph`` (with its sub-graphs) reads from around it, in first-read order."""
    made = {init.name for init in graph.initializer}
    read: list[str] = []
    for node in graph.node:
        for name in node.input:
            if name and name not in made and name not in read:
                read.append(name)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                read += [n for n in free_names(sub) if n not in made and n not in read]
        made.update(node.output)
    read += [o.name for o in graph.output if o.name not in made and o.name not in read]
    return read


class BranchWriter:
    """Writes sub-graphs in the JSON form; larger constants become named scope values.

    Parameters
    ----------
    onnx : module
    to_array : callable
        An ONNX TensorProto -> ndarray (the converter's, which names damaged tensors).
    bind : callable
        A constant too large for a literal -> the scope name it is given as.
    """

    def __init__(self, onnx: Any, to_array: Callable[[Any], np.ndarray],
                 bind: Callable[[np.ndarray], str]) -> None:
        self.onnx, self.to_array, self.bind = onnx, to_array, bind
        self.missing: list[str] = []

    def graph(self, graph: Any) -> dict:
        literals: dict = {}
        nodes: list = []
        constants = [(init.name, self.to_array(init)) for init in graph.initializer]
        for node in graph.node:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                constants.append((node.output[0], self._constant(node)))
                continue
            if node.domain not in ("", "ai.onnx") or node.op_type != "If" and node.op_type not in OPERATORS:
                self.missing.append(node.op_type if not node.domain else f"{node.domain}.{node.op_type}")
            attrs = {attr.name: self._attr(attr, literals, nodes) for attr in node.attribute}
            if node.op_type == "Split":
                attrs["_outputs"] = len(node.output)
            nodes.append([node.op_type, list(node.input), list(node.output), attrs])
        for name, value in constants:
            if value.size <= MAX_LITERAL:
                literals[name] = {"value": value.tolist(), "dtype": value.dtype.str}
            else:
                # A node of this branch reading a bound constant reads it under its scope name.
                bound = self.bind(value)
                nodes.insert(0, ["Identity", [bound], [name], {}])
        return {"nodes": nodes, "outputs": [o.name for o in graph.output], "literals": literals}

    def _constant(self, node: Any) -> np.ndarray:
        helper = self.onnx.helper
        for attr in node.attribute:
            value = helper.get_attribute_value(attr)
            if attr.type == self.onnx.AttributeProto.TENSOR:
                return self.to_array(value)
            if attr.name in ("value_float", "value_int", "value_floats", "value_ints"):
                return np.asarray(value, np.float32 if "float" in attr.name else np.int64)
        raise Refused("a Constant without a numeric value inside a branch")

    def _attr(self, attr: Any, literals: dict, nodes: list) -> Any:
        kinds = self.onnx.AttributeProto
        if attr.type == kinds.GRAPH:
            return self.graph(attr.g)
        if attr.type == kinds.GRAPHS:
            raise Refused("an attribute holding several sub-graphs inside a branch")
        value = self.onnx.helper.get_attribute_value(attr)
        if attr.type == kinds.TENSOR:
            array = self.to_array(value)
            name = self.bind(array)
            return {"tensor": name}
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [v.decode("utf-8", "replace") for v in value]
        return value


def branch_shapes(attrs: dict, scope: list[tuple[str, Any]], opset: int, outputs: int) -> list[list]:
    """The output shapes each branch can give: a list of candidates, each a list of
    ``outputs`` shapes (None for sizes known only at run time).

    ``scope`` pairs each scope name with a constant, or with the shape of one
    sample's tensor (a list, None for unknown sizes). A branch is run on zeros
    with every unknown size set to each of :data:`GUESSES`; sizes that differ
    between the runs are unknown. The two branches give one candidate when
    their shapes agree in rank, else one each (then-branch first).
    """
    found = []
    for key in BRANCHES:
        runs = []
        for guess in GUESSES:
            values = {name: v if isinstance(v, np.ndarray) else
                      np.zeros([guess if d is None else d for d in v], np.float32) for name, v in scope}
            try:
                runs.append([np.shape(v) for v in run_graph(attrs[key], values, opset)[:outputs]])
            except Exception:  # zeros and guessed sizes may not be valid for this branch
                continue
                continue
        if runs:
            found.append(_merge(runs))
    if not found:
        raise Refused("neither branch can be run on this input's shapes")
    if len(found) == 2 and all(len(a) == len(b) for a, b in zip(*found)):
        return [_merge(found)]
    return found


def _merge(runs: list) -> list:
    """Output shapes that agree between runs; sizes that differ, or ranks, become unknown."""
    merged = []
    for shapes in zip(*runs):
        if len({len(s) for s in shapes}) > 1:
            return list(runs[0])
        merged.append([d if all(s[i] == d for s in shapes) else None for i, d in enumerate(shapes[0])])
    return merged


def if_parts(onnx: Any, to_array: Callable[[Any], np.ndarray], node: Any, values: dict) -> tuple:
    """What an If run at run time needs: (its attributes, the values its branches read,
    the scope :func:`branch_shapes` tries them in).

    ``values`` maps the graph's tensor names to their conversion values; the
    branches may read any of them that is data (a Tensor) or a constant.
    """
    bound: list[tuple[str, np.ndarray]] = []

    def bind(value: np.ndarray) -> str:
        bound.append((f"strata_const_{len(bound)}", value))
        return bound[-1][0]

    writer = BranchWriter(onnx, to_array, bind)
    attrs = {a.name: writer.graph(a.g) for a in node.attribute if a.name in BRANCHES}
    if len(attrs) != 2:
        raise Refused("an If without both branches")
    if writer.missing:
        raise Refused("its branches use ops Strata does not compute: " + ", ".join(sorted(set(writer.missing))))
    names = list(dict.fromkeys(n for a in node.attribute if a.HasField("g") for n in free_names(a.g)))
    read = []
    for name in names:
        value = values.get(name)
        if value is None or isinstance(value, (BatchConst, Unknown)):
            raise Refused(f"its branches read {name!r}, which cannot be followed")
        read.append(value)
    attrs["scope"] = names + [n for n, _ in bound]
    scope = [(n, v if is_const(v) else sample_shape(v)) for n, v in zip(names, read)] + bound
    return attrs, read + [v for _, v in bound], scope


def next_picks(speculative: list[tuple[str, int]], picks: dict) -> dict | None:
    """The branch choices to try after a conversion failed, or None if none are left.

    ``speculative`` lists the run-time Ifs whose branches differ in rank, as
    (node, number of choices) in graph order; ``picks`` the choices the failed
    conversion made. The net can be converted for one branch of each only;
    the choices are tried in order (the then-branch first), the last If first.
    """
    picks = {where: picks.get(where, 0) for where, _ in speculative}
    for i in range(len(speculative) - 1, -1, -1):
        where, count = speculative[i]
        if picks[where] + 1 < count:
            picks[where] += 1
            for later, _ in speculative[i + 1:]:
                picks.pop(later)
            return picks
    return None

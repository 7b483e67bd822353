"""ONNX control flow: If, its taken branch run when the condition is known, at run time.

A branch is a plain, JSON-able description of an ONNX sub-graph::

    {"nodes": [[op, [input names], [output names], attrs], ...],
     "outputs": [names], "literals": {name: {"value": [...], "dtype": str}}}

Names not made inside the branch come from the scope around it: the values
the If operator was given (``attrs["scope"]`` names them, in input order
after the condition), or an enclosing branch's. An attribute that is a
tensor is ``{"tensor": name}``; one that is a sub-graph is the branch itself.
Small constants are ``literals``; larger ones are values of the scope.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viewer.net.operators import OPERATORS, compute, operator

BRANCHES = ("then_branch", "else_branch")
MAX_DEPTH = 16  # nested Ifs a branch may hold (exporters nest 3 or 4)


def is_graph(value: Any) -> bool:
    return isinstance(value, dict) and "nodes" in value and "outputs" in value


def _literal(spec: dict) -> np.ndarray:
    return np.asarray(spec["value"], dtype=np.dtype(spec["dtype"]))


def run_graph(graph: dict, scope: dict, opset: int) -> list:
    """The outputs of ``graph`` computed in ``scope`` (name -> array)."""
    values, _ = trace_graph(graph, scope, opset)
    return [values[n] for n in graph["outputs"]]


def trace_graph(graph: dict, scope: dict, opset: int) -> tuple[dict, list]:
    """Every value ``graph`` computes in ``scope`` (name -> array, the scope's and its
    literals included), and its nodes as run: (op, input names, output names, attributes
    with their tensors filled in, input values), for the backward."""
    values = dict(scope)
    for name, spec in graph.get("literals", {}).items():
        values[name] = _literal(spec)
    steps = []
    for op, ins, outs, attrs in graph["nodes"]:
        inputs = [values[n] if n else None for n in ins]
        plain = {k: values[v["tensor"]] if isinstance(v, dict) and set(v) == {"tensor"} else v
                 for k, v in attrs.items()}
        results = taken(inputs[0], plain, values, opset) if op == "If" else compute(op, inputs, plain, opset)
        for name, value in zip(outs, results):
            if name:
                values[name] = value
        steps.append((op, ins, outs, plain, inputs))
    return values, steps


def taken_branch(cond: np.ndarray, attrs: dict) -> dict:
    """The branch an If's condition picks."""
    if np.size(cond) != 1:
        raise ValueError(f"an If condition must hold one value, not {np.shape(cond)}")
    return attrs[BRANCHES[0] if bool(np.asarray(cond).reshape(-1)[0]) else BRANCHES[1]]


def taken(cond: np.ndarray, attrs: dict, scope: dict, opset: int) -> list:
    """The outputs of the branch ``cond`` picks."""
    return [np.asarray(v) for v in run_graph(taken_branch(cond, attrs), scope, opset)]


@operator("If")
def _if(inputs: list, attrs: dict, opset: int) -> list:
    return taken(inputs[0], attrs, dict(zip(attrs["scope"], inputs[1:])), opset)


def check_if(attrs: dict, outputs: int) -> None:
    """Raise ValueError unless ``attrs`` describe two branches giving ``outputs`` values that
    read only names their scope defines and compute only known ops."""
    scope = attrs.get("scope")
    if not isinstance(scope, list) or not all(isinstance(n, str) for n in scope):
        raise ValueError("an If needs the list of names its branches read ('scope')")
    _check_branches(attrs, set(scope), outputs, 0)


def _check_branches(attrs: dict, names: set, outputs: int, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"Ifs nested more than {MAX_DEPTH} deep")
    for key in BRANCHES:
        graph = attrs.get(key)
        if not is_graph(graph):
            raise ValueError(f"an If without a {key}")
        if len(graph["outputs"]) < outputs:
            raise ValueError(f"its {key} gives {len(graph['outputs'])} values, the If {outputs}")
        _check_graph(graph, names, depth)


def _check_graph(graph: dict, names: set, depth: int) -> None:
    known = set(names)
    literals = graph.get("literals", {})
    for name, spec in literals.items():
        try:
            _literal(spec)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"literal {name!r} is not an array ({exc})") from None
        known.add(name)
    for node in graph["nodes"]:
        if not (isinstance(node, list) and len(node) == 4 and isinstance(node[0], str)
                and isinstance(node[1], list) and isinstance(node[2], list) and isinstance(node[3], dict)):
            raise ValueError(f"bad branch node {str(node)[:80]}")
        op, ins, outs, attrs = node
        if op != "If" and op not in OPERATORS:
            raise ValueError(f"unknown ONNX operator {op!r} in a branch")
        missing = [n for n in ins if n and n not in known]
        missing += [v["tensor"] for v in attrs.values()
                    if isinstance(v, dict) and set(v) == {"tensor"} and v["tensor"] not in known]
        if missing:
            raise ValueError(f"a branch's {op} reads {missing}, which nothing before it makes")
        if op == "If":
            _check_branches(attrs, known, len(outs), depth + 1)
        known.update(n for n in outs if isinstance(n, str) and n)
    if any(not isinstance(n, str) or n not in known for n in graph["outputs"]):
        raise ValueError("a branch gives a value it does not make")

"""Backward of the Elementwise kind (:mod:`viewer.net.layers.expression`): its formula's steps
are recomputed, then unwound last step first, each by its derivative rule."""

from __future__ import annotations

import numpy as np

from viewer.net.backward.derivatives import UNARY, binary_grads, clip_grads, unbroadcast
from viewer.net.backward.registry import backward
from viewer.net.layers.base import Layer
from viewer.net.layers.expression import OPS

# The formula's op names -> the derivative tables' names.
_UNARY_NAMES = {"neg": "neg", "abs": "abs", "exp": "exp", "log": "log", "log1p": "log1p",
                "expm1": "expm1", "sqrt": "sqrt", "sqr": "square", "inv": "reciprocal",
                "tanh": "tanh", "sigmoid": "sigmoid", "softplus": "softplus", "erf": "erf",
                "identity": "identity", "sin": "sin", "cos": "cos", "floor": "floor",
                "ceil": "ceil", "round": "round"}
_BINARY_NAMES = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "pow": "pow",
                 "maximum": "maximum", "minimum": "minimum"}
_FLAT_NAMES = {"floordiv", "gt", "lt", "ge", "le", "eq", "neq", "and", "or", "not"}
_SPECIAL = {"switch", "second", "clip"}
#: Every op of the formula language that has a rule here (a test checks it is all of OPS).
RULED = set(_UNARY_NAMES) | set(_BINARY_NAMES) | _FLAT_NAMES | _SPECIAL


def _step_grads(op: str, args: list, y: np.ndarray, g: np.ndarray) -> list:
    """Gradients of one step's result with respect to each of its arguments."""
    if op in _FLAT_NAMES:
        return [None] * len(args)
    if op in _UNARY_NAMES:
        return [unbroadcast(g * UNARY[_UNARY_NAMES[op]](args[0], y), np.shape(args[0]))]
    if op in _BINARY_NAMES:
        return list(binary_grads(_BINARY_NAMES[op], args[0], args[1], y, g))
    if op == "switch":
        cond = np.asarray(args[0], bool)
        return [None, unbroadcast(np.where(cond, g, 0), np.shape(args[1])),
                unbroadcast(np.where(cond, 0, g), np.shape(args[2]))]
    if op == "second":
        return [None, unbroadcast(g, np.shape(args[1]))]
    x = args[0]
    low = args[1] if len(args) > 1 else None
    high = args[2] if len(args) > 2 else None
    gx, glow, ghigh = clip_grads(x, low, high, g)
    return [unbroadcast(gx, np.shape(x)), glow, ghigh][:len(args)]


@backward("Elementwise", inputs=True)
def _elementwise(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    dtype = next((v.dtype for v in inputs if v.dtype.kind == "f"), np.dtype(np.float32))
    values, results = [], []
    for step in layer.steps:   # the forward's arguments of every step, kept this time
        args = []
        for kind, ref in step[1:]:
            if kind == "in":
                args.append(inputs[ref])
            elif kind == "const":
                args.append(layer._values[ref].astype(dtype, copy=False))
            elif kind == "num":
                args.append(np.asarray(ref, dtype))
            else:
                args.append(results[ref])
        values.append(args)
        results.append(np.asarray(OPS[step[0]](*args)))
    step_grads: list = [None] * len(layer.steps)
    step_grads[-1] = grad
    in_grads: list = [np.zeros(np.shape(x), grad.dtype) for x in inputs]
    for j in range(len(layer.steps) - 1, -1, -1):
        g = step_grads[j]
        if g is None:
            continue
        step = layer.steps[j]
        for (kind, ref), ga in zip(step[1:], _step_grads(step[0], values[j], results[j], g)):
            if ga is None or kind in ("const", "num"):
                continue
            target = in_grads if kind == "in" else step_grads
            target[ref] = ga if target[ref] is None else target[ref] + ga
    return [unbroadcast(g, np.shape(x)).astype(grad.dtype, copy=False) for g, x in zip(in_grads, inputs)]

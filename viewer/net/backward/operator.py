"""Backward of the Operator kind (:mod:`viewer.net.layers.operator`): ONNX ops kept as they are.

Like the forward, it works on one sample at a time, each op's gradient as
:mod:`~viewer.net.backward.operator_nodes` computes one node's (moving ops,
computing ops, LSTM through time, If through the branch it took). Any other op
is refused by name.
"""

from __future__ import annotations

import numpy as np

from viewer.net.backward.operator_nodes import MOVING, node_grads, node_refusal
from viewer.net.backward.registry import backward
from viewer.net.layers.base import Layer

__all__ = ["MOVING"]


def _refusal(layer: Layer) -> str | None:
    return node_refusal(layer.op, layer._attrs, [arg[0] == "data" for arg in layer.args],
                        [arg[0] != "none" for arg in layer.args])


def _sample_grads(layer: Layer, values: list, g: np.ndarray) -> list:
    """The op's gradient for each of its inputs on one sample (None: none flows there)."""
    return node_grads(layer.op, layer._attrs, layer.opset, values, layer.output, g,
                      [arg[0] == "data" for arg in layer.args])


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

"""Backward of the merge kinds (:mod:`viewer.net.layers.merge`)."""

from __future__ import annotations

import numpy as np

from viewer.net.backward.registry import backward
from viewer.net.layers.base import Layer


@backward("Add", inputs=False)
def _add(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    return [grad] * len(inputs)


@backward("Multiply", inputs=True)
def _multiply(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    grads = []
    for k in range(len(inputs)):
        part = grad
        for m, other in enumerate(inputs):
            if m != k:
                part = part * other
        grads.append(part)
    return grads


@backward("Concatenate", inputs=False)
def _concatenate(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    ends = np.cumsum([x.shape[layer.axis] for x in inputs])[:-1]
    return np.split(grad, ends, axis=layer.axis)

"""Backward of the input, dense and shape kinds (:mod:`viewer.net.layers.core`)."""

from __future__ import annotations

import numpy as np

from viewer.net.backward.registry import backward
from viewer.net.layers.base import Layer


@backward("Input", inputs=False)
def _input(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    return []  # where the data enters: nothing before it


@backward("Dropout", inputs=False)
def _identity(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    return [grad]


@backward("Dense", inputs=False)
def _dense(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    return [grad @ layer.W.T.astype(grad.dtype, copy=False)]


@backward("Flatten", inputs=False)
def _flatten(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    shape = inputs[0].shape
    if not layer._moves_channels(len(shape) - 1):
        return [grad.reshape(shape)]
    if layer.data_format == "channels_first":   # the forward moved axis 1 to the end
        moved = (shape[0],) + shape[2:] + (shape[1],)
        return [np.moveaxis(grad.reshape(moved), -1, 1)]
    moved = (shape[0], shape[-1]) + shape[1:-1]
    return [np.moveaxis(grad.reshape(moved), 1, -1)]


@backward("Reshape", inputs=False)
def _reshape(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    return [grad.reshape(inputs[0].shape)]


@backward("Permute", inputs=False)
def _permute(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    axes = (0,) + tuple(d + 1 for d in layer.dims)
    return [grad.transpose(np.argsort(axes))]

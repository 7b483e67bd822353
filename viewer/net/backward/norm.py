"""Backward of batch normalisation at inference (:mod:`viewer.net.layers.norm`): a fixed scale."""

from __future__ import annotations

import numpy as np

from viewer.net.backward.registry import backward
from viewer.net.layers.base import Layer


@backward("BatchNorm", inputs=False)
def _batch_norm(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    shape = [1] * grad.ndim
    shape[layer.axis] = -1
    # The forward's own folded scale, gamma / sqrt(var + eps), so the gradient is of what it computes.
    return [grad * layer._scale.astype(grad.dtype, copy=False).reshape(shape)]

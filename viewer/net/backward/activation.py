"""Backward of the Activation kind: the derivative of every function in FUNCTIONS.

ReLU-like functions (relu with its options, leaky_relu) follow the rule of
:data:`~viewer.net.backward.registry.RULES`: "guided" passes the gradient
where it is positive and the input is on the function's rising part (above
the threshold, below max_value), "deconvnet" passes the positive gradient
whatever the input. Derivatives at kinks take the value PyTorch's autograd
takes there (relu'(0) = 0).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from viewer.net.backward.derivatives import UNARY
from viewer.net.backward.registry import backward
from viewer.net.layers.base import Layer

RELU_LIKE = ("relu", "leaky_relu")


def _relu_slope(x: np.ndarray, max_value: float | None = None, alpha: float = 0.0,
                threshold: float = 0.0) -> np.ndarray:
    slope = np.where(x > threshold, 1.0, alpha)
    if max_value is not None:  # the clipped part is flat
        below = np.where(x >= threshold, x, alpha * (x - threshold)) < max_value
        slope = np.where(below, slope, 0.0)
    return slope


#: name -> derivative of (input x, output y, options), element-wise; the
#: axis-wise softmax and log_softmax are in _AXIS_WISE.
SLOPES: dict[str, Callable[..., np.ndarray]] = {
    **{name: UNARY[name] for name in ("tanh", "gelu", "gelu_tanh", "selu", "hard_swish", "softplus",
                                      "softsign", "swish")},
    "linear": UNARY["identity"],
    "relu": lambda x, y, **o: _relu_slope(x, **o),
    "leaky_relu": lambda x, y, alpha: np.where(x >= 0, 1.0, alpha),
    "elu": lambda x, y, alpha: np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))),
    "sigmoid": lambda x, y: y * (1.0 - y),
    "hard_sigmoid": lambda x, y, slope, offset: np.where((y > 0) & (y < 1), slope, 0.0),
}


def _softmax(y: np.ndarray, grad: np.ndarray, axis: int) -> np.ndarray:
    return y * (grad - (grad * y).sum(axis=axis, keepdims=True))


def _log_softmax(y: np.ndarray, grad: np.ndarray, axis: int) -> np.ndarray:
    return grad - np.exp(y) * grad.sum(axis=axis, keepdims=True)


_AXIS_WISE: dict[str, Callable[..., np.ndarray]] = {"softmax": _softmax, "log_softmax": _log_softmax}

#: Functions whose derivative is computed from the output alone.
_FROM_OUTPUT = ("tanh", "sigmoid", "hard_sigmoid", "softmax", "log_softmax")


def _refusal(layer: Layer) -> str | None:
    if layer.function in SLOPES or layer.function in _AXIS_WISE:
        return None
    return f"activation {layer.function!r} has no derivative"


@backward("Activation", inputs=lambda layer: layer.function not in _FROM_OUTPUT,
          output=lambda layer: layer.function in _FROM_OUTPUT, refusal=_refusal)
def _activation(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x, options = inputs[0], dict(layer.options)
    if layer.function in _AXIS_WISE:
        return [_AXIS_WISE[layer.function](output, grad, **options).astype(grad.dtype, copy=False)]
    if layer.function in RELU_LIKE and rule != "standard":
        return [_modified_relu(layer, x, grad, rule, options)]
    slope = SLOPES[layer.function](x, output, **options)
    return [(grad * slope).astype(grad.dtype, copy=False)]


def _modified_relu(layer: Layer, x: np.ndarray, grad: np.ndarray, rule: str,
                   options: dict[str, Any]) -> np.ndarray:
    """Guided backprop's and deconvnet's ReLU: only the positive gradient passes."""
    positive = np.maximum(grad, 0)
    if rule == "deconvnet":
        return positive
    if layer.function == "relu":
        rising = _relu_slope(x, options["max_value"], 0.0, options["threshold"]) > 0
    else:
        rising = x > 0
    return np.where(rising, positive, 0).astype(grad.dtype, copy=False)

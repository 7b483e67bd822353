"""Derivatives of the element-wise functions, one table shared by every kind that uses them.

The Unary, Arithmetic, ConstArithmetic and Elementwise kinds and the ONNX
Operator kind name their functions differently; each maps its names onto
these. Piecewise-constant functions (floor, ceil, round, sign) have derivative
zero, as in PyTorch's autograd; comparisons and logic give no gradient.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from viewer.net.layers.activation import SELU_ALPHA, SELU_SCALE, erfc


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def gelu_tanh_slope(x: np.ndarray) -> np.ndarray:
    """Derivative of GELU's tanh approximation ``0.5 x (1 + tanh(k (x + 0.044715 x^3)))``."""
    k = math.sqrt(2.0 / math.pi)
    t = np.tanh(k * (x + 0.044715 * x ** 3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3 * 0.044715 * x * x)


def swish_slope(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Derivative of ``x * sigmoid(alpha x)``."""
    s = _sigmoid(alpha * x)
    return s + alpha * x * s * (1 - s)


def _zero(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.zeros(np.shape(x))


#: name -> d y / d x as a function of (x, y), element-wise.
UNARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "identity": lambda x, y: np.ones(np.shape(x)),
    "neg": lambda x, y: -np.ones(np.shape(x)),
    "abs": lambda x, y: np.sign(x),
    "exp": lambda x, y: y,
    "expm1": lambda x, y: y + 1,
    "log": lambda x, y: 1.0 / x,
    "log1p": lambda x, y: 1.0 / (1.0 + x),
    "sqrt": lambda x, y: 0.5 / y,
    "square": lambda x, y: 2 * x,
    "reciprocal": lambda x, y: -y * y,
    "tanh": lambda x, y: 1.0 - y * y,
    "sigmoid": lambda x, y: _sigmoid(x) * (1.0 - _sigmoid(x)),
    "softplus": lambda x, y: _sigmoid(x),
    "softsign": lambda x, y: 1.0 / (1.0 + np.abs(x)) ** 2,
    "relu": lambda x, y: (x > 0).astype(np.float64),
    "sin": lambda x, y: np.cos(x),
    "cos": lambda x, y: -np.sin(x),
    "tan": lambda x, y: 1.0 + np.tan(x) ** 2,
    "arcsin": lambda x, y: 1.0 / np.sqrt(1.0 - x * x),
    "arccos": lambda x, y: -1.0 / np.sqrt(1.0 - x * x),
    "arctan": lambda x, y: 1.0 / (1.0 + x * x),
    "sinh": lambda x, y: np.cosh(x),
    "cosh": lambda x, y: np.sinh(x),
    "arcsinh": lambda x, y: 1.0 / np.sqrt(x * x + 1.0),
    "arccosh": lambda x, y: 1.0 / np.sqrt(x * x - 1.0),
    "arctanh": lambda x, y: 1.0 / (1.0 - x * x),
    "erf": lambda x, y: 2.0 / math.sqrt(math.pi) * np.exp(-x * x),
    "gelu": lambda x, y: 0.5 * erfc(-x / math.sqrt(2.0)) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi),
    "gelu_tanh": lambda x, y: gelu_tanh_slope(x),
    "swish": lambda x, y: swish_slope(x),
    "mish": lambda x, y: np.tanh(np.logaddexp(0, x)) + x * _sigmoid(x) * (1 - np.tanh(np.logaddexp(0, x)) ** 2),
    "hard_swish": lambda x, y: np.where(x < -3, 0.0, np.where(x > 3, 1.0, (2 * x + 3) / 6)),
    "selu": lambda x, y: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0))),
    "floor": _zero, "ceil": _zero, "round": _zero, "sign": _zero,
}


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """``grad`` summed over the axes numpy broadcast an array of ``shape`` along, to ``shape``."""
    grad = np.asarray(grad)
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    summed = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                        if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=summed).reshape(shape) if summed else grad.reshape(shape)


def _div(a, b, y, g):
    return g / b, -g * y / b


def _pow(a, b, y, g):
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0.0)
    return g * b * np.power(a, b - 1), g * y * log_a


#: name -> (a, b, y, g) -> (d / d a, d / d b), before undoing broadcasting.
#: maximum and minimum give the whole gradient to ``a`` where the two are equal.
BINARY: dict[str, Callable[..., tuple]] = {
    "add": lambda a, b, y, g: (g, g),
    "sub": lambda a, b, y, g: (g, -g),
    "mul": lambda a, b, y, g: (g * b, g * a),
    "div": _div,
    "pow": _pow,
    "maximum": lambda a, b, y, g: (np.where(a >= b, g, 0), np.where(a >= b, 0, g)),
    "minimum": lambda a, b, y, g: (np.where(a <= b, g, 0), np.where(a <= b, 0, g)),
}

#: Functions whose result carries no gradient (true/false or piecewise constant results).
FLAT = frozenset({"greater", "less", "equal", "not_equal", "greater_equal", "less_equal",
                  "and", "or", "not", "xor", "floordiv", "mod"})


def binary_grads(name: str, a: np.ndarray, b: np.ndarray, y: np.ndarray,
                 g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``y = name(a, b)`` with respect to a and b, each shaped like its operand."""
    if name in FLAT:
        return np.zeros(np.shape(a)), np.zeros(np.shape(b))
    ga, gb = BINARY[name](a, b, y, g)
    return unbroadcast(ga, np.shape(a)), unbroadcast(gb, np.shape(b))


def clip_grads(x: np.ndarray, low, high, g: np.ndarray) -> tuple:
    """Gradients of ``clip(x, low, high) = minimum(maximum(x, low), high)`` w.r.t. x, low, high.

    Bounds that are None get None. Within the bounds (bounds included, as
    PyTorch's clamp) x gets the gradient; where x is clipped, the bound that
    clipped it does.
    """
    floor = x if low is None else np.maximum(x, low)
    if high is None:
        g_floor, ghigh = g, None
    else:
        g_floor, ghigh = binary_grads("minimum", floor, high, None, g)
    if low is None:
        return unbroadcast(g_floor, np.shape(x)), None, ghigh
    gx, glow = binary_grads("maximum", x, low, None, g_floor)
    return gx, glow, ghigh

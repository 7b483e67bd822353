"""Element-wise and axis-wise nonlinearities, as one Activation layer kind."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from viewer.errors import LayerError
from viewer.net.layers.base import Layer, Shape, register

# SELU's constants (Klambauer et al. 2017), as every framework uses them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function, vectorised (numpy has none; scipy is no dependency).

    The Chebyshev fit of Numerical Recipes (erfcc): relative error below
    1.2e-7 everywhere, tails included, so GELU keeps float32 accuracy even
    where its output is tiny.
    """
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    coeffs = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
              0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)
    poly = np.zeros_like(t)
    for c in reversed(coeffs[1:]):
        poly = t * (c + poly)
    r = t * np.exp(-z * z + coeffs[0] + poly)
    return np.where(x >= 0, r, 2.0 - r)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


#: From this many cells of a float array, ReLU is ``np.clip(x, 0, inf)``: numpy's
#: maximum against a scalar runs several times slower than clip on large arrays
#: (measured, numpy 2.4, 225,792 float32 cells: 111 us against 42 us; a ufunc
#: add: 20 us), while clip's Python wrapper costs about 3 us, which small
#: arrays notice (784 cells: 1.5 against 4.1 us). The results differ only in
#: the sign of a zero (clip keeps -0.0).
RELU_CLIP_MIN_SIZE = 16384


def relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``max(x, 0)`` of any shape, into ``out`` if given (``out=x``: in place).

    The fused plan and the Activation layer both compute ReLU here, so fused
    and unfused outputs stay bit for bit equal.
    """
    if x.size >= RELU_CLIP_MIN_SIZE and x.dtype.kind == "f":
        zero = x.dtype.type(0)
        return np.clip(x, zero, x.dtype.type(np.inf), out=out)
    return np.maximum(x, 0, out=out)


def _relu(x: np.ndarray, max_value: float | None = None, alpha: float = 0.0,
          threshold: float = 0.0) -> np.ndarray:
    if not (alpha or threshold):
        # ReLU6 and the like in one pass.
        return relu(x) if max_value is None else np.clip(x, 0, max_value).astype(x.dtype, copy=False)
    out = np.where(x >= threshold, x, alpha * (x - threshold))
    if max_value is not None:
        out = np.minimum(out, max_value)
    return out.astype(x.dtype, copy=False)


def _hard_sigmoid(x: np.ndarray, slope: float = 0.2, offset: float = 0.5) -> np.ndarray:
    return np.clip(slope * x + offset, 0, 1).astype(x.dtype, copy=False)


def _hard_swish(x: np.ndarray) -> np.ndarray:
    """``x * relu6(x + 3) / 6`` (MobileNetV3's hard-swish), in x's dtype."""
    out = np.add(x, 3, dtype=x.dtype)
    np.clip(out, 0, 6, out=out)
    out *= x
    out /= 6
    return out


def _typed(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Keep the input's float dtype: numpy scalars would otherwise promote float32."""
    def wrapped(x: np.ndarray, **options: Any) -> np.ndarray:
        return np.asarray(fn(x, **options)).astype(x.dtype, copy=False)
    return wrapped


# name -> (function of (x, **options), the options it accepts with defaults)
FUNCTIONS: dict[str, tuple[Callable[..., np.ndarray], dict[str, Any]]] = {
    "linear": (lambda x: x, {}),
    "relu": (_relu, {"max_value": None, "alpha": 0.0, "threshold": 0.0}),
    "leaky_relu": (_typed(lambda x, alpha: np.where(x >= 0, x, alpha * x)), {"alpha": 0.01}),
    "elu": (_typed(lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))),
            {"alpha": 1.0}),
    "selu": (_typed(lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))),
             {}),
    "gelu": (_typed(lambda x: 0.5 * x * erfc(-x / math.sqrt(2.0))), {}),
    "gelu_tanh": (_typed(lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi)
                                                            * (x + 0.044715 * x ** 3)))), {}),
    "tanh": (np.tanh, {}),
    "sigmoid": (_typed(lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))), {}),
    "hard_sigmoid": (_hard_sigmoid, {"slope": 0.2, "offset": 0.5}),
    "hard_swish": (_hard_swish, {}),
    "softplus": (_typed(lambda x: np.logaddexp(0, x)), {}),
    "softsign": (_typed(lambda x: x / (1 + np.abs(x))), {}),
    "swish": (_typed(lambda x: x * 0.5 * (1.0 + np.tanh(0.5 * x))), {}),
    "softmax": (_softmax, {"axis": -1}),
    "log_softmax": (_log_softmax, {"axis": -1}),
}


@register
class Activation(Layer):
    """A nonlinearity applied to its input, named by ``function``.

    Parameters
    ----------
    function : str
        One of :data:`FUNCTIONS`: linear, relu (with optional ``max_value``,
        negative slope ``alpha`` and ``threshold``), leaky_relu (``alpha``),
        elu (``alpha``), selu, gelu (exact, with erf), gelu_tanh (the tanh
        approximation), tanh, sigmoid, hard_sigmoid (``clip(slope*x + offset,
        0, 1)``), hard_swish (``x * relu6(x + 3) / 6``), softplus, softsign,
        swish, softmax and log_softmax (over ``axis``, counted on the batch
        tensor, default -1).
    **options
        The function's own options, listed with their defaults in FUNCTIONS.
    """

    kind = "Activation"

    def __init__(self, prev: Layer, *, name: str, function: str, **options: Any) -> None:
        super().__init__(prev, name=name)
        if function not in FUNCTIONS:
            raise LayerError(f"layer {name!r}: unknown activation {function!r} "
                             f"(known: {', '.join(sorted(FUNCTIONS))})")
        self.function = function
        self._fn, defaults = FUNCTIONS[function]
        unknown = set(options) - set(defaults)
        if unknown:
            raise LayerError(f"layer {name!r}: activation {function!r} takes no option(s) "
                             f"{sorted(unknown)}")
        self.options = {**defaults, **options}
        if "axis" in self.options and self.options["axis"] == 0:
            raise LayerError(f"layer {name!r}: {function} over axis 0 would mix the samples of a batch")

    def config(self) -> dict:
        return {"function": self.function, **self.options}

    def infer_shape(self, in_shape: Shape) -> Shape:
        if "axis" in self.options and in_shape is not None:
            axis = self.options["axis"]
            if not -len(in_shape) - 1 <= axis <= len(in_shape):
                raise LayerError(f"layer {self.name!r}: axis {axis} is out of range for "
                                 f"input shape {in_shape}")
        return in_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        return self._fn(x, **self.options)

"""Element-wise ONNX operators: arithmetic, logic, comparisons, math functions, activations."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from viewer.net.layers.activation import SELU_ALPHA, SELU_SCALE, erfc
from viewer.net.operators import operator

# ONNX TensorProto data types numpy can hold.
DTYPES: dict[int, Any] = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16,
                          6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64,
                          12: np.uint32, 13: np.uint64}


def onnx_dtype(code: int) -> np.dtype:
    if int(code) not in DTYPES:
        raise ValueError(f"ONNX data type {code} has no numpy equivalent")
    return np.dtype(DTYPES[int(code)])


def _same(x: np.ndarray, value: Any) -> np.ndarray:
    """A float result in x's float dtype (numpy scalars would promote float16/32)."""
    out = np.asarray(value)
    return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        # Integer division truncates toward zero (C semantics), not numpy's floor.
        q = np.abs(a) // np.where(b == 0, 1, np.abs(b))
        return (np.sign(a) * np.sign(b) * q).astype(np.result_type(a, b))
    return a / b


def _mod(inputs: list, attrs: dict, opset: int) -> list:
    a, b = inputs
    if attrs.get("fmod", 0):
        return [np.fmod(a, b)]
    if a.dtype.kind == "f":
        return [np.mod(a, b)]
    return [np.mod(a, np.where(b == 0, 1, b))]


def _pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind == "f":
        return np.power(a.astype(np.float64), b).astype(a.dtype)
    out = np.power(a, b.astype(a.dtype) if a.dtype.kind == "f" else b)
    return out.astype(a.dtype, copy=False)


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _div, "Pow": _pow,
    "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor, "Equal": np.equal,
    "Greater": np.greater, "Less": np.less, "GreaterOrEqual": np.greater_equal,
    "LessOrEqual": np.less_equal, "BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or,
    "BitwiseXor": np.bitwise_xor,
}


def _binary(name: str) -> None:
    fn = _BINARY[name]

    @operator(name)
    def run(inputs: list, attrs: dict, opset: int) -> list:
        a, b = inputs
        if name in ("Add", "Sub", "Mul") and a.dtype != b.dtype and a.dtype.kind == b.dtype.kind:
            b = b.astype(a.dtype)
        return [fn(a, b)]


for _name in _BINARY:
    _binary(_name)

operator("Mod")(_mod)


@operator("BitShift")
def _bit_shift(inputs: list, attrs: dict, opset: int) -> list:
    a, b = inputs
    if attrs["direction"] == "LEFT":
        return [np.left_shift(a, b).astype(a.dtype)]
    return [np.right_shift(a, b).astype(a.dtype)]


@operator("BitwiseNot")
def _bitwise_not(inputs: list, attrs: dict, opset: int) -> list:
    return [np.invert(inputs[0])]


@operator("Not")
def _not(inputs: list, attrs: dict, opset: int) -> list:
    return [np.logical_not(inputs[0])]


_VARIADIC = {"Max": np.maximum, "Min": np.minimum, "Sum": np.add}


def _variadic(name: str) -> None:
    @operator(name)
    def run(inputs: list, attrs: dict, opset: int) -> list:
        values = [v for v in inputs if v is not None]
        out = values[0]
        for more in values[1:]:
            out = _VARIADIC[name](out, more) if name != "Sum" else out + more
        return [np.asarray(out).astype(values[0].dtype, copy=False)]


for _name in _VARIADIC:
    _variadic(_name)


@operator("Mean")
def _mean(inputs: list, attrs: dict, opset: int) -> list:
    out = inputs[0].astype(np.float64)
    for more in inputs[1:]:
        out = out + more
    return [(out / len(inputs)).astype(inputs[0].dtype)]


def _erf(x: np.ndarray) -> np.ndarray:
    return 1.0 - erfc(x)


_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Abs": np.abs, "Neg": np.negative, "Sqrt": np.sqrt, "Exp": np.exp, "Log": np.log,
    "Floor": np.floor, "Ceil": np.ceil, "Round": np.round, "Reciprocal": np.reciprocal,
    "Sign": np.sign, "Sin": np.sin, "Cos": np.cos, "Tan": np.tan, "Asin": np.arcsin,
    "Acos": np.arccos, "Atan": np.arctan, "Sinh": np.sinh, "Cosh": np.cosh, "Asinh": np.arcsinh,
    "Acosh": np.arccosh, "Atanh": np.arctanh, "Erf": _erf, "IsNaN": np.isnan, "Identity": lambda x: x,
    "Relu": lambda x: np.maximum(x, 0), "Tanh": np.tanh,
    "Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x.astype(np.float64))),
    "Softplus": lambda x: np.logaddexp(0, x.astype(np.float64)),
    "Softsign": lambda x: x / (1 + np.abs(x)),
    "Mish": lambda x: x * np.tanh(np.logaddexp(0, x.astype(np.float64))),
    "HardSwish": lambda x: x * np.clip(x / 6.0 + 0.5, 0, 1),
}


def _unary(name: str) -> None:
    fn = _UNARY[name]

    @operator(name)
    def run(inputs: list, attrs: dict, opset: int) -> list:
        x = inputs[0]
        out = np.asarray(fn(x))
        return [out if out.dtype.kind == "b" or x.dtype.kind != "f" and name in ("Abs", "Neg", "Sign",
                                                                                   "Identity", "Relu")
                else _same(x, out)]


for _name in _UNARY:
    _unary(_name)


@operator("IsInf")
def _is_inf(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    out = np.zeros(x.shape, bool)
    if attrs.get("detect_positive", 1):
        out |= np.isposinf(x)
    if attrs.get("detect_negative", 1):
        out |= np.isneginf(x)
    return [out]


def _alpha(attrs: dict, default: float) -> float:
    return float(attrs.get("alpha", default))


_ACTIVATIONS: dict[str, Callable[[np.ndarray, dict], np.ndarray]] = {
    "LeakyRelu": lambda x, a: np.where(x >= 0, x, _alpha(a, 0.01) * x),
    "Elu": lambda x, a: np.where(x > 0, x, _alpha(a, 1.0) * np.expm1(np.minimum(x, 0))),
    "Selu": lambda x, a: float(a.get("gamma", SELU_SCALE)) * np.where(
        x > 0, x, float(a.get("alpha", SELU_ALPHA)) * np.expm1(np.minimum(x, 0))),
    "Celu": lambda x, a: np.maximum(x, 0) + np.minimum(0, _alpha(a, 1.0) * np.expm1(
        np.minimum(x, 0) / _alpha(a, 1.0))),
    "ThresholdedRelu": lambda x, a: np.where(x > _alpha(a, 1.0), x, 0),
    "HardSigmoid": lambda x, a: np.clip(_alpha(a, 0.2) * x + float(a.get("beta", 0.5)), 0, 1),
    "Shrink": lambda x, a: np.where(x < -float(a.get("lambd", 0.5)), x + float(a.get("bias", 0.0)),
                                    np.where(x > float(a.get("lambd", 0.5)),
                                             x - float(a.get("bias", 0.0)), 0)),
    "Swish": lambda x, a: x / (1.0 + np.exp(-_alpha(a, 1.0) * x.astype(np.float64))),
    "Gelu": lambda x, a: (0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3))))
    if a.get("approximate", "none") == "tanh" else 0.5 * x * erfc(-x.astype(np.float64) / np.sqrt(2.0)),
}


def _activation(name: str) -> None:
    fn = _ACTIVATIONS[name]

    @operator(name)
    def run(inputs: list, attrs: dict, opset: int) -> list:
        x = inputs[0]
        return [_same(x, fn(x, attrs))]


for _name in _ACTIVATIONS:
    _activation(_name)


@operator("PRelu")
def _prelu(inputs: list, attrs: dict, opset: int) -> list:
    x, slope = inputs
    return [_same(x, np.where(x >= 0, x, slope * x))]


@operator("Where")
def _where(inputs: list, attrs: dict, opset: int) -> list:
    cond, a, b = inputs
    return [np.where(cond, a, b).astype(np.result_type(a, b), copy=False)]


@operator("Clip")
def _clip(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    if opset < 11:
        low, high = attrs.get("min"), attrs.get("max")
    else:
        low = inputs[1] if len(inputs) > 1 else None
        high = inputs[2] if len(inputs) > 2 else None
    out = x
    if low is not None:
        out = np.maximum(out, np.asarray(low, x.dtype))
    if high is not None:
        out = np.minimum(out, np.asarray(high, x.dtype))
    return [out.astype(x.dtype, copy=False)]


def _cast_to(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if x.dtype.kind == "f" and dtype.kind in "iu":
        # Out-of-range and NaN floats have no defined integer; truncate the rest toward zero.
        return np.trunc(np.nan_to_num(x)).astype(dtype)
    return x.astype(dtype)


@operator("Cast")
def _cast(inputs: list, attrs: dict, opset: int) -> list:
    return [_cast_to(inputs[0], onnx_dtype(attrs["to"]))]


@operator("CastLike")
def _cast_like(inputs: list, attrs: dict, opset: int) -> list:
    return [_cast_to(inputs[0], inputs[1].dtype)]

"""Vector-Jacobian products of the ONNX operators that compute (rather than move) values.

Each entry of :data:`OP_GRADS` is ``fn(inputs, attrs, opset, out, g) -> list``:
the gradient for each of the op's inputs (None for inputs it gives no
gradient: indices, shapes, weights it treats as fixed), ``out`` being the op's
output and ``g`` the gradient at it. Inputs and attributes are as
:mod:`viewer.net.operators` takes them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from viewer.net.backward.derivatives import (UNARY, binary_grads, clip_grads, gelu_tanh_slope,
                                             swish_slope, unbroadcast)
from viewer.net.backward.spatial import route_to_argmax
from viewer.net.backward.tensor import _others_product, normalised_grad
from viewer.net.layers.activation import SELU_ALPHA, SELU_SCALE
from viewer.net.operators.nn import conv_geometry, pool_counts, pool_geometry, windows
from viewer.net.operators.tensor import axes_input

OpGrad = Callable[[list, dict, int, np.ndarray, np.ndarray], list]
OP_GRADS: dict[str, OpGrad] = {}


#: Inputs an op's gradient takes as fixed weights (None for them): an Operator layer computing
#: one of them from data is refused.
FIXED_INPUTS: dict[str, tuple[int, ...]] = {
    "BatchNormalization": (1, 2, 3, 4), "InstanceNormalization": (1, 2), "LayerNormalization": (1, 2),
    "GroupNormalization": (1, 2), "PRelu": (1,), "Conv": (1, 2), "LSTM": (1, 2, 3),
}


def op_grad(*names: str) -> Callable[[OpGrad], OpGrad]:
    """Decorator: register the gradient function of one or more ONNX op names."""
    def register(fn: OpGrad) -> OpGrad:
        for name in names:
            OP_GRADS[name] = fn
        return fn
    return register

_UNARY = {"Abs": "abs", "Neg": "neg", "Sqrt": "sqrt", "Exp": "exp", "Log": "log", "Floor": "floor",
          "Ceil": "ceil", "Round": "round", "Reciprocal": "reciprocal", "Sign": "sign", "Sin": "sin",
          "Cos": "cos", "Tan": "tan", "Asin": "arcsin", "Acos": "arccos", "Atan": "arctan",
          "Sinh": "sinh", "Cosh": "cosh", "Asinh": "arcsinh", "Acosh": "arccosh", "Atanh": "arctanh",
          "Erf": "erf", "Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus",
          "Softsign": "softsign", "Mish": "mish", "HardSwish": "hard_swish"}


def _unary(name: str) -> OpGrad:
    slope = UNARY[name]
    return lambda inputs, attrs, opset, out, g: [g * slope(inputs[0], out)]


for _onnx, _name in _UNARY.items():
    OP_GRADS[_onnx] = _unary(_name)


def _alpha(attrs: dict, default: float) -> float:
    return float(attrs.get("alpha", default))


def _gelu(x: np.ndarray, attrs: dict) -> np.ndarray:
    return gelu_tanh_slope(x) if attrs.get("approximate", "none") == "tanh" else UNARY["gelu"](x, None)


# name -> slope of (x, attrs), for the activations with attributes
_ACTIVATION_SLOPES: dict[str, Callable[[np.ndarray, dict], np.ndarray]] = {
    "LeakyRelu": lambda x, a: np.where(x >= 0, 1.0, _alpha(a, 0.01)),
    "Elu": lambda x, a: np.where(x > 0, 1.0, _alpha(a, 1.0) * np.exp(np.minimum(x, 0))),
    "Selu": lambda x, a: float(a.get("gamma", SELU_SCALE)) * np.where(
        x > 0, 1.0, float(a.get("alpha", SELU_ALPHA)) * np.exp(np.minimum(x, 0))),
    "Celu": lambda x, a: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / _alpha(a, 1.0))),
    "ThresholdedRelu": lambda x, a: np.where(x > _alpha(a, 1.0), 1.0, 0.0),
    "HardSigmoid": lambda x, a: np.where((_alpha(a, 0.2) * x + float(a.get("beta", 0.5)) > 0)
                                         & (_alpha(a, 0.2) * x + float(a.get("beta", 0.5)) < 1),
                                         _alpha(a, 0.2), 0.0),
    "Shrink": lambda x, a: np.where(np.abs(x) > float(a.get("lambd", 0.5)), 1.0, 0.0),
    "Swish": lambda x, a: swish_slope(x, _alpha(a, 1.0)),
    "Gelu": _gelu,
}


def _activation(name: str) -> OpGrad:
    slope = _ACTIVATION_SLOPES[name]
    return lambda inputs, attrs, opset, out, g: [g * slope(inputs[0], attrs)]


for _onnx in _ACTIVATION_SLOPES:
    OP_GRADS[_onnx] = _activation(_onnx)

_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow"}


def _binary(name: str) -> OpGrad:
    def grads(inputs, attrs, opset, out, g):
        return list(binary_grads(name, inputs[0], inputs[1], out, g))
    return grads


for _onnx, _name in _BINARY.items():
    OP_GRADS[_onnx] = _binary(_name)


def _variadic(name: str | None) -> OpGrad:
    """Max, Min (fold left, ties to the earlier input) and Sum, Mean of any number of inputs."""
    def grads(inputs, attrs, opset, out, g):
        present = [k for k, v in enumerate(inputs) if v is not None]
        result: list = [None] * len(inputs)
        if name is None:   # Sum or Mean: every input gets the gradient (divided by their number)
            share = g if attrs.get("_mean") is None else g / len(present)
            for k in present:
                result[k] = unbroadcast(share, np.shape(inputs[k]))
            return result
        partial = [inputs[present[0]]]
        for k in present[1:-1]:
            partial.append(np.maximum(partial[-1], inputs[k]) if name == "maximum"
                           else np.minimum(partial[-1], inputs[k]))
        for pos in range(len(present) - 1, 0, -1):
            y = out if pos == len(present) - 1 else partial[pos]
            g, result[present[pos]] = binary_grads(name, partial[pos - 1], inputs[present[pos]], y, g)
        result[present[0]] = unbroadcast(g, np.shape(inputs[present[0]]))
        return result
    return grads


OP_GRADS["Max"] = _variadic("maximum")
OP_GRADS["Min"] = _variadic("minimum")
OP_GRADS["Sum"] = _variadic(None)
OP_GRADS["Mean"] = lambda inputs, attrs, opset, out, g: _variadic(None)(inputs, {"_mean": 1}, opset, out, g)


def _flat(inputs, attrs, opset, out, g):
    """Ops whose result is piecewise constant or not a number (comparisons, logic, arg-max, shapes)."""
    return [None] * len(inputs)


for _onnx in ("Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Not",
              "IsNaN", "IsInf", "ArgMax", "ArgMin", "Shape", "Size", "Hardmax", "NonZero",
              "ConstantOfShape", "Range", "EyeLike", "OneHot"):
    OP_GRADS[_onnx] = _flat


@op_grad("PRelu")
def _prelu(inputs, attrs, opset, out, g):
    x, slope = inputs
    return [np.where(x >= 0, g, g * slope), None]


@op_grad("Where")
def _where(inputs, attrs, opset, out, g):
    cond, a, b = inputs
    return [None, unbroadcast(np.where(cond, g, 0), np.shape(a)), unbroadcast(np.where(cond, 0, g), np.shape(b))]


@op_grad("Clip")
def _clip(inputs, attrs, opset, out, g):
    x = inputs[0]
    if opset < 11:
        low, high = attrs.get("min"), attrs.get("max")
        return [clip_grads(x, low, high, g)[0]]
    low = inputs[1] if len(inputs) > 1 else None
    high = inputs[2] if len(inputs) > 2 else None
    return list(clip_grads(x, low, high, g))[:len(inputs)]


@op_grad("MatMul")
def _matmul(inputs, attrs, opset, out, g):
    a, b = inputs
    if a.ndim == 1 or b.ndim == 1:   # vectors: matmul's promotion to matrices, undone
        a2 = a[None] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = np.asarray(g).reshape(np.matmul(a2, b2).shape)
        ga, gb = _matmul([a2, b2], attrs, opset, None, g2)
        return [ga.reshape(a.shape), gb.reshape(b.shape)]
    return [unbroadcast(np.matmul(g, np.swapaxes(b, -1, -2)), a.shape),
            unbroadcast(np.matmul(np.swapaxes(a, -1, -2), g), b.shape)]


@op_grad("Conv")
def _conv(inputs, attrs, opset, out, g):
    """d / d x of an N-d convolution: each kernel offset's window gets the output's gradient
    through that offset's weights (the transposed convolution); the weights are fixed."""
    x, w = inputs[0], inputs[1]
    kernel, strides, dilations, groups, pads, sizes = conv_geometry(x.shape, w.shape, attrs)
    n, c = x.shape[:2]
    o = w.shape[0]
    cg, og = c // groups, o // groups
    padded = np.zeros((n, c) + tuple(m + pb + pe for m, (pb, pe) in zip(x.shape[2:], pads)))
    gg = np.asarray(g, np.float64).reshape((n, groups, og) + tuple(sizes))
    wg = np.asarray(w, np.float64).reshape((groups, og, cg) + w.shape[2:])
    for offset, view in windows(padded, kernel, strides, dilations, sizes):
        view += np.einsum("ngo...,goc->ngc...", gg, wg[(slice(None),) * 3 + offset]).reshape(
            view.shape)
    return [_unpadded(padded, x.shape, pads)] + [None] * (len(inputs) - 1)


def _unpadded(padded: np.ndarray, shape: tuple, pads: list) -> np.ndarray:
    """The input's cells of a gradient gathered over its padded extent (N, C, *padded)."""
    return padded[(slice(None), slice(None)) + tuple(slice(pb, pb + m)
                                                     for m, (pb, _) in zip(shape[2:], pads))]


@op_grad("GlobalMaxPool")
def _global_max_pool(inputs, attrs, opset, out, g):
    x = inputs[0]
    axes = tuple(range(2, x.ndim))
    return [route_to_argmax(x, np.asarray(g).reshape(x.shape[:2]), axes)]


@op_grad("GlobalAveragePool")
def _global_average_pool(inputs, attrs, opset, out, g):
    x = inputs[0]
    cells = int(np.prod(x.shape[2:]))
    return [np.broadcast_to(np.asarray(g).reshape(x.shape[:2] + (1,) * (x.ndim - 2)) / cells,
                            x.shape).copy()]


@op_grad("MaxPool")
def _max_pool(inputs, attrs, opset, out, g):
    """Each output's gradient to the input cell its window's maximum came from (the first,
    as the forward takes it); the forward's indices say which."""
    from viewer.net.operators import compute
    x = inputs[0]
    where = compute("MaxPool", [x], {**attrs, "storage_order": 0}, opset)[1]
    grad = np.zeros(x.size)
    np.add.at(grad, where.ravel(), np.asarray(g, np.float64).ravel())
    return [grad.reshape(x.shape)]


@op_grad("AveragePool")
def _average_pool(inputs, attrs, opset, out, g):
    """Each window's share of its output's gradient, spread over the cells it averaged."""
    x = inputs[0]
    kernel, strides, dilations, pads, sizes, over = pool_geometry(x.shape, attrs)
    counts = pool_counts(x.shape, attrs)
    share = np.asarray(g, np.float64).reshape(x.shape[:2] + tuple(sizes)) / counts
    padded = np.zeros(x.shape[:2] + tuple(m + pb + pe + o for m, (pb, pe), o
                                          in zip(x.shape[2:], pads, over)))
    for _, view in windows(padded, kernel, strides, dilations, sizes):
        view += share
    return [_unpadded(padded, x.shape, pads)]


@op_grad("Gemm")
def _gemm(inputs, attrs, opset, out, g):
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    ta, tb = bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0))
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    am, bm = (a.T if ta else a), (b.T if tb else b)
    ga, gb = alpha * g @ bm.T, alpha * am.T @ g
    grads = [ga.T if ta else ga, gb.T if tb else gb]
    if len(inputs) > 2:
        grads.append(None if c is None else unbroadcast(beta * g, np.shape(c)))
    return grads


def _softmax_like(name: str) -> OpGrad:
    def grads(inputs, attrs, opset, out, g):
        x = inputs[0]
        if opset < 13:   # the input is seen as a matrix of rows from ``axis`` on
            axis = int(attrs.get("axis", 1)) % max(x.ndim, 1)
            rows = int(np.prod(x.shape[:axis]))
            y, gy, axis = out.reshape(rows, -1), np.asarray(g).reshape(rows, -1), 1
        else:
            axis = int(attrs.get("axis", -1)) % x.ndim
            y, gy = out, g
        if name == "Softmax":
            gx = y * (gy - (gy * y).sum(axis=axis, keepdims=True))
        else:
            gx = gy - np.exp(y) * gy.sum(axis=axis, keepdims=True)
        return [gx.reshape(x.shape)]
    return grads


OP_GRADS["Softmax"] = _softmax_like("Softmax")
OP_GRADS["LogSoftmax"] = _softmax_like("LogSoftmax")


def _reduce(name: str) -> OpGrad:
    def grads(inputs, attrs, opset, out, g):
        x = inputs[0]
        moved = 13 if name == "ReduceSum" else 18
        axes = axes_input(inputs, attrs, 1, moved, opset)
        rest = [None] * (len(inputs) - 1)
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return [g] + rest
            axes = list(range(x.ndim))
        axes_t = tuple(sorted(a % x.ndim for a in axes))
        kept_out = out if attrs.get("keepdims", 1) else np.expand_dims(out, axes_t)
        gk = g if attrs.get("keepdims", 1) else np.expand_dims(g, axes_t)
        xw = x.astype(np.float64)
        if name == "ReduceSum":
            gx = np.broadcast_to(gk, x.shape)
        elif name == "ReduceMean":
            gx = np.broadcast_to(gk / int(np.prod([x.shape[a] for a in axes_t])), x.shape)
        elif name in ("ReduceMax", "ReduceMin"):
            drop = [n for i, n in enumerate(gk.shape) if i not in axes_t]
            gx = route_to_argmax(xw if name == "ReduceMax" else -xw, gk.reshape(drop), axes_t)
        elif name == "ReduceProd":
            gx = gk * _others_product(xw, axes_t)
        elif name == "ReduceL1":
            gx = gk * np.sign(xw)
        elif name == "ReduceL2":
            gx = gk * xw / np.where(kept_out == 0, 1, kept_out)
        elif name == "ReduceSumSquare":
            gx = gk * 2 * xw
        elif name == "ReduceLogSum":
            gx = np.broadcast_to(gk / np.exp(kept_out), x.shape)
        else:   # ReduceLogSumExp
            gx = gk * np.exp(xw - kept_out)
        return [np.asarray(gx)] + rest
    return grads


for _onnx in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"):
    OP_GRADS[_onnx] = _reduce(_onnx)


def _channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return np.asarray(v, np.float64).reshape((1, -1) + (1,) * (ndim - 2))


@op_grad("BatchNormalization")
def _batch_norm(inputs, attrs, opset, out, g):
    x, scale, _, _, var = inputs[:5]
    factor = _channel(scale, x.ndim) / np.sqrt(_channel(var, x.ndim) + float(attrs.get("epsilon", 1e-5)))
    return [g * factor] + [None] * (len(inputs) - 1)


@op_grad("InstanceNormalization")
def _instance_norm(inputs, attrs, opset, out, g):
    x, scale = inputs[0], inputs[1]
    gs = g * _channel(scale, x.ndim)
    return [normalised_grad(x.astype(np.float64), gs, tuple(range(2, x.ndim)),
                            float(attrs.get("epsilon", 1e-5))), None, None]


@op_grad("LayerNormalization")
def _layer_norm(inputs, attrs, opset, out, g):
    x, scale = inputs[0], inputs[1]
    axis = int(attrs.get("axis", -1)) % x.ndim
    gx = normalised_grad(x.astype(np.float64), g * scale, tuple(range(axis, x.ndim)),
                         float(attrs.get("epsilon", 1e-5)))
    return [gx] + [None] * (len(inputs) - 1)


@op_grad("GroupNormalization")
def _group_norm(inputs, attrs, opset, out, g):
    x, scale = inputs[0], inputs[1]
    groups, (n, c) = int(attrs["num_groups"]), x.shape[:2]
    if scale.size == groups and groups != c:
        scale = np.repeat(scale, c // groups)
    gs = (g * _channel(scale, x.ndim)).reshape(n, groups, -1)
    gx = normalised_grad(x.astype(np.float64).reshape(n, groups, -1), gs, (2,),
                         float(attrs.get("epsilon", 1e-5)))
    return [gx.reshape(x.shape), None, None]


@op_grad("TopK")
def _topk(inputs, attrs, opset, out, g):
    """Output 0 (the values): each goes back to the cell it was taken from."""
    from viewer.net.operators import compute
    x = inputs[0]
    axis = int(attrs.get("axis", -1)) % x.ndim
    indices = compute("TopK", inputs, attrs, opset)[1]
    gx = np.zeros(x.shape)
    np.put_along_axis(gx, indices, g, axis=axis)
    return [gx] + [None] * (len(inputs) - 1)


def _cast(inputs, attrs, opset, out, g):
    """To a float type the value passes; to integers or booleans it becomes piecewise constant."""
    return [g if out.dtype.kind == "f" else None] + [None] * (len(inputs) - 1)


op_grad("Cast", "CastLike")(_cast)

"""Backward of the general tensor kinds (:mod:`viewer.net.layers.tensor`)."""

from __future__ import annotations

import numpy as np

from viewer.net.backward.derivatives import UNARY, binary_grads, clip_grads, unbroadcast
from viewer.net.backward.registry import backward
from viewer.net.backward.spatial import route_to_argmax
from viewer.net.layers.base import Layer
from viewer.net.layers.tensor import _BINARY as _FOLDS
from viewer.net.layers.tensor import axis_index

# The kinds' op names -> the names of the derivative tables.
_BINARY_NAMES = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "pow": "pow",
                 "max": "maximum", "min": "minimum", "greater": "greater", "less": "less",
                 "equal": "equal", "greater_equal": "greater_equal", "less_equal": "less_equal"}
_UNARY_NAMES = {"neg": "neg", "abs": "abs", "exp": "exp", "log": "log", "sqrt": "sqrt",
                "reciprocal": "reciprocal", "floor": "floor", "ceil": "ceil", "sign": "sign",
                "sin": "sin", "cos": "cos", "erf": "erf"}


@backward("Embedding", inputs=False)
def _embedding(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    """The input holds indices: the output is constant between whole numbers, so their gradient
    is zero (a saliency of the embedding's output is the gradient wanted there; use ``wrt``)."""
    return [np.zeros(inputs[0].shape, grad.dtype)]


def normalised_grad(x: np.ndarray, grad: np.ndarray, axes: tuple, eps: float) -> np.ndarray:
    """d / d x of ``(x - mean) / sqrt(var + eps)`` over ``axes`` (biased variance), from d / d out."""
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    inv_std = 1.0 / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + eps)
    xhat = centred * inv_std
    return inv_std * (grad - grad.mean(axis=axes, keepdims=True)
                      - xhat * (grad * xhat).mean(axis=axes, keepdims=True))


@backward("LayerNorm", inputs=True)
def _layer_norm(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x = inputs[0]
    axes = layer._full_axes(x.ndim - 1)
    if layer.gamma is not None:
        shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
        grad = grad * layer.gamma.reshape(shape)
    return [normalised_grad(x, grad, axes, layer.eps).astype(grad.dtype, copy=False)]


def _aligned(values: list) -> list:
    """The inputs as the forward aligns them: axes of size 1 inserted after the batch axis."""
    rank = max(v.ndim for v in values)
    return [v.reshape(v.shape[:1] + (1,) * (rank - v.ndim) + v.shape[1:]) for v in values]


@backward("Arithmetic", inputs=True, output=True)
def _arithmetic(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x = _aligned(inputs)
    if layer.op == "where":
        grads = [np.zeros(x[0].shape), unbroadcast(np.where(x[0], grad, 0), x[1].shape),
                 unbroadcast(np.where(x[0], 0, grad), x[2].shape)]
    elif layer.op == "mean":
        grads = [unbroadcast(grad / len(x), v.shape) for v in x]
    else:
        # The forward folds left to right: keep each partial result, then unwind.
        name = _BINARY_NAMES[layer.op]
        partial = [x[0]]
        for more in x[1:-1]:
            partial.append(_FOLDS[layer.op](partial[-1], more))
        grads = [None] * len(x)
        g = grad
        for k in range(len(x) - 1, 0, -1):
            left = partial[k - 1]
            y = output if k == len(x) - 1 else partial[k]
            g, grads[k] = binary_grads(name, left, x[k], y, g)
        grads[0] = g
    return [np.asarray(g, grad.dtype).reshape(v.shape) for g, v in zip(grads, inputs)]


@backward("ConstArithmetic", inputs=True, output=True)
def _const_arithmetic(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray,
                      rule: str) -> list:
    x = inputs[0]
    c = layer.c.astype(x.dtype, copy=False) if x.dtype.kind == "f" else layer.c
    aligned = x.reshape(x.shape[:1] + (1,) * (c.ndim - x.ndim) + x.shape[1:]) if c.ndim > x.ndim else x
    name = _BINARY_NAMES[layer.op]
    if layer.reverse:
        _, gx = binary_grads(name, c, aligned, output, grad)
    else:
        gx, _ = binary_grads(name, aligned, c, output, grad)
    return [np.asarray(gx, grad.dtype).reshape(x.shape)]


@backward("Unary", inputs=True, output=True)
def _unary(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x = inputs[0]
    if layer.function == "clip":
        gx = clip_grads(x, layer.low, layer.high, grad)[0]
    else:
        gx = grad * UNARY[_UNARY_NAMES[layer.function]](x, output)
    return [np.asarray(gx, grad.dtype)]


@backward("Reduce", inputs=lambda layer: layer.op in ("max", "min", "prod"), output=False)
def _reduce(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x = inputs[0]
    axes = tuple(axis_index(a, x.ndim - 1, layer.name) for a in layer.axes)
    kept = grad if layer.keepdims else np.expand_dims(grad, axes)
    if layer.op == "sum":
        return [np.broadcast_to(kept, x.shape).astype(grad.dtype)]
    if layer.op == "mean":
        count = int(np.prod([x.shape[a] for a in axes]))
        return [np.broadcast_to(kept / count, x.shape).astype(grad.dtype)]
    if layer.op in ("max", "min"):
        # The first extreme cell (row-major over the reduced axes) gets the gradient.
        flat_grad = kept.reshape([n for i, n in enumerate(kept.shape) if i not in axes])
        return [route_to_argmax(x if layer.op == "max" else -x, flat_grad, axes).astype(grad.dtype)]
    return [(kept * _others_product(x, axes)).astype(grad.dtype)]


def _others_product(x: np.ndarray, axes: tuple) -> np.ndarray:
    """For each cell, the product of the other cells of its reduction (exact with zeros)."""
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    moved = np.transpose(x, rest + axes)
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), flat.dtype)
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.transpose((before * after).reshape(moved.shape), np.argsort(rest + axes))


@backward("MatMul", inputs=True)
def _matmul(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    a, b = inputs
    ga = np.matmul(grad, np.swapaxes(b, -1, -2))
    gb = np.matmul(np.swapaxes(a, -1, -2), grad)
    return [unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)]


@backward("PReLU", inputs=True)
def _prelu(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x = inputs[0]
    alpha = layer.alpha.astype(grad.dtype, copy=False)
    return [np.where(x >= 0, grad, alpha * grad)]

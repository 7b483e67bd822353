"""ONNX reductions, arg-min/max and top-k, softmax-like ops, Lp normalisation and Det."""

from __future__ import annotations

import numpy as np

from viewer.net.operators import operator
from viewer.net.operators.tensor import axes_input


def _reduce(name: str, fn, empty) -> None:
    @operator(name)
    def run(inputs: list, attrs: dict, opset: int) -> list:
        x = inputs[0]
        moved = 13 if name == "ReduceSum" else 18
        axes = axes_input(inputs, attrs, 1, moved, opset)
        keep = bool(attrs.get("keepdims", 1))
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(x.ndim))
        axes_t = tuple(a % x.ndim for a in axes)
        if x.size == 0 or any(x.shape[a] == 0 for a in axes_t):
            shape = tuple(1 if i in axes_t else d for i, d in enumerate(x.shape)) if keep else \
                tuple(d for i, d in enumerate(x.shape) if i not in axes_t)
            if x.dtype.kind == "b":
                return [np.full(shape, np.asarray(empty) > 0)]
            return [np.full(shape, empty, x.dtype if x.dtype.kind == "f" else np.float32)
                    .astype(x.dtype)]
        wide = x.astype(np.float64) if x.dtype.kind == "f" else x
        return [np.asarray(fn(wide, axes_t, keep)).astype(x.dtype)]


_reduce("ReduceSum", lambda x, a, k: np.sum(x, axis=a, keepdims=k), 0)
_reduce("ReduceMean", lambda x, a, k: np.mean(x, axis=a, keepdims=k), np.nan)
_reduce("ReduceMax", lambda x, a, k: np.max(x, axis=a, keepdims=k), -np.inf)
_reduce("ReduceMin", lambda x, a, k: np.min(x, axis=a, keepdims=k), np.inf)
_reduce("ReduceProd", lambda x, a, k: np.prod(x, axis=a, keepdims=k), 1)
_reduce("ReduceL1", lambda x, a, k: np.sum(np.abs(x), axis=a, keepdims=k), 0)
_reduce("ReduceL2", lambda x, a, k: np.sqrt(np.sum(x * x, axis=a, keepdims=k)), 0)
_reduce("ReduceSumSquare", lambda x, a, k: np.sum(x * x, axis=a, keepdims=k), 0)
_reduce("ReduceLogSum", lambda x, a, k: np.log(np.sum(x, axis=a, keepdims=k)), -np.inf)
_reduce("ReduceLogSumExp", lambda x, a, k: _logsumexp(x, a, k), -np.inf)


def _logsumexp(x: np.ndarray, axes: tuple, keep: bool) -> np.ndarray:
    top = np.max(x, axis=axes, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    out = np.log(np.sum(np.exp(x - top), axis=axes, keepdims=True)) + top
    return out if keep else np.squeeze(out, axis=axes)


def _argop(name: str, fn) -> None:
    @operator(name)
    def run(inputs: list, attrs: dict, opset: int) -> list:
        x = inputs[0]
        axis = int(attrs.get("axis", 0)) % x.ndim
        if attrs.get("select_last_index", 0):
            flipped = np.flip(x, axis)
            out = x.shape[axis] - 1 - fn(flipped, axis=axis)
        else:
            out = fn(x, axis=axis)
        if attrs.get("keepdims", 1):
            out = np.expand_dims(out, axis)
        return [out.astype(np.int64)]


_argop("ArgMax", np.argmax)
_argop("ArgMin", np.argmin)


@operator("TopK")
def _topk(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    k = int(np.asarray(inputs[1]).reshape(-1)[0]) if opset >= 10 else int(attrs["k"])
    axis = int(attrs.get("axis", -1)) % x.ndim
    largest = attrs.get("largest", 1)
    key = -x.astype(np.float64) if largest else x.astype(np.float64)
    order = np.argsort(key, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)]


def _flat2d(x: np.ndarray, axis: int) -> np.ndarray:
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def _softmax_like(name: str) -> None:
    @operator(name)
    def run(inputs: list, attrs: dict, opset: int) -> list:
        x = inputs[0]
        if opset < 13:
            axis = int(attrs.get("axis", 1)) % max(x.ndim, 1)
            flat = _flat2d(x, axis)
            return [_softmax_axis(name, flat, 1).reshape(x.shape)]
        return [_softmax_axis(name, x, int(attrs.get("axis", -1)) % x.ndim)]


def _softmax_axis(name: str, x: np.ndarray, axis: int) -> np.ndarray:
    if name == "Hardmax":
        return _one_hot_axis(np.argmax(x, axis=axis), x, axis)
    wide = x.astype(np.float64)
    shifted = wide - wide.max(axis=axis, keepdims=True)
    if name == "LogSoftmax":
        return (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))).astype(x.dtype)
    e = np.exp(shifted)
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


def _one_hot_axis(hot: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    return (np.expand_dims(hot, axis) == np.arange(x.shape[axis]).reshape(shape)).astype(x.dtype)


for _name in ("Softmax", "LogSoftmax", "Hardmax"):
    _softmax_like(_name)


@operator("LpNormalization")
def _lp_normalization(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    axis, p = int(attrs.get("axis", -1)), int(attrs.get("p", 2))
    norm = np.sum(np.abs(x), axis=axis, keepdims=True) if p == 1 else \
        np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return [np.where(norm == 0, 0, x / np.where(norm == 0, 1, norm)).astype(x.dtype)]


@operator("Det")
def _det(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    return [np.linalg.det(x.astype(np.float64)).astype(x.dtype)]

"""TFLite operators on constants, computed while converting.

Keras writes shape arithmetic into TFLite graphs (SHAPE -> STRIDED_SLICE ->
PACK -> RESHAPE's target, for instance); float16 models store weights that a
DEQUANTIZE widens. Such ops read only constants and tensor shapes, so the
converter computes them with numpy and no layer is made for them.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from viewer.convert.tflite_model import Builder, Refused, axis_of
from viewer.convert.tflite_schema import Operator

MAX_FOLDED = 1 << 24  # values a folded constant may have; shape arithmetic needs a handful


def strided_slice(shape: tuple, op: Operator, begin: np.ndarray, end: np.ndarray,
                  strides: np.ndarray) -> tuple[list[slice], list[int]]:
    """Python slices per axis and the axes to drop, from STRIDED_SLICE's inputs and masks."""
    begin_mask, end_mask = int(op.option(0, "i32")), int(op.option(1, "i32"))
    if op.option(2, "i32") or op.option(3, "i32"):
        raise Refused("ellipsis and new-axis masks are not supported")
    shrink = int(op.option(4, "i32"))
    offset = bool(op.option(5, "bool", False))
    begin, end, strides = (np.asarray(v, np.int64).reshape(-1) for v in (begin, end, strides))
    if not len(begin) == len(end) == len(strides) or len(begin) > len(shape):
        raise Refused("begin, end and strides do not fit the input's rank")
    slices, drop = [], []
    for i in range(len(shape)):
        if i >= len(begin):
            slices.append(slice(None))
            continue
        b, e, s = int(begin[i]), int(end[i]), int(strides[i])
        if s == 0:
            raise Refused("stride 0")
        if offset:
            e = b + e
        if shrink >> i & 1:
            b = b + shape[i] if b < 0 else b
            if not 0 <= b < shape[i]:
                raise Refused(f"index {begin[i]} is out of range for size {shape[i]}")
            slices.append(slice(b, b + 1))
            drop.append(i)
            continue
        slices.append(slice(None if begin_mask >> i & 1 else b, None if end_mask >> i & 1 else e, s))
    return slices, drop


def _strided_slice(b: Builder, op: Operator, c: list) -> np.ndarray:
    x = c[0]
    slices, drop = strided_slice(x.shape, op, c[1], c[2], c[3] if len(c) > 3 else np.ones(len(c[1]), int))
    return np.squeeze(x[tuple(slices)], axis=tuple(drop))


def _pack(b: Builder, op: Operator, c: list) -> np.ndarray:
    return np.stack(c, axis=int(op.option(1, "i32")))


def _concat(b: Builder, op: Operator, c: list) -> np.ndarray:
    return np.concatenate(c, axis=int(op.option(0, "i32")))


def _gather(b: Builder, op: Operator, c: list) -> np.ndarray:
    if op.option(1, "i32"):
        raise Refused("batch_dims is not supported")
    return np.take(c[0], c[1], axis=axis_of(op.option(0, "i32"), c[0].ndim))


def _reduce(fn: Callable) -> Callable:
    def fold(b: Builder, op: Operator, c: list) -> np.ndarray:
        axes = tuple(axis_of(a, c[0].ndim) for a in np.asarray(c[1]).reshape(-1))
        return fn(c[0], axis=axes, keepdims=bool(op.option(0, "bool", False)))
    return fold


def _binary(fn: Callable) -> Callable:
    def fold(b: Builder, op: Operator, c: list) -> np.ndarray:
        return fn(c[0], c[1])
    return fold


def _reshape(b: Builder, op: Operator, c: list) -> np.ndarray:
    return c[0].reshape(b.tensor(op.outputs[0]).shape)


def _cast(b: Builder, op: Operator, c: list) -> np.ndarray:
    out = b.tensor(op.outputs[0])
    if out.dtype is None:
        raise Refused(f"casts to {out.type_name}")
    return c[0].astype(out.dtype)


def _dequantize(b: Builder, op: Operator, c: list) -> np.ndarray:
    t = b.tensor(op.inputs[0])
    if c[0].dtype == np.float16:
        return c[0].astype(np.float32)
    q = t.quantization
    if q is None:
        raise Refused("dequantizes a constant without a scale")
    shape = [1] * c[0].ndim
    if q.per_channel:
        shape[axis_of(q.axis, c[0].ndim)] = -1
    scale = q.scale.astype(np.float64).reshape(shape)
    return ((c[0].astype(np.int64) - q.zero_point.reshape(shape)) * scale).astype(np.float32)


def _transpose(b: Builder, op: Operator, c: list) -> np.ndarray:
    return np.transpose(c[0], np.asarray(c[1]).reshape(-1))


def _fill(b: Builder, op: Operator, c: list) -> np.ndarray:
    shape = tuple(int(s) for s in np.asarray(c[0]).reshape(-1))
    return np.full(shape, c[1])


def _range(b: Builder, op: Operator, c: list) -> np.ndarray:
    return np.arange(c[0], c[1], c[2])


def _guard(fold: Callable) -> Callable:
    """Refuse results that would be huge (a hostile FILL of a billion values)."""
    def guarded(b: Builder, op: Operator, c: list) -> Any:
        out = b.tensor(op.outputs[0])
        if int(np.prod(out.shape, dtype=np.float64)) > MAX_FOLDED:
            raise Refused(f"would compute a constant of shape {list(out.shape)} while converting")
        try:
            return fold(b, op, c)
        except (ValueError, IndexError, TypeError) as exc:
            raise Refused(f"cannot be computed on its constants ({exc})") from None
    return guarded


FOLD: dict[str, Callable] = {name: _guard(fn) for name, fn in {
    "STRIDED_SLICE": _strided_slice, "PACK": _pack, "CONCATENATION": _concat, "GATHER": _gather,
    "REDUCE_PROD": _reduce(np.prod), "SUM": _reduce(np.sum), "REDUCE_MAX": _reduce(np.max),
    "REDUCE_MIN": _reduce(np.min), "MEAN": _reduce(np.mean),
    "ADD": _binary(np.add), "SUB": _binary(np.subtract), "MUL": _binary(np.multiply),
    "FLOOR_DIV": _binary(np.floor_divide), "MAXIMUM": _binary(np.maximum), "MINIMUM": _binary(np.minimum),
    "RESHAPE": _reshape, "SQUEEZE": _reshape, "EXPAND_DIMS": _reshape, "CAST": _cast,
    "DEQUANTIZE": _dequantize, "TRANSPOSE": _transpose, "FILL": _fill, "RANGE": _range,
}.items()}

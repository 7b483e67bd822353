"""Values flowing through an ONNX graph during conversion, and constant folding.

Every ONNX tensor becomes one of:

- a numpy array: a constant (an initializer, a Constant node, or anything
  computed from constants only, which is folded here and never becomes a
  layer: weights, and the shape arithmetic exporters write);
- :class:`Tensor`: the output of a Strata layer, i.e. data that depends on
  the net's input. Strata keeps the batch axis first; ONNX may put it
  elsewhere (recurrent ops use (time, batch, ...)), so each Tensor records
  where ONNX has it;
- :class:`BatchConst`: a constant repeated along the batch axis, which
  exporters build from the batch size (e.g. a recurrent layer's zero
  state): stored with size 1 along that axis;
- :class:`Unknown`: a value that cannot be computed at conversion time (it
  depends on the batch size in a way that cannot be followed, or comes from
  an op that is not supported).

The batch size is not known when converting, so ``Shape`` reports it as
:data:`BATCH`, a number no real tensor has; folding carries it through
Gather/Concat/Slice and the like, and whatever consumes a shape recognises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from viewer.errors import ConversionError
from viewer.net.layers import Layer

BATCH = 1 << 40  # stands for the batch size in folded shape arithmetic
MAX_CONST_ELEMENTS = 1 << 26  # folding never makes a constant larger than this


class Refused(Exception):
    """A node that cannot be converted; the message says why."""


@dataclass
class Tensor:
    """Data computed by a Strata layer.

    Attributes
    ----------
    layer : Layer
    batch_axis : int or None
        Position of the batch axis in the ONNX tensor; Strata's output is the
        ONNX tensor with this axis moved to the front. None: each Strata
        sample is the whole ONNX tensor (a net run one sample at a time).
    """

    layer: Layer
    batch_axis: int | None = 0

    @property
    def rank(self) -> int:
        return len(self.layer.output_shape) + (0 if self.batch_axis is None else 1)

    def shape(self) -> list:
        """The ONNX shape, None for the batch and for unknown sizes."""
        per = list(self.layer.output_shape)
        if self.batch_axis is not None:
            per.insert(self.batch_axis, None)
        return per

    def axis(self, onnx_axis: int) -> int:
        """The Strata (batch-first) axis of ONNX axis ``onnx_axis``."""
        a = onnx_axis + self.rank if onnx_axis < 0 else onnx_axis
        if not 0 <= a < self.rank:
            raise ConversionError(f"axis {onnx_axis} is out of range for a rank-{self.rank} tensor")
        if self.batch_axis is None:
            return a + 1
        order = [self.batch_axis] + [i for i in range(self.rank) if i != self.batch_axis]
        return order.index(a)

    def is_batch(self, onnx_axis: int) -> bool:
        return self.axis(onnx_axis) == 0


@dataclass
class BatchConst:
    """A constant repeated along the batch axis; ``value`` has size 1 there."""

    value: np.ndarray
    batch_axis: int


@dataclass
class Unknown:
    """A value that cannot be computed while converting; ``reason`` says why."""

    reason: str


def is_const(value: Any) -> bool:
    return isinstance(value, np.ndarray)


def shape_of(t: Tensor, batch: int = BATCH) -> np.ndarray | Unknown:
    """What ONNX ``Shape`` gives for a runtime tensor: ``batch`` where the batch is."""
    dims = t.shape()
    if any(d is None for i, d in enumerate(dims) if i != t.batch_axis):
        return Unknown("a shape with sizes unknown until run time")
    return np.array([batch if i == t.batch_axis else d for i, d in enumerate(dims)], np.int64)


def _checked(shape: Any, what: str) -> tuple[int, ...]:
    dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    if any(d < 0 for d in dims) or np.prod(dims, dtype=np.float64) > MAX_CONST_ELEMENTS:
        raise ConversionError(f"{what} of shape {dims} is refused (negative or too large)")
    return dims


def _batch_shaped(shape: np.ndarray, make: Callable[[tuple], np.ndarray]) -> Any:
    """A constant of ``shape``; a BatchConst if the shape holds the batch size once."""
    dims = np.asarray(shape, np.int64).reshape(-1)
    where = np.flatnonzero(dims == BATCH)
    if len(where) > 1 or np.any((dims > BATCH // 2) & (dims != BATCH)):
        return Unknown("a shape computed from the batch size")
    if len(where) == 1:
        dims = dims.copy()
        dims[where[0]] = 1
        return BatchConst(make(_checked(dims, "a constant")), int(where[0]))
    return make(_checked(dims, "a constant"))


def _attr(attrs: dict, key: str, default: Any = None) -> Any:
    return attrs.get(key, default)


def _axes(attrs: dict, inputs: list, index: int) -> list[int] | None:
    """Axes given as an attribute (older opsets) or as input ``index`` (newer)."""
    if len(inputs) > index and inputs[index] is not None:
        return [int(a) for a in np.asarray(inputs[index]).reshape(-1)]
    axes = attrs.get("axes")
    return None if axes is None else [int(a) for a in axes]


def _slice(data: np.ndarray, attrs: dict, inputs: list) -> np.ndarray:
    if len(inputs) > 1:
        starts, ends = inputs[1], inputs[2]
        axes = inputs[3] if len(inputs) > 3 and inputs[3] is not None else range(len(starts))
        steps = inputs[4] if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    else:  # opset < 10: attributes
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes", range(len(starts))), [1] * len(starts)
    index = [slice(None)] * data.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return data[tuple(index)]


def _reshape(data: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    target = [int(s) for s in shape]
    if not allowzero:
        target = [data.shape[i] if s == 0 else s for i, s in enumerate(target)]
    return data.reshape(target)


def _squeeze(data: np.ndarray, axes: list | None) -> np.ndarray:
    if axes is None:
        return np.squeeze(data)
    return np.squeeze(data, axis=tuple(a % data.ndim for a in axes))


def _unsqueeze(data: np.ndarray, axes: list) -> np.ndarray:
    rank = data.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        data = np.expand_dims(data, a)
    return data


def _gather(data: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    return np.take(data, np.asarray(index, np.int64), axis=axis)


def _range(start: Any, limit: Any, delta: Any) -> Any:
    if max(abs(int(np.asarray(v))) for v in (start, limit, delta)) > BATCH // 2:
        return Unknown("a range up to the batch size")
    count = max(int(np.ceil((limit - start) / delta)), 0)
    _checked([count], "a range")
    return np.arange(start, limit, delta).astype(np.asarray(start).dtype)


def _constant_of_shape(shape: np.ndarray, value: np.ndarray | None) -> Any:
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)[:1]
    return _batch_shaped(shape, lambda dims: np.full(dims, fill[0], fill.dtype))


def _expand(data: np.ndarray, shape: np.ndarray) -> Any:
    """Broadcast ``data`` to ``shape`` (numpy rules, both ways), BATCH allowed in shape."""
    dims = [int(d) for d in np.asarray(shape).reshape(-1)]
    have = [1] * (len(dims) - data.ndim) + list(data.shape)
    dims = [1] * (len(have) - len(dims)) + dims
    out = [d if h == 1 else h for d, h in zip(dims, have)]
    return _batch_shaped(np.array(out, np.int64),
                         lambda size: np.broadcast_to(data.reshape(have), size).copy())


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return (np.trunc(a / b)).astype(np.result_type(a, b))
    return a / b


_ELEMENTWISE: dict[str, Callable[..., np.ndarray]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _int_div, "Pow": np.power,
    "Neg": np.negative, "Abs": np.abs, "Sqrt": np.sqrt, "Exp": np.exp, "Log": np.log,
    "Floor": np.floor, "Ceil": np.ceil, "Reciprocal": np.reciprocal, "Sign": np.sign,
    "Equal": np.equal, "Greater": np.greater, "Less": np.less, "GreaterOrEqual": np.greater_equal,
    "LessOrEqual": np.less_equal, "Not": np.logical_not, "And": np.logical_and,
    "Or": np.logical_or, "Xor": np.logical_xor, "Mod": np.mod, "Relu": lambda x: np.maximum(x, 0),
    "Sigmoid": lambda x: 1 / (1 + np.exp(-x)), "Tanh": np.tanh, "Identity": lambda x: x,
}
_VARIADIC = {"Max": np.maximum, "Min": np.minimum, "Sum": np.add}
_REDUCE = {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min,
           "ReduceMean": np.mean}
_CASTS = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64,
          9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}


def foldable(op: str) -> bool:
    """Whether ``op`` can be computed here when all its inputs are constants."""
    return op in _ELEMENTWISE or op in _VARIADIC or op in _REDUCE or op in _FOLD


def fold(op: str, attrs: dict, inputs: list) -> list:
    """Compute ``op`` on constant inputs (None for omitted optional inputs)."""
    if op in _ELEMENTWISE:
        return [np.asarray(_ELEMENTWISE[op](*inputs))]
    if op in _VARIADIC:
        out = inputs[0]
        for more in inputs[1:]:
            out = _VARIADIC[op](out, more)
        return [np.asarray(out)]
    if op in _REDUCE:
        axes = _axes(attrs, inputs, 1)
        keep = bool(attrs.get("keepdims", 1))
        return [np.asarray(_REDUCE[op](inputs[0], axis=None if not axes else tuple(axes), keepdims=keep))]
    return [v if isinstance(v, (BatchConst, Unknown)) else np.asarray(v) for v in _FOLD[op](attrs, inputs)]


def _cast(attrs: dict, inputs: list) -> list:
    to = int(attrs["to"])
    if to not in _CASTS:
        raise ConversionError(f"Cast to ONNX type {to} is not supported")
    return [inputs[0].astype(_CASTS[to])]


def _shape_op(attrs: dict, inputs: list) -> list:
    dims = np.array(inputs[0].shape, np.int64)
    return [dims[attrs.get("start", 0):attrs.get("end", None)]]


_FOLD: dict[str, Callable[[dict, list], list]] = {
    "Shape": _shape_op,
    "Size": lambda a, i: [np.array(i[0].size, np.int64)],
    "Cast": _cast,
    "Gather": lambda a, i: [_gather(i[0], i[1], int(a.get("axis", 0)))],
    "Slice": lambda a, i: [_slice(i[0], a, i)],
    "Concat": lambda a, i: [np.concatenate([np.asarray(v) for v in i], axis=int(a["axis"]))],
    "Unsqueeze": lambda a, i: [_unsqueeze(i[0], _axes(a, i, 1))],
    "Squeeze": lambda a, i: [_squeeze(i[0], _axes(a, i, 1))],
    "Reshape": lambda a, i: [_reshape(i[0], i[1], int(a.get("allowzero", 0)))],
    "Flatten": lambda a, i: [i[0].reshape(int(np.prod(i[0].shape[:a.get("axis", 1)])), -1)],
    "Transpose": lambda a, i: [np.transpose(i[0], a.get("perm"))],
    "Where": lambda a, i: [np.where(i[0], i[1], i[2])],
    "Range": lambda a, i: [_range(i[0], i[1], i[2])],
    "ConstantOfShape": lambda a, i: [_constant_of_shape(i[0], a.get("value"))],
    "Expand": lambda a, i: [_expand(i[0], i[1])],
    "Tile": lambda a, i: [np.tile(i[0], _checked(i[1], "Tile repeats"))],
    "Dropout": lambda a, i: [i[0]],
    "MatMul": lambda a, i: [np.matmul(i[0], i[1])],
    "Clip": lambda a, i: [np.clip(i[0], i[1] if len(i) > 1 else a.get("min"),
                                  i[2] if len(i) > 2 else a.get("max"))],
}

"""TFLite float operators -> Strata layers, in TFLite's NHWC layout.

Each handler takes the :class:`~viewer.convert.tflite_model.Builder` and the
operator, reads its inputs and options (field numbers of schema.fbs), and
emits the layers. Sizes come from the tensors' stored shapes; the batch axis
(axis 0) is never sliced, padded, reduced or moved.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from viewer.convert.tflite_fold import strided_slice
from viewer.convert.tflite_model import BATCH, Builder, Refused, Value, axis_of
from viewer.convert.tflite_schema import Operator
from viewer.net.layers import (Activation, AvgPool2D, Concatenate, Conv2D, Dense, GlobalAvgPool2D,
                               MaxPool2D, Permute, Reshape)
from viewer.net.layers.conv_extra import Conv2DTranspose
from viewer.net.layers.indexing import Pad, Slice, Take
from viewer.net.layers.quantized import Dequantize
from viewer.net.layers.recurrent import LSTM
from viewer.net.layers.resampling import Resize2D, Tile
from viewer.net.layers.tensor import Arithmetic, ConstArithmetic, MatMul, PReLU, Reduce, Unary

PADDING = {0: "same", 1: "valid"}


def _padding(op: Operator) -> str:
    code = int(op.option(0, "i8"))
    if code not in PADDING:
        raise Refused(f"unknown padding {code}")
    return PADDING[code]


def _float(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind != "f":
        raise Refused(f"weights of type {array.dtype} in a float operator (a dynamic-range "
                      "quantized model, which the interpreter computes with on-the-fly "
                      "quantisation; convert the model fully to int8 or keep it float)")
    return array.astype(np.float32, copy=False)


def _bias(b: Builder, op: Operator, k: int) -> np.ndarray | None:
    bias = b.const(op, k, "bias", optional=True) if k < len(op.inputs) else None
    return None if bias is None else _float(bias)


def conv_2d(b: Builder, op: Operator) -> None:
    x = b.data(op)
    w = _float(b.const(op, 1, "filter"))  # (O, kh, kw, I)
    channels = b.in_shape(op)[-1]
    if w.ndim != 4 or channels % w.shape[3]:
        raise Refused(f"filter of shape {list(w.shape)} for {channels} input channels")
    b.emit(op, lambda name: Conv2D(
        x, name=name, W=w.transpose(0, 3, 1, 2), b=_bias(b, op, 2),
        stride=(int(op.option(2, "i32", 1)), int(op.option(1, "i32", 1))), padding=_padding(op),
        dilation=(int(op.option(5, "i32", 1)), int(op.option(4, "i32", 1))),
        groups=channels // w.shape[3], data_format="channels_last"), fused=op.option(3, "i8"))


def depthwise_conv_2d(b: Builder, op: Operator) -> None:
    x = b.data(op)
    w = _float(b.const(op, 1, "filter"))  # (1, kh, kw, C * multiplier)
    channels = b.in_shape(op)[-1]
    if w.ndim != 4 or w.shape[0] != 1 or w.shape[3] % channels:
        raise Refused(f"filter of shape {list(w.shape)} for {channels} input channels")
    b.emit(op, lambda name: Conv2D(
        x, name=name, W=w[0].transpose(2, 0, 1)[:, None], b=_bias(b, op, 2),
        stride=(int(op.option(2, "i32", 1)), int(op.option(1, "i32", 1))), padding=_padding(op),
        dilation=(int(op.option(6, "i32", 1)), int(op.option(5, "i32", 1))),
        groups=channels, data_format="channels_last"), fused=op.option(4, "i8"))


def transpose_conv(b: Builder, op: Operator) -> None:
    x = b.data(op, 2)
    w = _float(b.const(op, 1, "filter"))  # (O, kh, kw, I)
    h, wd, _ = b.in_shape(op, 2)
    target = np.asarray(b.const(op, 0, "output shape")).reshape(-1)
    if len(target) != 4:
        raise Refused(f"output shape {target.tolist()} is not NHWC")
    oh, ow = int(target[1]), int(target[2])
    stride = (int(op.option(2, "i32", 1)), int(op.option(1, "i32", 1)))
    crop, extra = [], []
    for n, out, k, s in ((h, oh, w.shape[1], stride[0]), (wd, ow, w.shape[2], stride[1])):
        full = (n - 1) * s + k
        if _padding(op) == "same":
            total = max(full - out, 0)
            crop.append((total // 2, total - total // 2))
            extra.append(out - (full - total))
        else:
            crop.append((0, 0))
            extra.append(out - full)
    if min(extra) < 0:
        raise Refused("output shape does not fit the input, kernel and strides")
    b.emit(op, lambda name: Conv2DTranspose(
        x, name=name, W=w.transpose(3, 0, 1, 2), b=_bias(b, op, 3), stride=stride, crop=crop,
        output_padding=extra, data_format="channels_last"), fused=op.option(3, "i8"))


def fully_connected(b: Builder, op: Operator) -> None:
    x = b.data(op)
    w = _float(b.const(op, 1, "weights"))  # (out, in)
    if op.option(1, "i8"):
        raise Refused("shuffled weights are not supported")
    in_shape = b.in_shape(op)
    source = x
    if len(in_shape) > 1 and not op.option(2, "bool", False) and not b.rows(op):
        if int(np.prod(in_shape)) != w.shape[1]:
            raise Refused("flattens rows of several samples together")
        source = b.add(Reshape(x, name=b.unique(b.base_name(op) + "_flat"), target_shape=(w.shape[1],)))
    b.emit(op, lambda name: Dense(source, name=name, W=w.T, b=_bias(b, op, 2)), fused=op.option(0, "i8"))


def _pool(kind: type) -> Callable:
    def handler(b: Builder, op: Operator) -> None:
        x = b.data(op)
        extra = {"count_include_pad": False} if kind is AvgPool2D else {}
        b.emit(op, lambda name: kind(
            x, name=name, pool_size=(int(op.option(4, "i32", 1)), int(op.option(3, "i32", 1))),
            stride=(int(op.option(2, "i32", 1)), int(op.option(1, "i32", 1))), padding=_padding(op),
            data_format="channels_last", **extra), fused=op.option(5, "i8"))
    return handler


def _reduce(kind: str) -> Callable:
    def handler(b: Builder, op: Operator) -> None:
        x = b.data(op)
        rank = len(b.tensor(op.inputs[0]).shape)
        axes = sorted({axis_of(a, rank) for a in np.asarray(b.const(op, 1, "axes")).reshape(-1)})
        keep = bool(op.option(0, "bool", False))
        if 0 in axes:
            raise Refused("reduces over the batch axis")
        if kind == "mean" and rank == 4 and axes == [1, 2] and not keep:
            b.emit(op, lambda name: GlobalAvgPool2D(x, name=name, data_format="channels_last"))
        else:
            b.emit(op, lambda name: Reduce(x, name=name, op=kind, axes=axes, keepdims=keep))
    return handler


BINARY = {"ADD": "add", "SUB": "sub", "MUL": "mul", "DIV": "div", "MAXIMUM": "max",
          "MINIMUM": "min", "POW": "pow"}


def _const_operand(b: Builder, c: np.ndarray, rank: int) -> np.ndarray:
    """A constant operand, batch first with size 1 there, as ConstArithmetic wants it."""
    c = np.asarray(c, np.float32)
    if c.ndim >= rank:
        if c.ndim > rank or c.shape[0] != 1:
            raise Refused(f"a constant of shape {list(c.shape)} that differs per sample")
        return c
    return c.reshape((1,) + c.shape)


def binary(b: Builder, op: Operator) -> None:
    kind = BINARY[op.name]
    fused = op.option(0, "i8") if op.name in ("ADD", "SUB", "MUL", "DIV") else 0
    data = [b.is_data(op, k) for k in (0, 1)]
    if all(data):
        pair = (b.data(op, 0), b.data(op, 1))
        b.emit(op, lambda name: Arithmetic(pair, name=name, op=kind), fused=fused)
        return
    k = 0 if data[0] else 1
    x = b.data(op, k)
    rank = len(b.tensor(op.inputs[k]).shape)
    c = _const_operand(b, b.const(op, 1 - k, "operand"), rank)
    b.emit(op, lambda name: ConstArithmetic(x, name=name, c=c, op=kind, reverse=k == 1), fused=fused)


def squared_difference(b: Builder, op: Operator) -> None:
    if not (b.is_data(op, 0) and b.is_data(op, 1)):
        raise Refused("a constant operand is not supported")
    pair = (b.data(op, 0), b.data(op, 1))
    diff = b.add(Arithmetic(pair, name=b.unique(b.base_name(op) + "_diff"), op="sub"))
    b.emit(op, lambda name: Arithmetic((diff, diff), name=name, op="mul"))


ACTIVATIONS = {"RELU": ("relu", {}), "RELU6": ("relu", {"max_value": 6.0}), "LOGISTIC": ("sigmoid", {}),
               "TANH": ("tanh", {}), "HARD_SWISH": ("hard_swish", {}), "ELU": ("elu", {}),
               "LOG_SOFTMAX": ("log_softmax", {})}
UNARY = {"EXP": "exp", "LOG": "log", "SQRT": "sqrt", "ABS": "abs", "NEG": "neg", "FLOOR": "floor",
         "CEIL": "ceil", "SIN": "sin", "COS": "cos", "SIGN": "sign"}
CLIPS = {"RELU_N1_TO_1": (-1.0, 1.0), "RELU_0_TO_1": (0.0, 1.0)}


def activation(b: Builder, op: Operator) -> None:
    x = b.data(op)
    function, options = ACTIVATIONS[op.name]
    b.emit(op, lambda name: Activation(x, name=name, function=function, **options))


def leaky_relu(b: Builder, op: Operator) -> None:
    x = b.data(op)
    alpha = float(op.option(0, "f32", 0.0))
    b.emit(op, lambda name: Activation(x, name=name, function="leaky_relu", alpha=alpha))


def gelu(b: Builder, op: Operator) -> None:
    x = b.data(op)
    function = "gelu_tanh" if op.option(0, "bool", False) else "gelu"
    b.emit(op, lambda name: Activation(x, name=name, function=function))


def unary(b: Builder, op: Operator) -> None:
    x = b.data(op)
    if op.name in CLIPS:
        low, high = CLIPS[op.name]
        b.emit(op, lambda name: Unary(x, name=name, function="clip", low=low, high=high))
    elif op.name == "RSQRT":
        root = b.add(Unary(x, name=b.unique(b.base_name(op) + "_sqrt"), function="sqrt"))
        b.emit(op, lambda name: Unary(root, name=name, function="reciprocal"))
    elif op.name == "SQUARE":
        b.emit(op, lambda name: Arithmetic((x, x), name=name, op="mul"))
    else:
        b.emit(op, lambda name: Unary(x, name=name, function=UNARY[op.name]))


def prelu(b: Builder, op: Operator) -> None:
    x = b.data(op)
    alpha = _float(b.const(op, 1, "slopes"))
    b.emit(op, lambda name: PReLU(x, name=name, alpha=alpha))


def softmax(b: Builder, op: Operator) -> None:
    x = b.data(op)
    beta = float(op.option(0, "f32", 1.0))
    if beta != 1.0:
        x = b.add(ConstArithmetic(x, name=b.unique(b.base_name(op) + "_beta"),
                                  c=np.full((1,), beta, np.float32), op="mul"))
    b.emit(op, lambda name: Activation(x, name=name, function="softmax", axis=-1))


def reshape(b: Builder, op: Operator) -> None:
    """RESHAPE, SQUEEZE, EXPAND_DIMS, each sample on its own."""
    x = b.data(op)
    have = b.in_shape(op)
    if op.name == "SQUEEZE":
        dims = op.option_vector(0, "i32")
        rank = len(have) + 1
        drop = {axis_of(d, rank) for d in dims} if dims is not None and len(dims) else \
            {i + 1 for i, n in enumerate(have) if n == 1}
        if 0 in drop:
            raise Refused("squeezes the batch axis")
        target = tuple(n for i, n in enumerate(have) if i + 1 not in drop)
    elif op.name == "EXPAND_DIMS":
        axis = axis_of(np.asarray(b.const(op, 1, "axis")).reshape(-1)[0], len(have) + 2)
        if axis == 0:
            raise Refused("adds an axis before the batch")
        target = have[:axis - 1] + (1,) + have[axis - 1:]
    else:
        target, rows = _reshape_target(b, op, have)
        if rows:
            layer = b.emit(op, lambda name: Reshape(x, name=name, target_shape=target))
            b.values[op.outputs[0]].rows = rows
            return
    if target == have and not b.rows(op):
        b.values[op.outputs[0]] = Value(x)
        return
    b.emit(op, lambda name: Reshape(x, name=name, target_shape=target))


def _reshape_target(b: Builder, op: Operator, have: tuple) -> tuple[tuple, int]:
    """RESHAPE's per-sample target, from its shape input (or option), batch first, and
    the number of rows per sample when the target merges the batch with rows."""
    shape = b.const(op, 1, "target shape", optional=True) if len(op.inputs) > 1 else None
    if shape is None:
        shape = op.option_vector(0, "i32")
    if shape is None:
        raise Refused("has no target shape")
    dims = [int(d) for d in np.asarray(shape).reshape(-1)]
    stored_batch = b.tensor(op.inputs[0]).shape[0] if b.tensor(op.inputs[0]).shape else 1
    rows = dims[0] // BATCH if dims and dims[0] > BATCH and dims[0] % BATCH == 0 else 0
    if rows and not b.rows(op):
        # (batch * rows, features): Keras' Tensordot runs a Dense over every row this way.
        features = [d for d in dims[1:]]
        if int(np.prod(have)) % rows or features.count(-1) > 1:
            raise Refused(f"reshapes to {dims}: it mixes samples")
        per_row = int(np.prod(have)) // rows
        if -1 in features:
            features[features.index(-1)] = per_row // max(int(np.prod([f for f in features if f != -1])), 1)
        if int(np.prod(features)) != per_row:
            raise Refused(f"reshapes to {dims}: it mixes samples")
        return (rows,) + tuple(features), rows
    if not dims or dims[0] not in (BATCH, -1, stored_batch):
        raise Refused(f"reshapes to {dims}: it mixes samples")
    rest = dims[1:]
    size = int(np.prod(have))
    if dims[0] == -1:
        if -1 in rest:
            raise Refused(f"target shape {dims} has two unknown sizes")
        if int(np.prod(rest)) != size:
            raise Refused(f"reshapes {list(have)} per sample to {rest}: it mixes samples")
    if any(d >= BATCH or d < -1 or d == 0 for d in rest) or rest.count(-1) > 1:
        raise Refused(f"target shape {dims} cannot be followed per sample")
    known = int(np.prod([d for d in rest if d != -1]))
    if -1 in rest:
        if size % known:
            raise Refused(f"cannot reshape {list(have)} to {rest}")
        rest[rest.index(-1)] = size // known
    if int(np.prod(rest)) != size:
        raise Refused(f"reshapes {list(have)} per sample to {rest}: it mixes samples")
    return tuple(rest), 0


def concatenation(b: Builder, op: Operator) -> None:
    parts = tuple(b.data(op, k) for k in range(len(op.inputs)))
    axis = axis_of(op.option(0, "i32"), len(b.tensor(op.inputs[0]).shape))
    if axis == 0:
        raise Refused("concatenates along the batch axis")
    b.emit(op, lambda name: Concatenate(parts, name=name, axis=axis), fused=op.option(1, "i8"))


def pack(b: Builder, op: Operator) -> None:
    parts = tuple(b.data(op, k) for k in range(len(op.inputs)))
    axis = axis_of(op.option(1, "i32"), len(b.tensor(op.inputs[0]).shape) + 1)
    if axis == 0:
        raise Refused("stacks along the batch axis")
    shape = b.in_shape(op)
    expanded = shape[:axis - 1] + (1,) + shape[axis - 1:]
    parts = tuple(b.add(Reshape(p, name=b.unique(f"{b.base_name(op)}_{k}"), target_shape=expanded))
                  for k, p in enumerate(parts))
    b.emit(op, lambda name: Concatenate(parts, name=name, axis=axis))


def pad(b: Builder, op: Operator) -> None:
    x = b.data(op)
    pads = np.asarray(b.const(op, 1, "paddings"), np.int64).reshape(-1, 2)
    value = 0.0
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = float(np.asarray(b.const(op, 2, "padding value")).reshape(-1)[0])
    if pads[0].any():
        raise Refused("pads the batch axis")
    mode = "constant"
    if op.name == "MIRROR_PAD":
        mode = {0: "reflect", 1: "symmetric"}.get(int(op.option(0, "i8")))
        if mode != "reflect":
            raise Refused("symmetric mirror padding is not supported")
    b.emit(op, lambda name: Pad(x, name=name, pads=[tuple(p) for p in pads[1:]], mode=mode, value=value))


def _slice_layer(b: Builder, op: Operator, x, shape: tuple, slices: list, drop: list) -> None:
    """Emit Slice (and Reshape for dropped axes) for per-axis python slices of a batch tensor."""
    first = slices[0]
    stored_batch = max(b.tensor(op.inputs[0]).shape[0], 1)
    if 0 in drop or first.step not in (None, 1) or (first.start or 0) != 0 or \
            (first.stop is not None and 0 <= first.stop < stored_batch):
        raise Refused("slices the batch axis")  # the stored batch size stands for the whole batch
    shape = (BATCH,) + tuple(shape[1:])
    axes, starts, stops, steps = [], [], [], []
    for axis, (s, n) in enumerate(zip(slices, shape)):
        start, stop, step = s.indices(n)
        if axis == 0 or (start, stop, step) == (0, n, 1):
            continue
        axes.append(axis)
        starts.append(start)
        stops.append(None if stop < 0 else stop)
        steps.append(step)
    out_shape = tuple(len(range(*s.indices(n))) for i, (s, n) in enumerate(zip(slices, shape))
                      if i > 0 and i not in drop)
    layer = x
    if axes:
        make = lambda name: Slice(x, name=name, axes=axes, starts=starts, stops=stops, steps=steps)  # noqa: E731
        if not drop:
            b.emit(op, make)
            return
        layer = b.add(make(b.unique(b.base_name(op) + "_slice")))
    elif not drop:
        b.values[op.outputs[0]] = b.values[op.inputs[0]]
        return
    b.emit(op, lambda name: Reshape(layer, name=name, target_shape=out_shape))


def strided_slice_op(b: Builder, op: Operator) -> None:
    x = b.data(op)
    shape = (BATCH,) + b.in_shape(op)
    strides = b.const(op, 3, "strides") if len(op.inputs) > 3 else np.ones(len(shape), np.int64)
    slices, drop = strided_slice(shape, op, b.const(op, 1, "begin"), b.const(op, 2, "end"), strides)
    _slice_layer(b, op, x, shape, slices, drop)


def slice_op(b: Builder, op: Operator) -> None:
    x = b.data(op)
    shape = (BATCH,) + b.in_shape(op)
    begin = np.asarray(b.const(op, 1, "begin"), np.int64).reshape(-1)
    size = np.asarray(b.const(op, 2, "size"), np.int64).reshape(-1)
    slices = [slice(int(s), None if n < 0 else int(s + n)) for s, n in zip(begin, size)]
    if begin[0] == 0 and (size[0] == -1 or size[0] >= max(b.tensor(op.inputs[0]).shape[0], 1)):
        slices[0] = slice(None)
    _slice_layer(b, op, x, shape, slices, [])


def transpose(b: Builder, op: Operator) -> None:
    x = b.data(op)
    perm = [int(p) for p in np.asarray(b.const(op, 1, "permutation")).reshape(-1)]
    if not perm or perm[0] != 0:
        raise Refused("moves the batch axis")
    b.emit(op, lambda name: Permute(x, name=name, dims=[p - 1 for p in perm[1:]]))


def resize(b: Builder, op: Operator) -> None:
    x = b.data(op)
    size = np.asarray(b.const(op, 1, "size")).reshape(-1)
    if len(size) != 2 or min(size) < 1:
        raise Refused(f"bad output size {size.tolist()}")
    oh, ow = int(size[0]), int(size[1])
    bilinear = op.name == "RESIZE_BILINEAR"
    align = bool(op.option(2 if bilinear else 0, "bool", False))
    half = bool(op.option(3 if bilinear else 1, "bool", False))
    b.emit(op, lambda name: Resize2D(x, name=name, size=(oh, ow), mode="bilinear" if bilinear else "nearest",
                                     align_corners=align, half_pixel_centers=half))


def tile(b: Builder, op: Operator) -> None:
    x = b.data(op)
    multiples = [int(m) for m in np.asarray(b.const(op, 1, "multiples")).reshape(-1)]
    if len(multiples) != len(b.in_shape(op)) + 1 or multiples[0] != 1:
        raise Refused(f"repeats {multiples}: the batch axis must stay as it is")
    reps = multiples[1:]
    b.emit(op, lambda name: Tile(x, name=name, reps=reps))


def gather(b: Builder, op: Operator) -> None:
    x = b.data(op)
    rank = len(b.tensor(op.inputs[0]).shape)
    axis = axis_of(op.option(0, "i32"), rank)
    index = np.asarray(b.const(op, 1, "indices"), np.int64)
    if axis == 0 or op.option(1, "i32") or index.ndim > 1:
        raise Refused("gathers along the batch axis or with several index axes")
    b.emit(op, lambda name: Take(x, name=name, axis=axis, index=index.tolist()))


def split(b: Builder, op: Operator) -> None:
    """SPLIT (axis, data) and SPLIT_V (data, sizes, axis): one Slice per output."""
    if op.name == "SPLIT":
        x, axis_k = b.data(op, 1), 0
    else:
        x, axis_k = b.data(op, 0), 2
    data_index = op.inputs[1 if op.name == "SPLIT" else 0]
    rank = len(b.tensor(data_index).shape)
    axis = axis_of(np.asarray(b.const(op, axis_k, "axis")).reshape(-1)[0], rank)
    if axis == 0:
        raise Refused("splits the batch axis")
    n = b.in_shape(op, 1 if op.name == "SPLIT" else 0)[axis - 1]
    if op.name == "SPLIT":
        if n % len(op.outputs):
            raise Refused(f"{n} values do not split into {len(op.outputs)} equal parts")
        sizes = [n // len(op.outputs)] * len(op.outputs)
    else:
        sizes = [int(s) for s in np.asarray(b.const(op, 1, "sizes")).reshape(-1)]
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = n - (sum(sizes) + 1)
    if len(sizes) != len(op.outputs) or sum(sizes) != n or min(sizes) < 1:
        raise Refused(f"sizes {sizes} do not split {n} values")
    start = 0
    for k, size in enumerate(sizes):
        b.emit(op, lambda name, s=start, n=size: Slice(x, name=name, axes=[axis], starts=[s], stops=[s + n]),
               k=k)
        start += size


def batch_matmul(b: Builder, op: Operator) -> None:
    if op.option(0, "bool", False) or op.option(1, "bool", False):
        raise Refused("adjoint operands are not supported")
    if b.is_data(op, 0) and b.is_data(op, 1):
        pair = (b.data(op, 0), b.data(op, 1))
        b.emit(op, lambda name: MatMul(pair, name=name))
        return
    x = b.data(op, 0)
    w = _float(b.const(op, 1, "right operand"))
    if w.ndim != 2:
        raise Refused("a constant right operand with batch axes")
    b.emit(op, lambda name: Dense(x, name=name, W=w))


def dequantize(b: Builder, op: Operator) -> None:
    x = b.data(op)
    q = b.tensor(op.inputs[0]).quantization
    if q is None or q.per_channel:
        raise Refused("dequantizes data without one scale")
    b.emit(op, lambda name: Dequantize(x, name=name, in_scale=float(q.scale[0]), in_zero=int(q.zero_point[0])))


def cast(b: Builder, op: Operator) -> None:
    src, out = b.tensor(op.inputs[0]), b.tensor(op.outputs[0])
    if src.type_name == out.type_name or (src.dtype is not None and out.dtype is not None
                                          and np.dtype(out.dtype).kind == "f"):
        b.values[op.outputs[0]] = b.values[op.inputs[0]]
        return
    raise Refused(f"casts {src.type_name} to {out.type_name}")


def unidirectional_sequence_lstm(b: Builder, op: Operator) -> None:
    """The fused LSTM: 24 inputs, gates (input, forget, cell, output) in TFLite's order."""
    x = b.data(op)
    if op.option(3, "bool", False):
        raise Refused("time-major sequences are not supported")
    if op.option(2, "f32", 0.0):
        raise Refused("projection clipping is not supported")
    for k, what in ((9, "peephole"), (10, "peephole"), (11, "peephole"), (16, "projection"),
                    (20, "layer normalisation"), (21, "layer normalisation")):
        if k < len(op.inputs) and op.inputs[k] >= 0:
            raise Refused(f"{what} weights are not supported")
    if op.inputs[1] < 0:
        raise Refused("coupled input and forget gates are not supported")
    W = [_float(b.const(op, k, "input weights")) for k in (1, 2, 3, 4)]  # (units, features)
    U = [_float(b.const(op, k, "recurrent weights")) for k in (5, 6, 7, 8)]  # (units, units)
    bias = [_float(b.const(op, k, "gate bias")) for k in (12, 13, 14, 15)]
    for k in (18, 19):
        state = b.tensor(op.inputs[k])
        if state.data is not None and np.any(state.array()):
            raise Refused("a non-zero initial state is not supported")
    act = {1: "relu", 3: {"function": "relu", "max_value": 6.0}, 4: "tanh"}.get(int(op.option(0, "i8", 4)))
    if act is None:
        raise Refused(f"cell activation {op.option(0, 'i8')} is not supported")
    b.emit(op, lambda name: LSTM(x, name=name, W=np.concatenate([w.T for w in W], axis=1),
                                 U=np.concatenate([u.T for u in U], axis=1), b=np.concatenate(bias),
                                 activation=act, recurrent_activation="sigmoid",
                                 cell_clip=float(op.option(1, "f32", 0.0)) or None))


OPS: dict[str, Callable[[Builder, Operator], None]] = {
    "CONV_2D": conv_2d, "DEPTHWISE_CONV_2D": depthwise_conv_2d, "TRANSPOSE_CONV": transpose_conv,
    "FULLY_CONNECTED": fully_connected, "AVERAGE_POOL_2D": _pool(AvgPool2D), "MAX_POOL_2D": _pool(MaxPool2D),
    "MEAN": _reduce("mean"), "SUM": _reduce("sum"), "REDUCE_MAX": _reduce("max"),
    "REDUCE_MIN": _reduce("min"), "REDUCE_PROD": _reduce("prod"),
    **{name: binary for name in BINARY}, "SQUARED_DIFFERENCE": squared_difference,
    **{name: activation for name in ACTIVATIONS}, "LEAKY_RELU": leaky_relu, "GELU": gelu, "PRELU": prelu,
    **{name: unary for name in (*UNARY, *CLIPS, "RSQRT", "SQUARE")},
    "SOFTMAX": softmax, "RESHAPE": reshape, "SQUEEZE": reshape, "EXPAND_DIMS": reshape,
    "CONCATENATION": concatenation, "PACK": pack, "PAD": pad, "PADV2": pad, "MIRROR_PAD": pad,
    "STRIDED_SLICE": strided_slice_op, "SLICE": slice_op, "TRANSPOSE": transpose,
    "RESIZE_BILINEAR": resize, "RESIZE_NEAREST_NEIGHBOR": resize, "TILE": tile, "GATHER": gather,
    "SPLIT": split, "SPLIT_V": split, "BATCH_MATMUL": batch_matmul, "DEQUANTIZE": dequantize,
    "CAST": cast, "UNIDIRECTIONAL_SEQUENCE_LSTM": unidirectional_sequence_lstm,
}

"""TFLite float operators -> Strata layers, in TFLite's NHWC layout.

Each handler takes the :class:`~viewer.convert.tflite_model.Builder` and the
operator, reads its inputs and options (field numbers of schema.fbs), and
emits the layers. Ops that reshape, slice, pad or move values are in
:mod:`viewer.convert.tflite_shape`; the batch axis (axis 0) is never sliced,
padded, reduced or moved.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from viewer.convert import tflite_shape
from viewer.convert.tflite_model import Builder, Refused, axis_of
from viewer.convert.tflite_schema import Operator
from viewer.net.layers import Activation, AvgPool2D, Conv2D, Dense, GlobalAvgPool2D, Layer, MaxPool2D, Reshape
from viewer.net.layers.conv_extra import Conv2DTranspose
from viewer.net.layers.expression import Elementwise
from viewer.net.layers.quantized import Dequantize
from viewer.net.layers.recurrent import LSTM
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


def transpose_conv_geometry(b: Builder, op: Operator, kernel: tuple) -> tuple[tuple, list, list]:
    """(stride, crop, output padding) of a TRANSPOSE_CONV from its output shape, input and padding."""
    h, wd, _ = b.in_shape(op, 2)
    target = np.asarray(b.const(op, 0, "output shape")).reshape(-1)
    if len(target) != 4:
        raise Refused(f"output shape {target.tolist()} is not NHWC")
    oh, ow = int(target[1]), int(target[2])
    stride = (int(op.option(2, "i32", 1)), int(op.option(1, "i32", 1)))
    crop, extra = [], []
    for n, out, k, s in ((h, oh, kernel[0], stride[0]), (wd, ow, kernel[1], stride[1])):
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
    return stride, crop, extra


def transpose_conv(b: Builder, op: Operator) -> None:
    x = b.data(op, 2)
    w = _float(b.const(op, 1, "filter"))  # (O, kh, kw, I)
    stride, crop, extra = transpose_conv_geometry(b, op, w.shape[1:3])
    b.emit(op, lambda name: Conv2DTranspose(
        x, name=name, W=w.transpose(3, 0, 1, 2), b=_bias(b, op, 3), stride=stride, crop=crop,
        output_padding=extra, data_format="channels_last"), fused=op.option(3, "i8"))


def fully_connected(b: Builder, op: Operator) -> None:
    x = b.data(op)
    w = _float(b.const(op, 1, "weights"))  # (out, in)
    if op.option(1, "i8"):
        raise Refused("shuffled weights are not supported")
    source = dense_input(b, op, x, w.shape[1])
    b.emit(op, lambda name: Dense(source, name=name, W=w.T, b=_bias(b, op, 2)), fused=op.option(0, "i8"))


def dense_input(b: Builder, op: Operator, x: Layer, width: int) -> Layer:
    """What a FULLY_CONNECTED op multiplies: ``x`` itself, or ``x`` flattened to ``(batch, width)``
    when each sample has several axes and the op does not keep them (``keep_num_dims`` off)."""
    in_shape = b.in_shape(op)
    if len(in_shape) <= 1 or op.option(2, "bool", False) or b.rows(op):
        return x
    if int(np.prod(in_shape)) != width:
        raise Refused("flattens rows of several samples together")
    return b.add(Reshape(x, name=b.unique(b.base_name(op) + "_flat"), target_shape=(width,)))


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
          "MINIMUM": "min", "POW": "pow", "EQUAL": "equal", "LESS": "less", "GREATER": "greater",
          "LESS_EQUAL": "less_equal", "GREATER_EQUAL": "greater_equal"}


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


def select(b: Builder, op: Operator) -> None:
    """SELECT / SELECT_V2: ``where(condition, a, b)``, any of them data or constant."""
    data = [k for k in range(3) if b.is_data(op, k)]
    if not data:
        raise Refused("computes on constants only")
    rank = max(len(b.tensor(op.inputs[k]).shape) for k in data)
    consts = [_const_operand(b, b.const(op, k, "operand"), rank) for k in range(3) if k not in data]
    refs, n_in, n_const = [], 0, 0
    for k in range(3):
        if k in data:
            refs.append(["in", n_in])
            n_in += 1
        else:
            refs.append(["const", n_const])
            n_const += 1
    layers = [b.data(op, k) for k in data]
    b.emit(op, lambda name: Elementwise.from_constants(layers, name=name, steps=[["switch", *refs]],
                                                       constants=consts))


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
    "SELECT": select, "SELECT_V2": select,
    **{name: activation for name in ACTIVATIONS}, "LEAKY_RELU": leaky_relu, "GELU": gelu, "PRELU": prelu,
    **{name: unary for name in (*UNARY, *CLIPS, "RSQRT", "SQUARE")},
    "SOFTMAX": softmax, **tflite_shape.OPS, "BATCH_MATMUL": batch_matmul, "DEQUANTIZE": dequantize,
    "CAST": cast, "UNIDIRECTIONAL_SEQUENCE_LSTM": unidirectional_sequence_lstm,
}

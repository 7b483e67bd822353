"""TFLite operators on quantized integers -> the integer kinds of viewer.net.layers.quantized.

Arithmetic ops (convolutions, fully connected, add/sub/mul, average pooling,
mean, softmax, requantisation) become integer layers computing the
interpreter's kernels exactly. Ops that only move values keep the float
handlers of :mod:`viewer.convert.tflite_ops`, which are exact on dequantized
values, after checking that input and output share one quantisation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from viewer.convert import tflite_ops
from viewer.convert.tflite_model import Builder, Refused, axis_of, is_quantized
from viewer.convert.tflite_schema import Operator, Quantization
from viewer.net import fixed_point as fp
from viewer.net.layers.activation import erfc
from viewer.net.layers.quantized import INTEGER_RANGES, QArithmetic, QAvgPool2D, QConv2D, QDense, Quantize
from viewer.net.layers.quantized_ops import QConv2DTranspose, QLookup, QMean, QPReLU, QSoftmax, lookup_table


def _quant(b: Builder, index: int, what: str) -> tuple[float, int, str]:
    """(scale, zero point, integer type) of a per-tensor quantized tensor."""
    t = b.tensor(index)
    if not is_quantized(t):
        raise Refused(f"its {what} is not a quantized integer tensor ({t.type_name})")
    if t.quantization.per_channel:
        raise Refused(f"its {what} is quantized per channel")
    return float(t.quantization.scale[0]), int(t.quantization.zero_point[0]), t.type_name


def activation_range(code: int, scale: float, zero: int, dtype: str) -> tuple[int, int]:
    """The integer clamp of a fused activation, as TFLite computes it from the output's scale."""
    lo, hi = INTEGER_RANGES[dtype]

    def q(real: float) -> int:
        v = np.float32(real) / np.float32(scale)
        return zero + int(np.sign(v) * np.floor(abs(v) + 0.5))

    ranges = {0: (lo, hi), 1: (max(lo, q(0.0)), hi), 2: (max(lo, q(-1.0)), min(hi, q(1.0))),
              3: (max(lo, q(0.0)), min(hi, q(6.0)))}
    if int(code) not in ranges:
        raise Refused(f"fused activation {code} on quantized values is not supported")
    return ranges[int(code)]


def _out(b: Builder, op: Operator, fused: int = 0) -> dict:
    """The output quantisation as layer keywords, with the fused activation's clamp."""
    scale, zero, dtype = _quant(b, op.outputs[0], "output")
    act_min, act_max = activation_range(fused, scale, zero, dtype)
    return {"out_scale": scale, "out_zero": zero, "dtype": dtype, "act_min": act_min, "act_max": act_max}


def _in(b: Builder, op: Operator, k: int = 0) -> dict:
    scale, zero, _ = _quant(b, op.inputs[k], "input")
    return {"in_scale": scale, "in_zero": zero}


def _weights(b: Builder, op: Operator, k: int, channel_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer weights and their scales (per tensor or along ``channel_axis``)."""
    w = b.const(op, k, "weights")
    t = b.tensor(op.inputs[k])
    q: Quantization | None = t.quantization
    if w.dtype != np.int8 or q is None:
        raise Refused(f"weights of type {t.type_name} (only int8 weights are supported)")
    if np.any(q.zero_point):
        raise Refused("weights with a zero point other than 0")
    if q.per_channel and axis_of(q.axis, w.ndim) != channel_axis:
        raise Refused(f"weights quantized along axis {q.axis}, not the output channels")
    return w, q.scale


def _bias(b: Builder, op: Operator, k: int) -> np.ndarray | None:
    bias = b.const(op, k, "bias", optional=True) if k < len(op.inputs) else None
    if bias is not None and bias.dtype != np.int32:
        raise Refused(f"a bias of type {bias.dtype} (int32 expected)")
    return bias


def conv_2d(b: Builder, op: Operator) -> None:
    x = b.data(op)
    w, scales = _weights(b, op, 1, 0)  # (O, kh, kw, I)
    channels = b.in_shape(op)[-1]
    if w.ndim != 4 or channels % w.shape[3]:
        raise Refused(f"filter of shape {list(w.shape)} for {channels} input channels")
    b.emit(op, lambda name: QConv2D(
        x, name=name, W=w.transpose(0, 3, 1, 2), w_scale=scales, b=_bias(b, op, 2),
        stride=(int(op.option(2, "i32", 1)), int(op.option(1, "i32", 1))), padding=tflite_ops._padding(op),
        dilation=(int(op.option(5, "i32", 1)), int(op.option(4, "i32", 1))), groups=channels // w.shape[3],
        data_format="channels_last", **_in(b, op), **_out(b, op, op.option(3, "i8"))))


def depthwise_conv_2d(b: Builder, op: Operator) -> None:
    x = b.data(op)
    w, scales = _weights(b, op, 1, 3)  # (1, kh, kw, C * multiplier)
    channels = b.in_shape(op)[-1]
    if w.ndim != 4 or w.shape[0] != 1 or w.shape[3] % channels:
        raise Refused(f"filter of shape {list(w.shape)} for {channels} input channels")
    b.emit(op, lambda name: QConv2D(
        x, name=name, W=w[0].transpose(2, 0, 1)[:, None], w_scale=scales, b=_bias(b, op, 2),
        stride=(int(op.option(2, "i32", 1)), int(op.option(1, "i32", 1))), padding=tflite_ops._padding(op),
        dilation=(int(op.option(6, "i32", 1)), int(op.option(5, "i32", 1))), groups=channels,
        data_format="channels_last", rounding="reference", **_in(b, op), **_out(b, op, op.option(4, "i8"))))


def fully_connected(b: Builder, op: Operator) -> None:
    x = b.data(op)
    w, scales = _weights(b, op, 1, 0)  # (out, in)
    source = tflite_ops.dense_input(b, op, x, w.shape[1])
    b.emit(op, lambda name: QDense(source, name=name, W=w.T, w_scale=scales, b=_bias(b, op, 2),
                                   **_in(b, op), **_out(b, op, op.option(0, "i8"))))


def transpose_conv(b: Builder, op: Operator) -> None:
    x = b.data(op, 2)
    w, scales = _weights(b, op, 1, 0)  # (O, kh, kw, I)
    stride, crop, extra = tflite_ops.transpose_conv_geometry(b, op, w.shape[1:3])
    b.emit(op, lambda name: QConv2DTranspose(
        x, name=name, W=w.transpose(3, 0, 1, 2), w_scale=scales, b=_bias(b, op, 3), stride=stride, crop=crop,
        output_padding=extra, **_in(b, op, 2), **_out(b, op, op.option(3, "i8"))))


def prelu(b: Builder, op: Operator) -> None:
    x = b.data(op)
    alpha = b.const(op, 1, "slopes")
    scale, zero, dtype = _quant(b, op.inputs[1], "slopes")
    if dtype != "int8" or alpha.dtype != np.int8:
        raise Refused(f"slopes of type {dtype} (int8 expected)")
    b.emit(op, lambda name: QPReLU(x, name=name, alpha=alpha, alpha_scale=scale, alpha_zero=zero,
                                   **_in(b, op), **_out(b, op)))


def arithmetic(b: Builder, op: Operator) -> None:
    if not (b.is_data(op, 0) and b.is_data(op, 1)):
        raise Refused("a constant operand on quantized values is not supported")
    pair = (b.data(op, 0), b.data(op, 1))
    ins = [_quant(b, op.inputs[k], "input") for k in (0, 1)]
    fused = op.option(0, "i8")
    b.emit(op, lambda name: QArithmetic(pair, name=name, op=op.name.lower(),
                                        in_scale=[s for s, _, _ in ins], in_zero=[z for _, z, _ in ins],
                                        **_out(b, op, fused)))


def average_pool_2d(b: Builder, op: Operator) -> None:
    x = b.data(op)
    _same_quantization(b, op)
    b.emit(op, lambda name: QAvgPool2D(
        x, name=name, pool_size=(int(op.option(4, "i32", 1)), int(op.option(3, "i32", 1))),
        stride=(int(op.option(2, "i32", 1)), int(op.option(1, "i32", 1))), padding=tflite_ops._padding(op),
        data_format="channels_last", **_in(b, op), **_out(b, op, op.option(5, "i8"))))


def mean(b: Builder, op: Operator) -> None:
    x = b.data(op)
    rank = len(b.tensor(op.inputs[0]).shape)
    axes = sorted({axis_of(a, rank) for a in np.asarray(b.const(op, 1, "axes")).reshape(-1)})
    if 0 in axes:
        raise Refused("reduces over the batch axis")
    keep = bool(op.option(0, "bool", False))
    if keep and (rank != 4 or axes != [1, 2]):
        raise Refused("a quantized mean keeping axes other than height and width is not supported")
    b.emit(op, lambda name: QMean(x, name=name, axes=axes, keepdims=keep, **_in(b, op), **_out(b, op)))


def softmax(b: Builder, op: Operator) -> None:
    x = b.data(op)
    beta = float(op.option(0, "f32", 1.0))
    b.emit(op, lambda name: QSoftmax(x, name=name, beta=beta, **_in(b, op), **_out(b, op)))


def quantize(b: Builder, op: Operator) -> None:
    x = b.data(op)
    src = b.tensor(op.inputs[0])
    ins = _in(b, op) if is_quantized(src) else {}
    if not ins and (src.dtype is None or np.dtype(src.dtype).kind != "f"):
        raise Refused(f"quantizes {src.type_name} values")
    b.emit(op, lambda name: Quantize(x, name=name, **ins, **_out(b, op)))


def relu(b: Builder, op: Operator) -> None:
    """RELU, RELU6, RELU_N1_TO_1 on integers: requantise, then clamp."""
    x = b.data(op)
    code = {"RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}[op.name]
    b.emit(op, lambda name: Quantize(x, name=name, **_in(b, op), **_out(b, op, code)))


def _f32(fn):
    """A float32 function as the kernels' C++ lambdas compute it (exp correctly rounded to float32)."""
    return lambda v: np.asarray(fn(v.astype(np.float64)), np.float64).astype(np.float32)


def _logistic(v):
    e = _f32(np.exp)(-v)
    return (np.float32(1.0) / (np.float32(1.0) + e)).astype(np.float32)


def _elu(v):
    return np.where(v < 0, (_f32(np.exp)(v) - np.float32(1.0)).astype(np.float32), v)


def _gelu(v):
    return (np.float32(0.5) * v * (np.float32(2.0) - _f32(erfc)(v / np.float32(np.sqrt(2.0))))).astype(np.float32)


def _gelu_tanh(v):
    inner = (np.float32(np.sqrt(2.0 / np.pi)) * (v + np.float32(0.044715) * v * v * v)).astype(np.float32)
    return (np.float32(0.5) * v * (np.float32(1.0) + _f32(np.tanh)(inner))).astype(np.float32)


def _hard_swish(v):
    return (v * np.clip(v + np.float32(3.0), 0, 6) / np.float32(6.0)).astype(np.float32)


TABLES = {"LOGISTIC": ("logistic", _logistic), "TANH": ("tanh", _f32(np.tanh)), "ELU": ("elu", _elu),
          "HARD_SWISH": ("hard_swish", _hard_swish)}


def lookup(b: Builder, op: Operator) -> None:
    """Element-wise ops TFLite computes on int8 through a 256-value table."""
    x = b.data(op)
    if op.name == "GELU":
        name, fn = ("gelu_tanh", _gelu_tanh) if op.option(0, "bool", False) else ("gelu", _gelu)
    else:
        name, fn = TABLES[op.name]
    ins, out = _in(b, op), _out(b, op)
    if out["dtype"] != "int8":
        raise Refused(f"{out['dtype']} lookups are not supported")
    table = lookup_table(fn, ins["in_scale"], ins["in_zero"], out["out_scale"], out["out_zero"])
    b.emit(op, lambda layer: QLookup(x, name=layer, table=table, op=name, **ins, **out))


def leaky_relu(b: Builder, op: Operator) -> None:
    """LEAKY_RELU on int8: two fixed-point rescalings, of the identity and of the slope, as a table."""
    x = b.data(op)
    ins, out = _in(b, op), _out(b, op)
    alpha = float(np.float32(op.option(0, "f32", 0.0)))
    s_in, s_out = np.float64(ins["in_scale"]), np.float64(out["out_scale"])
    identity, slope = fp.quantize_multiplier(s_in / s_out), fp.quantize_multiplier(s_in * alpha / s_out)
    lo, hi = INTEGER_RANGES[out["dtype"]]
    v = np.arange(lo, hi + 1) - ins["in_zero"]
    q = np.where(v >= 0, fp.multiply_by_quantized_multiplier(v, *identity),
                 fp.multiply_by_quantized_multiplier(v, *slope)) + out["out_zero"]
    table = np.clip(q, lo, hi).astype(np.int16)
    b.emit(op, lambda name: QLookup(x, name=name, table=table, op="leaky_relu", **ins, **out))


def _same_quantization(b: Builder, op: Operator) -> None:
    """Refuse a value-moving op whose data inputs and output are quantized differently."""
    out = _quant(b, op.outputs[0], "output")
    for k, index in enumerate(op.inputs):
        if index >= 0 and b.is_data(op, k) and _quant(b, index, "input") != out:
            raise Refused("its input and output are quantized differently")


def _moving(handler: Callable) -> Callable:
    def checked(b: Builder, op: Operator) -> None:
        _same_quantization(b, op)
        handler(b, op)
    return checked


def _max_pool(b: Builder, op: Operator) -> None:
    fused = int(op.option(5, "i8"))
    if fused:
        scale, zero, dtype = _quant(b, op.outputs[0], "output")
        if activation_range(fused, scale, zero, dtype) != INTEGER_RANGES[dtype]:
            raise Refused("a fused activation on quantized max pooling is not supported")
    tflite_ops.OPS["MAX_POOL_2D"](b, op)


def _pad(b: Builder, op: Operator) -> None:
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        raise Refused("quantized padding with a constant other than the zero point is not supported")
    tflite_ops.OPS[op.name](b, op)


MOVING = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CONCATENATION", "PACK", "STRIDED_SLICE", "SLICE",
          "TRANSPOSE", "TILE", "GATHER", "SPLIT", "SPLIT_V", "RESIZE_NEAREST_NEIGHBOR")

OPS: dict[str, Callable[[Builder, Operator], None]] = {
    "CONV_2D": conv_2d, "DEPTHWISE_CONV_2D": depthwise_conv_2d, "FULLY_CONNECTED": fully_connected,
    "TRANSPOSE_CONV": transpose_conv, "PRELU": prelu, "ADD": arithmetic, "SUB": arithmetic, "MUL": arithmetic, "AVERAGE_POOL_2D": average_pool_2d,
    "MEAN": mean, "SOFTMAX": softmax, "QUANTIZE": quantize, "RELU": relu, "RELU6": relu,
    **{name: lookup for name in (*TABLES, "GELU")}, "LEAKY_RELU": leaky_relu,
    "RELU_N1_TO_1": relu, "MAX_POOL_2D": _moving(_max_pool), "PAD": _moving(_pad), "PADV2": _moving(_pad),
    **{name: _moving(tflite_ops.OPS[name]) for name in MOVING},
}

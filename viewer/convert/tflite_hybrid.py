"""TFLite hybrid operators (int8 weights, float32 data) -> the layers of viewer.net.layers.quantized_hybrid.

A dynamic-range quantized model (``converter.optimizations = [DEFAULT]``
without a representative dataset) keeps float activations and stores the
weights of its convolutions and fully connected layers as int8. Which way
the interpreter quantizes their input follows the op:

- CONV_2D: asymmetrically per sample when the filter has per-channel scales
  that differ, otherwise symmetrically with the one filter scale;
- DEPTHWISE_CONV_2D: asymmetrically per sample, with per-channel filter
  scales (given one scale, the interpreter reads the others past its end, so
  such a file is refused);
- FULLY_CONNECTED: per row, asymmetrically when the op's
  ``asymmetric_quantize_inputs`` option is set.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from viewer.convert import tflite_ops
from viewer.convert.tflite_model import Builder, Refused, axis_of
from viewer.convert.tflite_schema import Operator
from viewer.net.layers.quantized_hybrid import HybridConv2D, HybridDense


def is_hybrid(b: Builder, op: Operator) -> bool:
    """True for an op of :data:`OPS` whose data is float32 and whose weights are int8."""
    if op.name not in OPS or len(op.inputs) < 2 or min(op.inputs[:2]) < 0:
        return False
    data, weights = b.tensor(op.inputs[0]), b.tensor(op.inputs[1])
    return data.type_name == "float32" and weights.type_name == "int8"


def _weights(b: Builder, op: Operator, channel_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The int8 weights and their scales (one, or one per output channel)."""
    w = b.const(op, 1, "weights")
    q = b.tensor(op.inputs[1]).quantization
    if q is None or not q.scale.size:
        raise Refused("int8 weights without a scale")
    if np.any(q.zero_point):
        raise Refused("int8 weights with a zero point other than 0")
    if q.per_channel and axis_of(q.axis, w.ndim) != channel_axis:
        raise Refused(f"weights quantized along axis {q.axis}, not the output channels")
    return w, np.asarray(q.scale, np.float32)


def _bias(b: Builder, op: Operator, k: int) -> np.ndarray | None:
    bias = b.const(op, k, "bias", optional=True) if k < len(op.inputs) else None
    if bias is not None and bias.dtype != np.float32:
        raise Refused(f"a bias of type {bias.dtype} in a hybrid operator (float32 expected)")
    return bias


def conv_2d(b: Builder, op: Operator) -> None:
    x = b.data(op)
    w, scales = _weights(b, op, 0)  # (O, kh, kw, I)
    channels = b.in_shape(op)[-1]
    if w.ndim != 4 or channels % w.shape[3]:
        raise Refused(f"filter of shape {list(w.shape)} for {channels} input channels")
    per_channel = scales.size > 1 and bool(np.any(scales != scales[0]))
    b.emit(op, lambda name: HybridConv2D(
        x, name=name, W=w.transpose(0, 3, 1, 2), w_scale=scales if per_channel else scales[:1],
        b=_bias(b, op, 2), asymmetric=per_channel,
        stride=(int(op.option(2, "i32", 1)), int(op.option(1, "i32", 1))), padding=tflite_ops._padding(op),
        dilation=(int(op.option(5, "i32", 1)), int(op.option(4, "i32", 1))),
        groups=channels // w.shape[3], data_format="channels_last"), fused=op.option(3, "i8"))


def depthwise_conv_2d(b: Builder, op: Operator) -> None:
    x = b.data(op)
    w, scales = _weights(b, op, 3)  # (1, kh, kw, C * multiplier)
    channels = b.in_shape(op)[-1]
    if w.ndim != 4 or w.shape[0] != 1 or w.shape[3] % channels:
        raise Refused(f"filter of shape {list(w.shape)} for {channels} input channels")
    if scales.size != w.shape[3]:
        raise Refused(f"a hybrid depthwise convolution with {scales.size} weight scale(s) for "
                      f"{w.shape[3]} channels (the interpreter reads one per channel, past the stored ones)")
    b.emit(op, lambda name: HybridConv2D(
        x, name=name, W=w[0].transpose(2, 0, 1)[:, None], w_scale=scales, b=_bias(b, op, 2),
        asymmetric=True, rescale="stepwise", stride=(int(op.option(2, "i32", 1)), int(op.option(1, "i32", 1))),
        padding=tflite_ops._padding(op), dilation=(int(op.option(6, "i32", 1)), int(op.option(5, "i32", 1))),
        groups=channels, data_format="channels_last"), fused=op.option(4, "i8"))


def fully_connected(b: Builder, op: Operator) -> None:
    x = b.data(op)
    w, scales = _weights(b, op, 0)  # (out, in)
    if op.option(1, "i8"):
        raise Refused("shuffled weights are not supported")
    source = tflite_ops.dense_input(b, op, x, w.shape[1])
    asymmetric = bool(op.option(3, "bool", False))
    b.emit(op, lambda name: HybridDense(source, name=name, W=w.T, w_scale=scales, b=_bias(b, op, 2),
                                        asymmetric=asymmetric), fused=op.option(0, "i8"))


OPS: dict[str, Callable[[Builder, Operator], None]] = {
    "CONV_2D": conv_2d, "DEPTHWISE_CONV_2D": depthwise_conv_2d, "FULLY_CONNECTED": fully_connected,
}

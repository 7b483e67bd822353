"""ONNX's quantized inference ops, computed with the spec's integer arithmetic.

Quantize: ``saturate(round_half_even(x / scale) + zero_point)``. Integer
products (ConvInteger, MatMulInteger) accumulate in int32 after subtracting
the zero points; the QLinear ops then requantise ``acc * (a_scale * b_scale
/ y_scale)`` with round-half-to-even and saturation, in float64 so the
rescale itself adds no error beyond the spec's.
"""

from __future__ import annotations

import numpy as np

from viewer.net.operators import operator
from viewer.net.operators.elementwise import onnx_dtype
from viewer.net.operators.nn import conv_nd


def _per_axis(v: np.ndarray, x: np.ndarray, axis: int, block: int = 0) -> np.ndarray:
    """A scale or zero point broadcast against ``x`` (scalar, per-axis or blocked)."""
    v = np.asarray(v)
    if v.ndim == 0 or v.size == 1 and x.ndim == 0:
        return v.reshape(())
    axis %= x.ndim
    if block:
        return np.repeat(v, block, axis=axis).take(range(x.shape[axis]), axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    return v.reshape(shape)


def _saturate(q: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


@operator("QuantizeLinear")
def _quantize(inputs: list, attrs: dict, opset: int) -> list:
    x, scale = inputs[0], inputs[1]
    zero = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    dtype = zero.dtype if zero is not None else (
        onnx_dtype(attrs["output_dtype"]) if attrs.get("output_dtype") else np.dtype(np.uint8))
    axis, block = int(attrs.get("axis", 1)), int(attrs.get("block_size", 0))
    s = _per_axis(scale, x, axis, block).astype(np.float64)
    z = 0 if zero is None else _per_axis(zero, x, axis, block).astype(np.float64)
    q = np.rint(x.astype(np.float64) / s) + z
    return [_saturate(q, dtype)]


@operator("DequantizeLinear")
def _dequantize(inputs: list, attrs: dict, opset: int) -> list:
    x, scale = inputs[0], inputs[1]
    zero = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    axis, block = int(attrs.get("axis", 1)), int(attrs.get("block_size", 0))
    s = _per_axis(scale, x, axis, block).astype(np.float32)
    # Up to 16-bit integers, x - zero is exact in float32 and one float32 product is the
    # correctly rounded result, as in float64 - at a quarter of the memory (VGG: 100M weights).
    if x.dtype.itemsize <= 2:
        y = x.astype(np.float32)
        if zero is not None:
            y -= _per_axis(zero, x, axis, block).astype(np.float32)
        y *= s
    else:
        z = 0 if zero is None else _per_axis(zero, x, axis, block).astype(np.int64)
        y = (x.astype(np.int64) - z) * s.astype(np.float64)
    return [y.astype(scale.dtype, copy=False)]


def dynamic_quantize(x: np.ndarray) -> tuple[np.ndarray, np.float32, np.uint8]:
    """``x`` as uint8 with the scale and zero point DynamicQuantizeLinear picks (its range
    widened to hold 0): (quantized, scale, zero point)."""
    x = np.asarray(x, np.float32)
    # float32 throughout, as onnxruntime computes it
    low, high = min(np.float32(x.min()), np.float32(0)), max(np.float32(x.max()), np.float32(0))
    scale = (high - low) / np.float32(255)
    zero = np.clip(np.rint((np.float32(0) - low) / scale), 0, 255) if scale else np.float32(0)
    q = _saturate(np.rint(x / scale) + zero if scale else np.zeros(x.shape), np.dtype(np.uint8))
    return q, scale, np.uint8(zero)


@operator("DynamicQuantizeLinear")
def _dynamic_quantize(inputs: list, attrs: dict, opset: int) -> list:
    q, scale, zero = dynamic_quantize(inputs[0])
    return [q, np.array(scale, np.float32), np.array(zero, np.uint8)]


def _zero(v, like_dtype) -> np.ndarray:
    return np.zeros((), np.int32) if v is None else np.asarray(v).astype(np.int32)


@operator("MatMulInteger")
def _matmul_integer(inputs: list, attrs: dict, opset: int) -> list:
    a, b = inputs[0].astype(np.int32), inputs[1].astype(np.int32)
    za = _zero(inputs[2] if len(inputs) > 2 else None, a.dtype)
    zb = _zero(inputs[3] if len(inputs) > 3 else None, b.dtype)
    if za.ndim == 1 and a.ndim >= 2:
        za = za.reshape(-1, 1)  # per row of A
    return [np.matmul(a - za, b - zb).astype(np.int32)]


@operator("ConvInteger")
def _conv_integer(inputs: list, attrs: dict, opset: int) -> list:
    x, w = inputs[0].astype(np.int64), inputs[1].astype(np.int64)
    zx = _zero(inputs[2] if len(inputs) > 2 else None, x.dtype).astype(np.int64)
    zw = _zero(inputs[3] if len(inputs) > 3 else None, w.dtype).astype(np.int64)
    if zw.ndim == 1:
        zw = zw.reshape((-1,) + (1,) * (w.ndim - 1))
    # Pads add the input's zero point, i.e. zero after subtracting it.
    y = conv_nd((x - zx).astype(np.float64), (w - zw).astype(np.float64), None, attrs)
    return [np.rint(y).astype(np.int32)]


def _requantize(acc: np.ndarray, scale: np.ndarray, zero: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return _saturate(np.rint(acc * scale) + zero.astype(np.float64), dtype)


@operator("QLinearMatMul")
def _qlinear_matmul(inputs: list, attrs: dict, opset: int) -> list:
    a, sa, za, b, sb, zb, sy, zy = inputs
    za2 = np.asarray(za).astype(np.int64)
    if za2.ndim == 1 and a.ndim >= 2:
        za2 = za2.reshape(-1, 1)
    sa2 = np.asarray(sa, np.float64)
    if sa2.ndim == 1 and a.ndim >= 2:
        sa2 = sa2.reshape(-1, 1)
    acc = np.matmul(a.astype(np.int64) - za2, b.astype(np.int64) - np.asarray(zb).astype(np.int64))
    scale = sa2 * np.asarray(sb, np.float64) / np.asarray(sy, np.float64)
    return [_requantize(acc.astype(np.float64), scale, np.asarray(zy), zy.dtype)]


@operator("QLinearConv")
def _qlinear_conv(inputs: list, attrs: dict, opset: int) -> list:
    x, sx, zx, w, sw, zw, sy, zy = inputs[:8]
    bias = inputs[8] if len(inputs) > 8 else None
    zw2 = np.asarray(zw).astype(np.int64)
    if zw2.ndim == 1:
        zw2 = zw2.reshape((-1,) + (1,) * (w.ndim - 1))
    acc = conv_nd((x.astype(np.int64) - np.asarray(zx).astype(np.int64)).astype(np.float64),
                  (w.astype(np.int64) - zw2).astype(np.float64), None, attrs)
    acc = np.rint(acc)
    if bias is not None:
        acc = acc + bias.astype(np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))
    sw2 = np.asarray(sw, np.float64)
    if sw2.ndim == 1:
        sw2 = sw2.reshape((1, -1) + (1,) * (x.ndim - 2))
    scale = np.asarray(sx, np.float64) * sw2 / np.asarray(sy, np.float64)
    return [_requantize(acc, scale, np.asarray(zy), zy.dtype)]

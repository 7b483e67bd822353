"""Quantized (int8) layers computing what TFLite's integer kernels compute.

A quantized tensor holds integers ``q`` that stand for the real values
``scale * (q - zero_point)``. These layers take and return those real values
(float32, so every view, statistic and export shows real units), but compute
with the integers: each layer recovers its input's ``q`` exactly (the values
are multiples of the input scale), runs the kernel's integer arithmetic -
int32 accumulation, fixed-point requantisation with the interpreter's
roundings (:mod:`viewer.net.fixed_point`), clamping to the fused
activation's range - and returns its output integers dequantized.

Layers that only move values (reshape, transpose, padding with the zero
point, max pooling, concatenation of equally quantized inputs) need no kind
of their own: on dequantized values the float kinds are exact.
:func:`viewer.net.quantization.quantization_of` finds the quantisation of any layer's output. Mean,
softmax and the table lookups are in :mod:`viewer.net.layers.quantized_ops`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from viewer.errors import LayerError
from viewer.net import fixed_point as fp
from viewer.net import ops
from viewer.net.layers.base import Layer, Shape, as_pair, check_format, need_rank, register
from viewer.net.layers.spatial import _padding_config, _padding_json, conv_pads

INTEGER_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """Real values -> integers as TFLite's QUANTIZE does (round half away from zero), int64."""
    lo, hi = INTEGER_RANGES[dtype]
    q = fp.round_half_away(np.asarray(x, np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, lo, hi).astype(np.int64)


def recover(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """The integers behind dequantized values (exact: the values are multiples of ``scale``)."""
    return np.rint(np.asarray(x, np.float64) / np.float64(np.float32(scale))).astype(np.int64) + zero_point


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integers -> float32 real values ``scale * (q - zero_point)``, rounded once."""
    return ((np.asarray(q, np.int64) - zero_point) * np.float64(np.float32(scale))).astype(np.float32)


class Quantized(Layer):
    """Shared parts: the output's quantisation and the input's.

    Parameters
    ----------
    out_scale, out_zero : float, int
        The output tensor's quantisation.
    in_scale, in_zero : float or list, int or list
        The input's (a list per input for merge layers).
    dtype : str
        The integer type of the output: int8, uint8 or int16.
    act_min, act_max : int, optional
        The fused activation's clamp on the output integers (default: the type's range).
    """

    def __init__(self, prev: Any, *, name: str, out_scale: float, out_zero: int,
                 in_scale: Any, in_zero: Any, dtype: str = "int8",
                 act_min: int | None = None, act_max: int | None = None) -> None:
        super().__init__(prev, name=name)
        if dtype not in INTEGER_RANGES:
            raise LayerError(f"layer {name!r}: integer type must be one of "
                             f"{', '.join(INTEGER_RANGES)}, not {dtype!r}")
        lo, hi = INTEGER_RANGES[dtype]
        self.dtype = dtype
        self.out_scale, self.out_zero = float(np.float32(out_scale)), int(out_zero)
        self.in_scale, self.in_zero = in_scale, in_zero
        self.act_min = lo if act_min is None else int(act_min)
        self.act_max = hi if act_max is None else int(act_max)
        if not (self.out_scale > 0 and lo <= self.out_zero <= hi and lo <= self.act_min <= self.act_max <= hi):
            raise LayerError(f"layer {name!r}: bad quantisation (scale {out_scale}, zero point "
                             f"{out_zero}, range {self.act_min}..{self.act_max} for {dtype})")

    def config(self) -> dict:
        return {"out_scale": self.out_scale, "out_zero": self.out_zero, "in_scale": self.in_scale,
                "in_zero": self.in_zero, "dtype": self.dtype, "act_min": self.act_min,
                "act_max": self.act_max}

    def quantization(self) -> dict | None:
        """The output's quantisation: dtype, scale, zero point."""
        return {"dtype": self.dtype, "scale": self.out_scale, "zero_point": self.out_zero}

    def _output(self, q: np.ndarray) -> np.ndarray:
        """Rescaled integers (before the zero point) -> clamped, dequantized output."""
        q = np.clip(q + self.out_zero, self.act_min, self.act_max)
        return dequantize(q, self.out_scale, self.out_zero)


def _scalar_quant(layer: Layer, scale: Any, zero: Any) -> tuple[float, int]:
    try:
        return float(np.float32(scale)), int(zero)
    except (TypeError, ValueError):
        raise LayerError(f"layer {layer.name!r}: input quantisation must be a scale and a zero point, "
                         f"not {scale!r}, {zero!r}") from None


@register
class Quantize(Quantized):
    """Real values (or another quantisation's integers) -> this layer's integers.

    With a float input (``in_scale`` None) it rounds ``x / scale`` half away
    from zero; with a quantized input it requantises in fixed point, as
    TFLite's QUANTIZE does between two integer types.
    """

    kind = "Quantize"

    def __init__(self, prev: Layer, *, name: str, in_scale: float | None = None,
                 in_zero: int | None = None, **kwargs: Any) -> None:
        super().__init__(prev, name=name, in_scale=in_scale, in_zero=in_zero, **kwargs)
        if in_scale is not None:
            self._in = _scalar_quant(self, in_scale, in_zero)
            self._m, self._s = fp.quantize_multiplier(self._in[0] / self.out_scale)

    def infer_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.in_scale is None:
            q = quantize(x, self.out_scale, self.out_zero, self.dtype)
            return dequantize(np.clip(q, self.act_min, self.act_max), self.out_scale, self.out_zero)
        q = recover(x, *self._in) - self._in[1]
        return self._output(fp.multiply_by_quantized_multiplier(q, self._m, self._s))


@register
class Dequantize(Layer):
    """Integers -> real float32 values, rounded as TFLite's DEQUANTIZE rounds them
    (``q * scale - zero_point * scale`` in float32). The input already carries
    real values, so this is where the quantized part of a net ends."""

    kind = "Dequantize"

    def __init__(self, prev: Layer, *, name: str, in_scale: float, in_zero: int) -> None:
        super().__init__(prev, name=name)
        self.in_scale, self.in_zero = _scalar_quant(self, in_scale, in_zero)

    def config(self) -> dict:
        return {"in_scale": self.in_scale, "in_zero": self.in_zero}

    def infer_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        # As the x86 kernel computes it, in float32: q * scale - zero_point * scale.
        q = recover(x, self.in_scale, self.in_zero).astype(np.float32)
        scale = np.float32(self.in_scale)
        return (q * scale - np.float32(self.in_zero) * scale).astype(np.float32)


def _int_array(value: Any, what: str, dtype: type, ndim: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" or arr.ndim != ndim:
        raise LayerError(f"{what} must be a {ndim}-d integer array, not {arr.dtype} of shape {arr.shape}")
    info = np.iinfo(dtype)
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        raise LayerError(f"{what} holds values outside {np.dtype(dtype).name}")
    return arr.astype(dtype, copy=False)


def _scales(value: Any, what: str, count: int) -> np.ndarray:
    arr = np.asarray(value, np.float32).reshape(-1)
    if arr.size not in (1, count) or not np.all(arr > 0):
        raise LayerError(f"{what} must be 1 or {count} positive scales, not {arr.size}")
    return arr


class _Weighted(Quantized):
    """Conv and dense: int8 weights with per-tensor or per-channel scales, int32 bias."""

    param_names = ("W", "b", "w_scale")

    def _setup(self, W: Any, b: Any, w_scale: Any, ndim: int, out_channels_axis: int,
               rounding: str) -> None:
        if rounding not in fp.ROUNDINGS:
            raise LayerError(f"layer {self.name!r}: rounding must be one of {', '.join(fp.ROUNDINGS)}, "
                             f"not {rounding!r}")
        self.rounding = rounding
        self._requantize = fp.ROUNDINGS[rounding]
        self.W = _int_array(W, f"{self.name}.W", np.int8, ndim)
        n_out = self.W.shape[out_channels_axis]
        self.b = None if b is None else _int_array(b, f"{self.name}.b", np.int32, 1)
        if self.b is not None and self.b.shape[0] != n_out:
            raise LayerError(f"layer {self.name!r}: bias has {self.b.shape[0]} values for {n_out} outputs")
        self.w_scale = _scales(w_scale, f"layer {self.name!r} weight scales", n_out)
        self._in = _scalar_quant(self, self.in_scale, self.in_zero)
        # Per output channel, as the interpreter computes it: in double from the float32 scales.
        real = (np.float64(self._in[0]) * self.w_scale.astype(np.float64)) / np.float64(self.out_scale)
        self._m, self._s = fp.quantize_multipliers(np.broadcast_to(real, (n_out,)))
        self._W64 = self.W.astype(np.float64)

    def config(self) -> dict:
        return {**super().config(), "rounding": self.rounding}

    def quantization(self) -> dict | None:
        return {**super().quantization(), "weight_scales": self.w_scale}

    def _finish(self, acc: np.ndarray, channel_axis: int) -> np.ndarray:
        acc = np.rint(acc).astype(np.int64)  # float64 sums of integers are exact below 2**53
        shape = [1] * acc.ndim
        shape[channel_axis] = -1
        if self.b is not None:
            acc = acc + self.b.astype(np.int64).reshape(shape)
        q = self._requantize(acc, self._m.reshape(shape), self._s.reshape(shape))
        return self._output(q)


class ConvGeometry:
    """Stride, padding, dilation, groups and layout of a 2-D convolution whose
    kernels ``W`` are (out, in/groups, kh, kw): its config and output shape, one
    copy for the integer and the hybrid convolutions."""

    name: str
    kind: str
    W: np.ndarray

    def _set_geometry(self, name: str, stride: Any, padding: Any, dilation: Any, groups: int,
                      data_format: str) -> None:
        self.stride = as_pair(stride, f"layer {name!r} stride")
        self.dilation = as_pair(dilation, f"layer {name!r} dilation")
        self.padding = _padding_config(padding, name)
        self.groups = int(groups)
        self.data_format = check_format(data_format)
        if min(self.stride) < 1 or min(self.dilation) < 1 or self.groups < 1 or self.W.shape[0] % self.groups:
            raise LayerError(f"layer {name!r}: bad stride, dilation or groups")

    def config(self) -> dict:
        return {**super().config(), "stride": list(self.stride), "padding": _padding_json(self.padding),
                "dilation": list(self.dilation), "groups": self.groups, "data_format": self.data_format}

    def _pads(self, h: int, w: int) -> tuple:
        return conv_pads(self.padding, self.W.shape[2:], self.stride, self.dilation, h, w)

    def infer_shape(self, in_shape: Shape) -> Shape:
        need_rank(self, in_shape, 3)
        last = self.data_format == "channels_last"
        h, w, c = in_shape if last else (in_shape[1], in_shape[2], in_shape[0])
        if c != self.W.shape[1] * self.groups:
            raise LayerError(f"layer {self.name!r} ({self.kind}) has kernels for "
                             f"{self.W.shape[1] * self.groups} input channels, gets {c}")
        (top, bottom), (left, right) = self._pads(h, w)
        kh, kw = self.W.shape[2:]
        oh = ops.conv_output_size(h, kh, self.stride[0], top, bottom, self.dilation[0])
        ow = ops.conv_output_size(w, kw, self.stride[1], left, right, self.dilation[1])
        if oh < 1 or ow < 1:
            raise LayerError(f"layer {self.name!r} ({self.kind}): input {in_shape} is smaller than its kernel")
        o = self.W.shape[0]
        return (oh, ow, o) if last else (o, oh, ow)


@register
class QConv2D(ConvGeometry, _Weighted):
    """Integer 2-D convolution (TFLite CONV_2D and DEPTHWISE_CONV_2D on int8).

    Parameters
    ----------
    W : int8 ndarray (out_channels, in_channels // groups, kh, kw)
    b : int32 ndarray (out_channels,), optional
        In units of ``in_scale * w_scale``.
    w_scale : ndarray (1,) or (out_channels,)
        Weight scales, per tensor or per output channel (weights are symmetric).
    stride, dilation, padding, groups, data_format
        As for :class:`~viewer.net.layers.spatial.Conv2D`; padding cells hold
        the input's zero point.
    rounding : "gemm" or "reference"
        How the accumulator is requantised: as the interpreter's matrix
        kernels (CONV_2D) or its reference kernels (DEPTHWISE_CONV_2D) round,
        see :mod:`viewer.net.fixed_point`.
    **quantisation
        See :class:`Quantized`.
    """

    kind = "QConv2D"

    def __init__(self, prev: Layer, *, name: str, W: Any, w_scale: Any, b: Any = None,
                 stride: Any = 1, padding: Any = "valid", dilation: Any = 1, groups: int = 1,
                 data_format: str = "channels_last", rounding: str = "gemm", **quant: Any) -> None:
        super().__init__(prev, name=name, **quant)
        self._setup(W, b, w_scale, 4, 0, rounding)
        self._set_geometry(name, stride, padding, dilation, groups, data_format)

    def forward(self, x: np.ndarray) -> np.ndarray:
        last = self.data_format == "channels_last"
        xo = (recover(x, *self._in) - self._in[1]).astype(np.float64)
        h, w = xo.shape[1:3] if last else xo.shape[2:4]
        acc = ops.conv2d(xo, self._W64, None, stride=self.stride, padding=self._pads(h, w),
                         dilation=self.dilation, groups=self.groups, channels_last=last)
        return self._finish(acc, 3 if last else 1)


@register
class QDense(_Weighted):
    """Integer fully connected layer (TFLite FULLY_CONNECTED on int8), over the last axis.

    Parameters
    ----------
    W : int8 ndarray (in, out)
    b : int32 ndarray (out,), optional
    w_scale : ndarray (1,) or (out,)
    rounding : "gemm" or "reference"
        See :class:`QConv2D`.
    """

    kind = "QDense"

    def __init__(self, prev: Layer, *, name: str, W: Any, w_scale: Any, b: Any = None,
                 rounding: str = "gemm", **quant: Any) -> None:
        super().__init__(prev, name=name, **quant)
        self._setup(W, b, w_scale, 2, 1, rounding)

    def infer_shape(self, in_shape: Shape) -> Shape:
        if not in_shape or in_shape[-1] != self.W.shape[0]:
            raise LayerError(f"layer {self.name!r} (QDense) expects {self.W.shape[0]} input "
                             f"values per row, gets shape {in_shape}")
        return tuple(in_shape[:-1]) + (self.W.shape[1],)

    def forward(self, x: np.ndarray) -> np.ndarray:
        xo = (recover(x, *self._in) - self._in[1]).astype(np.float64)
        return self._finish(xo @ self._W64, xo.ndim - 1)


@register
class QArithmetic(Quantized):
    """Integer add, subtract or multiply of two quantized inputs (numpy broadcasting,
    sample axes right-aligned as in :class:`~viewer.net.layers.tensor.Arithmetic`).

    Add and subtract rescale both inputs to a common scale with 20 bits of
    headroom before summing, as TFLite's int8 ADD and SUB do; multiply
    rescales the product of the offset inputs.
    """

    kind = "QArithmetic"
    is_merge = True
    LEFT_SHIFT = 20

    def __init__(self, prev: Sequence[Layer], *, name: str, op: str, **quant: Any) -> None:
        prev = tuple(prev)
        if len(prev) != 2:
            raise LayerError(f"layer {name!r} (QArithmetic) needs exactly two inputs")
        super().__init__(prev, name=name, **quant)
        if op not in ("add", "sub", "mul"):
            raise LayerError(f"layer {name!r}: unknown op {op!r} (known: add, sub, mul)")
        self.op = op
        try:
            self._in = [_scalar_quant(self, s, z) for s, z in zip(self.in_scale, self.in_zero, strict=True)]
        except (TypeError, ValueError):
            raise LayerError(f"layer {name!r}: needs a scale and a zero point per input") from None
        if len(self._in) != 2:
            raise LayerError(f"layer {name!r}: needs a scale and a zero point per input")
        s1, s2 = (np.float64(s) for s, _ in self._in)
        if op == "mul":
            self._m = [fp.quantize_multiplier(s1 * s2 / np.float64(self.out_scale))]
        else:
            twice_max = 2.0 * max(s1, s2)
            self._m = [fp.quantize_multiplier(s1 / twice_max), fp.quantize_multiplier(s2 / twice_max),
                       fp.quantize_multiplier(twice_max / ((1 << self.LEFT_SHIFT) * np.float64(self.out_scale)))]

    def config(self) -> dict:
        return {**super().config(), "op": self.op}

    def infer_shape(self, in_shape: tuple) -> Shape:
        from viewer.net.layers.tensor import _broadcast
        return _broadcast(in_shape, self.name)

    def forward(self, x: tuple) -> np.ndarray:
        rank = max(v.ndim for v in x)
        q = [recover(v, s, z) - z for v, (s, z) in zip(x, self._in)]
        q = [v.reshape(v.shape[:1] + (1,) * (rank - v.ndim) + v.shape[1:]) for v in q]
        if self.op == "mul":
            return self._output(fp.multiply_by_quantized_multiplier(q[0] * q[1], *self._m[0]))
        a = fp.multiply_by_quantized_multiplier(q[0] << self.LEFT_SHIFT, *self._m[0])
        b = fp.multiply_by_quantized_multiplier(q[1] << self.LEFT_SHIFT, *self._m[1])
        return self._output(fp.multiply_by_quantized_multiplier(a + b if self.op == "add" else a - b,
                                                                *self._m[2]))


@register
class QAvgPool2D(Quantized):
    """Integer average pooling (TFLite AVERAGE_POOL_2D on int8): the sum of the
    window's cells inside the input, divided by their count with rounding half
    away from zero; input and output share their quantisation.

    Parameters
    ----------
    pool_size, stride : int or (int, int)
    padding : "valid" or "same"
    data_format : "channels_first" or "channels_last"
    """

    kind = "QAvgPool2D"

    def __init__(self, prev: Layer, *, name: str, pool_size: Any = 2, stride: Any = None,
                 padding: str = "valid", data_format: str = "channels_last", **quant: Any) -> None:
        super().__init__(prev, name=name, **quant)
        self.pool_size = as_pair(pool_size, f"layer {name!r} pool_size")
        self.stride = as_pair(self.pool_size if stride is None else stride, f"layer {name!r} stride")
        if padding not in ("valid", "same") or min(self.pool_size + self.stride) < 1:
            raise LayerError(f"layer {name!r}: padding must be 'valid' or 'same' and sizes at least 1")
        self.padding = padding
        self.data_format = check_format(data_format)
        self._in = _scalar_quant(self, self.in_scale, self.in_zero)

    def config(self) -> dict:
        return {**super().config(), "pool_size": list(self.pool_size), "stride": list(self.stride),
                "padding": self.padding, "data_format": self.data_format}

    def _pads(self, h: int, w: int) -> tuple:
        if self.padding == "valid":
            return (0, 0), (0, 0)
        return (ops.same_padding(h, self.pool_size[0], self.stride[0]),
                ops.same_padding(w, self.pool_size[1], self.stride[1]))

    def infer_shape(self, in_shape: Shape) -> Shape:
        need_rank(self, in_shape, 3)
        last = self.data_format == "channels_last"
        h, w, c = in_shape if last else (in_shape[1], in_shape[2], in_shape[0])
        (top, bottom), (left, right) = self._pads(h, w)
        oh = ops.pool_output_size(h, self.pool_size[0], self.stride[0], top, bottom)
        ow = ops.pool_output_size(w, self.pool_size[1], self.stride[1], left, right)
        if oh < 1 or ow < 1:
            raise LayerError(f"layer {self.name!r}: input {in_shape} is smaller than its window")
        return (oh, ow, c) if last else (c, oh, ow)

    def forward(self, x: np.ndarray) -> np.ndarray:
        last = self.data_format == "channels_last"
        q = recover(x, *self._in).astype(np.float64)
        h, w = q.shape[1:3] if last else q.shape[2:4]
        c = q.shape[3] if last else q.shape[1]
        ones = np.ones((c, 1) + self.pool_size)
        pads = self._pads(h, w)
        total = ops.conv2d(q, ones, None, stride=self.stride, padding=pads, groups=c, channels_last=last)
        count = ops.conv2d(np.ones((1,) + q.shape[1:]), ones, None, stride=self.stride, padding=pads,
                           groups=c, channels_last=last)
        mean = fp.rounded_mean(np.rint(total).astype(np.int64), np.rint(count).astype(np.int64))
        return dequantize(np.clip(mean, self.act_min, self.act_max), self.out_scale, self.out_zero)

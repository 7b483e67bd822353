"""Hybrid layers: int8 weights, float32 activations, as TFLite's hybrid kernels compute them.

A dynamic-range quantized TFLite model stores its convolution and fully
connected weights as int8 with float scales and keeps every activation in
float32. The interpreter does not widen the weights: each time a hybrid op
runs it quantizes its float input on the fly - one scale (and, for the
asymmetric variant, one zero point) per batch row - multiplies integers,
and scales the int32 sums back to float32. The result therefore differs from
the float net with dequantized weights by the input's rounding; these layers
compute the same integers and the same float32 rescaling, so they agree with
the interpreter value for value.

Per batch row means per sample for convolutions (a whole image) and per
row of the flattened input for fully connected layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viewer.errors import LayerError
from viewer.net import fixed_point as fp
from viewer.net import ops
from viewer.net.layers.base import Layer, Shape, as_array, register
from viewer.net.layers.quantized import ConvGeometry, _int_array, _scales


def symmetric_quantize(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``rows`` (n, k) float32 -> int8 values in -127..127 and its scale.

    As TFLite's SymmetricQuantizeFloats: scale ``max|x| / 127`` and the
    values ``round(x * (127 / max|x|))`` half away from zero, all float32; an
    all-zero row gets scale 1.

    Returns
    -------
    q : int64 ndarray (n, k)
    scale : float32 ndarray (n,)
    """
    rows = np.asarray(rows, np.float32)
    top = np.max(np.abs(rows), axis=1) if rows.shape[1] else np.zeros(rows.shape[0], np.float32)
    zero = top == 0
    safe = np.where(zero, np.float32(1), top).astype(np.float32)
    scale = np.where(zero, np.float32(1), safe / np.float32(127)).astype(np.float32)
    inverse = (np.float32(127) / safe).astype(np.float32)
    q = fp.round_half_away((rows * inverse[:, None]).astype(np.float32))
    q = np.where(zero[:, None], 0, np.clip(q, -127, 127))
    return q.astype(np.int64), scale


def asymmetric_quantize(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row of ``rows`` (n, k) float32 -> int8 values, its scale and zero point.

    As the x86 interpreter's AsymmetricQuantizeFloats, in float32 throughout:
    the range ``[min(x, 0), max(x, 0)]`` spread over -128..127 (scale
    ``(max - min) / 255``), the zero point taken from the end with the
    smaller error and rounded half away from zero, the values ``round(zero +
    x * (1 / scale))``; a row of zeros gets scale 1 and zero point 0.

    Returns
    -------
    q : int64 ndarray (n, k)
    scale : float32 ndarray (n,)
    zero_point : int64 ndarray (n,)
    """
    rows = np.asarray(rows, np.float32)
    f32 = np.float32
    if rows.shape[1]:
        low = np.minimum(rows.min(axis=1), f32(0))
        high = np.maximum(rows.max(axis=1), f32(0))
    else:
        low = high = np.zeros(rows.shape[0], f32)
    flat = low == high
    scale = np.where(flat, f32(1), (high - low) / f32(255)).astype(f32)
    low_steps, high_steps = (low / scale).astype(f32), (high / scale).astype(f32)
    from_min, from_max = (f32(-128) - low_steps).astype(f32), (f32(127) - high_steps).astype(f32)
    pick_min = (f32(128) + np.abs(low_steps)) < (f32(127) + np.abs(high_steps))
    zero_real = np.where(pick_min, from_min, from_max)
    zero = np.where(zero_real <= -128, -128, np.where(zero_real >= 127, 127, fp.round_half_away(zero_real)))
    zero = np.where(flat, 0, zero).astype(np.int64)
    inverse = (f32(1) / scale).astype(f32)
    shifted = (zero.astype(f32)[:, None] + (rows * inverse[:, None]).astype(f32)).astype(f32)
    q = np.where(flat[:, None], 0, np.clip(fp.round_half_away(shifted), -128, 127))
    return q.astype(np.int64), scale, zero


# How a kernel turns its int32 sum into float32: times the product of the two scales (conv,
# fully connected), or times the weight scale and then the input scale (depthwise conv).
RESCALES = ("joint", "stepwise")


class _Hybrid(Layer):
    """Shared parts: int8 weights with per-tensor or per-output-channel scales, a
    float32 bias, and how the input is quantized (``asymmetric`` or not)."""

    param_names = ("W", "w_scale", "b")
    per = ""  # what one input scale covers: "sample" or "row"

    def _setup(self, W: Any, w_scale: Any, b: Any, asymmetric: bool, ndim: int, out_axis: int,
               rescale: str = "joint") -> None:
        if rescale not in RESCALES:
            raise LayerError(f"layer {self.name!r}: rescale must be one of {', '.join(RESCALES)}, not {rescale!r}")
        self.rescale = rescale
        self.W = _int_array(W, f"{self.name}.W", np.int8, ndim)
        n_out = self.W.shape[out_axis]
        self.w_scale = _scales(w_scale, f"layer {self.name!r} weight scales", n_out)
        self.b = None if b is None else as_array(b, f"{self.name}.b").reshape(-1)
        if self.b is not None and self.b.shape[0] != n_out:
            raise LayerError(f"layer {self.name!r}: bias has {self.b.shape[0]} values for {n_out} outputs")
        self.asymmetric = bool(asymmetric)
        self._W64 = self.W.astype(np.float64)

    def config(self) -> dict:
        return {"asymmetric": self.asymmetric, "rescale": self.rescale}

    def hybrid_quantization(self) -> str:
        """What is quantized here: the weights (int8, their scales) and, on the fly, the input.
        (Not ``quantization()``: the output is float, see
        :func:`~viewer.net.quantization.quantization_of`.)"""
        w = self.w_scale
        weights = (f"per channel ({w.size} scales {w.min():.3g}..{w.max():.3g})" if w.size > 1
                   else f"scale {float(w[0]):.3g}")
        inputs = "asymmetric" if self.asymmetric else "symmetric"
        return (f"int8 weights, float32 activations; weights {weights}; "
                f"input quantized per {self.per} ({inputs}) as it runs")

    def _quantize(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integers minus their zero point, and each row's factor before the weight scales."""
        if self.asymmetric:
            q, scale, zero = asymmetric_quantize(rows)
            return q - zero[:, None], scale
        return symmetric_quantize(rows)

    def _rescale(self, acc: np.ndarray, input_scale: np.ndarray, channel_axis: int) -> np.ndarray:
        """int32 sums -> float32: ``float(acc) * (weight_scale * input_scale) + bias``, the two
        products in the order :data:`RESCALES` names (float32 rounds each)."""
        shape = [1] * acc.ndim
        shape[channel_axis] = -1
        w = self.w_scale.reshape(shape)
        s = input_scale.reshape((-1,) + (1,) * (acc.ndim - 1))
        out = np.rint(acc).astype(np.float32)
        if self.rescale == "joint":
            out = (out * (w * s).astype(np.float32)).astype(np.float32)
        else:
            out = ((out * w).astype(np.float32) * s).astype(np.float32)
        if self.b is not None:
            out = (out + self.b.reshape(shape)).astype(np.float32)
        return out


@register
class HybridConv2D(ConvGeometry, _Hybrid):
    """2-D convolution with int8 weights on float32 data (TFLite's hybrid CONV_2D and
    DEPTHWISE_CONV_2D): each sample is quantized to int8 as a whole.

    Parameters
    ----------
    W : int8 ndarray (out_channels, in_channels // groups, kh, kw)
    w_scale : ndarray (1,) or (out_channels,)
        Weight scales (symmetric weights, zero point 0).
    b : float32 ndarray (out_channels,), optional
    asymmetric : bool
        Quantize each sample with a zero point (the interpreter does for
        per-channel weights) or symmetrically (per-tensor weights).
    rescale : "joint" or "stepwise"
        See :data:`RESCALES`: "stepwise" is the depthwise kernel's order.
    stride, dilation, padding, groups, data_format
        As for :class:`~viewer.net.layers.spatial.Conv2D`.
    """

    kind = "HybridConv2D"
    per = "sample"

    def __init__(self, prev: Layer, *, name: str, W: Any, w_scale: Any, b: Any = None,
                 asymmetric: bool = True, rescale: str = "joint", stride: Any = 1, padding: Any = "valid",
                 dilation: Any = 1, groups: int = 1, data_format: str = "channels_last") -> None:
        super().__init__(prev, name=name)
        self._setup(W, w_scale, b, asymmetric, 4, 0, rescale)
        self._set_geometry(name, stride, padding, dilation, groups, data_format)

    def forward(self, x: np.ndarray) -> np.ndarray:
        last = self.data_format == "channels_last"
        q, scale = self._quantize(x.reshape(x.shape[0], -1))
        # padding cells hold the zero point, i.e. 0 once it is subtracted
        q = q.reshape(x.shape).astype(np.float64)
        h, w = x.shape[1:3] if last else x.shape[2:4]
        acc = ops.conv2d(q, self._W64, None, stride=self.stride, padding=self._pads(h, w),
                         dilation=self.dilation, groups=self.groups, channels_last=last)
        return self._rescale(acc, scale, 3 if last else 1)


@register
class HybridDense(_Hybrid):
    """Fully connected layer with int8 weights on float32 data (TFLite's hybrid
    FULLY_CONNECTED), over the last axis: each row is quantized on its own.

    Parameters
    ----------
    W : int8 ndarray (in, out)
    w_scale : ndarray (1,) or (out,)
    b : float32 ndarray (out,), optional
    asymmetric : bool
        The op's ``asymmetric_quantize_inputs`` option.
    rescale : "joint" or "stepwise"
        See :data:`RESCALES`.
    """

    kind = "HybridDense"
    per = "row"

    def __init__(self, prev: Layer, *, name: str, W: Any, w_scale: Any, b: Any = None,
                 asymmetric: bool = False, rescale: str = "joint") -> None:
        super().__init__(prev, name=name)
        self._setup(W, w_scale, b, asymmetric, 2, 1, rescale)

    def infer_shape(self, in_shape: Shape) -> Shape:
        if not in_shape or in_shape[-1] != self.W.shape[0]:
            raise LayerError(f"layer {self.name!r} (HybridDense) expects {self.W.shape[0]} input "
                             f"values per row, gets shape {in_shape}")
        return tuple(in_shape[:-1]) + (self.W.shape[1],)

    def forward(self, x: np.ndarray) -> np.ndarray:
        rows = x.reshape(-1, x.shape[-1])
        q, scale = self._quantize(rows)
        out = self._rescale(q.astype(np.float64) @ self._W64, scale, 1)
        return out.reshape(x.shape[:-1] + (self.W.shape[1],))

"""Quantized (int8) reductions and element-wise ops: mean, softmax and table lookups.

Companions of :mod:`viewer.net.layers.quantized` (which explains the
representation: layers take and return real values and compute with the
integers behind them), for the TFLite kernels that are not a matrix product
followed by a requantisation.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from viewer.errors import LayerError
from viewer.net import fixed_point as fp
from viewer.net.layers.base import Layer, Shape, register
from viewer.net.layers.quantized import INTEGER_RANGES, Quantized, _int_array, _scalar_quant, dequantize, recover


@register
class QMean(Quantized):
    """Integer mean over sample axes (TFLite MEAN on int8), as the x86 interpreter computes it.

    - Input and output quantized alike, without ``keepdims``: the integer sum
      divided by the count, truncating.
    - Otherwise without ``keepdims``: ``(sum - n * z_in)`` rescaled in fixed
      point by ``s_in / (n * s_out)`` (float32), plus ``z_out``.
    - With ``keepdims`` over height and width of an image (the squeeze of a
      squeeze-and-excitation block), the optimized kernel: the sum of the raw
      integers rescaled by the same multiplier, plus ``z_out - round(z_in *
      s_in / s_out)``. This one agrees with the interpreter only within one
      step (see viewer/convert/README.md).

    Parameters
    ----------
    axes : sequence of int
        Batch-tensor axes (never 0).
    keepdims : bool
    """

    kind = "QMean"

    def __init__(self, prev: Layer, *, name: str, axes: Sequence[int], keepdims: bool = False,
                 **quant: Any) -> None:
        super().__init__(prev, name=name, **quant)
        self.axes = tuple(sorted(int(a) for a in axes))
        if not self.axes or min(self.axes) < 1:
            raise LayerError(f"layer {name!r}: mean axes must be sample axes, not {self.axes}")
        self.keepdims = bool(keepdims)
        if self.keepdims and self.axes != (1, 2):
            raise LayerError(f"layer {name!r}: a mean keeping its axes must be over height and width")
        self._in = _scalar_quant(self, self.in_scale, self.in_zero)

    def config(self) -> dict:
        return {**super().config(), "axes": list(self.axes), "keepdims": self.keepdims}

    def infer_shape(self, in_shape: Shape) -> Shape:
        if max(self.axes) > len(in_shape) or (self.keepdims and len(in_shape) != 3):
            raise LayerError(f"layer {self.name!r}: axes {self.axes} do not fit samples of shape {in_shape}")
        if self.keepdims:
            return tuple(1 if i + 1 in self.axes else n for i, n in enumerate(in_shape))
        return tuple(n for i, n in enumerate(in_shape) if i + 1 not in self.axes)

    def forward(self, x: np.ndarray) -> np.ndarray:
        q = recover(x, *self._in)
        total = q.sum(axis=self.axes, keepdims=self.keepdims)
        n = int(np.prod([x.shape[a] for a in self.axes]))
        s_in, z_in = self._in
        f32 = np.float32
        multiplier = fp.quantize_multiplier(float(f32(s_in) / (f32(n) * f32(self.out_scale))))
        if self.keepdims:
            shift = (f32(z_in) * f32(s_in)) / f32(self.out_scale)
            shift = f32(shift + f32(0.5)) if shift > 0 else f32(shift - f32(0.5))
            out = fp.multiply_by_quantized_multiplier(total, *multiplier) + (self.out_zero - int(shift))
        elif (s_in, z_in) == (self.out_scale, self.out_zero):
            out = fp.truncating_divide(total, n)
        else:
            out = fp.multiply_by_quantized_multiplier(total - n * z_in, *multiplier) + self.out_zero
        return dequantize(np.clip(out, self.act_min, self.act_max), self.out_scale, self.out_zero)


@register
class QSoftmax(Quantized):
    """Integer softmax over the last axis (TFLite SOFTMAX on int8, x86 kernel).

    The interpreter looks up ``exp(-s_in * beta * (max - q))`` in a float32
    table of 256 values, sums a row in order in float32 and rounds each
    ``e / (sum * s_out)`` half away from zero; this does the same.

    Parameters
    ----------
    beta : float
    """

    kind = "QSoftmax"
    function = "softmax"  # what it computes, for readers of the net's output (as Activation's)

    def __init__(self, prev: Layer, *, name: str, beta: float = 1.0, **quant: Any) -> None:
        super().__init__(prev, name=name, **quant)
        self.beta = float(beta)
        self._in = _scalar_quant(self, self.in_scale, self.in_zero)
        scale = np.float32(-self._in[0] * np.float32(self.beta))
        steps = (np.float32(scale) * np.arange(256, dtype=np.float32)).astype(np.float32)
        self._table = np.exp(steps.astype(np.float64)).astype(np.float32)  # table[d] = exp(scale * d)

    def config(self) -> dict:
        return {**super().config(), "beta": self.beta}

    def infer_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        q = recover(x, *self._in)
        e = self._table[np.clip(q.max(axis=-1, keepdims=True) - q, 0, 255)]
        total = np.zeros(e.shape[:-1], np.float32)
        for j in range(e.shape[-1]):  # in order, as the kernel adds
            total = (total + e[..., j]).astype(np.float32)
        inv = (np.float32(1.0) / (total * np.float32(self.out_scale))).astype(np.float32)
        prob = (e * inv[..., None]).astype(np.float32)
        out = fp.round_half_away(prob).astype(np.int64) + self.out_zero
        return dequantize(np.clip(out, self.act_min, self.act_max), self.out_scale, self.out_zero)


@register
class QLookup(Quantized):
    """An element-wise op on integers as a table: output integer per input integer.

    TFLite computes LOGISTIC, TANH, ELU, GELU and more on int8 by looking each
    integer up in a table of 256 values it fills when the model loads; the
    converter fills the same table (:func:`lookup_table`), and this layer
    looks up. The table is the layer's parameter, so the file says exactly
    what it computes.

    Parameters
    ----------
    table : int array (256,)
        Output integer for each input integer, from the type's lowest up.
    op : str
        What the table computes (for display): "logistic", "tanh", ...
    """

    kind = "QLookup"
    param_names = ("table",)

    def __init__(self, prev: Layer, *, name: str, table: Any, op: str = "lookup", **quant: Any) -> None:
        super().__init__(prev, name=name, **quant)
        lo, hi = INTEGER_RANGES[self.dtype]
        self.table = _int_array(table, f"{name}.table", np.int16, 1)
        if self.table.size != hi - lo + 1 or self.dtype == "int16":
            raise LayerError(f"layer {name!r}: a lookup needs one value per {self.dtype} integer")
        if self.table.min() < lo or self.table.max() > hi:
            raise LayerError(f"layer {name!r}: table values outside {self.dtype}")
        self.op = str(op)
        self._in = _scalar_quant(self, self.in_scale, self.in_zero)

    def config(self) -> dict:
        return {**super().config(), "op": self.op}

    def infer_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        lo = INTEGER_RANGES[self.dtype][0]
        q = np.clip(recover(x, *self._in), lo, INTEGER_RANGES[self.dtype][1])
        return dequantize(self.table[q - lo], self.out_scale, self.out_zero)


def lookup_table(function: Any, in_scale: float, in_zero: int, out_scale: float, out_zero: int,
                 dtype: str = "int8") -> np.ndarray:
    """The table TFLite's PopulateLookupTable fills for a float32 ``function``, int16 (256,).

    Each integer is dequantized, transformed, multiplied by the inverse of
    the output scale and rounded half away from zero, all in float32.
    """
    lo, hi = INTEGER_RANGES[dtype]
    q = np.arange(lo, hi + 1)
    real = (np.float32(in_scale) * (q - in_zero).astype(np.float32)).astype(np.float32)
    transformed = np.asarray(function(real), np.float32)
    rescaled = fp.round_half_away((transformed * (np.float32(1.0) / np.float32(out_scale))).astype(np.float32))
    return np.clip(rescaled.astype(np.int64) + out_zero, lo, hi).astype(np.int16)


@register
class QPReLU(Quantized):
    """Integer PReLU (TFLite PRELU on int8): ``x`` rescaled by ``s_in / s_out`` where it is
    at least the input's zero point, ``x * alpha`` rescaled by ``s_in * s_alpha / s_out``
    below it, both in fixed point.

    Parameters
    ----------
    alpha : int8 ndarray
        The slopes' integers, shaped to broadcast against a sample (TFLite's
        shape without the batch axis).
    alpha_scale, alpha_zero : float, int
        Their quantisation.
    """

    kind = "QPReLU"
    param_names = ("alpha",)

    def __init__(self, prev: Layer, *, name: str, alpha: Any, alpha_scale: float, alpha_zero: int,
                 **quant: Any) -> None:
        super().__init__(prev, name=name, **quant)
        arr = np.asarray(alpha)
        self.alpha = _int_array(alpha, f"{name}.alpha", np.int8, max(arr.ndim, 1))
        self.alpha_scale, self.alpha_zero = _scalar_quant(self, alpha_scale, alpha_zero)
        self._in = _scalar_quant(self, self.in_scale, self.in_zero)
        s_in, s_out = np.float64(self._in[0]), np.float64(self.out_scale)
        self._identity = fp.quantize_multiplier(s_in / s_out)
        self._slope = fp.quantize_multiplier(s_in * np.float64(self.alpha_scale) / s_out)

    def config(self) -> dict:
        return {**super().config(), "alpha_scale": self.alpha_scale, "alpha_zero": self.alpha_zero}

    def infer_shape(self, in_shape: Shape) -> Shape:
        from viewer.net.layers.tensor import _broadcast
        shape = _broadcast((tuple(in_shape), self.alpha.shape), self.name)
        if tuple(shape) != tuple(in_shape):
            raise LayerError(f"layer {self.name!r}: slopes of shape {self.alpha.shape} do not fit "
                             f"samples of shape {in_shape}")
        return shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        q = recover(x, *self._in) - self._in[1]
        alpha = self.alpha.astype(np.int64) - self.alpha_zero
        out = np.where(q >= 0, fp.multiply_by_quantized_multiplier(q, *self._identity),
                       fp.multiply_by_quantized_multiplier(q * alpha, *self._slope))
        return self._output(out)


@register
class QConv2DTranspose(Quantized):
    """Integer transposed convolution (TFLite TRANSPOSE_CONV on int8), channels last.

    The int32 sums of ``(x - z_in) * w`` are those of
    :class:`~viewer.net.layers.conv_extra.Conv2DTranspose` on the integers
    (computed in float64, exact below 2**53); the bias is added and each output
    channel requantised with its own multiplier.

    Parameters
    ----------
    W : int8 ndarray (in_channels, out_channels, kh, kw)
    w_scale : ndarray (1,) or (out_channels,)
    b : int32 ndarray (out_channels,), optional
    stride, crop, output_padding
        As for :class:`~viewer.net.layers.conv_extra.Conv2DTranspose`.
    """

    kind = "QConv2DTranspose"
    param_names = ("W", "b", "w_scale")

    def __init__(self, prev: Layer, *, name: str, W: Any, w_scale: Any, b: Any = None, stride: Any = 1,
                 crop: Any = ((0, 0), (0, 0)), output_padding: Any = 0, **quant: Any) -> None:
        from viewer.net.layers.conv_extra import Conv2DTranspose
        from viewer.net.layers.quantized import _scales

        super().__init__(prev, name=name, **quant)
        self.W = _int_array(W, f"{name}.W", np.int8, 4)
        n_out = self.W.shape[1]
        self.b = None if b is None else _int_array(b, f"{name}.b", np.int32, 1)
        if self.b is not None and self.b.shape[0] != n_out:
            raise LayerError(f"layer {name!r}: bias has {self.b.shape[0]} values for {n_out} outputs")
        self.w_scale = _scales(w_scale, f"layer {name!r} weight scales", n_out)
        self._in = _scalar_quant(self, self.in_scale, self.in_zero)
        real = np.float64(self._in[0]) * self.w_scale.astype(np.float64) / np.float64(self.out_scale)
        self._m, self._s = fp.quantize_multipliers(np.broadcast_to(real, (n_out,)))
        # the sums: a float transposed convolution of integers, not part of the net
        self._sums = Conv2DTranspose(prev, name=name, W=self.W.astype(np.float64), stride=stride, crop=crop,
                                     output_padding=output_padding, data_format="channels_last")

    def config(self) -> dict:
        t = self._sums
        return {**super().config(), "stride": list(t.stride), "crop": [list(t.crop[0]), list(t.crop[1])],
                "output_padding": list(t.output_padding)}

    def quantization(self) -> dict | None:
        return {**super().quantization(), "weight_scales": self.w_scale}

    def infer_shape(self, in_shape: Shape) -> Shape:
        return self._sums.infer_shape(in_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        q = (recover(x, *self._in) - self._in[1]).astype(np.float64)
        acc = np.rint(self._sums.forward(q)).astype(np.int64)
        if self.b is not None:
            acc = acc + self.b.astype(np.int64)
        return self._output(fp.multiply_by_quantized_multiplier(acc, self._m, self._s))

"""Convolution and pooling kinds the converters need beyond the 2-D basics.

One-dimensional convolution and pooling run on the 2-D kernels of
:mod:`viewer.net.ops` with a height of 1, so there is one implementation of
the arithmetic. Separable and transposed convolutions are composed from
``ops.conv2d`` too. Every kind keeps its source's ``data_format``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from viewer.errors import LayerError
from viewer.net import ops
from viewer.net.layers.base import Layer, Shape, as_array, as_pair, check_format, need_rank, register
from viewer.net.layers.spatial import Conv2D

Pads1D = tuple  # (before, after)


def _pads_1d(padding: Any, name: str) -> str | Pads1D:
    """Normalise "valid", "same", "causal", an int or (before, after)."""
    if isinstance(padding, str):
        if padding not in ("valid", "same", "causal"):
            raise LayerError(f"layer {name!r}: padding must be 'valid', 'same', 'causal' or sizes, "
                             f"not {padding!r}")
        return padding
    return as_pair(padding, f"layer {name!r} padding")


def _resolve_1d(padding: str | Pads1D, size: int | None, kernel: int, stride: int,
                dilation: int) -> Pads1D:
    """Explicit (before, after) padding for an axis of ``size`` cells."""
    effective = dilation * (kernel - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return effective - 1, 0
    if padding == "same":
        if size is None:
            raise LayerError("'same' padding needs a known length")
        return ops.same_padding(size, kernel, stride, dilation)
    return padding


def _json_pads(padding: str | Pads1D) -> Any:
    return padding if isinstance(padding, str) else list(padding)


def _to_2d(x: np.ndarray, data_format: str) -> np.ndarray:
    """(N, L, C) or (N, C, L) as an image of height 1, same layout."""
    return x[:, None] if data_format == "channels_last" else x[:, :, None]


def _from_2d(y: np.ndarray, data_format: str) -> np.ndarray:
    return y[:, 0] if data_format == "channels_last" else y[:, :, 0]


def _seq(layer: Layer, in_shape: Shape) -> tuple[int, int | None]:
    """(channels, length) of a per-sample (L, C) or (C, L) shape."""
    need_rank(layer, in_shape, 2)
    if layer.data_format == "channels_last":
        length, channels = in_shape
    else:
        channels, length = in_shape
    return channels, length


def _seq_out(layer: Layer, channels: int, length: int | None) -> Shape:
    return (length, channels) if layer.data_format == "channels_last" else (channels, length)


def _conv1d(x: np.ndarray, w2d: np.ndarray, b: np.ndarray | None, stride: int,
            padding: str | Pads1D, dilation: int, groups: int, data_format: str) -> np.ndarray:
    """1-D convolution of (N, L, C) / (N, C, L) with kernels w2d (O, C/g, 1, k)."""
    last = data_format == "channels_last"
    length = x.shape[1] if last else x.shape[2]
    pads = ((0, 0), _resolve_1d(padding, length, w2d.shape[3], stride, dilation))
    if x.dtype.kind != "f":
        x = x.astype(w2d.dtype)
    y = ops.conv2d(_to_2d(x, data_format), w2d, b, stride=(1, stride), padding=pads,
                   dilation=(1, dilation), groups=groups, channels_last=last)
    return _from_2d(y, data_format)


def _conv1d_shape(layer: Layer, in_shape: Shape, kernel: np.ndarray, stride: int,
                  padding: str | Pads1D, dilation: int, groups: int) -> Shape:
    """Output shape of a 1-D convolution with ``kernel`` (O, C/g, k)."""
    channels, length = _seq(layer, in_shape)
    if channels != kernel.shape[1] * groups:
        raise LayerError(f"layer {layer.name!r} ({layer.kind}) has kernels for "
                         f"{kernel.shape[1] * groups} input channels, gets {channels}")
    if length is None:
        return _seq_out(layer, kernel.shape[0], None)
    before, after = _resolve_1d(padding, length, kernel.shape[2], stride, dilation)
    out = ops.conv_output_size(length, kernel.shape[2], stride, before, after, dilation)
    if out < 1:
        raise LayerError(f"layer {layer.name!r} ({layer.kind}): input {in_shape} is shorter "
                         "than its kernel")
    return _seq_out(layer, kernel.shape[0], out)


@register
class Conv1D(Layer):
    """1-D convolution (cross-correlation) over the time axis.

    Parameters
    ----------
    W : ndarray (out_channels, in_channels // groups, k)
    b : ndarray (out_channels,), optional
    stride, dilation : int
    padding : "valid", "same", "causal", int, or (before, after)
        "causal" pads ``dilation * (k - 1)`` cells before, none after.
    groups : int
    data_format : "channels_last" for (L, C) samples (Keras), "channels_first"
        for (C, L) (PyTorch, ONNX).
    """

    kind = "Conv1D"
    param_names = ("W", "b")

    def __init__(self, prev: Layer, *, name: str, W: Any, b: Any = None, stride: int = 1,
                 padding: Any = "valid", dilation: int = 1, groups: int = 1,
                 data_format: str = "channels_last") -> None:
        super().__init__(prev, name=name)
        self.W = as_array(W, f"{name}.W", ndim=3)
        self.b = None if b is None else as_array(b, f"{name}.b", ndim=1)
        self.stride, self.dilation, self.groups = int(stride), int(dilation), int(groups)
        self.padding = _pads_1d(padding, name)
        self.data_format = check_format(data_format)
        if min(self.stride, self.dilation, self.groups) < 1:
            raise LayerError(f"layer {name!r}: stride, dilation and groups must be at least 1")
        if self.W.shape[0] % self.groups:
            raise LayerError(f"layer {name!r}: {self.W.shape[0]} output channels do not split "
                             f"into {self.groups} groups")

    def config(self) -> dict:
        return {"stride": self.stride, "padding": _json_pads(self.padding),
                "dilation": self.dilation, "groups": self.groups, "data_format": self.data_format}

    def infer_shape(self, in_shape: Shape) -> Shape:
        return _conv1d_shape(self, in_shape, self.W, self.stride, self.padding, self.dilation,
                             self.groups)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _conv1d(x, self.W[:, :, None, :], self.b, self.stride, self.padding,
                       self.dilation, self.groups, self.data_format)


@register
class SeparableConv2D(Layer):
    """Keras' separable convolution: per-channel kernels, then a 1x1 mix.

    Parameters
    ----------
    W_depth : ndarray (in_channels * depth_multiplier, 1, kh, kw)
        Depthwise kernels; output channel ``c * depth_multiplier + j`` reads
        input channel c.
    W_point : ndarray (out_channels, in_channels * depth_multiplier, 1, 1)
    b : ndarray (out_channels,), optional
    in_channels : int
    stride, padding, dilation, data_format
        As for Conv2D; they apply to the depthwise step.
    """

    kind = "SeparableConv2D"
    param_names = ("W_depth", "W_point", "b")

    def __init__(self, prev: Layer, *, name: str, W_depth: Any, W_point: Any, b: Any = None,
                 in_channels: int, stride: Any = 1, padding: Any = "valid", dilation: Any = 1,
                 data_format: str = "channels_last") -> None:
        super().__init__(prev, name=name)
        self.in_channels = int(in_channels)
        # Two plain Conv2D objects do the work; they are not part of any net.
        self._depth = Conv2D(None, name=name, W=W_depth, stride=stride, padding=padding,
                             dilation=dilation, groups=self.in_channels, data_format=data_format)
        self._point = Conv2D(None, name=name, W=W_point, b=b, data_format=data_format)
        self.W_depth, self.W_point, self.b = self._depth.W, self._point.W, self._point.b
        self.data_format = self._depth.data_format
        if self.W_point.shape[1] != self.W_depth.shape[0] or self.W_point.shape[2:] != (1, 1):
            raise LayerError(f"layer {name!r}: depthwise kernels {self.W_depth.shape} do not "
                             f"feed pointwise kernels {self.W_point.shape}")

    def config(self) -> dict:
        conf = self._depth.config()
        del conf["groups"]
        return {**conf, "in_channels": self.in_channels}

    def infer_shape(self, in_shape: Shape) -> Shape:
        return self._point.infer_shape(self._depth.infer_shape(in_shape))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._point.forward(self._depth.forward(x))


@register
class SeparableConv1D(Layer):
    """SeparableConv2D over a sequence: kernels W_depth (C*m, 1, k), W_point (O, C*m, 1)."""

    kind = "SeparableConv1D"
    param_names = ("W_depth", "W_point", "b")

    def __init__(self, prev: Layer, *, name: str, W_depth: Any, W_point: Any, b: Any = None,
                 in_channels: int, stride: int = 1, padding: Any = "valid", dilation: int = 1,
                 data_format: str = "channels_last") -> None:
        super().__init__(prev, name=name)
        self.in_channels = int(in_channels)
        self.W_depth = as_array(W_depth, f"{name}.W_depth", ndim=3)
        self.W_point = as_array(W_point, f"{name}.W_point", ndim=3)
        self.b = None if b is None else as_array(b, f"{name}.b", ndim=1)
        self.stride, self.dilation = int(stride), int(dilation)
        self.padding = _pads_1d(padding, name)
        self.data_format = check_format(data_format)
        if self.W_point.shape[1] != self.W_depth.shape[0] or self.W_point.shape[2] != 1:
            raise LayerError(f"layer {name!r}: depthwise kernels {self.W_depth.shape} do not "
                             f"feed pointwise kernels {self.W_point.shape}")

    def config(self) -> dict:
        return {"stride": self.stride, "padding": _json_pads(self.padding),
                "dilation": self.dilation, "in_channels": self.in_channels,
                "data_format": self.data_format}

    def infer_shape(self, in_shape: Shape) -> Shape:
        mid = _conv1d_shape(self, in_shape, self.W_depth, self.stride, self.padding,
                            self.dilation, self.in_channels)
        return _conv1d_shape(self, mid, self.W_point, 1, "valid", 1, 1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        mid = _conv1d(x, self.W_depth[:, :, None, :], None, self.stride, self.padding,
                      self.dilation, self.in_channels, self.data_format)
        return _conv1d(mid, self.W_point[:, :, None, :], self.b, 1, "valid", 1, 1, self.data_format)


@register
class Conv2DTranspose(Layer):
    """Transposed 2-D convolution (the gradient of Conv2D with respect to its input).

    Parameters
    ----------
    W : ndarray (in_channels, out_channels // groups, kh, kw)
        PyTorch/ONNX order.
    b : ndarray (out_channels,), optional
    stride, dilation : int or (int, int)
    crop : ((top, bottom), (left, right))
        Cells removed from the full output (PyTorch's and ONNX's ``padding``).
    output_padding : (int, int)
        Cells added at the bottom and right.
    groups : int
    data_format : "channels_first" or "channels_last"

    Notes
    -----
    Output size per axis: ``(n - 1) * stride - crop_before - crop_after +
    dilation * (k - 1) + 1 + output_padding``.
    """

    kind = "Conv2DTranspose"
    param_names = ("W", "b")

    def __init__(self, prev: Layer, *, name: str, W: Any, b: Any = None, stride: Any = 1,
                 crop: Any = ((0, 0), (0, 0)), output_padding: Any = 0, dilation: Any = 1,
                 groups: int = 1, data_format: str = "channels_first") -> None:
        super().__init__(prev, name=name)
        self.W = as_array(W, f"{name}.W", ndim=4)
        self.b = None if b is None else as_array(b, f"{name}.b", ndim=1)
        self.stride = as_pair(stride, f"layer {name!r} stride")
        self.dilation = as_pair(dilation, f"layer {name!r} dilation")
        self.output_padding = as_pair(output_padding, f"layer {name!r} output_padding")
        try:
            rows, cols = crop
            self.crop = (as_pair(rows, "crop"), as_pair(cols, "crop"))
        except (TypeError, ValueError, LayerError):
            raise LayerError(f"layer {name!r}: crop must be ((top, bottom), (left, right))") from None
        self.groups = int(groups)
        self.data_format = check_format(data_format)
        if min(self.stride) < 1 or min(self.dilation) < 1 or self.groups < 1:
            raise LayerError(f"layer {name!r}: stride, dilation and groups must be at least 1")
        cin, per_group, kh, kw = self.W.shape
        if cin % self.groups:
            raise LayerError(f"layer {name!r}: {cin} input channels do not split into {self.groups} groups")
        # Per group, the GEMM matrix from input channels to (tap, output channel):
        # (G, kh * kw * Og, Cg) for channels first, (G, Cg, kh * kw * Og) for channels last.
        w = self.W.reshape(self.groups, cin // self.groups, per_group, kh, kw).transpose(0, 3, 4, 2, 1)
        self._taps_first = np.ascontiguousarray(w.reshape(self.groups, kh * kw * per_group, -1))
        self._taps_last = np.ascontiguousarray(self._taps_first.transpose(0, 2, 1))

    def config(self) -> dict:
        return {"stride": list(self.stride), "crop": [list(self.crop[0]), list(self.crop[1])],
                "output_padding": list(self.output_padding), "dilation": list(self.dilation),
                "groups": self.groups, "data_format": self.data_format}

    def _size(self, n: int, axis: int) -> int:
        k = self.W.shape[2 + axis]
        return ((n - 1) * self.stride[axis] - sum(self.crop[axis])
                + self.dilation[axis] * (k - 1) + 1 + self.output_padding[axis])

    def infer_shape(self, in_shape: Shape) -> Shape:
        need_rank(self, in_shape, 3)
        c, h, w = in_shape if self.data_format == "channels_first" else (in_shape[2],) + tuple(in_shape[:2])
        if c != self.W.shape[0]:
            raise LayerError(f"layer {self.name!r} (Conv2DTranspose) has kernels for "
                             f"{self.W.shape[0]} input channels, gets {c}")
        oh = None if h is None else self._size(h, 0)
        ow = None if w is None else self._size(w, 1)
        if (oh is not None and oh < 1) or (ow is not None and ow < 1):
            raise LayerError(f"layer {self.name!r}: output would be empty for input {in_shape}")
        o = self.W.shape[1] * self.groups
        return (o, oh, ow) if self.data_format == "channels_first" else (oh, ow, o)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Each input cell times the kernels (one GEMM per group), added into the output at
        ``stride * cell + dilation * tap`` for each tap (no multiplications by spread zeros)."""
        last = self.data_format == "channels_last"
        if x.dtype.kind != "f":
            x = x.astype(self.W.dtype)
        n = x.shape[0]
        h, w = x.shape[1:3] if last else x.shape[2:4]
        cin, og, kh, kw = self.W.shape
        g, cg = self.groups, cin // self.groups
        (sh, sw), (dh, dw) = self.stride, self.dilation
        size = [self._size(h, 0), self._size(w, 1)]
        # The full output before cropping, big enough for the output padding too.
        full = [max((h - 1) * sh + dh * (kh - 1) + 1, self.crop[0][0] + size[0]),
                max((w - 1) * sw + dw * (kw - 1) + 1, self.crop[1][0] + size[1])]
        dtype = x.dtype
        taps = (self._taps_last if last else self._taps_first).astype(dtype, copy=False)
        if last:
            y = np.zeros((n, full[0], full[1], og * g), dtype)
            rows = x.reshape(n * h * w, g, cg).transpose(1, 0, 2)
            cols = np.matmul(rows, taps)                                  # (G, NHW, taps * Og)
            cols = cols.reshape(g, n, h, w, kh, kw, og).transpose(1, 2, 3, 4, 5, 0, 6)
        else:
            y = np.zeros((n, og * g, full[0], full[1]), dtype)
            maps = x.reshape(n, g, cg, h * w)
            cols = np.matmul(taps, maps)                                  # (N, G, taps * Og, HW)
            cols = cols.reshape(n, g, kh, kw, og, h, w).transpose(0, 2, 3, 1, 4, 5, 6)
        for a in range(kh):
            for b in range(kw):
                at = (slice(a * dh, a * dh + (h - 1) * sh + 1, sh),
                      slice(b * dw, b * dw + (w - 1) * sw + 1, sw))
                if last:
                    y[:, at[0], at[1]] += cols[:, :, :, a, b].reshape(n, h, w, -1)
                else:
                    y[:, :, at[0], at[1]] += cols[:, a, b].reshape(n, -1, h, w)
        window = (slice(self.crop[0][0], self.crop[0][0] + size[0]),
                  slice(self.crop[1][0], self.crop[1][0] + size[1]))
        y = y[:, window[0], window[1]] if last else y[:, :, window[0], window[1]]
        if self.b is not None:
            y += self.b if last else self.b[:, None, None]
        return y


class _Pool1D(Layer):
    """Max or average pooling over the time axis, on the 2-D pooling kernel."""

    mode = ""

    def __init__(self, prev: Layer, *, name: str, pool_size: int = 2, stride: int | None = None,
                 padding: Any = "valid", count_include_pad: bool = False,
                 data_format: str = "channels_last") -> None:
        super().__init__(prev, name=name)
        self.pool_size = int(pool_size)
        self.stride = self.pool_size if stride is None else int(stride)
        if min(self.pool_size, self.stride) < 1:
            raise LayerError(f"layer {name!r}: pool size and stride must be at least 1")
        self.padding = _pads_1d(padding, name)
        if self.padding == "causal":
            raise LayerError(f"layer {name!r}: pooling has no causal padding")
        self.count_include_pad = bool(count_include_pad)
        self.data_format = check_format(data_format)

    def config(self) -> dict:
        return {"pool_size": self.pool_size, "stride": self.stride,
                "padding": _json_pads(self.padding), "count_include_pad": self.count_include_pad,
                "data_format": self.data_format}

    def infer_shape(self, in_shape: Shape) -> Shape:
        channels, length = _seq(self, in_shape)
        if length is None:
            return _seq_out(self, channels, None)
        before, after = _resolve_1d(self.padding, length, self.pool_size, self.stride, 1)
        out = ops.pool_output_size(length, self.pool_size, self.stride, before, after)
        if out < 1:
            raise LayerError(f"layer {self.name!r} ({self.kind}): input {in_shape} is shorter "
                             f"than its window")
        return _seq_out(self, channels, out)

    def forward(self, x: np.ndarray) -> np.ndarray:
        last = self.data_format == "channels_last"
        length = x.shape[1] if last else x.shape[2]
        pads = ((0, 0), _resolve_1d(self.padding, length, self.pool_size, self.stride, 1))
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        extra = {"count_include_pad": self.count_include_pad} if self.mode == "avg" else {}
        y = ops.pool2d(_to_2d(x, self.data_format), self.mode, size=(1, self.pool_size),
                       stride=(1, self.stride), padding=pads, channels_last=last, **extra)
        return _from_2d(y, self.data_format)


@register
class MaxPool1D(_Pool1D):
    """Maximum over windows of the time axis (padding never wins).

    Parameters
    ----------
    pool_size, stride : int
    padding : "valid", "same" or (before, after)
    data_format : "channels_last" (L, C) or "channels_first" (C, L)
    """

    kind = "MaxPool1D"
    mode = "max"


@register
class AvgPool1D(_Pool1D):
    """Mean over windows of the time axis; MaxPool1D's parameters plus
    ``count_include_pad`` (default False: padding is not counted, as in Keras)."""

    kind = "AvgPool1D"
    mode = "avg"


@register
class Upsample(Layer):
    """Nearest-neighbour upsampling: repeat each cell ``scale[i]`` times along axis i.

    Parameters
    ----------
    scale : sequence of int
        One whole factor per per-sample axis, e.g. (1, 2, 2) for channels-first
        images, (2, 2, 1) for channels-last ones, (2, 1) for (L, C) sequences.
    """

    kind = "Upsample"

    def __init__(self, prev: Layer, *, name: str, scale: Sequence[int]) -> None:
        super().__init__(prev, name=name)
        self.scale = tuple(int(s) for s in scale)
        if not self.scale or min(self.scale) < 1:
            raise LayerError(f"layer {name!r}: scale factors must be whole numbers >= 1")

    def config(self) -> dict:
        return {"scale": list(self.scale)}

    def infer_shape(self, in_shape: Shape) -> Shape:
        need_rank(self, in_shape, len(self.scale))
        return tuple(None if n is None else n * s for n, s in zip(in_shape, self.scale))

    def forward(self, x: np.ndarray) -> np.ndarray:
        for axis, s in enumerate(self.scale, start=1):
            if s > 1:
                x = np.repeat(x, s, axis=axis)
        return x

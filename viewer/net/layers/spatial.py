"""Two-dimensional layers: convolution, pooling and zero padding.

Every kind here carries a ``data_format``: "channels_first" for (C, H, W)
samples as PyTorch and Theano lay them out, "channels_last" for (H, W, C) as
TensorFlow does. A converted net keeps its source's layout, so outputs can be
compared with the source framework layer by layer.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from viewer.errors import LayerError
from viewer.net import ops
from viewer.net.layers.base import Layer, Shape, as_array, as_pair, check_format, need_rank, register

Padding = tuple[tuple[int, int], tuple[int, int]]


def _padding_config(padding: Any, name: str) -> str | Padding:
    """Normalise "valid", "same", an int, a pair, or ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise LayerError(f"layer {name!r}: padding must be 'valid', 'same' or sizes, not {padding!r}")
        return padding
    if isinstance(padding, (int, np.integer)):
        return ((int(padding),) * 2,) * 2
    try:
        rows, cols = padding
    except (TypeError, ValueError):
        raise LayerError(f"layer {name!r}: bad padding {padding!r}") from None
    return as_pair(rows, f"layer {name!r} padding"), as_pair(cols, f"layer {name!r} padding")


def _padding_json(padding: str | Padding) -> Any:
    return padding if isinstance(padding, str) else [list(padding[0]), list(padding[1])]


def conv_pads(padding: str | Padding, kernel: tuple, stride: tuple, dilation: tuple,
              h: int, w: int) -> Padding:
    """((top, bottom), (left, right)) padding of a ``kernel`` (kh, kw) convolution on h x w."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return (ops.same_padding(h, kernel[0], stride[0], dilation[0]),
                ops.same_padding(w, kernel[1], stride[1], dilation[1]))
    return padding


def _spatial(layer: Layer, in_shape: Shape) -> tuple[int, int, int]:
    """(channels, height, width) of a per-sample input shape."""
    need_rank(layer, in_shape, 3)
    if layer.data_format == "channels_first":
        c, h, w = in_shape
    else:
        h, w, c = in_shape
    return c, h, w


def _shape_out(layer: Layer, c: int, h: int, w: int) -> Shape:
    return (c, h, w) if layer.data_format == "channels_first" else (h, w, c)


#: Input shapes a convolution layer keeps the route of (see :func:`ops.conv2d_route`).
MAX_ROUTES = 8


@register
class Conv2D(Layer):
    """2-D convolution (cross-correlation, as PyTorch and TensorFlow compute it).

    Parameters
    ----------
    W : ndarray (out_channels, in_channels // groups, kh, kw)
        Kernels, always in this order whatever the data format.
    b : ndarray (out_channels,), optional
    stride, dilation : int or (int, int)
    padding : "valid", "same", int, or ((top, bottom), (left, right))
        "same" follows TensorFlow: the extra row or column goes at the bottom/right.
    groups : int
        Input and output channels are split into this many groups; groups ==
        in_channels is a depthwise convolution.
    data_format : "channels_first" or "channels_last"
    """

    kind = "Conv2D"
    param_names = ("W", "b")

    def __init__(self, prev: Layer, *, name: str, W: Any, b: Any = None, stride: Any = 1,
                 padding: Any = "valid", dilation: Any = 1, groups: int = 1,
                 data_format: str = "channels_first") -> None:
        super().__init__(prev, name=name)
        self.W = as_array(W, f"{name}.W", ndim=4)
        self.b = None if b is None else as_array(b, f"{name}.b", ndim=1)
        self.stride = as_pair(stride, f"layer {name!r} stride")
        self.dilation = as_pair(dilation, f"layer {name!r} dilation")
        self.padding = _padding_config(padding, name)
        self.groups = int(groups)
        self.data_format = check_format(data_format)
        if min(self.stride) < 1 or min(self.dilation) < 1 or self.groups < 1:
            raise LayerError(f"layer {name!r}: stride, dilation and groups must be at least 1")
        if self.W.shape[0] % self.groups:
            raise LayerError(f"layer {name!r}: {self.W.shape[0]} output channels do not split "
                             f"into {self.groups} groups")
        if self.b is not None and self.b.shape[0] != self.W.shape[0]:
            raise LayerError(f"layer {name!r}: bias has {self.b.shape[0]} values for "
                             f"{self.W.shape[0]} output channels")
        self._prepared: dict = {}  # the kernels' weights rearranged by ops.conv2d, kept
        # Per input (shape, dtype): (W, b, ops.conv2d_route) made for that W and b.
        self._routes: dict = {}

    def config(self) -> dict:
        return {"stride": list(self.stride), "padding": _padding_json(self.padding),
                "dilation": list(self.dilation), "groups": self.groups,
                "data_format": self.data_format}

    def _pads(self, h: int, w: int) -> Padding:
        return conv_pads(self.padding, self.W.shape[2:], self.stride, self.dilation, h, w)

    def infer_shape(self, in_shape: Shape) -> Shape:
        c, h, w = _spatial(self, in_shape)
        if c != self.W.shape[1] * self.groups:
            raise LayerError(f"layer {self.name!r} (Conv2D) has kernels for "
                             f"{self.W.shape[1] * self.groups} input channels, gets {c}")
        # Sizes known only at run time (None) stay unknown; padding is worked out for the others.
        (top, bottom), (left, right) = self._pads(h or 1, w or 1)
        kh, kw = self.W.shape[2:]
        oh = None if h is None else ops.conv_output_size(h, kh, self.stride[0], top, bottom, self.dilation[0])
        ow = None if w is None else ops.conv_output_size(w, kw, self.stride[1], left, right, self.dilation[1])
        if (oh is not None and oh < 1) or (ow is not None and ow < 1):
            raise LayerError(f"layer {self.name!r} (Conv2D): input {in_shape} is smaller than "
                             f"its {kh}x{kw} kernel")
        return _shape_out(self, self.W.shape[0], oh, ow)

    def forward(self, x: np.ndarray) -> np.ndarray:
        key = (x.shape, x.dtype)
        entry = self._routes.get(key)
        if entry is None or entry[0] is not self.W or entry[1] is not self.b:
            entry = self._routes[key] = (self.W, self.b, self._route(x.shape, x.dtype))
        return entry[2](x)

    def _route(self, shape: tuple, dtype: np.dtype) -> ops.Route:
        """The :func:`ops.conv2d_route` for inputs of ``shape`` and ``dtype``."""
        if len(self._routes) >= MAX_ROUTES:    # bounded: a net sees few input shapes
            self._routes.clear()
        last = self.data_format == "channels_last"
        if len(shape) != 4:
            raise ValueError(f"conv2d needs 4-d x, got shape {shape}")
        if dtype.kind != "f":   # integer input computes in the weights' float type
            return partial(ops.cast_input, dtype=self.W.dtype, route=self._route(shape, self.W.dtype))
        h, w = shape[1:3] if last else shape[2:4]
        return ops.conv2d_route(shape, dtype, self.W, self.b, stride=self.stride,
                                padding=self._pads(h, w), dilation=self.dilation,
                                groups=self.groups, channels_last=last, prepared=self._prepared)


class _Pool2D(Layer):
    """Shared parts of max and average pooling."""

    mode = ""

    def __init__(self, prev: Layer, *, name: str, pool_size: Any = 2, stride: Any = None,
                 padding: Any = "valid", ceil_mode: bool = False,
                 data_format: str = "channels_first") -> None:
        super().__init__(prev, name=name)
        self.pool_size = as_pair(pool_size, f"layer {name!r} pool_size")
        self.stride = as_pair(self.pool_size if stride is None else stride, f"layer {name!r} stride")
        if min(self.pool_size) < 1 or min(self.stride) < 1:
            raise LayerError(f"layer {name!r}: pool size and stride must be at least 1")
        self.padding = _padding_config(padding, name)
        self.ceil_mode = bool(ceil_mode)
        self.data_format = check_format(data_format)
        self._routes: dict = {}     # per input (shape, dtype, options): ops.pool2d_route

    def config(self) -> dict:
        return {"pool_size": list(self.pool_size), "stride": list(self.stride),
                "padding": _padding_json(self.padding), "ceil_mode": self.ceil_mode,
                "data_format": self.data_format}

    def _pads(self, h: int, w: int) -> Padding:
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            return (ops.same_padding(h, self.pool_size[0], self.stride[0], 1),
                    ops.same_padding(w, self.pool_size[1], self.stride[1], 1))
        return self.padding

    def infer_shape(self, in_shape: Shape) -> Shape:
        c, h, w = _spatial(self, in_shape)
        (top, bottom), (left, right) = self._pads(h or 1, w or 1)
        oh = None if h is None else ops.pool_output_size(h, self.pool_size[0], self.stride[0], top, bottom,
                                                         self.ceil_mode)
        ow = None if w is None else ops.pool_output_size(w, self.pool_size[1], self.stride[1], left, right,
                                                         self.ceil_mode)
        if (oh is not None and oh < 1) or (ow is not None and ow < 1):
            raise LayerError(f"layer {self.name!r} ({self.kind}): input {in_shape} is smaller "
                             f"than its {self.pool_size} window")
        return _shape_out(self, c, oh, ow)

    def _pool(self, x: np.ndarray, **extra: Any) -> np.ndarray:
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        key = (x.shape, x.dtype, tuple(extra.items()))
        route = self._routes.get(key)
        if route is None:
            if len(self._routes) >= MAX_ROUTES:    # bounded: a net sees few input shapes
                self._routes.clear()
            last = self.data_format == "channels_last"
            if len(x.shape) != 4:
                raise ValueError(f"pool2d needs a 4-d input, got shape {x.shape}")
            h, w = x.shape[1:3] if last else x.shape[2:4]
            route = self._routes[key] = ops.pool2d_route(
                x.shape, x.dtype, self.mode, size=self.pool_size, stride=self.stride,
                padding=self._pads(h, w), ceil_mode=self.ceil_mode, channels_last=last, **extra)
        return route(x)


@register
class MaxPool2D(_Pool2D):
    """Maximum over each window; padding never wins (it counts as -inf).

    Parameters
    ----------
    pool_size, stride : int or (int, int)
        Stride defaults to the pool size.
    padding : "valid", "same", int, or ((top, bottom), (left, right))
    ceil_mode : bool
        Round the output size up, as PyTorch's ceil_mode does.
    data_format : "channels_first" or "channels_last"
    """

    kind = "MaxPool2D"
    mode = "max"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._pool(x)


@register
class AvgPool2D(_Pool2D):
    """Mean over each window.

    Takes MaxPool2D's parameters, plus ``count_include_pad``: whether padded
    cells count in the divisor (PyTorch's default) or not (TensorFlow's "same").
    """

    kind = "AvgPool2D"
    mode = "avg"

    def __init__(self, prev: Layer, *, name: str, count_include_pad: bool = True, **kwargs: Any) -> None:
        super().__init__(prev, name=name, **kwargs)
        self.count_include_pad = bool(count_include_pad)

    def config(self) -> dict:
        return {**super().config(), "count_include_pad": self.count_include_pad}

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._pool(x, count_include_pad=self.count_include_pad)


class _GlobalPool2D(Layer):
    """Shared parts of global pooling: one value per channel."""

    reduce = staticmethod(np.mean)

    def __init__(self, prev: Layer, *, name: str, data_format: str = "channels_first") -> None:
        super().__init__(prev, name=name)
        self.data_format = check_format(data_format)

    def config(self) -> dict:
        return {"data_format": self.data_format}

    def infer_shape(self, in_shape: Shape) -> Shape:
        c, _, _ = _spatial(self, in_shape)
        return (c,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        axes = (2, 3) if self.data_format == "channels_first" else (1, 2)
        return self.reduce(x, axis=axes)


def _spatial_mean(x: np.ndarray, axis: tuple[int, int]) -> np.ndarray:
    """``np.mean(x, axis)``: the same sum (np.add.reduce) and division, without np.mean's
    Python-level argument handling, which costs more than the arithmetic on small maps."""
    if x.dtype.kind != "f" or x.dtype.itemsize < 4:    # np.mean's own accumulator rules
        return np.mean(x, axis=axis)
    total = np.add.reduce(x, axis=axis)
    total /= x.shape[axis[0]] * x.shape[axis[1]]
    return total


@register
class GlobalAvgPool2D(_GlobalPool2D):
    """Mean of each channel over height and width: (C, H, W) -> (C,)."""

    kind = "GlobalAvgPool2D"
    reduce = staticmethod(_spatial_mean)


@register
class GlobalMaxPool2D(_GlobalPool2D):
    """Maximum of each channel over height and width: (C, H, W) -> (C,)."""

    kind = "GlobalMaxPool2D"
    reduce = staticmethod(np.max)


@register
class ZeroPadding2D(Layer):
    """Pad height and width with zeros.

    Parameters
    ----------
    padding : int, (int, int), or ((top, bottom), (left, right))
    data_format : "channels_first" or "channels_last"
    """

    kind = "ZeroPadding2D"

    def __init__(self, prev: Layer, *, name: str, padding: Any = 1,
                 data_format: str = "channels_first") -> None:
        super().__init__(prev, name=name)
        pads = _padding_config(padding, name)
        if isinstance(pads, str):
            raise LayerError(f"layer {name!r}: zero padding needs sizes, not {padding!r}")
        self.padding = pads
        self.data_format = check_format(data_format)

    def config(self) -> dict:
        return {"padding": _padding_json(self.padding), "data_format": self.data_format}

    def infer_shape(self, in_shape: Shape) -> Shape:
        c, h, w = _spatial(self, in_shape)
        (top, bottom), (left, right) = self.padding
        return _shape_out(self, c, None if h is None else h + top + bottom,
                          None if w is None else w + left + right)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.data_format == "channels_first":
            widths = ((0, 0), (0, 0)) + self.padding
        else:
            widths = ((0, 0),) + self.padding + ((0, 0),)
        return np.pad(x, widths)

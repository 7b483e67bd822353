"""Keras convolution, pooling, padding and upsampling layers -> Strata layers.

Kernel layouts in Keras files:

- Keras 2/3: Conv2D (kh, kw, in/groups, out); Conv1D (k, in/groups, out);
  depthwise (kh, kw, in, multiplier); pointwise (1, 1, in*mult, out);
  Conv2DTranspose (kh, kw, out, in).
- Keras 1: Convolution2D (out, in, kh, kw) with dim_ordering "th", (kh, kw,
  in, out) with "tf"; Convolution1D (k, 1, in, out).

Strata wants OIHW (Conv2D), (out, in, k) (Conv1D) and (in, out, kh, kw)
(Conv2DTranspose). On Theano, Conv1D/2D and Conv2DTranspose kernels are
flipped (Theano convolves); Keras' Theano backend pre-flips depthwise kernels
itself, so separable and depthwise ones are not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viewer.convert.keras_common import (Context, Unsupported, data_format, flip, get, pair,
                                         same_or_explicit, single, theano_conv_pads,
                                         theano_pool_pads, with_activation)
from viewer.convert.keras_graph import Node
from viewer.net import ops
from viewer.net.layers import (AvgPool2D, Conv2D, GlobalAvgPool2D, GlobalMaxPool2D, Layer, MaxPool2D,
                               ZeroPadding2D)
from viewer.net.layers.conv_extra import (AvgPool1D, Conv1D, Conv2DTranspose, MaxPool1D, SeparableConv1D,
                                          SeparableConv2D, Upsample)
from viewer.net.layers.indexing import Pad, Slice
from viewer.net.layers.tensor import Reduce


def _padding_mode(config: dict) -> str:
    return get(config, "padding", "border_mode", default="valid")


def check_padding(node: Node, ctx: Context) -> None:
    mode = _padding_mode(node.config)
    if mode not in ("valid", "same", "causal"):
        raise Unsupported(f"padding {mode!r} is not supported")
    if mode == "causal" and "1D" not in node.class_name:
        raise Unsupported("causal padding outside Conv1D")


def _spatial_sizes(prev: Layer, fmt: str) -> list[int]:
    shape = prev.output_shape
    return list(shape[1:3] if fmt == "channels_first" else shape[0:2])


def _pads_2d(ctx: Context, node: Node, prev: Layer, fmt: str, kernel: tuple[int, int],
             strides: tuple[int, int], dilation: tuple[int, int]) -> Any:
    """Conv padding for Conv2D-like layers: "valid", "same", or Theano's explicit pads."""
    mode = _padding_mode(node.config)
    if mode != "same" or not ctx.theano:
        return mode
    sizes = _spatial_sizes(prev, fmt)
    pads = [theano_conv_pads(n, k, s, d, node.layer)
            for n, k, s, d in zip(sizes, kernel, strides, dilation)]
    return same_or_explicit(pads, sizes, list(kernel), list(strides), list(dilation))


def _length(prev: Layer, fmt: str) -> int | None:
    shape = prev.output_shape
    return shape[0] if fmt == "channels_last" else shape[1]


def _pads_1d(ctx: Context, node: Node, prev: Layer, fmt: str, k: int, s: int, d: int) -> Any:
    mode = _padding_mode(node.config)
    if mode != "same" or not ctx.theano:
        return mode
    n = _length(prev, fmt)
    pads = theano_conv_pads(n, k, s, d, node.layer)
    return "same" if pads == ops.same_padding(n, k, s, d) else pads


def _bias(weights: list[np.ndarray], index: int) -> np.ndarray | None:
    return weights[index] if len(weights) > index else None


def conv2d(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    w = ctx.weights(node, (1, 2))
    kernel = w[0]
    if ctx.major == 1 and fmt == "channels_first":
        oihw = kernel
    else:
        oihw = kernel.transpose(3, 2, 0, 1)
    if ctx.theano:
        oihw = flip(oihw, (2, 3))
    strides = pair(get(c, "strides", "subsample", default=1))
    dilation = pair(get(c, "dilation_rate", "atrous_rate", default=1))
    groups = int(get(c, "groups", default=1))
    padding = _pads_2d(ctx, node, prev, fmt, oihw.shape[2:], strides, dilation)
    return with_activation(ctx, node, lambda name: Conv2D(
        prev, name=name, W=oihw, b=_bias(w, 1), stride=strides, padding=padding,
        dilation=dilation, groups=groups, data_format=fmt), c.get("activation"))


def conv1d(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    w = ctx.weights(node, (1, 2))
    kernel = w[0]
    if kernel.ndim == 4:  # Keras 1: (k, 1, in, out)
        oik = kernel[:, 0].transpose(2, 1, 0)
    else:
        oik = kernel.transpose(2, 1, 0)
    if ctx.theano:
        oik = flip(oik, (2,))
    s = single(get(c, "strides", "subsample_length", default=1))
    d = single(get(c, "dilation_rate", default=1))
    padding = _pads_1d(ctx, node, prev, fmt, oik.shape[2], s, d)
    return with_activation(ctx, node, lambda name: Conv1D(
        prev, name=name, W=oik, b=_bias(w, 1), stride=s, padding=padding, dilation=d,
        groups=int(get(c, "groups", default=1)), data_format=fmt), c.get("activation"))


def _depthwise(kernel: np.ndarray) -> np.ndarray:
    """(k..., in, mult) -> (in * mult, 1, k...): output channel c * mult + j."""
    spatial = kernel.ndim - 2
    moved = np.moveaxis(np.moveaxis(kernel, spatial, 0), spatial + 1, 1)
    return np.ascontiguousarray(moved.reshape((-1, 1) + kernel.shape[:spatial]))


def separable(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    w = ctx.weights(node, (2, 3))
    depth, point = _depthwise(w[0]), w[1]
    in_channels = w[0].shape[-2]
    if node.class_name == "SeparableConv1D":
        s = single(get(c, "strides", default=1))
        d = single(get(c, "dilation_rate", default=1))
        padding = _pads_1d(ctx, node, prev, fmt, depth.shape[2], s, d)
        return with_activation(ctx, node, lambda name: SeparableConv1D(
            prev, name=name, W_depth=depth, W_point=point.transpose(2, 1, 0), b=_bias(w, 2),
            in_channels=in_channels, stride=s, padding=padding, dilation=d, data_format=fmt),
            c.get("activation"))
    strides = pair(get(c, "strides", default=1))
    dilation = pair(get(c, "dilation_rate", default=1))
    padding = _pads_2d(ctx, node, prev, fmt, depth.shape[2:], strides, dilation)
    return with_activation(ctx, node, lambda name: SeparableConv2D(
        prev, name=name, W_depth=depth, W_point=point.transpose(3, 2, 0, 1), b=_bias(w, 2),
        in_channels=in_channels, stride=strides, padding=padding, dilation=dilation,
        data_format=fmt), c.get("activation"))


def depthwise(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    w = ctx.weights(node, (1, 2))
    kernel = _depthwise(w[0])
    strides = pair(get(c, "strides", default=1))
    dilation = pair(get(c, "dilation_rate", default=1))
    padding = _pads_2d(ctx, node, prev, fmt, kernel.shape[2:], strides, dilation)
    return with_activation(ctx, node, lambda name: Conv2D(
        prev, name=name, W=kernel, b=_bias(w, 1), stride=strides, padding=padding,
        dilation=dilation, groups=w[0].shape[-2], data_format=fmt), c.get("activation"))


def _transpose_crop(ctx: Context, n: int, k: int, s: int, d: int, mode: str,
                    output_padding: int | None) -> tuple[tuple[int, int], int]:
    """((crop_before, crop_after), output_padding) giving Keras' output length."""
    effective = d * (k - 1) + 1
    if output_padding is None:
        length = n * s + (max(effective - s, 0) if mode == "valid" else 0)
    else:
        length = (n - 1) * s + effective - 2 * (effective // 2 if mode == "same" else 0) + output_padding
    full = (n - 1) * s + effective
    if mode == "valid":
        before = 0
    elif ctx.theano:
        before = effective // 2
    else:  # TensorFlow's rule: the padding of the conv this one is the gradient of
        before = max(full - length, 0) // 2
    after = full - length - before
    return (before, max(after, 0)), max(-after, 0)


def conv2d_transpose(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    w = ctx.weights(node, (1, 2))
    kernel = w[0].transpose(3, 2, 0, 1)  # (kh, kw, out, in) -> (in, out, kh, kw)
    if ctx.theano:
        kernel = flip(kernel, (2, 3))
    strides = pair(get(c, "strides", default=1))
    dilation = pair(get(c, "dilation_rate", default=1))
    out_pad = c.get("output_padding")
    out_pad = [None, None] if out_pad is None else list(pair(out_pad))
    sizes = _spatial_sizes(prev, fmt)
    crops, extra = [], []
    for axis in (0, 1):
        crop, more = _transpose_crop(ctx, sizes[axis], kernel.shape[2 + axis], strides[axis],
                                     dilation[axis], _padding_mode(c), out_pad[axis])
        crops.append(crop)
        extra.append(more)
    return with_activation(ctx, node, lambda name: Conv2DTranspose(
        prev, name=name, W=kernel, b=_bias(w, 1), stride=strides, crop=crops,
        output_padding=extra, dilation=dilation, data_format=fmt), c.get("activation"))


def pool2d(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    size = pair(get(c, "pool_size", default=2))
    strides = pair(get(c, "strides", default=size))
    padding: Any = _padding_mode(c)
    if padding == "same" and ctx.theano:
        sizes = _spatial_sizes(prev, fmt)
        padding = tuple(theano_pool_pads(n, p, s, node.layer) for n, p, s in zip(sizes, size, strides))
    kind = MaxPool2D if node.class_name.startswith("Max") else AvgPool2D
    extra = {} if kind is MaxPool2D else {"count_include_pad": False}
    return [kind(prev, name=ctx.name(node.key), pool_size=size, stride=strides, padding=padding,
                 data_format=fmt, **extra)]


def pool1d(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    size = single(get(c, "pool_size", "pool_length", default=2))
    stride = single(get(c, "strides", "stride", default=size))
    padding: Any = _padding_mode(c)
    if padding == "same" and ctx.theano:
        padding = theano_pool_pads(_length(prev, fmt), size, stride, node.layer)
    kind = MaxPool1D if node.class_name.startswith("Max") else AvgPool1D
    return [kind(prev, name=ctx.name(node.key), pool_size=size, stride=stride, padding=padding,
                 data_format=fmt)]


def global_pool(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    is_max = "Max" in node.class_name
    name = ctx.name(node.key)
    keepdims = bool(c.get("keepdims", False))
    if node.class_name.endswith("2D") and not keepdims:
        kind = GlobalMaxPool2D if is_max else GlobalAvgPool2D
        return [kind(prev, name=name, data_format=fmt)]
    rank = len(prev.output_shape)
    axes = list(range(2, rank + 1)) if fmt == "channels_first" else list(range(1, rank))
    return [Reduce(prev, name=name, op="max" if is_max else "mean", axes=axes, keepdims=keepdims)]


def _two_pairs(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras padding/cropping: int, (rows, cols), ((t, b), (l, r)), Keras 1's 4-tuple or dict."""
    if isinstance(value, dict):
        return ((int(value.get("top_pad", 0)), int(value.get("bottom_pad", 0))),
                (int(value.get("left_pad", 0)), int(value.get("right_pad", 0))))
    if isinstance(value, (int, float)):
        return (int(value),) * 2, (int(value),) * 2
    if len(value) == 4:
        return (int(value[0]), int(value[1])), (int(value[2]), int(value[3]))
    return pair(value[0]), pair(value[1])


def zero_padding(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    name = ctx.name(node.key)
    if node.class_name == "ZeroPadding2D":
        return [ZeroPadding2D(prev, name=name, padding=_two_pairs(c.get("padding", 1)),
                              data_format=fmt)]
    pads = [list(pair(c.get("padding", 1))), [0, 0]]
    return [Pad(prev, name=name, pads=pads if fmt == "channels_last" else pads[::-1])]


def upsampling(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    if node.class_name == "UpSampling1D":
        scale = [single(get(c, "size", "length", default=2)), 1]
    else:
        scale = list(pair(get(c, "size", default=2))) + [1]
    if fmt == "channels_first":
        scale = scale[-1:] + scale[:-1]
    return [Upsample(prev, name=ctx.name(node.key), scale=scale)]


def check_upsampling(node: Node, ctx: Context) -> None:
    if node.config.get("interpolation", "nearest") != "nearest":
        raise Unsupported(f"interpolation {node.config['interpolation']!r} (only nearest is supported)")


def cropping(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    fmt = data_format(ctx, node, prev)
    if node.class_name == "Cropping1D":
        crops = [pair(c.get("cropping", 1))]
        axes = [1] if fmt == "channels_last" else [2]
    else:
        crops = list(_two_pairs(c.get("cropping", 0)))
        axes = [2, 3] if fmt == "channels_first" else [1, 2]
    return [Slice(prev, name=ctx.name(node.key), axes=axes, starts=[b for b, _ in crops],
                  stops=[-a if a else None for _, a in crops])]


def check_conv(node: Node, ctx: Context) -> None:
    check_padding(node, ctx)
    if ctx.major == 1 and node.class_name in ("Convolution2D", "AtrousConvolution2D"):
        if node.config.get("border_mode") == "full":
            raise Unsupported("border_mode 'full' is not supported")


CONVERTERS = {
    "Conv2D": conv2d, "Convolution2D": conv2d, "AtrousConvolution2D": conv2d,
    "Conv1D": conv1d, "Convolution1D": conv1d,
    "SeparableConv2D": separable, "SeparableConv1D": separable, "DepthwiseConv2D": depthwise,
    "Conv2DTranspose": conv2d_transpose,
    "MaxPooling2D": pool2d, "AveragePooling2D": pool2d,
    "MaxPooling1D": pool1d, "AveragePooling1D": pool1d,
    "GlobalAveragePooling2D": global_pool, "GlobalMaxPooling2D": global_pool,
    "GlobalAveragePooling1D": global_pool, "GlobalMaxPooling1D": global_pool,
    "ZeroPadding2D": zero_padding, "ZeroPadding1D": zero_padding,
    "UpSampling2D": upsampling, "UpSampling1D": upsampling,
    "Cropping2D": cropping, "Cropping1D": cropping,
}

CHECKS = {
    **{k: check_conv for k in ("Conv2D", "Convolution2D", "AtrousConvolution2D", "Conv1D",
                                "Convolution1D", "SeparableConv2D", "SeparableConv1D",
                                "DepthwiseConv2D", "Conv2DTranspose")},
    **{k: check_padding for k in ("MaxPooling2D", "AveragePooling2D", "MaxPooling1D",
                                   "AveragePooling1D")},
    "UpSampling2D": check_upsampling,
}

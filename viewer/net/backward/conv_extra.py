"""Backward of the convolution and pooling kinds beyond the 2-D basics (:mod:`viewer.net.layers.conv_extra`).

As in the forward pass, 1-D kinds run on the 2-D arithmetic with a height of
1, and separable convolutions are their two convolutions in turn.
"""

from __future__ import annotations

import numpy as np

from viewer.net import ops
from viewer.net.backward.registry import backward
from viewer.net.backward.spatial import _conv2d, conv2d_input_grad, pool2d_input_grad
from viewer.net.layers.base import Layer
from viewer.net.layers.conv_extra import _from_2d, _resolve_1d, _to_2d

_NO_PADS = ((0, 0), (0, 0))


def _length(layer: Layer, x: np.ndarray) -> int:
    return x.shape[1] if layer.data_format == "channels_last" else x.shape[2]


def _conv1d_input_grad(layer: Layer, x: np.ndarray, grad: np.ndarray, w: np.ndarray, stride: int,
                       padding: object, dilation: int, groups: int) -> np.ndarray:
    """d / d x of a 1-D convolution with kernels ``w`` (O, C/g, k), on the 2-D arithmetic."""
    length = _length(layer, x)
    pads = ((0, 0), _resolve_1d(padding, length, w.shape[2], stride, dilation))
    dx = conv2d_input_grad(_to_2d(grad, layer.data_format), w[:, :, None, :], (1, length),
                           (1, stride), pads, (1, dilation), groups,
                           layer.data_format == "channels_last")
    return _from_2d(dx, layer.data_format)


@backward("Conv1D", inputs=False)
def _conv1d(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    return [_conv1d_input_grad(layer, inputs[0], grad, layer.W, layer.stride, layer.padding,
                               layer.dilation, layer.groups)]


@backward("SeparableConv1D", inputs=False)
def _separable1d(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x = inputs[0]
    mid = _conv1d_input_grad(layer, grad, grad, layer.W_point, 1, "valid", 1, 1)
    return [_conv1d_input_grad(layer, x, mid, layer.W_depth, layer.stride, layer.padding,
                               layer.dilation, layer.in_channels)]


@backward("SeparableConv2D", inputs=False)
def _separable2d(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    last = layer.data_format == "channels_last"
    size = grad.shape[1:3] if last else grad.shape[2:4]
    mid = conv2d_input_grad(grad, layer.W_point, size, (1, 1), _NO_PADS, (1, 1), 1, last)
    return _conv2d(layer._depth, inputs, output, mid, rule)


@backward("Conv2DTranspose", inputs=False)
def _conv_transpose(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    """A transposed convolution is the adjoint of a convolution, so its input gradient is that
    convolution: kernels W as they are, stride and dilation, the crop as padding."""
    last = layer.data_format == "channels_last"
    h_axis = 1 if last else 2
    x = inputs[0]
    dx = ops.conv2d(grad, layer.W.astype(grad.dtype, copy=False), None, stride=layer.stride,
                    padding=layer.crop, dilation=layer.dilation, groups=layer.groups,
                    channels_last=last)
    # output_padding's extra cells may give the convolution a cell more than x has
    index = [slice(None)] * dx.ndim
    index[h_axis] = slice(0, x.shape[h_axis])
    index[h_axis + 1] = slice(0, x.shape[h_axis + 1])
    return [np.ascontiguousarray(dx[tuple(index)])]


@backward("MaxPool1D", inputs=True, output=True)
@backward("AvgPool1D", inputs=False)
def _pool1d(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x, fmt = inputs[0], layer.data_format
    pads = ((0, 0), _resolve_1d(layer.padding, _length(layer, x), layer.pool_size, layer.stride, 1))
    extra = {"count_include_pad": layer.count_include_pad} if layer.mode == "avg" else {}
    dx = pool2d_input_grad(_to_2d(x, fmt), _to_2d(output, fmt), _to_2d(grad, fmt), layer.mode,
                           (1, layer.pool_size), (1, layer.stride), pads,
                           channels_last=fmt == "channels_last", **extra)
    return [_from_2d(dx, fmt)]


@backward("Upsample", inputs=False)
def _upsample(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    """Each input cell was repeated ``scale`` times per axis: its gradient is their sum."""
    shape = [grad.shape[0]]
    for n, s in zip(inputs[0].shape[1:], layer.scale):
        shape += [n, s]
    summed = tuple(range(2, 2 * len(layer.scale) + 1, 2))
    return [grad.reshape(shape).sum(axis=summed)]

"""Backward of convolution, pooling and padding (:mod:`viewer.net.layers.spatial`).

The gradient of a convolution with respect to its input is itself a
convolution (of the output gradient, spread out by the stride, with the
kernels flipped and their in/out channels swapped), so it runs on the same
fast kernels as the forward pass (:func:`viewer.net.ops.conv2d`).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from viewer.net import ops
from viewer.net.backward.registry import backward
from viewer.net.layers.base import Layer
from viewer.net.layers.spatial import conv_pads

Padding = tuple[tuple[int, int], tuple[int, int]]

# Per kernel array: its flipped, transposed copy and the ops.conv2d cache for
# it, so repeated backward passes (feature visualisation) prepare them once.
_PREPARED: dict[int, tuple[Any, np.ndarray, dict, int]] = {}


def flipped_kernels(w: np.ndarray, groups: int) -> np.ndarray:
    """Kernels of the input-gradient convolution: (O, C/g, kh, kw) -> (C, O/g, kh, kw), flipped."""
    o, cg, kh, kw = w.shape
    og = o // groups
    flipped = w[:, :, ::-1, ::-1].reshape(groups, og, cg, kh, kw).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(flipped.reshape(groups * cg, og, kh, kw))


def _kernels_for(w: np.ndarray, groups: int, dtype: np.dtype) -> tuple[np.ndarray, dict]:
    """:func:`flipped_kernels` of ``w`` in ``dtype``, with its ops.conv2d cache; kept per ``w``."""
    key = id(w)
    entry = _PREPARED.get(key)
    if entry is None or entry[0]() is not w or entry[1].dtype != dtype or entry[3] != groups:
        if len(_PREPARED) > 256:  # bounded: a few nets' kernels
            _PREPARED.clear()
        entry = _PREPARED[key] = (weakref.ref(w), flipped_kernels(w, groups).astype(dtype), {},
                                  groups)
    return entry[1], entry[2]


def conv2d_input_grad(grad: np.ndarray, w: np.ndarray, in_size: tuple[int, int], stride: tuple,
                      pads: Padding, dilation: tuple, groups: int, channels_last: bool) -> np.ndarray:
    """d scalar / d x of ``y = ops.conv2d(x, w, stride, pads, dilation, groups)``, from d / d y.

    Parameters
    ----------
    grad : ndarray (N, O, Ho, Wo), or (N, Ho, Wo, O) if ``channels_last``
    w : ndarray (O, C / groups, kh, kw)
    in_size : (H, W) of x
    stride, dilation : (int, int)
    pads : ((top, bottom), (left, right)) of the forward convolution

    Returns
    -------
    ndarray (N, C, H, W), or (N, H, W, C)

    Notes
    -----
    The output gradient is spread onto a grid with ``stride - 1`` zeros
    between cells, then correlated with the flipped kernels over its "full"
    padding, trimmed to the input: padding (d (k - 1) - top) before and what
    makes H cells after, negative amounts cut instead.
    """
    h_axis = 1 if channels_last else 2
    kernels, prepared = _kernels_for(w, groups, grad.dtype)
    if stride != (1, 1):
        grad = _spread(grad, stride, h_axis)
    cut = []
    conv_pads_ = []
    for axis, (size, k, d, (before, _)) in enumerate(zip(in_size, w.shape[2:], dilation, pads)):
        lead = d * (k - 1) - before
        trail = size - grad.shape[h_axis + axis] + before
        conv_pads_.append((max(lead, 0), max(trail, 0)))
        cut.append(max(-lead, 0))
    dx = ops.conv2d(grad, kernels, None, padding=tuple(conv_pads_), dilation=dilation,
                    groups=groups, channels_last=channels_last, prepared=prepared)
    index = [slice(None)] * dx.ndim
    index[h_axis] = slice(cut[0], cut[0] + in_size[0])
    index[h_axis + 1] = slice(cut[1], cut[1] + in_size[1])
    return np.ascontiguousarray(dx[tuple(index)])


def _spread(grad: np.ndarray, stride: tuple, h_axis: int) -> np.ndarray:
    """``grad`` with ``stride - 1`` zero cells between its cells on the two spatial axes."""
    shape = list(grad.shape)
    shape[h_axis] = (shape[h_axis] - 1) * stride[0] + 1
    shape[h_axis + 1] = (shape[h_axis + 1] - 1) * stride[1] + 1
    out = np.zeros(shape, grad.dtype)
    index = [slice(None)] * grad.ndim
    index[h_axis] = slice(None, None, stride[0])
    index[h_axis + 1] = slice(None, None, stride[1])
    out[tuple(index)] = grad
    return out


def _hw(layer: Layer, x: np.ndarray) -> tuple[int, int]:
    return x.shape[1:3] if layer.data_format == "channels_last" else x.shape[2:4]


@backward("Conv2D", inputs=False)
def _conv2d(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    h, w = _hw(layer, inputs[0])
    pads = conv_pads(layer.padding, layer.W.shape[2:], layer.stride, layer.dilation, h, w)
    return [conv2d_input_grad(grad, layer.W, (h, w), layer.stride, pads, layer.dilation,
                              layer.groups, layer.data_format == "channels_last")]


def pool2d_input_grad(x: np.ndarray, output: np.ndarray, grad: np.ndarray, mode: str,
                      size: tuple, stride: tuple, pads: Padding, ceil_mode: bool = False,
                      count_include_pad: bool = True, channels_last: bool = False) -> np.ndarray:
    """d scalar / d x of ``y = ops.pool2d(x, mode, size, stride, pads, ...)``, from d / d y.

    Max pooling routes each window's gradient to its maximum; of equal maxima
    to the first in row-major window order, the cell PyTorch's max pooling
    reports as its index. Average pooling shares it out over the window by
    the forward's divisor.

    Parameters
    ----------
    x : ndarray (N, C, H, W), or (N, H, W, C) if ``channels_last``
    output : ndarray, the forward's output (read by max pooling only)
    grad : ndarray, shape of ``output``
    mode : "max" or "avg"
    size, stride : (int, int)
    pads : ((top, bottom), (left, right))
    """
    h_axis = 1 if channels_last else 2
    h, w = x.shape[h_axis], x.shape[h_axis + 1]
    (top, bottom), (left, right) = pads
    out_size = grad.shape[h_axis:h_axis + 2]
    # ceil_mode's windows reach past the after-padding, as in the forward.
    extra_h = max(0, (out_size[0] - 1) * stride[0] + size[0] - (h + top + bottom))
    extra_w = max(0, (out_size[1] - 1) * stride[1] + size[1] - (w + left + right))
    full = ((top, bottom + extra_h), (left, right + extra_w))
    dx = _padded_zeros(x, full, h_axis, grad.dtype)
    if mode == "max":
        padded = _padded_zeros(x, full, h_axis, x.dtype)
        padded[...] = -np.inf
        padded[_interior(h_axis, full, x)] = x
        taken = np.zeros(output.shape, bool)
        for i in range(size[0]):
            for j in range(size[1]):
                index = _window_index(h_axis, i, j, stride, out_size)
                hit = (padded[index] == output) & ~taken
                dx[index] += np.where(hit, grad, 0)
                taken |= hit
    else:
        counts = ops._window_counts(h, w, size, stride, (top, left), out_size, (bottom, right),
                                    count_include_pad, channels_last)
        share = grad / counts.astype(grad.dtype)
        for i in range(size[0]):
            for j in range(size[1]):
                dx[_window_index(h_axis, i, j, stride, out_size)] += share
    return dx[_interior(h_axis, full, x)]


def _window_index(h_axis: int, i: int, j: int, stride: tuple, out_size: tuple) -> tuple:
    lead = (slice(None),) * h_axis
    return lead + (slice(i, i + stride[0] * (out_size[0] - 1) + 1, stride[0]),
                   slice(j, j + stride[1] * (out_size[1] - 1) + 1, stride[1]))


def _interior(h_axis: int, pads: Padding, x: np.ndarray) -> tuple:
    (top, _), (left, _) = pads
    return (slice(None),) * h_axis + (slice(top, top + x.shape[h_axis]),
                                      slice(left, left + x.shape[h_axis + 1]))


def _padded_zeros(x: np.ndarray, pads: Padding, h_axis: int, dtype: Any) -> np.ndarray:
    shape = list(x.shape)
    shape[h_axis] += sum(pads[0])
    shape[h_axis + 1] += sum(pads[1])
    return np.zeros(shape, dtype)


@backward("MaxPool2D", inputs=True, output=True)
@backward("AvgPool2D", inputs=False)
def _pool(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x = inputs[0]
    extra = {"count_include_pad": layer.count_include_pad} if layer.mode == "avg" else {}
    return [pool2d_input_grad(x, output, grad, layer.mode, layer.pool_size, layer.stride,
                              layer._pads(*_hw(layer, x)), layer.ceil_mode,
                              channels_last=layer.data_format == "channels_last", **extra)]


def _spatial_axes(layer: Layer) -> tuple[int, int]:
    return (2, 3) if layer.data_format == "channels_first" else (1, 2)


@backward("GlobalAvgPool2D", inputs=False)
def _global_avg(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x = inputs[0]
    axes = _spatial_axes(layer)
    cells = x.shape[axes[0]] * x.shape[axes[1]]
    share = np.expand_dims(grad / np.asarray(cells, grad.dtype), axes)
    return [np.broadcast_to(share, x.shape).copy()]


@backward("GlobalMaxPool2D", inputs=True)
def _global_max(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    """All of each channel's gradient goes to its first maximum (row-major)."""
    x = inputs[0]
    axes = _spatial_axes(layer)
    return [route_to_argmax(x, grad, axes)]


def route_to_argmax(x: np.ndarray, grad: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """d / d x of ``x.max(axis=axes)``: ``grad`` at each reduction's first maximum, zero elsewhere."""
    moved = np.moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim)))
    flat = moved.reshape(moved.shape[:x.ndim - len(axes)] + (-1,))
    where = np.argmax(flat, axis=-1)
    dflat = np.zeros(flat.shape, grad.dtype)
    np.put_along_axis(dflat, where[..., None], np.asarray(grad)[..., None], axis=-1)
    return np.moveaxis(dflat.reshape(moved.shape), tuple(range(x.ndim - len(axes), x.ndim)), axes)


@backward("ZeroPadding2D", inputs=False)
def _zero_pad(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    h_axis = 1 if layer.data_format == "channels_last" else 2
    return [np.ascontiguousarray(grad[_interior(h_axis, layer.padding, inputs[0])])]

"""Convolution and pooling layers keep one kernel route per input shape (ops.conv2d_route,
ops.pool2d_route): right for every shape and dtype, never stale, picklable."""

import pickle

import numpy as np
import pytest

from test_ops import naive_conv, naive_pool
from viewer.net import ops, ops_geometry as geometry
from viewer.net.layers import AvgPool2D, Conv2D, Input, MaxPool2D

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def to_last(a):
    return np.moveaxis(a, 1, -1)


@pytest.mark.parametrize("channels,out,groups,kernel,padding", [
    (4, 6, 1, 3, "same"),     # im2col
    (4, 8, 4, 3, "same"),     # depthwise with a channel multiplier
    (1, 5, 1, 3, "valid"),    # one input channel
    (4, 6, 1, 1, "valid"),    # pointwise
])
@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
def test_one_layer_over_several_shapes_and_dtypes(channels, out, groups, kernel, padding, fmt):
    W, b = rand(out, channels // groups, kernel, kernel), rand(out)
    layer = Conv2D(Input(shape=(channels, None, None)), name="c", W=W, b=b, padding=padding,
                   groups=groups, data_format=fmt)
    pads = 1 if padding == "same" and kernel == 3 else 0
    for x in (rand(1, channels, 7, 9), rand(3, channels, 5, 5), rand(1, channels, 7, 9),
              RNG.integers(-3, 4, size=(2, channels, 6, 6))):
        want = naive_conv(x.astype(np.float64), W, b, (1, 1), ((pads, pads),) * 2, (1, 1), groups)
        given = x if fmt == "channels_first" else to_last(x)
        got = layer.forward(np.ascontiguousarray(given))
        assert got.dtype == np.float32
        if fmt == "channels_last":
            got = np.moveaxis(got, -1, 1)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_new_weights_replace_the_route():
    layer = Conv2D(Input(shape=(3, 6, 6)), name="c", W=rand(4, 3, 3, 3), b=rand(4))
    x = rand(2, 3, 6, 6)
    layer.forward(x)
    layer.W, layer.b = rand(4, 3, 3, 3), None
    want = naive_conv(x, layer.W, None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    np.testing.assert_allclose(layer.forward(x), want, rtol=1e-5, atol=1e-5)


def test_a_layer_with_routes_pickles():
    layer = Conv2D(Input(shape=(8, 8, 4)), name="c", W=rand(8, 1, 3, 3), b=rand(8), groups=4,
                   data_format="channels_last", padding="same")
    x = rand(2, 8, 8, 4)
    want = layer.forward(x)
    copy = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(copy.forward(x), want)


def test_route_equals_conv2d():
    x, W, b = rand(2, 5, 9, 9), rand(6, 5, 3, 3), rand(6)
    route = ops.conv2d_route(x.shape, x.dtype, W, b, stride=2, padding=1)
    np.testing.assert_array_equal(route(x), ops.conv2d(x, W, b, stride=2, padding=1))


@pytest.mark.parametrize("shape", [(1, 44, 44, 8), (2, 5, 7, 16), (1, 3, 3, 128), (1, 1, 1, 3)])
def test_bias_added_in_tiled_rows_is_exact(shape):
    y, b = rand(*shape), rand(shape[-1])
    want = y + b
    prepared = {}
    for _ in range(2):      # the tiled bias kept in prepared is the same bias
        got = y.copy()
        geometry.add_channels_last(got, b, prepared)
        np.testing.assert_array_equal(got, want)
    strided = rand(*shape[:-1], 2 * shape[-1])[..., ::2]
    want = strided + b
    geometry.add_channels_last(strided, b, {})
    np.testing.assert_array_equal(strided, want)


@pytest.mark.parametrize("cls,mode", [(MaxPool2D, "max"), (AvgPool2D, "avg")])
@pytest.mark.parametrize("channels", [3, 64])
@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
def test_pooling_over_several_shapes(cls, mode, channels, fmt):
    layer = cls(Input(shape=(channels, None, None)), name="p", pool_size=3, stride=2, padding=1,
                ceil_mode=True, data_format=fmt)
    for x in (rand(1, channels, 9, 8), rand(2, channels, 6, 7), rand(1, channels, 9, 8),
              RNG.integers(-5, 5, size=(1, channels, 5, 5))):
        want = naive_pool(x.astype(np.float64), mode, (3, 3), (2, 2), ((1, 1), (1, 1)), True, True)
        given = np.ascontiguousarray(x if fmt == "channels_first" else to_last(x))
        got = layer.forward(given)
        if fmt == "channels_last":
            got = np.moveaxis(got, -1, 1)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    copy = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(copy.forward(given), layer.forward(given))


@pytest.mark.parametrize("shape", [(1, 240, 14, 14), (3, 16, 5, 7), (1, 72, 56, 56), (2, 1, 1, 1)])
def test_channels_first_bias_added_as_planes_is_exact(shape):
    y, b = rand(*shape), rand(shape[1])
    want = y + b[:, None, None]
    prepared = {}
    for _ in range(2):
        got = y.copy()
        geometry.add_channels_first(got, b, prepared)
        np.testing.assert_array_equal(got, want)
    strided = rand(*shape[:-1], 2 * shape[-1])[..., ::2]
    want = strided + b[:, None, None]
    geometry.add_channels_first(strided, b, {})
    np.testing.assert_array_equal(strided, want)

"""Outputs handed to callers are never work arrays a later forward pass writes into.

The kernels keep work arrays, tiled biases and routes between calls; these
tests make sure none of that ever reaches a result: two calls return arrays
that share no memory, a later call leaves an earlier result as it was, and
the outputs of ``net.trace`` (the window's unfused values) stay unchanged by
any later forward pass.
"""

import numpy as np
import pytest

from viewer.net import Net
from viewer.net.layers import (Activation, Add, AvgPool2D, BatchNorm, Conv2D, Dense,
                               GlobalAvgPool2D, Input, MaxPool2D)
from viewer.net.layers.conv_extra import SeparableConv2D

RNG = np.random.default_rng(11)


def rand(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def small_xception(fmt: str) -> Net:
    """mini-Xception's kinds on a 16x16 map: conv, folded norm, ReLU, separable, pools, residual."""
    last = fmt == "channels_last"
    axis = -1 if last else 1
    inp = Input(shape=(16, 16, 1) if last else (1, 16, 16), name="in")
    conv = Conv2D(inp, name="conv", W=rand(8, 1, 3, 3), b=rand(8), padding="same", data_format=fmt)
    norm = BatchNorm(conv, name="norm", mean=rand(8) * 0.1, var=np.abs(rand(8)) + 0.5,
                     gamma=rand(8), beta=rand(8), eps=1e-3, axis=axis)
    relu = Activation(norm, name="relu", function="relu")
    sep = SeparableConv2D(relu, name="sep", W_depth=rand(8, 1, 3, 3), W_point=rand(16, 8, 1, 1),
                          b=rand(16), in_channels=8, padding="same", data_format=fmt)
    pool = MaxPool2D(sep, name="pool", pool_size=3, stride=2, padding="same", data_format=fmt)
    skip = Conv2D(relu, name="skip", W=rand(16, 8, 1, 1), b=rand(16), stride=2, data_format=fmt)
    add = Add([pool, skip], name="add")
    avg = AvgPool2D(add, name="avg", pool_size=2, data_format=fmt)
    gap = GlobalAvgPool2D(avg, name="gap", data_format=fmt)
    dense = Dense(gap, name="dense", W=rand(16, 5), b=rand(5))
    out = Activation(dense, name="softmax", function="softmax")
    return Net([inp, conv, norm, relu, sep, pool, skip, add, avg, gap, dense, out])


def batch(fmt: str, n: int = 1) -> np.ndarray:
    return rand(n, 16, 16, 1) if fmt == "channels_last" else rand(n, 1, 16, 16)


@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
@pytest.mark.parametrize("index", [-1, 4, 5, 7])   # the output, a separable, a pool, a residual sum
def test_two_forward_passes_share_no_memory(fmt, index):
    net = small_xception(fmt)
    x1, x2 = batch(fmt), batch(fmt)
    first = net[index](x1)
    kept = first.copy()
    second = net[index](x2)
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)      # the second call left the first alone
    np.testing.assert_array_equal(net[index](x1), kept)


@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
def test_trace_values_unchanged_by_later_passes(fmt):
    net = small_xception(fmt)
    x = batch(fmt, 2)
    trace = net.trace(x)
    kept = [v.copy() for v in trace]
    for other in (batch(fmt, 2), batch(fmt, 1), batch(fmt, 2)):   # the same shapes and others
        net[-1](other)
        net.outputs(other, [4, 7])
    for value, copy in zip(trace, kept):
        np.testing.assert_array_equal(value, copy)
    for i, value in enumerate(trace):
        for later in trace[i + 1:]:
            assert not np.shares_memory(value, later)    # no layer of this net returns a view


@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
def test_layer_outputs_are_fresh_arrays(fmt):
    net = small_xception(fmt)
    x = batch(fmt)
    values = net.trace(x)
    for layer, value in zip(net, values):
        if not layer.inputs:
            continue
        again = layer.forward(values[net.index(layer.inputs[0])] if len(layer.inputs) == 1
                              else tuple(values[net.index(p)] for p in layer.inputs))
        assert not np.shares_memory(again, value)
        for p in layer.inputs:
            assert not np.shares_memory(again, values[net.index(p)])

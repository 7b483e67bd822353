"""Fused evaluation steps: the same numbers as layer by layer, and every wanted output kept."""

import numpy as np
import pytest

from viewer.net import Net
from viewer.net.layers import (Activation, Add, BatchNorm, Conv2D, Dense, Dropout, Flatten, Input,
                               MaxPool2D, Multiply)
from viewer.net.layers.activation import RELU_CLIP_MIN_SIZE, relu
from viewer.net.layers.base import LayerFailed
from viewer.net.layers.conv_extra import SeparableConv2D
from viewer.net.layers.tensor import ConstArithmetic, Unary

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def close(got, want):
    """Equal up to float32 rounding, relative to the largest value (the fidelity measure)."""
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def norm(prev, name, c, axis):
    return BatchNorm(prev, name=name, mean=rand(c) * 0.1, var=np.abs(rand(c)) + 0.5,
                     gamma=rand(c), beta=rand(c), eps=1e-3, axis=axis)


def groups_of(net, target=-1):
    """The layer names of each fused step when only ``target`` is wanted."""
    plan = net._plan_for((net.resolve(target),))
    return [[layer.name for layer in step.layers] for step in plan.steps]


@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
def test_conv_norm_relu_residual_chain_matches_the_layers(fmt):
    axis = 1 if fmt == "channels_first" else -1
    shape = (4, 9, 9) if fmt == "channels_first" else (9, 9, 4)
    inp = Input(shape=shape, name="in")
    c1 = Conv2D(inp, name="c1", W=rand(4, 4, 3, 3), padding="same", data_format=fmt)
    b1 = norm(c1, "b1", 4, axis)
    r1 = Activation(b1, name="r1", function="relu")
    c2 = Conv2D(r1, name="c2", W=rand(4, 4, 3, 3), b=rand(4), padding="same", data_format=fmt)
    b2 = norm(c2, "b2", 4, axis)
    add = Add((b2, r1), name="add")
    r6 = Unary(add, name="r6", function="clip", low=0.0, high=6.0)
    hs = Activation(r6, name="hs", function="hard_swish")
    pool = MaxPool2D(hs, name="pool", data_format=fmt)
    net = Net([inp, c1, b1, r1, c2, b2, add, r6, hs, pool])
    x = rand(3, *shape)
    layer_by_layer = net.trace(x)
    assert groups_of(net) == [["in"], ["c1", "b1", "r1"], ["c2", "b2", "add", "r6", "hs"], ["pool"]]
    close(net[-1](x), layer_by_layer[-1])
    # A wanted layer ends its step: nothing after it is done in place on its output.
    assert groups_of(net, "b2")[-1] == ["c2", "b2"]
    out = net.outputs(x, ["b2", "hs"])
    assert groups_of(net, "hs")[-1] == ["c2", "b2", "add", "r6", "hs"]
    close(out[5], layer_by_layer[5])
    close(out[8], layer_by_layer[8])
    assert not np.shares_memory(out[5], out[8])
    close(net["b1"](x), layer_by_layer[2])


def test_the_input_batch_is_never_overwritten():
    inp = Input(shape=(5,), name="in")
    relu = Activation(inp, name="relu", function="relu")
    dense = Dense(relu, name="d", W=rand(5, 5))
    add = Add((dense, inp), name="add")
    net = Net([inp, relu, dense, add])
    x = rand(4, 5)
    kept = x.copy()
    close(net[-1](x), np.maximum(kept, 0) @ dense.W + kept)
    np.testing.assert_array_equal(x, kept)
    assert groups_of(net) == [["in"], ["relu"], ["d", "add"]]


def test_dense_norm_dropout_and_norm_off_the_channel_axis():
    inp = Input(shape=(6,), name="in")
    d = Dense(inp, name="d", W=rand(6, 3), b=rand(3))
    bn = norm(d, "bn", 3, -1)
    drop = Dropout(bn, name="drop")
    sig = Activation(drop, name="sig", function="sigmoid")
    net = Net([inp, d, bn, drop, sig])
    x = rand(5, 6)
    assert groups_of(net) == [["in"], ["d", "bn", "drop", "sig"]]
    close(net[-1](x), net.trace(x)[-1])
    # Channels-first conv, batch norm over the width axis: applied in place, not folded.
    inp2 = Input(shape=(2, 4, 4), name="in")
    conv = Conv2D(inp2, name="c", W=rand(2, 2, 1, 1))
    wide = norm(conv, "w", 4, -1)
    net2 = Net([inp2, conv, wide])
    x2 = rand(3, 2, 4, 4)
    assert not net2._plan_for((2,)).steps[-1].folded
    close(net2[-1](x2), net2.trace(x2)[-1])


def test_separable_conv_folds_its_norm():
    inp = Input(shape=(7, 7, 3), name="in")
    sep = SeparableConv2D(inp, name="s", W_depth=rand(3, 1, 3, 3), W_point=rand(5, 3, 1, 1),
                          in_channels=3, padding="same", data_format="channels_last")
    bn = norm(sep, "bn", 5, -1)
    net = Net([inp, sep, bn])
    x = rand(2, 7, 7, 3)
    assert net._plan_for((2,)).steps[-1].folded
    close(net[-1](x), net.trace(x)[-1])


def test_sigmoid_times_its_input_is_one_swish():
    inp = Input(shape=(2, 5, 5), name="in")
    conv = Conv2D(inp, name="c", W=rand(3, 2, 3, 3), b=rand(3))
    sig = Activation(conv, name="sig", function="sigmoid")
    mul = Multiply((conv, sig), name="silu")
    net = Net([inp, conv, sig, mul])
    x = rand(2, 2, 5, 5)
    assert groups_of(net) == [["in"], ["c", "sig", "silu"]]
    close(net[-1](x), net.trace(x)[-1])
    # The sigmoid wanted too: no swish, each keeps its output.
    out = net.outputs(x, [2, 3])
    np.testing.assert_array_equal(out[2], net.trace(x)[2])


def test_hard_swish_exported_as_add_clip_mul_div_is_one_step():
    # The chain paddle2onnx writes: a scale and shift after the conv, hard-swish as
    # x * clip(x + 3, 0, 6) / 6, then another scale and shift (a reversed sub, too).
    inp = Input(shape=(2, 5, 5), name="in")
    conv = Conv2D(inp, name="c", W=rand(3, 2, 3, 3), b=rand(3))
    scale = ConstArithmetic(conv, name="scale", c=np.full((1, 1, 1, 1), 1.5, np.float32), op="mul",
                            reverse=True)
    shift = ConstArithmetic(scale, name="shift", c=rand(1, 3, 1, 1), op="add")
    plus3 = ConstArithmetic(shift, name="plus3", c=np.full((1, 1, 1, 1), 3.0, np.float32), op="add")
    clip = Unary(plus3, name="clip", function="clip", low=0.0, high=6.0)
    mul = Multiply((shift, clip), name="mul")
    div = ConstArithmetic(mul, name="div", c=np.full((1, 1, 1, 1), 6.0, np.float32), op="div")
    flip = ConstArithmetic(div, name="flip", c=np.full((1, 1, 1, 1), 0.5, np.float32), op="sub",
                           reverse=True)
    net = Net([inp, conv, scale, shift, plus3, clip, mul, div, flip])
    x = rand(4, 2, 5, 5)
    assert groups_of(net) == [["in"], ["c", "scale", "shift", "plus3", "clip", "mul", "div", "flip"]]
    close(net[-1](x), net.trace(x)[-1])
    # The gate's input wanted: it ends its step, and the gate and product run as layers.
    assert groups_of(net, "shift")[-1] == ["c", "scale", "shift"]
    out = net.outputs(x, ["shift", "flip"])
    close(out[3], net.trace(x)[3])
    close(out[8], net.trace(x)[8])


def test_a_constant_that_widens_its_input_is_not_applied_in_place():
    inp = Input(shape=(3,), name="in")
    d = Dense(inp, name="d", W=rand(3, 4))
    wide = ConstArithmetic(d, name="wide", c=rand(1, 2, 4), op="mul")
    net = Net([inp, d, wide])
    x = rand(5, 3)
    assert groups_of(net)[-1] == ["d", "wide"]
    got = net[-1](x)
    assert got.shape == (5, 2, 4)
    close(got, net.trace(x)[-1])


def test_a_failing_layer_inside_a_step_is_named():
    inp = Input(shape=(3,), name="in")
    d = Dense(inp, name="d", W=rand(3, 4))
    relu = Activation(d, name="relu", function="relu")
    flat = Flatten(relu, name="flat")
    net = Net([inp, d, relu, flat])
    assert groups_of(net)[1] == ["d", "relu"]

    def broken(x):
        raise FloatingPointError("overflow")
    d.forward = broken
    with pytest.raises(LayerFailed, match="'d'"):
        net[-1](rand(2, 3))


@pytest.mark.parametrize("size", [100, RELU_CLIP_MIN_SIZE + 7])     # maximum, then clip
def test_relu_both_routes(size):
    x = rand(size)
    x[:4] = [np.nan, -np.inf, np.inf, -0.0]
    want = np.maximum(x, 0)
    np.testing.assert_array_equal(relu(x), want)
    inplace = x.copy()
    assert relu(inplace, out=inplace) is inplace
    np.testing.assert_array_equal(inplace, want)


def test_fused_relu_is_bit_for_bit_the_layers_relu():
    inp = Input(shape=(3, 48, 48), name="in")     # 8x48x48 outputs: the clip route
    relu_layer = Activation(Conv2D(inp, name="c", W=rand(8, 3, 3, 3), b=rand(8), padding=1),
                            name="r", function="relu")
    net = Net([inp, relu_layer.prev, relu_layer])
    x = rand(2, 3, 48, 48)
    assert groups_of(net) == [["in"], ["c", "r"]]
    assert net[-1](x).tobytes() == net.trace(x)[-1].tobytes()


def test_a_value_read_twice_by_one_step_and_again_later():
    inp = Input(shape=(6,), name="in")
    d = Dense(inp, name="d", W=rand(6, 6), b=rand(6))
    twice = Add([d, d], name="twice")
    later = Add([twice, d], name="later")
    net = Net([inp, d, twice, later])
    x = rand(3, 6)
    want = net.trace(x)
    for _ in range(2):      # the plan is reused
        np.testing.assert_array_equal(net[-1](x), want[-1])
        got = net.outputs(x, [1, 3])
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[3], want[3])

"""Receptive fields against the input cells that actually change a unit."""

import itertools

import numpy as np
import pytest

from viewer.analysis.attribution import ReceptiveFieldUnknown, receptive_field
from viewer.errors import StrataError
from viewer.net import Net
from viewer.net.layers import (Activation, Add, AvgPool2D, Conv2D, Dense, Input, MaxPool2D,
                               ZeroPadding2D)
from viewer.net.layers.conv_extra import AvgPool1D, Conv1D, Upsample
from viewer.net.layers.recurrent import SimpleRNN


def positive(rng, *shape):
    return rng.random(shape) + 0.1  # all weights positive: every cell in the field moves the unit


def influence(net, layer, position, fmt):
    """Bounding box (start, stop) of the input cells whose change moves ``position`` of ``layer``."""
    shape = net.input.output_shape
    x = np.zeros((1,) + shape)
    base = net[layer](x)
    axes = [a for a in range(len(shape)) if a != (0 if fmt == "channels_first" else len(shape) - 1)]
    moved = []
    for cell in itertools.product(*(range(shape[a]) for a in axes)):
        y = x.copy()
        index = [0] + [slice(None)] * len(shape)
        for a, c in zip(axes, cell):
            index[1 + a] = c
        y[tuple(index)] = 1.0
        out = net[layer](y) - base
        out_pos = [slice(None)] * out.ndim
        out_axes = [a for a in range(1, out.ndim) if a != (1 if fmt == "channels_first" else out.ndim - 1)]
        for a, p in zip(out_axes, position):
            out_pos[a] = p
        if np.abs(out[tuple(out_pos)]).max() > 1e-9:
            moved.append(cell)
    if not moved:
        return None  # the position is padding: nothing moves it
    moved = np.array(moved)
    return tuple(moved.min(axis=0)), tuple(moved.max(axis=0) + 1)


def image_chain(fmt):
    rng = np.random.default_rng(0)
    shape = (1, 23, 21) if fmt == "channels_first" else (23, 21, 1)
    x = Input(shape=shape, name="input", data_format=fmt)
    c1 = Conv2D(x, name="conv1", W=positive(rng, 2, 1, 3, 5), padding=((1, 0), (2, 1)),
                stride=(1, 2), data_format=fmt)
    p1 = AvgPool2D(c1, name="pool1", pool_size=3, stride=2, padding="same", data_format=fmt)
    c2 = Conv2D(p1, name="conv2", W=positive(rng, 2, 2, 3, 3), dilation=2, padding="same",
                data_format=fmt)
    z = ZeroPadding2D(c2, name="zpad", padding=((2, 0), (1, 1)), data_format=fmt)
    c3 = Conv2D(z, name="conv3", W=positive(rng, 3, 2, 2, 2), stride=2, data_format=fmt)
    r = Activation(c3, name="relu", function="relu")
    return Net([x, c1, p1, c2, z, c3, r])


@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
@pytest.mark.parametrize("layer", ["conv1", "pool1", "conv2", "zpad", "relu"])
def test_field_is_the_box_of_the_cells_that_move_the_unit(fmt, layer):
    net = image_chain(fmt)
    grid_shape = net[layer].output_shape
    sizes = grid_shape[1:] if fmt == "channels_first" else grid_shape[:2]
    for position in {(0, 0), (sizes[0] - 1, sizes[1] - 1), (sizes[0] // 2, sizes[1] // 3)}:
        field = receptive_field(net, layer, position)
        box = influence(net, layer, position, fmt)
        if box is None:
            assert field.inside is None and all(s.start == s.stop for s in field.clipped)
            continue
        clipped = field.clipped
        assert (tuple(s.start for s in clipped), tuple(s.stop for s in clipped)) == box, position
        assert field.inside == box


def test_field_with_padding_reaches_outside_the_input():
    net = image_chain("channels_first")
    field = receptive_field(net, "conv1", (0, 0))
    assert field.start == (-1, -2) and field.stop == (2, 3) and field.size == (3, 5)
    assert field.clipped == (slice(0, 2), slice(0, 3))
    assert field.center == (0.0, 0.0)


def test_max_pooling_and_branches_join_their_fields():
    rng = np.random.default_rng(1)
    x = Input(shape=(1, 16, 16), name="input", data_format="channels_first")
    a = Conv2D(x, name="a", W=positive(rng, 2, 1, 5, 5), padding=2)
    b = Conv2D(x, name="b", W=positive(rng, 2, 1, 1, 1))
    add = Add((a, b), name="add")
    pool = MaxPool2D(add, name="pool", pool_size=2)
    net = Net([x, a, b, add, pool])
    field = receptive_field(net, "pool", (3, 4))
    assert field.start == (4, 6) and field.stop == (10, 12)  # add cells 6..7 x 8..9, 5x5 kernels
    assert receptive_field(net, "b", (3, 4)).size == (1, 1)


def test_sequences():
    rng = np.random.default_rng(2)
    x = Input(shape=(30, 2), name="input")
    c = Conv1D(x, name="conv", W=positive(rng, 3, 2, 4), dilation=3, padding="causal")
    p = AvgPool1D(c, name="pool", pool_size=3, stride=2)
    u = Upsample(p, name="up", scale=(2, 1))
    net = Net([x, c, p, u])
    for layer, position in (("conv", (0,)), ("conv", (29,)), ("pool", (5,)), ("up", (11,))):
        field = receptive_field(net, layer, position)
        box = influence(net, layer, position, "channels_last")
        assert (field.clipped[0].start, field.clipped[0].stop) == (box[0][0], box[1][0])
    # causal, dilation 3, kernel 4: step t sees t - 9 .. t, padding included
    assert receptive_field(net, "conv", (29,)).start == (20,)
    assert receptive_field(net, "conv", (2,)).size == (10,)
    assert receptive_field(net, "conv", (2,)).clipped == (slice(2, 3),)  # t=2: only 2 is real


def test_layers_without_a_rule_say_so():
    rng = np.random.default_rng(3)
    x = Input(shape=(10, 3), name="input")
    rnn = SimpleRNN(x, name="rnn", W=rng.normal(size=(3, 4)), U=rng.normal(size=(4, 4)))
    net = Net([x, rnn, Dense(rnn, name="fc", W=rng.normal(size=(4, 2)))])
    with pytest.raises(ReceptiveFieldUnknown, match="layer 'rnn' \\(SimpleRNN\\) has no "
                                                    "receptive-field rule"):
        receptive_field(net, "rnn", (3,))
    with pytest.raises(StrataError, match="position \\(10,\\) is not in layer 'rnn'"):
        receptive_field(net, "rnn", (10,))

"""The layer kinds the converters add: hand-written formulas, and round trips.

``CONVERTER_EXAMPLES`` has one example per kind added in conv_extra.py,
recurrent.py and tensor.py, in the form of test_store.py's ``EXAMPLES``.
"""

from __future__ import annotations

import numpy as np
import pytest

from viewer.errors import LayerError
from viewer.net import Net, load, save
from viewer.net.layers import Input
from viewer.net.layers.base import ancestors
from viewer.net.layers.expression import Elementwise
from viewer.net.layers.conv_extra import (AvgPool1D, Conv1D, Conv2DTranspose, MaxPool1D, SeparableConv1D,
                                          SeparableConv2D, Upsample)
from viewer.net.layers.recurrent import GRU, LSTM, SimpleRNN
from viewer.net.layers.indexing import Pad, Slice, Take
from viewer.net.layers.operator import Operator
from viewer.net.layers.tensor import (Arithmetic, ConstArithmetic, Embedding, LayerNorm, MatMul,
                                      PReLU, Reduce, Unary)

RNG = np.random.default_rng(3)


def rand(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def seq_input():
    return Input(shape=(7, 3), name="in")


def image_input():
    return Input(shape=(2, 5, 6), name="in", data_format="channels_first")


def _two():
    inp = Input(shape=(4, 3), name="in")
    return inp, Unary(inp, name="t", function="sin")


CONVERTER_EXAMPLES = {
    "Conv1D": lambda: Conv1D(seq_input(), name="L", W=rand(4, 3, 3), b=rand(4), stride=2,
                             padding="causal", dilation=2),
    "SeparableConv1D": lambda: SeparableConv1D(seq_input(), name="L", W_depth=rand(6, 1, 2),
                                               W_point=rand(5, 6, 1), b=rand(5), in_channels=3,
                                               padding="same"),
    "SeparableConv2D": lambda: SeparableConv2D(image_input(), name="L", W_depth=rand(4, 1, 3, 3),
                                               W_point=rand(3, 4, 1, 1), in_channels=2,
                                               padding=((1, 1), (0, 2)),
                                               data_format="channels_first"),
    "Conv2DTranspose": lambda: Conv2DTranspose(image_input(), name="L", W=rand(2, 3, 3, 2), b=rand(3),
                                               stride=(2, 3), crop=((1, 0), (2, 1)),
                                               output_padding=(1, 0)),
    "MaxPool1D": lambda: MaxPool1D(seq_input(), name="L", pool_size=3, stride=2, padding="same"),
    "AvgPool1D": lambda: AvgPool1D(seq_input(), name="L", pool_size=2, padding=(1, 1)),
    "Upsample": lambda: Upsample(image_input(), name="L", scale=(1, 2, 3)),
    "SimpleRNN": lambda: SimpleRNN(seq_input(), name="L", W=rand(3, 4), U=rand(4, 4), b=rand(4),
                                   go_backwards=True),
    "LSTM": lambda: LSTM(seq_input(), name="L", W=rand(3, 8), U=rand(2, 8), b=rand(8),
                         W_back=rand(3, 8), U_back=rand(2, 8), merge_mode="stack",
                         recurrent_activation={"function": "hard_sigmoid", "slope": 0.2}),
    "GRU": lambda: GRU(seq_input(), name="L", W=rand(3, 6), U=rand(2, 6), b=rand(6), b_rec=rand(6),
                       reset_after=True, output="last"),
    "Embedding": lambda: Embedding(Input(shape=(4,), name="in"), name="L", W=rand(9, 3)),
    "LayerNorm": lambda: LayerNorm(seq_input(), name="L", gamma=rand(7, 3), beta=rand(7, 3),
                                   axes=(1, 2)),
    "Arithmetic": lambda: Arithmetic(_two(), name="L", op="sub"),
    "ConstArithmetic": lambda: ConstArithmetic(seq_input(), name="L", c=rand(1, 3), op="div",
                                               reverse=True),
    "Unary": lambda: Unary(seq_input(), name="L", function="clip", low=-0.5, high=None),
    "Reduce": lambda: Reduce(image_input(), name="L", op="max", axes=(2, -1), keepdims=True),
    "Slice": lambda: Slice(image_input(), name="L", axes=(1, -1), starts=(1, 0), stops=(None, -1),
                           steps=(1, 2)),
    "Take": lambda: Take(seq_input(), name="L", axis=1, index=-1),
    "Pad": lambda: Pad(seq_input(), name="L", pads=((1, 2), (0, 1)), mode="reflect"),
    "MatMul": lambda: MatMul((Input(shape=(2, 3), name="in"), Input(shape=(3, 4), name="in2")),
                             name="L"),
    "PReLU": lambda: PReLU(image_input(), name="L", alpha=rand(2, 1, 1)),
    "Elementwise": lambda: Elementwise.from_constants(
        _two(), name="L", steps=[["add", ["in", 0], ["const", 0]], ["mul", ["num", 0.5], ["step", 0]],
                                 ["maximum", ["step", 1], ["in", 1]]],
        constants=[rand(1, 1, 3)]),
    "Operator": lambda: Operator((seq_input(),), name="L", op="Conv", opset=17,
                                 args=[["data", 0, 0], ["const", 0], ["none"]], shape=[1, 4, 2],
                                 attrs={"pads": [1, 0], "strides": [2]}, const0=rand(4, 7, 2)),
}


def _input_batch(net):
    if len(net.inputs) > 1:
        return {layer.name: rand(2, *layer.output_shape) for layer in net.inputs}
    if isinstance(net[-1], Embedding):
        return RNG.integers(0, 9, size=(2, 4))
    return rand(2, *net.input.output_shape)


@pytest.mark.parametrize("kind", sorted(CONVERTER_EXAMPLES))
def test_converter_kinds_round_trip(kind, tmp_path):
    layer = CONVERTER_EXAMPLES[kind]()
    assert layer.kind == kind
    net = Net(ancestors(layer), name="example")
    save(net, tmp_path / "net.h5")
    back = load(tmp_path / "net.h5")
    assert [(l.kind, l.config(), l.output_shape) for l in back] == \
        [(l.kind, l.config(), l.output_shape) for l in net]
    x = _input_batch(net)
    out = net[-1](x)
    assert out.shape[1:] == net[-1].output_shape
    np.testing.assert_array_equal(back[-1](x), out)


# -- formulas -------------------------------------------------------------------------

def test_conv1d_against_a_loop():
    layer = CONVERTER_EXAMPLES["Conv1D"]()  # causal, stride 2, dilation 2, channels last
    x = rand(2, 7, 3)
    padded = np.concatenate([np.zeros((2, 4, 3), np.float32), x], axis=1)
    want = np.stack([sum(padded[:, t + 2 * j] @ layer.W[:, :, j].T for j in range(3))
                     for t in range(0, 7, 2)], axis=1) + layer.b
    np.testing.assert_allclose(layer.forward(x), want, rtol=1e-5, atol=1e-5)


def test_conv2d_transpose_against_scatter():
    layer = CONVERTER_EXAMPLES["Conv2DTranspose"]()
    x = rand(2, 2, 5, 6)
    W, (sh, sw) = layer.W, layer.stride
    full = np.zeros((2, 3, (5 - 1) * sh + 3 + 1, (6 - 1) * sw + 2))
    for i in range(5):
        for j in range(6):
            full[:, :, i * sh:i * sh + 3, j * sw:j * sw + 2] += np.einsum("nc,cokl->nokl", x[:, :, i, j], W)
    (top, bottom), (left, right) = layer.crop
    h = (5 - 1) * sh - top - bottom + 3 + 1
    w = (6 - 1) * sw - left - right + 2
    want = full[:, :, top:top + h, left:left + w] + layer.b[:, None, None]
    got = layer.forward(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_separable_is_depthwise_then_pointwise():
    layer = CONVERTER_EXAMPLES["SeparableConv1D"]()
    x = rand(2, 7, 3)
    xp = np.pad(x, ((0, 0), (0, 1), (0, 0)))  # "same" for k=2 pads one after
    depth = np.stack([np.stack([xp[:, t:t + 2, c] @ layer.W_depth[2 * c + m, 0] for m in range(2)], -1)
                      for t in range(7) for c in range(3)], 1).reshape(2, 7, 6)
    want = depth @ layer.W_point[:, :, 0].T + layer.b
    np.testing.assert_allclose(layer.forward(x), want, rtol=1e-5, atol=1e-5)


def _lstm_direction(x, W, U, b, slope, backwards):
    n, units = x.shape[0], U.shape[0]
    h, c, outs = np.zeros((n, units)), np.zeros((n, units)), []
    sig = lambda v: np.clip(slope * v + 0.5, 0, 1)  # noqa: E731
    steps = range(x.shape[1] - 1, -1, -1) if backwards else range(x.shape[1])
    for t in steps:
        z = x[:, t] @ W + h @ U + b
        i, f, g, o = np.split(z, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, 1)


def test_bidirectional_lstm_stacks_directions_in_input_time_order():
    layer = CONVERTER_EXAMPLES["LSTM"]()
    x = rand(2, 7, 3)
    forward = _lstm_direction(x, layer.W, layer.U, layer.b, 0.2, False)
    backward = _lstm_direction(x, layer.W_back, layer.U_back, layer.b_back, 0.2, True)[:, ::-1]
    np.testing.assert_allclose(layer.forward(x), np.stack([forward, backward], axis=2),
                               rtol=1e-5, atol=1e-6)


def test_go_backwards_keeps_reading_order_unless_restored():
    kept = CONVERTER_EXAMPLES["SimpleRNN"]()
    x = rand(2, 7, 3)
    h, outs = np.zeros((2, 4)), []
    for t in range(6, -1, -1):
        h = np.tanh(x[:, t] @ kept.W + h @ kept.U + kept.b)
        outs.append(h)
    np.testing.assert_allclose(kept.forward(x), np.stack(outs, 1), rtol=1e-5, atol=1e-6)
    restored = SimpleRNN(seq_input(), name="R", W=kept.W, U=kept.U, b=kept.b, go_backwards=True,
                         restore_order=True)
    np.testing.assert_allclose(restored.forward(x), np.stack(outs, 1)[:, ::-1], rtol=1e-5, atol=1e-6)


def test_gru_reset_after_against_formula():
    layer = CONVERTER_EXAMPLES["GRU"]()
    x = rand(2, 7, 3)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = np.zeros((2, 2))
    for t in range(7):
        xz, xr, xh = np.split(x[:, t] @ layer.W + layer.b, 3, axis=1)
        hz, hr, hh = np.split(h @ layer.U + layer.b_rec, 3, axis=1)
        z, r = sig(xz + hz), sig(xr + hr)
        h = z * h + (1 - z) * np.tanh(xh + r * hh)
    np.testing.assert_allclose(layer.forward(x), h, rtol=1e-5, atol=1e-6)


def test_tensor_kinds_against_numpy():
    x = rand(2, 7, 3)
    np.testing.assert_allclose(CONVERTER_EXAMPLES["Take"]().forward(x), x[:, -1])
    ln = CONVERTER_EXAMPLES["LayerNorm"]()
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = np.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln.forward(x), (x - mean) / std * ln.gamma + ln.beta, rtol=1e-5, atol=1e-5)
    const = CONVERTER_EXAMPLES["ConstArithmetic"]()
    np.testing.assert_allclose(const.forward(x), const.c / x, rtol=1e-6)
    pad = CONVERTER_EXAMPLES["Pad"]()
    np.testing.assert_array_equal(pad.forward(x), np.pad(x, ((0, 0), (1, 2), (0, 1)), mode="reflect"))
    erf = Unary(seq_input(), name="e", function="erf").forward(np.array([[0.0, 0.5, -1.0, 3.0]], np.float32))
    np.testing.assert_allclose(erf, [[0.0, 0.5204998778, -0.8427007929, 0.9999779095]], atol=2e-7)
    img = rand(2, 2, 5, 6)
    np.testing.assert_array_equal(CONVERTER_EXAMPLES["Slice"]().forward(img), img[:, 1:, :, :-1:2])
    np.testing.assert_array_equal(CONVERTER_EXAMPLES["Reduce"]().forward(img),
                                  img.max(axis=(2, 3), keepdims=True))
    up = CONVERTER_EXAMPLES["Upsample"]().forward(img)
    np.testing.assert_array_equal(up, img.repeat(2, axis=2).repeat(3, axis=3))
    prelu = CONVERTER_EXAMPLES["PReLU"]()
    np.testing.assert_array_equal(prelu.forward(img), np.where(img >= 0, img, prelu.alpha * img))


def test_elementwise_formula():
    layer = CONVERTER_EXAMPLES["Elementwise"]()
    x = rand(2, 4, 3)
    want = np.maximum(0.5 * (x + layer._values[0]), np.sin(x))
    np.testing.assert_allclose(layer.forward((x, np.sin(x))), want, rtol=1e-6)
    with pytest.raises(LayerError, match="bad argument"):
        Elementwise(_two(), name="bad", steps=[["add", ["in", 0], ["step", 0]]])
    with pytest.raises(LayerError, match="known op"):
        Elementwise(_two(), name="bad", steps=[["__import__", ["in", 0]]])


def test_pooling_1d_matches_a_loop():
    x = rand(2, 7, 3)
    got = CONVERTER_EXAMPLES["MaxPool1D"]().forward(x)  # "same", size 3, stride 2: pads (1, 1)
    padded = np.pad(x, ((0, 0), (1, 1), (0, 0)), constant_values=-np.inf)
    np.testing.assert_array_equal(got, np.stack([padded[:, t:t + 3].max(1) for t in range(0, 7, 2)], 1))
    avg = CONVERTER_EXAMPLES["AvgPool1D"]().forward(x)  # pads (1, 1), padding not counted
    padded = np.pad(x, ((0, 0), (1, 1), (0, 0)))
    counts = np.array([1, 2, 2, 2])[None, :, None]
    sums = np.stack([padded[:, t:t + 2].sum(1) for t in range(0, 8, 2)], 1)
    np.testing.assert_allclose(avg, sums / counts, rtol=1e-6)


def test_bad_configs_are_layer_errors():
    with pytest.raises(LayerError, match="indices must lie in"):
        CONVERTER_EXAMPLES["Embedding"]().forward(np.array([[0, 9, 1, 2]]))
    with pytest.raises(LayerError, match="batch axis"):
        Take(seq_input(), name="t", axis=0, index=1)
    with pytest.raises(LayerError, match="gates"):
        LSTM(seq_input(), name="l", W=rand(3, 7), U=rand(2, 8))
    with pytest.raises(LayerError, match="do not broadcast"):
        Arithmetic((seq_input(), Input(shape=(7, 4), name="b")), name="a", op="add").output_shape

"""Every layer kind and option against a hand-written numpy formula."""

import math

import numpy as np
import pytest

from test_ops import naive_conv, naive_pool
from viewer.errors import LayerError
from viewer.net import Net
from viewer.net.layers.conv_extra import Conv2DTranspose
from viewer.net.layers import (KINDS, Activation, Add, AvgPool2D, BatchNorm, Concatenate, Conv2D,
                               Dense, Dropout, Flatten, GlobalAvgPool2D, GlobalMaxPool2D, Input,
                               MaxPool2D, Multiply, Permute, Reshape, ZeroPadding2D, layer_class)

RNG = np.random.default_rng(42)


def rand(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def run(layer_cls, x, channels_last=False, **kw):
    """Build Input -> layer for x's per-sample shape and return layer(x)."""
    inp = Input(shape=x.shape[1:], name="in")
    layer = layer_cls(inp, name="L", **kw)
    out = layer(x)
    assert out.shape[1:] == layer.output_shape
    return out


def to_last(a):
    return np.moveaxis(a, 1, -1)


# -- Input and Dense ---------------------------------------------------------------

def test_input_passes_the_batch_and_checks_its_shape():
    x = rand(3, 1, 8, 8)
    inp = Input(shape=(1, 8, 8), name="pixels")
    assert inp(x) is x
    with pytest.raises(LayerError, match=r"input 'pixels' expects samples of shape \(1, 8, 8\), "
                                         r"got a batch of shape \(3, 8, 8\)"):
        inp(x[:, 0])


def test_input_with_unknown_length_accepts_any():
    inp = Input(shape=(None, 4), name="seq")
    assert inp(rand(2, 7, 4)).shape == (2, 7, 4)
    assert inp.output_shape == (None, 4)


@pytest.mark.parametrize("bias", [True, False])
def test_dense_is_x_times_w_plus_b(bias):
    x, W, b = rand(5, 6), rand(6, 3), rand(3)
    out = run(Dense, x, W=W, b=b if bias else None)
    np.testing.assert_allclose(out, x @ W + (b if bias else 0), rtol=1e-6)


def test_dense_refuses_mismatched_bias_and_input():
    with pytest.raises(LayerError, match="bias has 4 values for 3 units"):
        Dense(Input(shape=(6,)), name="d", W=rand(6, 3), b=rand(4))
    d = Dense(Input(shape=(5,)), name="d", W=rand(6, 3))
    with pytest.raises(LayerError, match=r"expects 6 input features, gets shape \(5,\)"):
        d.output_shape


# -- Conv2D ---------------------------------------------------------------------

@pytest.mark.parametrize("padding,pads", [
    ("valid", ((0, 0), (0, 0))),
    (1, ((1, 1), (1, 1))),
    (((0, 2), (1, 0)), ((0, 2), (1, 0))),
])
@pytest.mark.parametrize("stride,dilation,groups", [
    (1, 1, 1), (2, 1, 1), (1, 2, 1), ((2, 1), 1, 2), (1, 1, 4),
])
def test_conv2d_every_option_both_layouts(padding, pads, stride, dilation, groups):
    x = rand(2, 4, 9, 8)
    W, b = rand(8, 4 // groups, 3, 3), rand(8)
    s = (stride, stride) if isinstance(stride, int) else stride
    want = naive_conv(x, W, b, s, pads, (dilation, dilation), groups)
    got = run(Conv2D, x, W=W, b=b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    got_last = run(Conv2D, to_last(x), W=W, b=b, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, data_format="channels_last")
    np.testing.assert_allclose(got_last, to_last(want), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size,stride", [(8, 1), (8, 2), (7, 2), (9, 3)])
def test_conv2d_same_padding_follows_tensorflow(size, stride):
    # TensorFlow pads max((ceil(n/s)-1)*s + k - n, 0), the odd extra at the end.
    x, W = rand(1, 2, size, size), rand(3, 2, 3, 3)
    total = max((math.ceil(size / stride) - 1) * stride + 3 - size, 0)
    pads = ((total // 2, total - total // 2),) * 2
    want = naive_conv(x, W, None, (stride, stride), pads, (1, 1), 1)
    got = run(Conv2D, x, W=W, stride=stride, padding="same")
    assert got.shape[2] == math.ceil(size / stride)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_depthwise_conv_with_channel_multiplier():
    x, W = rand(2, 3, 6, 6), rand(6, 1, 3, 3)  # groups == channels, 2 filters each
    got = run(Conv2D, x, W=W, groups=3)
    for c in range(3):
        for m in range(2):
            o = 2 * c + m
            want = sum(x[:, c, i:i + 4, j:j + 4] * W[o, 0, i, j] for i in range(3) for j in range(3))
            np.testing.assert_allclose(got[:, o], want, rtol=1e-5, atol=1e-5)


def test_conv2d_refuses_wrong_channels_and_bad_groups():
    conv = Conv2D(Input(shape=(3, 8, 8)), name="c", W=rand(4, 2, 3, 3))
    with pytest.raises(LayerError, match="has kernels for 2 input channels, gets 3"):
        conv.output_shape
    with pytest.raises(LayerError, match="5 output channels do not split into 2 groups"):
        Conv2D(Input(shape=(4, 8, 8)), name="c", W=rand(5, 2, 3, 3), groups=2)
    small = Conv2D(Input(shape=(1, 2, 2)), name="c", W=rand(1, 1, 3, 3))
    with pytest.raises(LayerError, match="smaller than its 3x3 kernel"):
        small.output_shape


# -- pooling --------------------------------------------------------------------

@pytest.mark.parametrize("cls,mode", [(MaxPool2D, "max"), (AvgPool2D, "avg")])
@pytest.mark.parametrize("size,stride,padding,ceil_mode,include", [
    (2, None, "valid", False, True),
    (3, 2, 1, False, True),
    (3, 2, 1, False, False),
    (3, 2, "valid", True, True),
    (2, 2, ((1, 0), (0, 1)), True, False),
])
def test_pooling_every_option_both_layouts(cls, mode, size, stride, padding, ceil_mode, include):
    x = rand(2, 3, 7, 8)
    extra = {"count_include_pad": include} if mode == "avg" else {}
    got = run(cls, x, pool_size=size, stride=stride, padding=padding, ceil_mode=ceil_mode, **extra)
    pads = {"valid": ((0, 0), (0, 0)), 1: ((1, 1), (1, 1))}.get(padding, padding)
    st = (stride or size,) * 2
    want = naive_pool(x, mode, (size, size), st, pads, ceil_mode, include)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    got_last = run(cls, to_last(x), pool_size=size, stride=stride, padding=padding,
                   ceil_mode=ceil_mode, data_format="channels_last", **extra)
    np.testing.assert_allclose(got_last, to_last(want), rtol=1e-5, atol=1e-6)


def test_max_pool_same_padding_never_picks_the_padding():
    x = -np.abs(rand(1, 1, 5, 5)) - 1  # all negative: a zero pad would win
    got = run(MaxPool2D, x, pool_size=2, stride=2, padding="same")
    assert got.shape == (1, 1, 3, 3)
    assert got[0, 0, 2, 2] == x[0, 0, 4, 4]


@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
def test_global_pools(fmt):
    x = rand(2, 5, 4, 3)
    axes = (2, 3) if fmt == "channels_first" else (1, 2)
    np.testing.assert_allclose(run(GlobalAvgPool2D, x, data_format=fmt), x.mean(axis=axes), rtol=1e-6)
    np.testing.assert_array_equal(run(GlobalMaxPool2D, x, data_format=fmt), x.max(axis=axes))
    for big in (100 * rand(2, 64, 7, 9), 100 * RNG.normal(size=(1, 3, 57, 113))):
        big = big if fmt == "channels_first" else to_last(big)   # means taken as np.mean takes them
        np.testing.assert_array_equal(run(GlobalAvgPool2D, big, data_format=fmt), big.mean(axis=axes))


# -- batch norm -----------------------------------------------------------------

@pytest.mark.parametrize("shape,axis", [((2, 4, 3, 3), 1), ((2, 3, 3, 4), -1), ((5, 4), -1), ((5, 4), 1)])
def test_batchnorm_formula(shape, axis):
    x = rand(*shape)
    mean, var, gamma, beta = rand(4), np.abs(rand(4)) + 0.1, rand(4), rand(4)
    got = run(BatchNorm, x, mean=mean, var=var, gamma=gamma, beta=beta, eps=1e-3, axis=axis)
    bshape = [1] * len(shape)
    bshape[axis] = 4
    r = lambda v: v.reshape(bshape)  # noqa: E731
    want = (x - r(mean)) / np.sqrt(r(var) + 1e-3) * r(gamma) + r(beta)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_batchnorm_refuses_wrong_channel_count():
    bn = BatchNorm(Input(shape=(3, 4, 4)), name="bn", mean=rand(4), var=rand(4) ** 2)
    with pytest.raises(LayerError, match=r"has 4 channels on axis 1, input shape is \(3, 4, 4\)"):
        bn.output_shape


# -- activations ----------------------------------------------------------------

def _sig(x):
    return 1 / (1 + np.exp(-x))


ACTIVATIONS = [
    ("linear", {}, lambda x: x),
    ("relu", {}, lambda x: np.maximum(x, 0)),
    ("relu", {"max_value": 0.5}, lambda x: np.clip(x, 0, 0.5)),
    ("relu", {"alpha": 0.1, "threshold": 0.2}, lambda x: np.where(x >= 0.2, x, 0.1 * (x - 0.2))),
    ("leaky_relu", {"alpha": 0.2}, lambda x: np.where(x > 0, x, 0.2 * x)),
    ("elu", {"alpha": 1.5}, lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1))),
    ("selu", {}, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1))),
    ("gelu", {}, lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    ("gelu_tanh", {}, lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    ("tanh", {}, np.tanh),
    ("sigmoid", {}, _sig),
    ("hard_sigmoid", {}, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    ("hard_sigmoid", {"slope": 1 / 6, "offset": 0.5}, lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    ("hard_swish", {}, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("softplus", {}, lambda x: np.log1p(np.exp(x))),
    ("softsign", {}, lambda x: x / (1 + np.abs(x))),
    ("swish", {}, lambda x: x * _sig(x)),
    ("softmax", {}, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    ("softmax", {"axis": 1}, lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    ("log_softmax", {}, lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
]


@pytest.mark.parametrize("function,options,formula", ACTIVATIONS,
                         ids=[f"{a[0]}{a[1] or ''}" for a in ACTIVATIONS])
def test_activation_formulas(function, options, formula):
    x = (rand(3, 4, 5) * 3).astype(np.float64)
    got = run(Activation, x, function=function, **options)
    np.testing.assert_allclose(got, formula(x), rtol=1e-6, atol=2e-7)
    got32 = run(Activation, x.astype(np.float32), function=function, **options)
    assert got32.dtype == np.float32


def test_softmax_is_stable_for_large_values():
    x = np.array([[1000.0, 1000.0, -1000.0]])
    np.testing.assert_allclose(run(Activation, x, function="softmax"), [[0.5, 0.5, 0.0]])


def test_activation_errors_name_the_choices():
    with pytest.raises(LayerError, match=r"unknown activation 'mish' \(known: elu, gelu"):
        Activation(Input(shape=(3,)), name="a", function="mish")
    with pytest.raises(LayerError, match=r"activation 'tanh' takes no option\(s\) \['alpha'\]"):
        Activation(Input(shape=(3,)), name="a", function="tanh", alpha=1)


# -- shape layers ---------------------------------------------------------------

def test_dropout_is_identity():
    x = rand(4, 6)
    np.testing.assert_array_equal(run(Dropout, x, rate=0.9), x)


def test_flatten_in_both_orders():
    x = rand(2, 3, 4, 5)  # channels first
    np.testing.assert_array_equal(run(Flatten, x, data_format="channels_first"), x.reshape(2, -1))
    np.testing.assert_array_equal(run(Flatten, x, data_format="channels_first", order="channels_last"),
                                  x.transpose(0, 2, 3, 1).reshape(2, -1))
    y = to_last(x)
    np.testing.assert_array_equal(run(Flatten, y, data_format="channels_last", order="channels_first"),
                                  x.reshape(2, -1))


def test_reshape_and_permute():
    x = rand(2, 12)
    np.testing.assert_array_equal(run(Reshape, x, target_shape=(3, -1)), x.reshape(2, 3, 4))
    with pytest.raises(LayerError, match=r"cannot reshape \(12,\) to \(5, -1\)"):
        Reshape(Input(shape=(12,)), name="r", target_shape=(5, -1)).output_shape
    y = rand(2, 3, 4, 5)
    np.testing.assert_array_equal(run(Permute, y, dims=(2, 0, 1)), y.transpose(0, 3, 1, 2))
    with pytest.raises(LayerError, match="not a permutation"):
        Permute(Input(shape=(3, 4)), name="p", dims=(0, 0))


@pytest.mark.parametrize("padding,pads", [(1, ((1, 1), (1, 1))), ((1, 2), ((1, 1), (2, 2))),
                                          (((0, 1), (2, 3)), ((0, 1), (2, 3)))])
def test_zero_padding(padding, pads):
    x = rand(2, 3, 4, 5)
    want = np.pad(x, ((0, 0), (0, 0)) + pads)
    np.testing.assert_array_equal(run(ZeroPadding2D, x, padding=padding), want)
    np.testing.assert_array_equal(run(ZeroPadding2D, to_last(x), padding=padding,
                                      data_format="channels_last"), to_last(want))


# -- merges ---------------------------------------------------------------------

def _three_branches():
    inp = Input(shape=(2, 3), name="in")
    return inp, [Dense(inp, name=f"d{k}", W=rand(3, 3), b=rand(3)) for k in range(3)]


def test_add_multiply_concatenate_three_inputs():
    inp, (a, b, c) = _three_branches()
    x = rand(4, 2, 3)
    xa, xb, xc = (x @ d.W + d.b for d in (a, b, c))
    np.testing.assert_allclose(Add((a, b, c), name="s")(x), xa + xb + xc, rtol=1e-5)
    np.testing.assert_allclose(Multiply((a, b, c), name="m")(x), xa * xb * xc, rtol=1e-5)
    cat = Concatenate((a, b, c), name="c", axis=1)
    np.testing.assert_allclose(cat(x), np.concatenate([xa, xb, xc], axis=1), rtol=1e-5)
    assert cat.output_shape == (6, 3)


def test_merge_shape_errors():
    inp = Input(shape=(3,), name="in")
    a = Dense(inp, name="a", W=rand(3, 2))
    b = Dense(inp, name="b", W=rand(3, 4))
    with pytest.raises(LayerError, match=r"needs inputs of one shape, got \(2,\), \(4,\)"):
        Add((a, b), name="s").output_shape
    assert Concatenate((a, b), name="c").output_shape == (6,)
    with pytest.raises(LayerError, match="needs at least two inputs"):
        Add((a,), name="s")


# -- the registry and the net ---------------------------------------------------

def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(LayerError) as err:
        layer_class("Conv3D")
    assert "unknown layer kind 'Conv3D'" in str(err.value)
    for kind in ("Dense", "Conv2D", "BatchNorm", "Concatenate"):
        assert kind in str(err.value)


def test_every_issue_kind_is_registered():
    wanted = {"Input", "Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D",
              "GlobalMaxPool2D", "BatchNorm", "Activation", "Dropout", "Flatten", "Reshape",
              "Permute", "ZeroPadding2D", "Add", "Multiply", "Concatenate"}
    assert wanted <= set(KINDS)


def _residual_net():
    inp = Input(shape=(4,), name="in")
    d1 = Dense(inp, name="d1", W=rand(4, 4), b=rand(4))
    r1 = Activation(d1, name="r1", function="relu")
    d2 = Dense(r1, name="d2", W=rand(4, 4))
    add = Add((d1, d2), name="add")
    out = Activation(add, name="out", function="softmax")
    return Net([inp, d1, r1, d2, add, out], name="res")


def test_net_sequence_and_names():
    net = _residual_net()
    assert len(net) == 6 and [layer.name for layer in net][-2:] == ["add", "out"]
    assert net[-1] is net["out"] is net[5]
    assert net.index("d2") == 3 and net.resolve("-2") == 4 and net.resolve("r1") == 2
    with pytest.raises(LayerError, match="the net has no layer named 'nope'"):
        net["nope"]
    with pytest.raises(LayerError, match="layer index 6 is out of range: the net has 6 layers"):
        net.resolve(6)
    rows = net.summary()
    assert [(r.index, r.kind, r.output_shape, r.n_params) for r in rows[3:5]] == \
        [(3, "Dense", (4,), 16), (4, "Add", (4,), 0)]
    assert rows[4].inputs == ("d1", "d2") and net.n_params == 36


def test_trace_equals_calls_and_computes_each_layer_once(monkeypatch):
    net = _residual_net()
    x = rand(3, 4)
    want = [layer(x) for layer in net]
    calls = {}
    for layer in net:
        original = layer.forward

        def counted(v, _f=original, _n=layer.name):
            calls[_n] = calls.get(_n, 0) + 1
            return _f(v)
        monkeypatch.setattr(layer, "forward", counted)
    outs = net.trace(x)
    assert calls == {layer.name: 1 for layer in net}
    for got, exp in zip(outs, want):
        np.testing.assert_allclose(got, exp, rtol=1e-6)
    calls.clear()
    net[-1](x)  # d1 feeds two branches and is still computed once
    assert calls["d1"] == 1
    calls.clear()
    assert set(net.outputs(x, ["d1", 3])) == {1, 3} and "out" not in calls


def test_net_refuses_duplicates_and_foreign_layers():
    inp = Input(shape=(3,), name="in")
    with pytest.raises(LayerError, match="two layers are named 'in'"):
        Net([inp, Input(shape=(3,), name="in")])
    orphan = Dense(Input(shape=(3,), name="other"), name="d", W=rand(3, 2))
    with pytest.raises(LayerError, match="reads from 'other', which is not an earlier layer"):
        Net([inp, orphan])


def test_several_inputs_take_a_dict():
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    m = Multiply((a, b), name="m")
    net = Net([a, b, m])
    xa, xb = rand(2, 3), rand(2, 3)
    np.testing.assert_allclose(net[-1]({"a": xa, "b": xb}), xa * xb)
    with pytest.raises(LayerError, match="no data given for input 'b'"):
        net[-1]({"a": xa})


def test_deep_chain_needs_no_recursion():
    layers = [Input(shape=(2,), name="in")]
    for k in range(3000):
        layers.append(Activation(layers[-1], name=f"a{k}", function="linear"))
    x = rand(1, 2)
    np.testing.assert_array_equal(Net(layers)[-1](x), x)


def test_a_failing_layer_is_named_and_trace_keeps_what_came_before():
    class Exploding(Dense):
        def forward(self, x):
            raise FloatingPointError("overflow")

    inp = Input(shape=(3,), name="in")
    d = Dense(inp, name="d", W=rand(3, 2))
    bad = Exploding(d, name="bad", W=rand(2, 2))
    net = Net([inp, d, bad, Activation(bad, name="after", function="relu")])
    x = rand(2, 3)
    with pytest.raises(LayerError, match=r"^layer 'bad' \(Dense\) failed: FloatingPointError: overflow$"):
        net[-1](x)
    from viewer.net.layers.base import LayerFailed
    with pytest.raises(LayerFailed) as err:
        net.trace(x)
    assert err.value.index == 2 and len(err.value.outputs) == 2
    np.testing.assert_allclose(err.value.outputs[1], x @ d.W, rtol=1e-6)


def naive_conv_transpose(x, W, b, stride, crop, output_padding, dilation, groups):
    """Scatter every input cell times its kernels into the full output, then crop (NCHW, float64)."""
    n, cin, h, w = x.shape
    _, og, kh, kw = W.shape
    cg = cin // groups
    full = [(h - 1) * stride[0] + dilation[0] * (kh - 1) + 1 + output_padding[0],
            (w - 1) * stride[1] + dilation[1] * (kw - 1) + 1 + output_padding[1]]
    y = np.zeros((n, og * groups, full[0], full[1]))
    for c in range(cin):
        g = c // cg
        for o in range(og):
            for i in range(h):
                for j in range(w):
                    for a in range(kh):
                        for q in range(kw):
                            y[:, g * og + o, i * stride[0] + a * dilation[0],
                              j * stride[1] + q * dilation[1]] += x[:, c, i, j] * W[c, o, a, q]
    y = y[:, :, crop[0][0]:full[0] - crop[0][1], crop[1][0]:full[1] - crop[1][1]]
    return y if b is None else y + b[:, None, None]


@pytest.mark.parametrize("wshape, stride, crop, output_padding, dilation, groups", [
    ((4, 3, 2, 2), (2, 2), ((0, 0), (0, 0)), (0, 0), (1, 1), 1),     # the usual 2x upsampling
    ((4, 2, 3, 3), (1, 1), ((1, 1), (1, 1)), (0, 0), (1, 1), 1),     # overlapping taps
    ((4, 3, 3, 2), (2, 3), ((1, 0), (0, 2)), (1, 2), (1, 1), 1),     # cropped, output padding
    ((4, 1, 3, 3), (2, 1), ((0, 1), (1, 0)), (0, 0), (2, 1), 2),     # dilated, grouped
    ((4, 2, 4, 4), (2, 2), ((1, 1), (1, 1)), (1, 0), (1, 1), 4),
])
@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
def test_conv_transpose_matches_the_scatter_formula(wshape, stride, crop, output_padding, dilation,
                                                   groups, fmt):
    x, W, b = rand(2, 4, 5, 6), rand(*wshape), rand(wshape[1] * groups)
    want = naive_conv_transpose(x.astype(np.float64), W, b, stride, crop, output_padding, dilation,
                                groups)
    last = fmt == "channels_last"
    inp = Input(shape=(5, 6, 4) if last else (4, 5, 6), data_format=fmt)
    layer = Conv2DTranspose(inp, name="t", W=W, b=b, stride=stride, crop=crop,
                            output_padding=output_padding, dilation=dilation, groups=groups,
                            data_format=fmt)
    got = layer.forward(np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if last else x)
    assert got.dtype == np.float32
    assert got.shape[1:] == layer.output_shape
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2) if last else got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["mean", "sum"])
@pytest.mark.parametrize("axes", [(2, 3), (-1,), (1, 2, 3), (3, 2), (1, 2), (1, 3)])
@pytest.mark.parametrize("keepdims", [True, False])
@pytest.mark.parametrize("transposed", [False, True])
def test_reduce_mean_and_sum_of_float32_accumulate_in_float64(op, axes, keepdims, transposed):
    # Trailing axes of a contiguous input take the matrix-vector route, the others
    # (leading axes, a transposed view) numpy's; both against a float64 loop.
    from viewer.net.layers.tensor import Reduce
    x = 1e4 + rand(2, 3, 5, 4)                  # large values, small spread
    if transposed:
        x = x.transpose(0, 1, 3, 2)
    layer = Reduce(Input(shape=x.shape[1:], name="in"), name="r", op=op, axes=axes,
                   keepdims=keepdims)
    got = layer.forward(x)
    reduced = sorted(a % 4 for a in axes)
    want = np.zeros([1 if i in reduced else n for i, n in enumerate(x.shape)])
    for index in np.ndindex(*x.shape):
        want[tuple(0 if i in reduced else j for i, j in enumerate(index))] += float(x[index])
    if op == "mean":
        want /= math.prod(x.shape[a] for a in reduced)
    if not keepdims:
        want = want.reshape([n for i, n in enumerate(want.shape) if i not in reduced])
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=1e-7, atol=0)

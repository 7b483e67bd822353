"""Every layer kind's vector-Jacobian product against central finite differences in float64.

CASES lists, per kind, layers with every option; the test is parametrised
over the layer registry, so a kind registered without a backward (and without
a refusal in REFUSED) or without cases here fails. The Operator kind's ONNX
ops are tested one by one in test_backward_operator.py.
"""

import numpy as np
import pytest

from viewer.net.backward import BACKWARDS, REFUSED, NoBackward, vjp
from viewer.net.backward.registry import reads
from viewer.net.layers import KINDS, Input, load_every_kind
from viewer.net.layers import activation as act

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.normal(size=shape)


def inp(*shape, name="in"):
    return Input(shape=shape, name=name)


def single(factory, *shape):
    """A case of a one-input kind: the layer on an Input of per-sample ``shape``, batch of 2."""
    def build():
        return factory(inp(*shape)), [rand(2, *shape)]
    return build


def merged(factory, *shapes):
    """A case of a merge kind: the layer on Inputs of the given per-sample shapes."""
    def build():
        prev = tuple(inp(*s, name=f"in{k}") for k, s in enumerate(shapes))
        return factory(prev), [rand(2, *s) for s in shapes]
    return build


def _activations():
    cases = []
    for function, (_, defaults) in act.FUNCTIONS.items():
        options = [{}]
        if function == "relu":
            options = [{}, {"max_value": 0.8}, {"alpha": 0.1}, {"threshold": 0.3},
                       {"alpha": 0.2, "threshold": -0.2, "max_value": 1.1}]
        elif function in ("softmax", "log_softmax"):
            options = [{}, {"axis": 1}]
        elif function == "hard_sigmoid":
            options = [{}, {"slope": 0.5, "offset": 0.3}]
        elif function in ("elu", "leaky_relu"):
            options = [{}, {"alpha": 0.3}]
        for extra in options:
            cases.append(single(lambda p, f=function, o=extra: act.Activation(p, name="L", function=f, **o),
                                3, 5))
    # hard_swish's pieces meet at -3 and 3: inputs spread over them
    cases.append(lambda: (act.Activation(inp(40), name="L", function="hard_swish"),
                          [RNG.uniform(-5, 5, size=(2, 40))]))
    return cases


def _conv2d_cases():
    from viewer.net.layers import Conv2D
    cases = []
    for stride, padding, dilation, groups, fmt, c, o in [
            (1, "valid", 1, 1, "channels_first", 2, 3),
            (2, "same", 1, 1, "channels_last", 2, 3),
            (1, ((2, 0), (1, 3)), 2, 1, "channels_first", 2, 2),
            ((2, 1), "same", (1, 2), 2, "channels_first", 4, 2),
            (1, 1, 1, 3, "channels_last", 3, 3),        # depthwise
            (2, "same", 1, 2, "channels_first", 2, 4),   # depthwise, multiplier 2
            (3, 1, 1, 1, "channels_last", 1, 2),
    ]:
        def factory(p, stride=stride, padding=padding, dilation=dilation, groups=groups, fmt=fmt,
                    c=c, o=o):
            return Conv2D(p, name="L", W=rand(o, c // groups, 3, 2), b=rand(o), stride=stride,
                          padding=padding, dilation=dilation, groups=groups, data_format=fmt)
        cases.append(single(factory, *((c, 7, 6) if fmt == "channels_first" else (7, 6, c))))
    return cases


def _pool_cases(cls, **extra):
    cases = []
    for size, stride, padding, ceil_mode, fmt in [
            (2, None, "valid", False, "channels_first"),
            (3, 2, "same", False, "channels_last"),
            ((2, 3), (1, 2), ((1, 0), (1, 1)), True, "channels_first"),
            (3, 2, 1, True, "channels_last"),
    ]:
        def factory(p, size=size, stride=stride, padding=padding, ceil_mode=ceil_mode, fmt=fmt):
            return cls(p, name="L", pool_size=size, stride=stride, padding=padding,
                       ceil_mode=ceil_mode, data_format=fmt, **extra)
        cases.append(single(factory, *((2, 7, 6) if fmt == "channels_first" else (7, 6, 2))))
    return cases


def _conv_extra_cases():
    from viewer.net.layers.conv_extra import (AvgPool1D, Conv1D, Conv2DTranspose, MaxPool1D,
                                              SeparableConv1D, SeparableConv2D, Upsample)
    conv1d = []
    for stride, padding, dilation, groups, fmt in [(1, "valid", 1, 1, "channels_last"),
                                                   (2, "same", 1, 2, "channels_first"),
                                                   (1, "causal", 2, 1, "channels_last"),
                                                   (2, (2, 1), 1, 4, "channels_last")]:
        def factory(p, stride=stride, padding=padding, dilation=dilation, groups=groups, fmt=fmt):
            return Conv1D(p, name="L", W=rand(4, 4 // groups, 3), b=rand(4), stride=stride,
                          padding=padding, dilation=dilation, groups=groups, data_format=fmt)
        conv1d.append(single(factory, *((9, 4) if fmt == "channels_last" else (4, 9))))
    transpose = []
    for stride, crop, output_padding, dilation, groups, fmt in [
            (1, ((0, 0), (0, 0)), 0, 1, 1, "channels_first"),
            (2, ((1, 0), (1, 1)), 1, 1, 1, "channels_last"),
            ((2, 3), ((0, 1), (2, 0)), (1, 2), (2, 1), 2, "channels_first")]:
        def factory(p, stride=stride, crop=crop, output_padding=output_padding, dilation=dilation,
                    groups=groups, fmt=fmt):
            return Conv2DTranspose(p, name="L", W=rand(4, 3 // groups if groups == 1 else 1, 3, 2),
                                   b=rand(3 if groups == 1 else 2), stride=stride, crop=crop,
                                   output_padding=output_padding, dilation=dilation, groups=groups,
                                   data_format=fmt)
        transpose.append(single(factory, *((4, 4, 3) if fmt == "channels_first" else (4, 3, 4))))
    pools = {}
    for cls in (MaxPool1D, AvgPool1D):
        pools[cls.kind] = [single(lambda p, cls=cls, o=o: cls(p, name="L", **o), *s)
                           for o, s in [({"pool_size": 2}, (7, 3)),
                                        ({"pool_size": 3, "stride": 2, "padding": "same",
                                          "data_format": "channels_first"}, (3, 8)),
                                        ({"pool_size": 3, "stride": 1, "padding": (1, 2),
                                          "count_include_pad": True}, (6, 2))]]
    return {
        "Conv1D": conv1d,
        "Conv2DTranspose": transpose,
        "SeparableConv2D": [single(lambda p, f=f, s=s: SeparableConv2D(
            p, name="L", W_depth=rand(4, 1, 3, 3), W_point=rand(3, 4, 1, 1), b=rand(3), in_channels=2,
            stride=s, padding="same", data_format=f), *shape)
            for f, s, shape in (("channels_last", 1, (5, 6, 2)), ("channels_first", 2, (2, 5, 6)))],
        "SeparableConv1D": [single(lambda p, f=f: SeparableConv1D(
            p, name="L", W_depth=rand(2, 1, 3), W_point=rand(3, 2, 1), b=rand(3), in_channels=2,
            stride=2, padding="same", data_format=f), *shape)
            for f, shape in (("channels_last", (7, 2)), ("channels_first", (2, 7)))],
        **pools,
        "Upsample": [single(lambda p: Upsample(p, name="L", scale=(1, 2, 3)), 2, 3, 2),
                     single(lambda p: Upsample(p, name="L", scale=(2, 1)), 3, 2)],
    }


def positive(factory, *shape):
    """Like :func:`single`, with inputs in [0.5, 2] (logarithms, roots, powers)."""
    def build():
        return factory(inp(*shape)), [RNG.uniform(0.5, 2.0, size=(2,) + shape)]
    return build


def _tensor_cases():
    from viewer.net.layers.tensor import (Arithmetic, ConstArithmetic, Embedding, LayerNorm, MatMul,
                                          PReLU, Reduce, Unary)
    arithmetic = [merged(lambda p, op=op: Arithmetic(p, name="L", op=op), (2, 3), (3,), (1, 3))
                  for op in ("add", "sub", "mul", "div", "max", "min", "mean")]
    arithmetic += [lambda: (Arithmetic((inp(3, name="a"), inp(3, name="b")), name="L", op="pow"),
                            [RNG.uniform(0.5, 2, (2, 3)), rand(2, 3)]),
                   lambda: (Arithmetic((inp(3, name="c"), inp(3, name="a"), inp(1, name="b")), name="L",
                                       op="where"), [rand(2, 3) > 0, rand(2, 3), rand(2, 1)]),
                   merged(lambda p: Arithmetic(p, name="L", op="greater"), (3,), (3,))]
    const = [single(lambda p, op=op, r=r: ConstArithmetic(p, name="L", op=op, reverse=r,
                                                          c=RNG.uniform(0.5, 2, (1, 2, 1))), 3)
             for op in ("add", "sub", "mul", "div", "max", "min", "less") for r in (False, True)]
    const += [positive(lambda p, r=r: ConstArithmetic(p, name="L", op="pow", reverse=r,
                                                      c=RNG.uniform(0.5, 2, (1, 3))), 3)
              for r in (False, True)]
    unary = [positive(lambda p, f=f: Unary(p, name="L", function=f), 2, 3)
             for f in ("neg", "abs", "exp", "log", "sqrt", "reciprocal", "sin", "cos", "erf")]
    unary += [lambda f=f: (Unary(inp(3), name="L", function=f), [RNG.uniform(0.1, 3, (2, 3)) * [1, -1, 1]
                                                                 + [[0.05, 0, 0]]])
              for f in ("floor", "ceil", "sign")]
    unary += [single(lambda p: Unary(p, name="L", function="clip", low=-0.5, high=0.7), 4, 3),
              single(lambda p: Unary(p, name="L", function="clip", low=None, high=0.2), 5)]
    reduce = [single(lambda p, op=op, axes=axes, k=k: Reduce(p, name="L", op=op, axes=axes, keepdims=k),
                     2, 3, 4)
              for op in ("mean", "sum", "max", "min", "prod") for axes, k in (((-1,), False), ((1, 3), True))]

    return {
        "Embedding": [],  # integer input: see test_embedding_indices_have_zero_gradient
        "LayerNorm": [single(lambda p: LayerNorm(p, name="L", gamma=rand(4), beta=rand(4), eps=1e-3), 3, 4),
                      single(lambda p: LayerNorm(p, name="L", gamma=rand(2, 3), axes=(1, 2)), 2, 3),
                      single(lambda p: LayerNorm(p, name="L", axes=(-1,)), 5)],
        "Arithmetic": arithmetic,
        "ConstArithmetic": const,
        "Unary": unary,
        "Reduce": reduce,
        "MatMul": [merged(lambda p: MatMul(p, name="L"), (2, 3, 4), (4, 2)),
                   merged(lambda p: MatMul(p, name="L"), (1, 3, 4), (2, 4, 2))],
        "PReLU": [single(lambda p: PReLU(p, name="L", alpha=rand(2, 1, 1)), 2, 3, 3),
                  single(lambda p: PReLU(p, name="L", alpha=rand(4)), 4)],
    }


def _indexing_cases():
    from viewer.net.layers.indexing import Pad, Slice, Take
    from viewer.net.layers.resampling import Resize2D, Tile
    resize = [single(lambda p, m=m, a=a, h=h, f=f: Resize2D(
        p, name="L", size=(5, 7), mode=m, align_corners=a, half_pixel_centers=h, data_format=f), *s)
        for m in ("nearest", "bilinear") for a, h in ((False, False), (True, False), (False, True))
        for f, s in (("channels_last", (3, 4, 2)), ("channels_first", (2, 3, 4)))]
    resize.append(single(lambda p: Resize2D(p, name="L", size=(2, 3), mode="bilinear",
                                            half_pixel_centers=True, data_format="channels_first"),
                         1, 5, 7))
    return {
        "Slice": [single(lambda p: Slice(p, name="L", axes=(1, -1), starts=(1, -4), stops=(None, 5),
                                         steps=(1, 2)), 3, 6),
                  single(lambda p: Slice(p, name="L", axes=(2,), starts=(4,), stops=(0,), steps=(-2,)), 2, 6)],
        "Take": [single(lambda p: Take(p, name="L", axis=2, index=[3, 0, 3, -1]), 2, 4),
                 single(lambda p: Take(p, name="L", axis=-2, index=1), 2, 3, 2)],
        "Pad": [single(lambda p, m=m: Pad(p, name="L", pads=((1, 2), (2, 0)), mode=m, value=0.5), 3, 4)
                for m in ("constant", "reflect", "edge")],
        "Resize2D": resize,
        "Tile": [single(lambda p: Tile(p, name="L", reps=(2, 1, 3)), 2, 2, 1)],
    }


def _elementwise_cases():
    from viewer.net.layers.expression import Elementwise
    formulas = [
        # Theano's ReLU and batch norm as Composite formulas
        ([["abs", ["in", 0]], ["add", ["in", 0], ["step", 0]], ["mul", ["num", 0.5], ["step", 1]]], []),
        ([["sub", ["in", 0], ["const", 0]], ["mul", ["step", 0], ["const", 1]],
          ["add", ["step", 1], ["in", 1]]], [rand(1, 3), rand(1, 3)]),
        ([["sigmoid", ["in", 0]], ["tanh", ["in", 1]], ["mul", ["step", 0], ["step", 1]],
          ["div", ["step", 2], ["const", 0]], ["sqr", ["step", 3]], ["maximum", ["step", 4], ["in", 0]],
          ["minimum", ["step", 5], ["num", 0.3]], ["softplus", ["step", 6]], ["erf", ["step", 7]],
          ["sin", ["step", 8]], ["cos", ["step", 8]], ["sub", ["step", 9], ["step", 10]],
          ["neg", ["step", 11]], ["identity", ["step", 12]]], [RNG.uniform(0.5, 2, (1, 3))]),
        ([["gt", ["in", 0], ["num", 0.0]], ["switch", ["step", 0], ["in", 0], ["in", 1]],
          ["clip", ["step", 1], ["num", -0.5], ["in", 1]], ["second", ["in", 0], ["step", 2]],
          ["floor", ["in", 1]], ["add", ["step", 3], ["step", 4]]], []),
        ([["exp", ["in", 0]], ["log", ["step", 0]], ["log1p", ["step", 0]], ["expm1", ["in", 1]],
          ["sqrt", ["step", 0]], ["inv", ["step", 4]], ["pow", ["step", 4], ["in", 1]],
          ["add", ["step", 1], ["step", 2]], ["add", ["step", 7], ["step", 3]],
          ["add", ["step", 8], ["step", 5]], ["add", ["step", 9], ["step", 6]]], []),
    ]
    return [merged(lambda p, steps=steps, consts=consts: Elementwise.from_constants(
        p, name="L", steps=steps, constants=consts), (3,), (3,)) for steps, consts in formulas]


def _recurrent_cases():
    from viewer.net.layers.recurrent import GRU, LSTM, SimpleRNN
    features, units = 3, 2
    cases = {"SimpleRNN": [], "LSTM": [], "GRU": []}
    options = [{}, {"output": "last", "go_backwards": True},
               {"bidirectional": True, "merge_mode": "concat"},
               {"bidirectional": True, "merge_mode": "mul", "output": "last"},
               {"bidirectional": True, "merge_mode": "stack", "go_backwards": True, "restore_order": True},
               {"bidirectional": True, "merge_mode": "ave"}, {"bidirectional": True, "merge_mode": "sum"},
               {"merge_mode": "stack", "activation": "relu",
                "recurrent_activation": {"function": "hard_sigmoid", "slope": 0.2, "offset": 0.5}}]
    for cls in (SimpleRNN, LSTM, GRU):
        extra = [{"output": "cell"}, {"cell_clip": 0.3}] if cls is LSTM else \
            [{"reset_after": True}, {"reset_after": True, "bidirectional": True}] if cls is GRU else []
        for opts in options + extra:
            def factory(p, cls=cls, opts=dict(opts)):
                width = cls.gates * units
                params = {"W": rand(features, width), "U": rand(units, width) * 0.5, "b": rand(width)}
                if opts.pop("bidirectional", False):
                    params.update(W_back=rand(features, width), U_back=rand(units, width) * 0.5,
                                  b_back=rand(width))
                    if opts.get("reset_after"):
                        params["b_rec_back"] = rand(width)
                if opts.get("reset_after"):
                    params["b_rec"] = rand(width)
                return cls(p, name="L", **params, **opts)
            cases[cls.kind].append(single(factory, 4, features))
    return cases


def _operator_case():
    """An ONNX op kept as an Operator layer (every op: test_backward_operator.py)."""
    from viewer.net.layers.operator import Operator
    prev = (inp(2, 3, name="a"), inp(3, name="b"))
    layer = Operator(prev, name="L", op="Mul", args=[["data", 0, 0], ["data", 1, 0]], shape=[2, 3],
                     batch_axis=0)
    return layer, [rand(2, 2, 3), rand(2, 3)]


def _cases():
    from viewer.net.layers import (Add, AvgPool2D, BatchNorm, Concatenate, Dense, Dropout, Flatten,
                                   GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D, Multiply, Permute,
                                   Reshape, ZeroPadding2D)
    return {
        "Input": [],  # nothing before it: its backward returns no gradients
        "Dense": [single(lambda p: Dense(p, name="L", W=rand(4, 3), b=rand(3)), 4),
                  single(lambda p: Dense(p, name="L", W=rand(4, 3)), 2, 4)],
        "Dropout": [single(lambda p: Dropout(p, name="L", rate=0.3), 3, 2)],
        "Flatten": [single(lambda p, f=f, o=o: Flatten(p, name="L", data_format=f, order=o), 2, 3, 4)
                    for f in ("channels_first", "channels_last")
                    for o in ("channels_first", "channels_last")],
        "Reshape": [single(lambda p: Reshape(p, name="L", target_shape=(3, -1)), 2, 6)],
        "Permute": [single(lambda p: Permute(p, name="L", dims=(2, 0, 1)), 2, 3, 4)],
        "Activation": _activations(),
        "Conv2D": _conv2d_cases(),
        "MaxPool2D": _pool_cases(MaxPool2D),
        "AvgPool2D": _pool_cases(AvgPool2D) + _pool_cases(AvgPool2D, count_include_pad=False),
        "GlobalAvgPool2D": [single(lambda p, f=f: GlobalAvgPool2D(p, name="L", data_format=f), 2, 3, 4)
                            for f in ("channels_first", "channels_last")],
        "GlobalMaxPool2D": [single(lambda p, f=f: GlobalMaxPool2D(p, name="L", data_format=f), 2, 3, 4)
                            for f in ("channels_first", "channels_last")],
        "ZeroPadding2D": [single(lambda p, f=f: ZeroPadding2D(p, name="L", padding=((1, 2), (0, 1)),
                                                         data_format=f), 2, 3, 4)
                          for f in ("channels_first", "channels_last")],
        "BatchNorm": [single(lambda p, a=a: BatchNorm(p, name="L", mean=rand(3), var=rand(3) ** 2 + 0.1,
                                                 gamma=rand(3), beta=rand(3), eps=1e-3, axis=a), *s)
                      for a, s in ((1, (3, 2, 2)), (-1, (2, 2, 3)), (-1, (3,)))],
        "Add": [merged(lambda p: Add(p, name="L"), (2, 3), (2, 3), (2, 3))],
        "Multiply": [merged(lambda p: Multiply(p, name="L"), (2, 3), (2, 3), (2, 3))],
        **_conv_extra_cases(),
        **_tensor_cases(),
        **_indexing_cases(),
        "Elementwise": _elementwise_cases(),
        **_recurrent_cases(),
        "Operator": [_operator_case],
        "Concatenate": [merged(lambda p: Concatenate(p, name="L", axis=-1), (2, 3), (2, 1)),
                        merged(lambda p: Concatenate(p, name="L", axis=1), (2, 3), (4, 3), (1, 3))],
    }


CASES = _cases()


def run_forward(layer, inputs):
    out = layer.forward(inputs[0] if len(inputs) == 1 and not layer.is_merge else tuple(inputs))
    return np.asarray(out, dtype=np.float64)  # true/false results change by nothing


def finite_difference(layer, inputs, grad_out, eps=1e-6):
    """d <grad_out, layer(inputs)> / d inputs by central differences, element by element."""
    grads = []
    for k, x in enumerate(inputs):
        g = np.zeros(x.shape)
        if x.dtype.kind == "b":  # a condition: moving it is not a small step
            grads.append(g)
            continue
        for i in np.ndindex(x.shape):
            plus = [a.copy() for a in inputs]
            minus = [a.copy() for a in inputs]
            plus[k][i] += eps
            minus[k][i] -= eps
            g[i] = ((run_forward(layer, plus) - run_forward(layer, minus)) * grad_out).sum() / (2 * eps)
        grads.append(g)
    return grads


def stand_in(value):
    """What Net.gradient passes for a value the backward does not read: its shape, no values."""
    value = np.asarray(value)
    return np.broadcast_to(np.zeros((), value.dtype), value.shape)


def check_against_finite_differences(layer, inputs, rule="standard"):
    output = run_forward(layer, inputs)
    grad_out = RNG.normal(size=output.shape)
    got = vjp(layer, inputs, output, grad_out, rule)
    want = finite_difference(layer, inputs, grad_out)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)
    # What the kind says it does not read, it must not need.
    read_inputs, read_output = reads(layer)
    blind = vjp(layer, inputs if read_inputs else [stand_in(x) for x in inputs],
                output if read_output else stand_in(output), grad_out, rule)
    for g, b in zip(got, blind):
        np.testing.assert_array_equal(g, b)


@pytest.mark.parametrize("kind", sorted(load_every_kind()))
def test_every_kind_has_a_backward_or_is_refused_by_name(kind):
    assert kind in BACKWARDS or kind in REFUSED, f"layer kind {kind!r} has no backward and no refusal"
    assert not (kind in BACKWARDS and kind in REFUSED)
    if kind in BACKWARDS:
        assert kind in CASES, f"layer kind {kind!r} has a backward but no finite-difference cases"


#: Kinds whose inputs cannot move by small steps, tested on their own below.
NOT_BY_DIFFERENCES = {"Input", "Embedding"}


@pytest.mark.parametrize("kind", sorted(set(BACKWARDS) - NOT_BY_DIFFERENCES))
def test_backward_equals_central_finite_differences(kind):
    assert CASES.get(kind), f"no cases for {kind}"
    for build in CASES[kind]:
        layer, inputs = build()
        check_against_finite_differences(layer, inputs)


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_refused_kinds_raise_no_backward_naming_the_kind(kind):
    layer = object.__new__(KINDS[kind])
    layer.name, layer.prev = "L", None
    with pytest.raises(NoBackward, match=f"no backward pass for layer kind {kind} "):
        vjp(layer, [], np.zeros(1), np.zeros(1))


def test_input_has_nothing_before_it():
    assert vjp(inp(3), [], rand(2, 3), rand(2, 3)) == []


def test_embedding_indices_have_zero_gradient():
    from viewer.net.layers.tensor import Embedding
    layer = Embedding(inp(3), name="L", W=rand(5, 2))
    x = RNG.integers(0, 5, (2, 3))
    (g,) = vjp(layer, [x], layer.forward(x), rand(2, 3, 2))
    assert g.shape == (2, 3) and not g.any()


def test_every_formula_op_has_a_derivative_rule():
    from viewer.net.backward.expression import RULED
    from viewer.net.layers.expression import OPS
    assert RULED == set(OPS)


def test_every_activation_function_has_a_derivative():
    from viewer.net.backward.activation import SLOPES, _AXIS_WISE
    assert set(SLOPES) | set(_AXIS_WISE) == set(act.FUNCTIONS)

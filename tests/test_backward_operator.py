"""The Operator kind's backward, op by op, against central finite differences in float64.

Parametrised over every ONNX op the backward knows (the moving ops and
OP_GRADS), so an op added to either without a case here fails.
"""

import numpy as np
import pytest

from test_backward_kinds import check_against_finite_differences
from viewer.net.backward import NoBackward, check_backward
from viewer.net.backward.operator import MOVING
from viewer.net.backward.operator_math import OP_GRADS
from viewer.net.backward.operator_rnn import OUTPUT_GRADS, lstm_grads
from viewer.net.layers import Input
from viewer.net.layers.operator import Operator

RNG = np.random.default_rng(11)


def rand(*shape):
    return RNG.normal(size=shape)


def D(*shape, low=None, high=None, whole=False):
    """A data input: per-sample ``shape``; the op sees it with a leading ONNX batch axis of 1."""
    return ("data", shape, low, high, whole)


def C(value):
    """A constant input."""
    return ("const", np.asarray(value))


NONE = ("none",)


#: Ops whose output has no ONNX batch axis to drop.
WHOLE_OUTPUT = {"Shape", "Size", "NonZero", "EyeLike"}


def op_layer(op, specs, attrs=None, opset=17, output=0, shape=()):
    """An Operator layer on Inputs for the data specs, and a batch of 2 for them; ``shape``:
    its per-sample output shape (an If checks its branch's rank against it)."""
    prev, args, consts, batch = [], [], {}, []
    for spec in specs:
        if spec[0] == "data":
            _, shape, low, high, whole = spec
            prev.append(Input(shape=shape, name=f"in{len(prev)}"))
            args.append(["data", len(prev) - 1, None if whole else 0])
            batch.append(rand(2, *shape) if low is None else RNG.uniform(low, high, (2,) + shape))
        elif spec[0] == "const":
            consts[f"const{len(consts)}"] = spec[1]
            args.append(["const", len(consts) - 1])
        else:
            args.append(["none"])
    layer = Operator(tuple(prev), name="L", op=op, args=args, shape=list(shape), attrs=attrs or {},
                     opset=opset, output=output, batch_axis=None if op in WHOLE_OUTPUT else 0, **consts)
    return layer, batch


I64 = np.int64
UNIT = dict(low=-0.9, high=0.9)
POS = dict(low=0.5, high=2.0)
CASES = {
    **{op: [(op, [D(2, 3, **POS)])] for op in ("Sqrt", "Log", "Reciprocal")},
    **{op: [(op, [D(2, 3, **UNIT)])] for op in ("Asin", "Acos", "Atanh")},
    "Acosh": [("Acosh", [D(2, 3, low=1.5, high=3)])],
    **{op: [(op, [D(2, 3)])] for op in ("Abs", "Neg", "Exp", "Sin", "Cos", "Tan", "Atan", "Sinh", "Cosh",
                                        "Asinh", "Erf", "Relu", "Tanh", "Sigmoid", "Softplus", "Softsign",
                                        "Mish", "Identity", "Dropout", "Floor", "Ceil", "Round", "Sign")},
    "HardSwish": [("HardSwish", [D(8, low=-5, high=5)])],
    "LeakyRelu": [("LeakyRelu", [D(4)], {"alpha": 0.2})],
    "Elu": [("Elu", [D(4)], {"alpha": 0.7})],
    "Selu": [("Selu", [D(4)]), ("Selu", [D(4)], {"alpha": 1.2, "gamma": 0.9})],
    "Celu": [("Celu", [D(4)], {"alpha": 0.6})],
    "ThresholdedRelu": [("ThresholdedRelu", [D(6)], {"alpha": 0.3})],
    "HardSigmoid": [("HardSigmoid", [D(6, low=-4, high=4)], {"alpha": 0.3, "beta": 0.4})],
    "Shrink": [("Shrink", [D(6)], {"lambd": 0.4, "bias": 0.1})],
    "Swish": [("Swish", [D(4)], {"alpha": 1.5})],
    "Gelu": [("Gelu", [D(4)]), ("Gelu", [D(4)], {"approximate": "tanh"})],
    **{op: [(op, [D(2, 3), D(3)]), (op, [D(2, 1), C(RNG.uniform(0.5, 2, (1, 3)))])]
       for op in ("Add", "Sub", "Mul")},
    "Div": [("Div", [D(2, 3), D(3, **POS)])],
    "Pow": [("Pow", [D(2, 3, **POS), D(3)])],
    **{op: [(op, [D(3), D(2, 3), D(3)])] for op in ("Max", "Min", "Sum", "Mean")},
    **{op: [(op, [D(3), D(3)])] for op in ("Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual")},
    "And": [], "Or": [], "Xor": [], "Not": [],   # boolean inputs only
    "IsNaN": [("IsNaN", [D(3)])], "IsInf": [("IsInf", [D(3)])],
    "ArgMax": [("ArgMax", [D(2, 3)], {"axis": 1})], "ArgMin": [("ArgMin", [D(2, 3)], {"axis": 2})],
    "Shape": [("Shape", [D(2, 3)])], "Size": [("Size", [D(2, 3)])],
    "Hardmax": [("Hardmax", [D(2, 3)])], "NonZero": [("NonZero", [D(3)])],
    "ConstantOfShape": [], "Range": [], "EyeLike": [("EyeLike", [D(3, 3, whole=True)])], "OneHot": [],
    "PRelu": [("PRelu", [D(2, 3), C(RNG.uniform(0.1, 0.5, (3,)))])],
    "Where": [("Where", [C(RNG.normal(size=(1, 3)) > 0), D(2, 3), D(3)])],
    "Clip": [("Clip", [D(6), C(np.float64(-0.4)), C(np.float64(0.6))], {}, 13),
             ("Clip", [D(6), NONE, D(6)], {}, 13), ("Clip", [D(6)], {"min": -0.3, "max": 0.5}, 6)],
    "MatMul": [("MatMul", [D(2, 3), C(rand(3, 4))]), ("MatMul", [D(2, 3), D(3, 2, whole=True)]),
               ("MatMul", [D(3, whole=True), D(3, 2)])],
    "Conv": [("Conv", [D(2, 5, 6), C(rand(3, 2, 3, 3)), C(rand(3))], {"pads": [1, 0, 1, 2]}),
             ("Conv", [D(4, 7, 5), C(rand(4, 2, 2, 3))],
              {"group": 2, "strides": [2, 1], "dilations": [1, 2], "auto_pad": "SAME_UPPER"}),
             ("Conv", [D(16, 4, 3), C(np.arange(16.0).reshape(1, 16, 1, 1))]),  # YOLOv8's DFL
             ("Conv", [D(3, 9), C(rand(2, 3, 4))], {"strides": [2], "pads": [1, 1]})],
    "GlobalMaxPool": [("GlobalMaxPool", [D(3, 5, 4)]), ("GlobalMaxPool", [D(2, 7)])],
    "GlobalAveragePool": [("GlobalAveragePool", [D(3, 5, 4)]), ("GlobalAveragePool", [D(2, 7)])],
    "MaxPool": [("MaxPool", [D(2, 5, 6)], {"kernel_shape": [3, 2], "strides": [2, 2],
                                           "pads": [1, 0, 1, 1]}),
                ("MaxPool", [D(3, 9)], {"kernel_shape": [3], "strides": [2], "ceil_mode": 1}),
                ("MaxPool", [D(2, 6, 6)], {"kernel_shape": [2, 2], "dilations": [2, 2]})],
    "AveragePool": [("AveragePool", [D(2, 5, 6)], {"kernel_shape": [3, 3], "strides": [2, 2],
                                                   "pads": [1, 1, 1, 1]}),
                    ("AveragePool", [D(2, 5, 6)], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                                   "count_include_pad": 1}),
                    ("AveragePool", [D(3, 9)], {"kernel_shape": [4], "strides": [3],
                                                "ceil_mode": 1})],
    # Batch first (layout 1), so the op's leading axis is the batch: X (N, T, I), states (N, D, H).
    "LSTM": [("LSTM", [D(4, 3), C(rand(1, 8, 3)), C(rand(1, 8, 2)), C(rand(1, 16)), NONE,
                       D(1, 2), D(1, 2)], {"hidden_size": 2, "layout": 1}, 17, output)
             for output in range(3)] +
            [("LSTM", [D(3, 2), C(rand(2, 4, 2)), C(rand(2, 4, 1)), NONE, NONE, D(2, 1)],
              {"hidden_size": 1, "layout": 1, "direction": "bidirectional"}),
             ("LSTM", [D(3, 2), C(rand(1, 8, 2)), C(rand(1, 8, 2))],
              {"hidden_size": 2, "layout": 1, "direction": "reverse"}, 17, 1)],
    "Gemm": [("Gemm", [D(3), C(rand(3, 2)), C(rand(2))]),
             ("Gemm", [D(3, 1, whole=True), D(2, 3, whole=True)], {"transA": 1, "transB": 1, "alpha": 0.5}),
             ("Gemm", [D(4), C(rand(2, 4)), D(2, whole=True)], {"transB": 1, "beta": 2.0})],
    "Softmax": [("Softmax", [D(2, 3)], {"axis": 1}, 11), ("Softmax", [D(2, 3)], {"axis": -1}, 13)],
    "LogSoftmax": [("LogSoftmax", [D(2, 3)], {"axis": 2}, 11), ("LogSoftmax", [D(2, 3)], {"axis": 1}, 13)],
    **{op: [(op, [D(2, 3, **POS)], {"axes": [2], "keepdims": 0}, 13),
            (op, [D(2, 3, **POS), C(np.array([1, 2], I64))], {}, 18)]
       for op in ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                  "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")},
    "ReduceSum": [("ReduceSum", [D(2, 3), C(np.array([-1], I64))], {"keepdims": 0}, 13),
                  ("ReduceSum", [D(2, 3)], {"axes": [1, 2]}, 11)],
    "BatchNormalization": [("BatchNormalization", [D(3, 2), C(rand(3)), C(rand(3)), C(rand(3)),
                                                   C(RNG.uniform(0.5, 2, 3))], {"epsilon": 1e-3})],
    "InstanceNormalization": [("InstanceNormalization", [D(2, 3, 2), C(rand(2)), C(rand(2))])],
    "LayerNormalization": [("LayerNormalization", [D(2, 3), C(rand(2, 3)), C(rand(2, 3))], {"axis": 1}),
                           ("LayerNormalization", [D(2, 3), C(rand(3))], {"axis": -1})],
    "GroupNormalization": [("GroupNormalization", [D(4, 3), C(rand(4)), C(rand(4))], {"num_groups": 2}),
                           ("GroupNormalization", [D(4, 3), C(rand(2)), C(rand(2))], {"num_groups": 2}, 18)],
    "TopK": [("TopK", [D(5), C(np.array([3], I64))], {"axis": 1})],
    "Cast": [("Cast", [D(3)], {"to": 11}), ("Cast", [D(3)], {"to": 7})],
    "CastLike": [("CastLike", [D(3), C(np.zeros(1))])],
    # moving ops
    "Reshape": [("Reshape", [D(2, 3), C(np.array([1, 3, 2], I64))])],
    "Flatten": [("Flatten", [D(2, 3)], {"axis": 1})],
    "Transpose": [("Transpose", [D(2, 3)], {"perm": [0, 2, 1]})],
    "Squeeze": [("Squeeze", [D(3, 1), C(np.array([2], I64))])],
    "Unsqueeze": [("Unsqueeze", [D(3), C(np.array([1], I64))])],
    "Concat": [("Concat", [D(2, 3), D(1, 3), C(rand(1, 2, 3))], {"axis": 1})],
    "Split": [("Split", [D(5, 2), C(np.array([2, 3], I64))], {"axis": 1}, 13, 1)],
    "Slice": [("Slice", [D(4, 6), C(np.array([1, 5], I64)), C(np.array([4, 0], I64)),
                         C(np.array([1, 2], I64)), C(np.array([2, -2], I64))], {}, 13)],
    "Gather": [("Gather", [D(4, 2), C(np.array([3, 0, 3], I64))], {"axis": 1})],
    "GatherElements": [("GatherElements", [D(3, 2), C(np.array([[[2, 0], [2, 2]]], I64))], {"axis": 1})],
    "GatherND": [("GatherND", [D(4, 3), C(np.array([[[0, 1], [0, 1], [0, 3]]], I64))])],
    "Expand": [("Expand", [D(1, 3), C(np.array([1, 2, 3], I64))])],
    "Tile": [("Tile", [D(2, 1), C(np.array([1, 2, 3], I64))])],
    "Pad": [("Pad", [D(3, 4), C(np.array([0, 1, 2, 0, 2, 1], I64))], {"mode": m}, 13)
            for m in ("constant", "reflect", "edge")],
    "DepthToSpace": [("DepthToSpace", [D(4, 2, 2)], {"blocksize": 2, "mode": m}) for m in ("DCR", "CRD")],
    "SpaceToDepth": [("SpaceToDepth", [D(1, 4, 4)], {"blocksize": 2})],
    "Compress": [("Compress", [D(4, 2), C(np.array([True, False, True, True]))], {"axis": 1})],
    "ReverseSequence": [("ReverseSequence", [D(4, 2), C(np.array([3], I64))],
                         {"batch_axis": 0, "time_axis": 1})],
    "CenterCropPad": [("CenterCropPad", [D(4, 5), C(np.array([1, 3, 7], I64))])],
    "Trilu": [("Trilu", [D(3, 3)], {"upper": 0})],
    "MaxUnpool": [("MaxUnpool", [D(1, 2, 2), C(np.array([[[[0, 3], [9, 14]]]], I64))],
                   {"kernel_shape": [2, 2], "strides": [2, 2]})],
    "ScatterElements": [("ScatterElements", [D(3, 2), C(np.array([[[2, 0]]], I64)), D(1, 2)], {"axis": 1})],
    "Scatter": [("Scatter", [D(3, 2), C(np.array([[[1, 1]]], I64)), D(1, 2)], {"axis": 1}, 10)],
    "ScatterND": [("ScatterND", [D(4), C(np.array([[0, 1], [0, 3]], I64)), D(2, whole=True)])],
}
RESIZE = [("Resize", [D(1, 2, 3), NONE, C(np.array([1, 1, 2, 1.5]))], {"mode": "nearest"}, 13),
          ("Upsample", [D(1, 2, 3), C(np.array([1, 1, 2, 2.0]))], {"mode": "nearest"}, 9)]


def build(case):
    op, specs, *rest = case
    attrs = rest[0] if rest else {}
    opset = rest[1] if len(rest) > 1 else 17
    output = rest[2] if len(rest) > 2 else 0
    return op_layer(op, specs, attrs, opset, output)


@pytest.mark.parametrize("op", sorted(set(OP_GRADS) | set(OUTPUT_GRADS) | MOVING))
def test_op_backward_equals_finite_differences(op):
    assert op in CASES, f"ONNX op {op} has a backward but no case here"
    if not CASES[op]:
        pytest.skip(f"{op} takes no float input")
    for case in CASES[op]:
        layer, batch = build(case)
        check_against_finite_differences(layer, batch)


@pytest.mark.parametrize("case", RESIZE, ids=lambda c: c[0])
def test_nearest_resize_backward(case):
    layer, batch = build(case)
    check_against_finite_differences(layer, batch)


def test_other_ops_are_refused_by_name():
    layer, _ = build(("Resize", [D(1, 2, 3), NONE, C(np.array([1, 1, 2, 2.0]))], {"mode": "linear"}, 13))
    with pytest.raises(NoBackward, match="ONNX operator Resize with these attributes has no backward"):
        check_backward([layer])
    layer, _ = build(("Det", [D(3, 3)]))
    with pytest.raises(NoBackward, match=r"no backward pass for layer kind Operator \(ONNX operator Det "
                                         r"has no backward\): 'L'"):
        check_backward([layer])


def test_a_weight_computed_from_data_is_refused():
    layer, _ = build(("PRelu", [D(2, 3), D(3, whole=True)]))
    with pytest.raises(NoBackward, match="ONNX operator PRelu takes its input 1 as a fixed weight"):
        check_backward([layer])
    layer, _ = build(("Conv", [D(2, 5, 5), D(3, 2, 3, 3, whole=True)]))
    with pytest.raises(NoBackward, match="ONNX operator Conv takes its input 1 as a fixed weight"):
        check_backward([layer])


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("output", [0, 1, 2])
def test_lstm_through_time_equals_finite_differences(layout, direction, output):
    # The whole ONNX arrays, several sequences of a batch at once, every output.
    from viewer.net.operators.recurrent import recurrent
    d, t, n, i, h = 2 if direction == "bidirectional" else 1, 4, 2, 3, 2
    x = rand(t, n, i) if layout == 0 else rand(n, t, i)
    states = [rand(d, n, h) if layout == 0 else rand(n, d, h) for _ in range(2)]
    weights = [rand(d, 4 * h, i), rand(d, 4 * h, h), rand(d, 8 * h)]
    attrs = {"hidden_size": h, "layout": layout, "direction": direction}
    inputs = [x] + weights + [None] + states
    g = rand(*recurrent("LSTM", inputs, attrs)[output].shape)
    grads = lstm_grads(inputs, attrs, 17, output, g)
    for k in (0, 5, 6):
        numeric = np.zeros_like(inputs[k])
        for index in np.ndindex(*inputs[k].shape):
            ends = []
            for step in (1e-6, -1e-6):
                trial = [v if j != k else v.copy() for j, v in enumerate(inputs)]
                trial[k][index] += step
                ends.append((g * recurrent("LSTM", trial, attrs)[output]).sum())
            numeric[index] = (ends[0] - ends[1]) / 2e-6
        np.testing.assert_allclose(grads[k], numeric, rtol=1e-5, atol=1e-8)


def test_lstms_with_options_the_backward_lacks_are_refused_by_name():
    for attrs, specs, message in [
            ({"clip": 1.0}, [], "with clip or input_forget"),
            ({"activations": ["Relu", "Tanh", "Tanh"]}, [], "with activations other than"),
            ({}, [NONE, C(np.array([4]))], "with sequence lengths")]:
        base = [D(4, 3), C(rand(1, 8, 3)), C(rand(1, 8, 2))]
        extra = [NONE] + specs[1:] if specs else []
        layer, _ = build(("LSTM", base + extra, {"hidden_size": 2, "layout": 1, **attrs}))
        with pytest.raises(NoBackward, match=f"ONNX operator LSTM {message}"):
            check_backward([layer])


def _branch(nodes, outputs, literals=None):
    return {"nodes": nodes, "outputs": outputs, "literals": literals or {}}


W_LITERAL = {"w": {"value": rand(2, 3).tolist(), "dtype": "float64"}}
THEN = _branch([["Tanh", ["x"], ["t"], {}], ["Mul", ["t", "w"], ["y"], {}]], ["y"], W_LITERAL)
ELSE = _branch([["Relu", ["x"], ["r"], {}], ["Add", ["r", "x"], ["s"], {}],
                ["Transpose", ["s"], ["y"], {"perm": [0, 2, 1]}],
                ["Transpose", ["y"], ["z"], {"perm": [0, 2, 1]}]], ["z"])


@pytest.mark.parametrize("cond", [True, False])
def test_if_backpropagates_through_the_branch_it_took(cond):
    layer, batch = op_layer("If", [C(np.array(cond)), D(2, 3)],
                            {"then_branch": THEN, "else_branch": ELSE, "scope": ["x"]}, shape=(2, 3))
    check_backward([layer])
    check_against_finite_differences(layer, batch)


def test_an_if_nested_in_a_branch_and_an_lstm_whose_weights_come_from_the_scope():
    # silero-vad's decoder: an If whose branch runs an LSTM on weights the If passes in.
    lstm = ["LSTM", ["x", "W", "R"], ["", "h"], {"hidden_size": 2, "layout": 1}]
    inner = _branch([lstm, ["Tanh", ["h"], ["y"], {}]], ["y"])
    outer = _branch([["If", ["c"], ["y"], {"then_branch": inner, "else_branch": inner,
                                           "scope": ["x", "W", "R"]}]], ["y"],
                    {"c": {"value": True, "dtype": "bool"}})
    layer, batch = op_layer("If", [C(np.array(True)), D(4, 3), C(rand(1, 8, 3)), C(rand(1, 8, 2))],
                            {"then_branch": outer, "else_branch": outer, "scope": ["x", "W", "R"]},
                            shape=(1, 2))
    check_backward([layer])
    check_against_finite_differences(layer, batch)


def test_an_if_whose_branch_computes_an_op_without_backward_is_refused_naming_it():
    det = _branch([["Det", ["x"], ["y"], {}]], ["y"])
    layer, _ = op_layer("If", [C(np.array(True)), D(3, 3)],
                        {"then_branch": det, "else_branch": THEN, "scope": ["x"]}, shape=(3,))
    with pytest.raises(NoBackward, match="ONNX operator If: its then branch computes Det: "
                                         "ONNX operator Det has no backward"):
        check_backward([layer])

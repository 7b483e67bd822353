"""The ONNX backend node cases, converted and run by Strata.

Run with ``python bench/onnx_conformance.py`` from the repository root (an
environment with the ``onnx`` package; nothing else). The cases are the ones
``onnx.backend.test.case.node`` generates - the same models, inputs and
expected outputs onnx's own backend runner uses - taken as generated: every
graph input is fed, nothing is frozen into the model.

Each case is one of:

- pass: converts, runs, and every output matches (the case's rtol/atol);
- wrong: converts and runs, but an output differs (shape or values);
- refused: conversion (or the run) stops with Strata's one-line message;
- traceback: anything else raised (a bug);
- out of scope: an op Strata does not mean to run (see :data:`OUT_OF_SCOPE`).

Prints per-op counts, the totals, and the totals over the vision and sequence
ops (:data:`VISION_OPS`). ``--failures`` lists every case that did not pass
with its reason; ``--op Conv --op Gemm`` restricts the run.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import signal
import sys
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Ops Strata does not run, and why. One place, so the report and the tests agree.
_TRAINING = "a training op (optimiser step, loss or gradient), not inference"
_SEQUENCE = "works on ONNX sequences or optionals, which are not tensors"
_STRING = "works on strings"
_RANDOM = "draws random numbers; there is no expected output to compare"
OUT_OF_SCOPE: dict[str, str] = {
    **{op: _TRAINING for op in ("Adagrad", "Adam", "Momentum", "Gradient", "SoftmaxCrossEntropyLoss",
                                "NegativeLogLikelihoodLoss")},
    **{op: _SEQUENCE for op in ("SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase",
                                "SequenceInsert", "SequenceLength", "SequenceMap", "SplitToSequence",
                                "ConcatFromSequence", "Optional", "OptionalGetElement",
                                "OptionalHasElement", "Loop", "Scan")},
    **{op: _STRING for op in ("StringConcat", "StringNormalizer", "StringSplit", "RegexFullMatch",
                              "TfIdfVectorizer", "LabelEncoder")},
    **{op: _RANDOM for op in ("Bernoulli", "RandomNormal", "RandomNormalLike", "RandomUniform",
                              "RandomUniformLike", "Multinomial")},
    "ImageDecoder": "decodes encoded image bytes (a file reader's job, not a layer's)",
}
_EXOTIC = {"bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
           "float8_e8m0fnu", "float4_e2m1fn", "int4", "uint4", "int2", "uint2"}
_EXOTIC_REASON = "a number type numpy has no dtype for (bfloat16, 8-, 4- or 2-bit)"
# Cases of in-scope ops that exercise a training-time mode.
OUT_OF_SCOPE_CASES = {"test_training_dropout": _TRAINING,
                      "test_batchnorm_epsilon_training_mode": _TRAINING,
                      "test_batchnorm_example_training_mode": _TRAINING}

# The ops common in vision and sequence nets: the "Done when" subset.
VISION_OPS = frozenset("""
Conv ConvTranspose Gemm MatMul MaxPool AveragePool GlobalAveragePool GlobalMaxPool LpPool
BatchNormalization InstanceNormalization LayerNormalization GroupNormalization LRN
MeanVarianceNormalization LpNormalization
Relu LeakyRelu PRelu Elu Selu Celu Sigmoid HardSigmoid HardSwish Mish Softplus Softsign Tanh Gelu
ThresholdedRelu Softmax LogSoftmax Hardmax Clip
Add Sub Mul Div Sum Mean Max Min
Concat Split Slice Reshape Transpose Squeeze Unsqueeze Flatten Pad Resize Upsample Gather
GatherElements DepthToSpace SpaceToDepth
ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSum
ReduceLogSumExp ReduceSumSquare
LSTM GRU RNN Cast CastLike Shape Expand Tile Einsum ArgMax ArgMin TopK Identity Dropout
ConstantOfShape Range Where GridSample RoiAlign NonMaxSuppression DFT STFT
""".split())

# The node-case modules that hold the vision and sequence ops (the fast subset the tests run).
VISION_MODULES = ("conv", "convtranspose", "gemm", "matmul", "maxpool", "averagepool",
                  "globalaveragepool", "globalmaxpool", "batchnorm", "instancenorm",
                  "layernormalization", "groupnormalization", "lrn", "relu", "leakyrelu", "prelu",
                  "elu", "selu", "sigmoid", "hardsigmoid", "hardswish", "mish", "softplus",
                  "softsign", "tanh", "gelu", "softmax", "logsoftmax", "hardmax", "clip", "add",
                  "sub", "mul", "div", "sum", "mean", "max", "min", "concat", "split", "slice",
                  "reshape", "transpose", "squeeze", "unsqueeze", "flatten", "pad", "resize",
                  "gather", "gatherelements", "depthtospace", "spacetodepth", "reduce_log_sum_exp",
                  "reducemean", "reducesum", "reducemax", "reducemin", "reduceprod", "lstm", "gru",
                  "rnn", "cast", "castlike", "shape", "expand", "tile", "einsum", "argmax", "argmin",
                  "topk", "identity", "dropout", "constantofshape", "range", "where", "gridsample",
                  "roialign", "nonmaxsuppression", "dft", "stft")

CATEGORIES = ("pass", "wrong", "refused", "traceback", "out of scope")


def collect(modules: Iterable[str] | None = None) -> list:
    """The node test cases: all of them, or those made by the given case modules."""
    warnings.filterwarnings("ignore")
    np.random.seed(0)
    from onnx.backend.test.case import node
    if modules is None:
        return list(node.collect_testcases(None))
    before = len(node._NodeTestCases)
    for name in modules:
        try:
            importlib.import_module(f"onnx.backend.test.case.node.{name}")
        except ImportError:
            continue  # a module this onnx version does not have
    return list(node._NodeTestCases[before:])


def case_ops(cases: list) -> dict[str, str]:
    """Case name -> the op it tests (an expanded case tests its base case's op)."""
    ops = {}
    for case in cases:
        if "_expanded" not in case.name:
            nodes = [n.op_type for n in case.model.graph.node if n.op_type != "Constant"]
            ops[case.name] = nodes[-1] if nodes else "Constant"
    for case in cases:
        if "_expanded" in case.name:
            ops[case.name] = ops.get(case.name.split("_expanded")[0], "?")
    return ops


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def run_case(case: Any, op: str, timeout: int = 30) -> tuple[str, str]:
    """(category, reason) for one case."""
    from viewer.convert.onnx_model import convert_onnx_layout
    from viewer.errors import StrataError
    from viewer.net.layers.base import LayerFailed
    for prefix, reason in OUT_OF_SCOPE_CASES.items():
        if case.name.startswith(prefix):
            return "out of scope", reason
    if op in OUT_OF_SCOPE:
        return "out of scope", OUT_OF_SCOPE[op]
    graph = case.model.graph
    inits = {i.name for i in graph.initializer}
    names = [v.name for v in graph.input if v.name not in inits]
    data_sets = []
    for inputs, outputs in case.data_sets:
        values = [_array(v) for v in list(inputs) + list(outputs)]
        if any(v is None for v in values):
            return "out of scope", _SEQUENCE
        if any(v.dtype.kind in "OSU" for v in values):
            return "out of scope", _STRING
        if any(v.dtype.kind == "V" or v.dtype.name in _EXOTIC for v in values):
            return "out of scope", _EXOTIC_REASON
        data_sets.append((values[:len(inputs)], values[len(inputs):]))
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        net, layout = convert_onnx_layout(case.model)
        for inputs, outputs in data_sets:
            feed = layout.feed(dict(zip(names, inputs)))
            for out, want in zip(graph.output, outputs):
                if out.name not in layout.outputs:
                    return "refused", f"output {out.name!r} is not computed by the net"
                layer = net[layout.outputs[out.name][0]]
                got = layout.fetch(out.name, layer(feed if len(feed) > 1 else next(iter(feed.values()))))
                problem = _compare(got, want, case.rtol, case.atol)
                if problem:
                    return "wrong", f"output {out.name!r}: {problem}"
        return "pass", ""
    except _Timeout:
        return "traceback", f"no result within {timeout} s"
    except LayerFailed as exc:
        if isinstance(exc.error, StrataError):
            return "refused", str(exc)
        return "traceback", str(exc)
    except StrataError as exc:
        return "refused", str(exc)
    except Exception as exc:  # a bug: counted, never hidden
        return "traceback", f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)


def _array(value: Any) -> np.ndarray | None:
    """A case's input or output as an array; None for sequences and optionals."""
    if isinstance(value, np.ndarray):
        return value
    from onnx import TensorProto, numpy_helper
    if isinstance(value, TensorProto):
        return numpy_helper.to_array(value)
    return None


def _compare(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str:
    got = np.asarray(got)
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if want.dtype.kind == "b" or got.dtype.kind == "b":
        ok = np.array_equal(got.astype(bool), want.astype(bool))
    elif want.dtype.kind in "iu":
        ok = np.array_equal(got.astype(np.float64), want.astype(np.float64))
    else:
        ok = np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol,
                         equal_nan=True)
    if ok:
        return ""
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return f"values differ (largest difference {np.nanmax(diff) if diff.size else 0:.3g})"


def run(cases: list, only: set[str] | None = None) -> list[tuple[str, str, str, str]]:
    """(case name, op, category, reason) for every case."""
    ops = case_ops(cases)
    results = []
    for case in cases:
        op = ops[case.name]
        if only and op not in only:
            continue
        category, reason = run_case(case, op)
        results.append((case.name, op, category, reason))
    return results


def _summary(results: list, title: str) -> str:
    counts = collections.Counter(r[2] for r in results)
    scoped = sum(counts[c] for c in CATEGORIES[:4])
    rate = 100.0 * counts["pass"] / scoped if scoped else 0.0
    parts = ", ".join(f"{counts[c]} {c}" for c in CATEGORIES)
    return f"{title}: {counts['pass']} of {scoped} in scope pass ({rate:.1f}%); {parts}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--op", action="append", help="only cases of this op (repeatable)")
    parser.add_argument("--failures", action="store_true", help="list every case that did not pass")
    parser.add_argument("--vision", action="store_true", help="only the vision and sequence ops")
    args = parser.parse_args(argv)
    cases = collect()
    only = set(args.op) if args.op else (set(VISION_OPS) if args.vision else None)
    results = run(cases, only)
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for _, op, category, _ in results:
        table[op][category] += 1
    print(f"{'op':<28}" + "".join(f"{c:>14}" for c in CATEGORIES))
    for op in sorted(table):
        print(f"{op:<28}" + "".join(f"{table[op][c]:>14}" for c in CATEGORIES))
    if args.failures:
        print()
        for name, op, category, reason in results:
            if category not in ("pass", "out of scope"):
                print(f"{category:<10} {name} ({op}): {reason[:300]}")
    print()
    print(_summary(results, "all node cases"))
    print(_summary([r for r in results if r[1] in VISION_OPS], "vision/sequence ops"))
    scope = [r for r in results if r[2] == "out of scope"]
    reasons = collections.Counter(r[3] for r in scope)
    for reason, n in reasons.most_common():
        print(f"  out of scope ({n}): {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

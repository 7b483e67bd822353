"""What unknown sizes cost: ONNX nets with symbolic height and width against fixed ones.

Run with ``python bench/onnx_dynamic.py`` from the repository root (needs the
``onnx`` package, nothing else). Uses bench/forward.py's VGG-style weights on
3x32x32 inputs, written as ONNX graphs with onnx.helper:

- the forward.py net itself (conv, pool, flatten, dense) converted from a
  graph with a symbolic batch, against the same net built from Strata layers
  directly: converting must not make it slower;
- the same convolutions ending in global average pooling and a dense layer
  (a net that accepts any image size), converted once with 32x32 fixed and
  once with height and width symbolic (``1x3xHxW``), both run on 32x32.

All timed alternately on one thread (median of interleaved repeats), at batch
1 and 64. Prints each pair's time ratio (target: within 5%) and the largest
output difference, which must be 0: the same kinds compute the same numbers.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from forward import interleaved, make_weights, numpy_net  # noqa: E402
from viewer.convert.onnx_model import convert_onnx  # noqa: E402


def onnx_graph(weights, head: str, dims: list) -> onnx.ModelProto:
    """forward.py's net as ONNX; ``head`` "flatten" (its own) or "gap" (global pooling)."""
    nodes, inits, last = [], [], "x"
    dense = [(w, b) for kind, w, b in weights if kind == "dense"]
    for i, (kind, w, b) in enumerate(weights):
        if kind == "conv":
            inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
            nodes.append(helper.make_node("Conv", [last, f"w{i}", f"b{i}"], [f"c{i}"], name=f"conv{i}",
                                          pads=[1, 1, 1, 1]))
            nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}"))
            last = f"r{i}"
        elif kind == "pool":
            nodes.append(helper.make_node("MaxPool", [last], [f"p{i}"], name=f"pool{i}",
                                          kernel_shape=[2, 2], strides=[2, 2]))
            last = f"p{i}"
    if head == "gap":
        nodes.append(helper.make_node("GlobalAveragePool", [last], ["g"], name="gap"))
        last = "g"
        channels = [w for kind, w, _ in weights if kind == "conv"][-1].shape[0]
        w, b = dense[-1]
        w = np.random.default_rng(2).standard_normal((channels, w.shape[1])) * np.sqrt(2.0 / channels)
        dense = [(w.astype(np.float32), b)]
    nodes.append(helper.make_node("Flatten", [last], ["f"], name="flatten"))
    last = "f"
    for j, (w, b) in enumerate(dense):
        inits += [numpy_helper.from_array(w, f"dw{j}"), numpy_helper.from_array(b, f"db{j}")]
        nodes.append(helper.make_node("Gemm", [last, f"dw{j}", f"db{j}"], [f"d{j}"], name=f"dense{j}"))
        last = f"d{j}"
        if j < len(dense) - 1:
            nodes.append(helper.make_node("Relu", [last], [f"dr{j}"], name=f"drelu{j}"))
            last = f"dr{j}"
    graph = helper.make_graph(nodes, head, [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args(argv)
    weights = make_weights()
    direct = numpy_net(weights)[-1]
    from_onnx = convert_onnx(onnx_graph(weights, "flatten", ["n", 3, 32, 32]))[-1]
    fixed = convert_onnx(onnx_graph(weights, "gap", ["n", 3, 32, 32]))
    symbolic = convert_onnx(onnx_graph(weights, "gap", ["n", 3, "h", "w"]))
    print(f"symbolic net: {symbolic.source}")
    print(f"  shapes: {[layer.output_shape for layer in symbolic][:4]} ...")
    rng = np.random.default_rng(0)
    for n in args.batch:
        x = rng.standard_normal((n, 3, 32, 32)).astype(np.float32)
        calls = max(1, 64 // n)
        t = interleaved({"direct": lambda: direct(x), "onnx": lambda: from_onnx(x),
                         "fixed": lambda: fixed[-1](x), "symbolic": lambda: symbolic[-1](x)},
                        args.repeats, calls)
        diff1 = float(np.max(np.abs(direct(x) - from_onnx(x))))
        diff2 = float(np.max(np.abs(fixed[-1](x) - symbolic[-1](x))))
        print(f"batch {n:4d}: forward.py net {t['direct'] * 1e3:8.2f} ms direct, {t['onnx'] * 1e3:8.2f} ms "
              f"converted (ratio {t['onnx'] / t['direct']:.3f}, max diff {diff1:.2g}); "
              f"any-size net {t['fixed'] * 1e3:8.2f} ms fixed 32x32, {t['symbolic'] * 1e3:8.2f} ms HxW "
              f"(ratio {t['symbolic'] / t['fixed']:.3f}, max diff {diff2:.2g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-layer profile of a net's forward pass: where the time goes, by layer class.

Run from the repository root::

    python bench/profile_layers.py NET_FILE [NET_FILE ...] [--batch 1 8] [--repeats 7] [--top 12]

NET_FILE is anything ``viewer.convert.convert`` or ``viewer.net.load`` opens
(.onnx, .h5, Strata .h5). One thread (the BLAS variables are set before numpy
loads); times are the process's CPU time. Every evaluation step of the whole-net forward pass (a layer, or a
layer with the batch norm and element-wise layers fused into it) is timed on
its real input, the steps in alternation, repeated; the median per step is
reported. Layers fall into classes by kind,
shape and layout (``conv 1x1 NCHW``, ``conv 3x3/s1 NHWC``, ``depthwise 3x3
NCHW``, ``relu``, ``Add``, ...); for each class it prints the share of the
total time and, for convolution and dense classes, the achieved GFLOP/s
beside the float32 GEMM peak measured in the same run.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viewer.allocator import keep_freed_memory  # noqa: E402
from viewer.net import Layer, Net  # noqa: E402


def open_net(path: str | Path) -> Net:
    """A Strata net file, or any model file the converters read."""
    from viewer.convert import convert
    from viewer.errors import StrataError
    from viewer.net import load
    try:
        return load(path)
    except StrataError:
        return convert(path)


def layout(layer: Layer) -> str:
    fmt = getattr(layer, "data_format", None)
    return {"channels_first": " NCHW", "channels_last": " NHWC"}.get(fmt, "")


def layer_class(layer: Layer) -> str:
    """The class a layer is profiled under: kind, kernel shape and layout."""
    kind = layer.kind
    if kind == "Conv2D":
        o, cg, kh, kw = layer.W.shape
        stride = "" if layer.stride == (1, 1) else f"/s{max(layer.stride)}"
        if cg == 1 and layer.groups > 1:
            name = f"depthwise {kh}x{kw}{stride}"
        elif layer.groups > 1:
            name = f"grouped {kh}x{kw}{stride}"
        else:
            name = f"conv {kh}x{kw}{stride}"
        return name + layout(layer)
    if kind == "SeparableConv2D":
        kh, kw = layer.W_depth.shape[2:]
        return f"separable {kh}x{kw}{layout(layer)}"
    if kind in ("Activation", "Unary"):
        return getattr(layer, "function")
    return kind + layout(layer)


def layer_flops(layer: Layer, out: np.ndarray) -> int:
    """Multiply-adds x 2 of a convolution or dense layer for this output; 0 for the others."""
    if layer.kind == "Conv2D":
        _, cg, kh, kw = layer.W.shape
        return 2 * out.size * cg * kh * kw
    if layer.kind == "SeparableConv2D":
        o, mid = layer.W_point.shape[:2]
        kh, kw = layer.W_depth.shape[2:]
        cells = out.size // o
        return 2 * cells * mid * (kh * kw + o)
    if layer.kind == "Dense":
        return 2 * out.size * layer.W.shape[0]
    return 0


def is_compute(cls: str) -> bool:
    return cls.split()[0] in ("conv", "depthwise", "grouped", "separable", "Dense")


def timed(fn: Callable[[], Any], calls: int = 1) -> float:
    """CPU seconds per call of ``fn`` (everything here runs on one thread).

    CPU time, not wall time: on a shared machine a process waits for the
    core for several of its time slices, which wall time would count as
    the net's; the CPU time of the process is what the computation took.
    """
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, calls: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, timed in alternation (after one warm-up call)."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(timed(fn, calls))
    return {name: statistics.median(s) for name, s in samples.items()}


def gemm_peak(n: int = 1024, repeats: int = 5) -> float:
    """float32 GEMM GFLOP/s of numpy's BLAS on this core, right now."""
    a = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    seconds = interleaved({"gemm": lambda: np.dot(a, b)}, repeats)["gemm"]
    return 2 * n ** 3 / seconds / 1e9


@dataclass
class Row:
    """One timed layer."""

    layer: Layer
    cls: str
    seconds: float
    flops: int


def profile(net: Net, X: Any, repeats: int) -> list[Row]:
    """Every evaluation step of ``net[-1](X)`` timed on its real input.

    The steps are those of the fused plan (:mod:`viewer.net.fusion`): a
    convolution with the batch norm folded into it and the activation done
    in place counts as one row, under the convolution's class. Steps run on
    the inputs a full trace gave them, in alternation, and each gets the
    median of ``repeats`` timings.
    """
    outs = dict(zip(net, net.trace(X)))
    steps = net._plan_for((len(net) - 1,)).steps

    def run(step: Any) -> Callable[[], Any]:
        if not step.inputs:
            return lambda: step.head.forward(X)
        args = [outs[p] for p in step.inputs]
        # In-place steps overwrite their head's output, never their inputs.
        return lambda: step.run(args)

    fns = {step.output.name: run(step) for step in steps}
    times = interleaved(fns, repeats)
    return [Row(step.head, layer_class(step.head), times[step.output.name],
                layer_flops(step.head, outs[step.head])) for step in steps]


def by_class(rows: list[Row]) -> dict[str, tuple[float, int, int]]:
    """Class -> (seconds, flops, layer count), summed over the rows."""
    total: dict[str, list] = defaultdict(lambda: [0.0, 0, 0])
    for row in rows:
        entry = total[row.cls]
        entry[0] += row.seconds
        entry[1] += row.flops
        entry[2] += 1
    return {cls: (s, f, n) for cls, (s, f, n) in total.items()}


def report(title: str, rows: list[Row], whole: float, peak: float, top: int) -> None:
    """Print the per-class table and the slowest layers."""
    layer_sum = sum(r.seconds for r in rows)
    print(f"\n{title}: whole net {whole * 1e3:.2f} ms, sum of steps {layer_sum * 1e3:.2f} ms, "
          f"{len(rows)} steps")
    print(f"  {'class':28s} {'steps':>6s} {'ms':>9s} {'share':>6s} {'GFLOP/s':>8s} {'of peak':>7s}")
    classes = sorted(by_class(rows).items(), key=lambda kv: -kv[1][0])
    for cls, (seconds, flops, count) in classes:
        rate = f"{flops / seconds / 1e9:8.1f} {flops / seconds / 1e9 / peak:7.0%}" if flops else ""
        print(f"  {cls:28s} {count:6d} {seconds * 1e3:9.3f} {seconds / layer_sum:6.1%} {rate}")
    if top:
        print(f"  slowest {top} steps (named by their first layer):")
        for row in sorted(rows, key=lambda r: -r.seconds)[:top]:
            shape = "x".join(map(str, getattr(row.layer, "output_shape", ()) or ()))
            rate = f"{row.flops / row.seconds / 1e9:6.1f} GFLOP/s" if row.flops else ""
            print(f"    {row.seconds * 1e3:8.3f} ms  {row.cls:24s} {row.layer.name[:40]:40s} "
                  f"-> {shape:14s} {rate}")


def sample_input(net: Net, batch: int, seed: int = 0) -> np.ndarray:
    shape = tuple(net.input.output_shape)
    if any(s is None for s in shape):
        raise SystemExit(f"{net.name}: input shape {shape} has unknown sizes")
    return np.random.default_rng(seed).standard_normal((batch,) + shape).astype(np.float32)


def main() -> None:
    keep_freed_memory()  # as main.py does (here, not on import: forward.py imports this module)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nets", nargs="+", help="net or model files")
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--top", type=int, default=12, help="slowest layers listed (0: none)")
    args = parser.parse_args()
    peak = gemm_peak()
    print(f"numpy {np.__version__}, float32 GEMM peak (np.dot 1024^2): {peak:.1f} GFLOP/s, 1 thread")
    for path in args.nets:
        net = open_net(path)
        for batch in args.batch:
            X = sample_input(net, batch)
            whole = interleaved({"net": lambda: net[-1](X)}, args.repeats)["net"]
            rows = profile(net, X, args.repeats)
            report(f"{Path(path).name} batch {batch}", rows, whole, peak, args.top)


if __name__ == "__main__":
    main()

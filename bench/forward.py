"""Forward-pass speed of the numpy runtime, measured against PyTorch.

Run with ``python bench/forward.py`` from the repository root. Single-threaded
on both sides; the numpy net and its PyTorch twin share the same weights and
are timed alternately (interleaved repeats, median), so a noisy machine slows
both alike. Prints per batch size the numpy/torch time ratio (target <= 1),
the agreement of the outputs, and the conv layers' GFLOP/s beside a float32
GEMM peak measured in the same run. Also times the demo CNN if it exists.
"""
from __future__ import annotations

import os

# Before numpy is imported: BLAS reads these once, at load time.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profile_layers import interleaved  # noqa: E402
from viewer.net.layers import (Activation, Conv2D, Dense, Flatten, Input,  # noqa: E402
                               MaxPool2D)

# Not viewer.allocator.keep_freed_memory(): it is process-wide, and torch, run in this
# process for the ratio, would then run on malloc settings it does not have by default
# (1.8x faster at batch 256: its own freed blocks stop being page-faulted in again).

try:
    import torch
except ImportError:
    torch = None

DEMO_NET = ROOT / "resources" / "demo" / "digits_cnn.h5"
# VGG-style test net: conv widths, "M" = 2x2 max pool, then dense widths.
CONVS = (32, 32, "M", 64, 64, "M")
DENSES = (256, 10)
IN_SHAPE = (3, 32, 32)


def make_weights(seed: int = 0) -> list[tuple[str, np.ndarray | None, np.ndarray | None]]:
    """He-initialised float32 weights, one entry per layer.

    ("conv", W (O, C, 3, 3), b (O,)), ("pool", None, None) or
    ("dense", W (in, out), b (out,)).
    """
    rng = np.random.default_rng(seed)
    layers = []
    c, side = IN_SHAPE[0], IN_SHAPE[1]
    for spec in CONVS:
        if spec == "M":
            layers.append(("pool", None, None))
            side //= 2
            continue
        w = rng.standard_normal((spec, c, 3, 3)) * np.sqrt(2.0 / (9 * c))
        bias = rng.standard_normal(spec).astype(np.float32) * 0.1
        layers.append(("conv", w.astype(np.float32), bias))
        c = spec
    n_in = c * side * side
    for units in DENSES:
        w = rng.standard_normal((n_in, units)) * np.sqrt(2.0 / n_in)
        bias = rng.standard_normal(units).astype(np.float32) * 0.1
        layers.append(("dense", w.astype(np.float32), bias))
        n_in = units
    return layers


def numpy_net(weights) -> list:
    """The test net as Strata layers (NCHW, like PyTorch); returns every layer in order."""
    layers = [Input(name="input", shape=IN_SHAPE, data_format="channels_first")]
    flat = False
    for i, (kind, w, b) in enumerate(weights):
        if kind == "conv":
            layers.append(Conv2D(layers[-1], name=f"conv{i}", W=w, b=b, padding="same"))
        elif kind == "pool":
            layers.append(MaxPool2D(layers[-1], name=f"pool{i}", pool_size=2))
            continue
        else:
            if not flat:
                layers.append(Flatten(layers[-1], name="flatten", data_format="channels_first"))
                flat = True
            layers.append(Dense(layers[-1], name=f"dense{i}", W=w, b=b))
        if i < len(weights) - 1:
            layers.append(Activation(layers[-1], name=f"relu{i}", function="relu"))
    return layers


def torch_net(weights):
    """The same net as a torch.nn.Sequential in eval mode."""
    nn = torch.nn
    mods = []
    flat = False
    for i, (kind, w, b) in enumerate(weights):
        if kind == "conv":
            m = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
            m.weight.data = torch.from_numpy(w.copy())
            m.bias.data = torch.from_numpy(b.copy())
        elif kind == "pool":
            mods.append(nn.MaxPool2d(2))
            continue
        else:
            if not flat:
                mods.append(nn.Flatten())
                flat = True
            m = nn.Linear(*w.shape)
            m.weight.data = torch.from_numpy(np.ascontiguousarray(w.T))
            m.bias.data = torch.from_numpy(b.copy())
        mods.append(m)
        if i < len(weights) - 1:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods).eval()


def gemm_peak(n: int = 2048, repeats: int = 5) -> float:
    """float32 GEMM GFLOP/s of numpy's BLAS on this core, right now."""
    a = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    seconds = interleaved({"gemm": lambda: np.dot(a, b)}, repeats, 1)["gemm"]
    return 2 * n ** 3 / seconds / 1e9


def conv_rate(layers: list, X: np.ndarray, repeats: int, calls: int) -> tuple[float, float]:
    """(GFLOP/s, seconds) of all the Conv2D layers together, each timed on its real input."""
    outs = {}
    for layer in layers:
        x = X if layer.prev is None else outs[layer.prev.name]
        outs[layer.name] = layer.forward(x)
    convs = [layer for layer in layers if layer.kind == "Conv2D"]
    fns = {c.name: (lambda c=c: c.forward(outs[c.prev.name])) for c in convs}
    times = interleaved(fns, repeats, calls)
    flops = 0
    for c in convs:
        out = outs[c.name]
        _, cg, kh, kw = c.W.shape
        flops += 2 * out.size * cg * kh * kw
    seconds = sum(times.values())
    return flops / seconds / 1e9, seconds


def bench_vgg(batches: tuple[int, ...], repeats: int) -> None:
    weights = make_weights()
    layers = numpy_net(weights)
    net_out = layers[-1]
    tnet = torch_net(weights) if torch is not None else None
    print(f"VGG-style net {IN_SHAPE} -> conv32 conv32 pool conv64 conv64 pool dense256 dense10, "
          "NCHW, float32, 1 thread")
    versions = f"torch {torch.__version__}" if torch else "torch not installed"
    print(f"numpy {np.__version__}, {versions}")
    peak = gemm_peak()
    print(f"float32 GEMM peak (np.dot 2048^2): {peak:.1f} GFLOP/s")
    for n in batches:
        X = np.random.default_rng(n).standard_normal((n,) + IN_SHAPE).astype(np.float32)
        calls = max(1, 64 // n)
        fns = {"numpy": lambda: net_out(X)}
        if tnet is not None:
            tx = torch.from_numpy(X)

            def run_torch():
                with torch.inference_mode():
                    return tnet(tx)
            fns["torch"] = run_torch
        times = interleaved(fns, repeats, calls)
        line = f"batch {n:4d}: numpy {times['numpy'] * 1e3:8.3f} ms"
        if tnet is not None:
            ratio = times["numpy"] / times["torch"]
            ours, theirs = net_out(X), run_torch().numpy()
            err = np.abs(ours - theirs).max() / np.abs(theirs).max()
            verdict = "ok" if err <= 1e-5 else "MISMATCH"
            line += (f"  torch {times['torch'] * 1e3:8.3f} ms  numpy/torch {ratio:5.2f}"
                     f"  max rel diff {err:.1e} ({verdict})")
        print(line)
        rate, seconds = conv_rate(layers, X, repeats, calls)
        print(f"            conv layers {seconds * 1e3:8.3f} ms = {rate:5.1f} GFLOP/s "
              f"({rate / peak:.0%} of GEMM peak)")


def bench_demo(repeats: int) -> None:
    if not DEMO_NET.exists():
        print(f"demo net {DEMO_NET.relative_to(ROOT)} not found: skipped")
        return
    from viewer.net import load
    net = load(DEMO_NET)
    shape = tuple(net.input.output_shape)
    print(f"demo net {DEMO_NET.name}: {len(net)} layers, input {shape}")
    for n in (1, 256):
        X = np.random.default_rng(n).random((n,) + shape).astype(np.float32)
        t = interleaved({"demo": lambda: net[-1](X)}, repeats, max(1, 64 // n))["demo"]
        print(f"batch {n:4d}: {t * 1e3:8.3f} ms  ({n / t:9.0f} samples/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15,
                        help="interleaved repeats per measurement")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 256])
    args = parser.parse_args()
    if torch is not None:
        torch.set_num_threads(1)
    bench_vgg(tuple(args.batch), args.repeats)
    bench_demo(args.repeats)


if __name__ == "__main__":
    main()

"""Speed of the backward pass: one backward against one forward of the VGG-style bench net.

Run with ``python bench/gradient.py`` from the repository root. Single
thread. The net is bench/forward.py's (conv3x3 32, 32, pool, conv3x3 64, 64,
pool, dense 256, dense 10, ReLUs, NCHW, float32). Timed alternately (median
of interleaved repeats, CPU time) per batch size:

- forward: ``net[-1](X)``, the ordinary (fused) forward pass;
- backward: the chain rule from d score / d output down to the input
  (:func:`viewer.net.backward.chain.backward_pass`), given the forward values
  it keeps;
- gradient: all of ``net.gradient(X, target)``: the target checked on one
  sample, the unfused forward keeping what the backward reads, the backward.

- again: ``net.gradient(X, target, resolved=...)``, the target resolved by an
  earlier call, as repeated calls (feature visualisation) make it.

Prints backward / forward (target <= 3) and gradient / forward.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from forward import IN_SHAPE, make_weights, numpy_net  # noqa: E402
from profile_layers import interleaved  # noqa: E402
from viewer.allocator import keep_freed_memory  # noqa: E402
from viewer.analysis.attribution.target import Target, resolve_target  # noqa: E402
from viewer.net import Net  # noqa: E402
from viewer.net.backward.chain import (_score_and_seed, backward_pass, forward_pass,  # noqa: E402
                                       kept_for_backward)
from viewer.net.layers.base import ancestors  # noqa: E402

keep_freed_memory()  # as main.py does: forward passes reuse their freed arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="interleaved repeats per measurement")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args()
    net = Net(numpy_net(make_weights()), name="vgg-bench")
    target = Target(unit=3)
    order = ancestors(net[-1])
    keep = kept_for_backward(order, [net[-1]])
    print(f"VGG-style net {IN_SHAPE}, {len(net)} layers, float32, 1 thread; target: {target}")
    for n in args.batch:
        X = np.random.default_rng(n).standard_normal((n,) + IN_SHAPE).astype(np.float32)
        resolved = resolve_target(net, target, X[:1])
        values, meta = forward_pass(order, X, keep)
        _, seed = _score_and_seed(resolved, np.full(n, 3), values[id(net[-1])])

        def backward():
            return backward_pass(order, dict(values), meta, seed, "standard", {})

        calls = max(1, 32 // n)
        times = interleaved({"forward": lambda: net[-1](X), "backward": backward,
                             "gradient": lambda: net.gradient(X, target),
                             "again": lambda: net.gradient(X, target, resolved=resolved)},
                            args.repeats, calls)
        f, b, g, r = times["forward"], times["backward"], times["gradient"], times["again"]
        print(f"batch {n:3d}: forward {f * 1e3:8.3f} ms  backward {b * 1e3:8.3f} ms  "
              f"gradient {g * 1e3:8.3f} ms  backward/forward {b / f:5.2f} (target <= 3)  "
              f"gradient/forward {g / f:5.2f}  with the target resolved {r / f:5.2f}")


if __name__ == "__main__":
    main()

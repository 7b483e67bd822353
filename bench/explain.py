"""Attribution benchmark: batched occlusion and Score-CAM against bare forward passes; the stroke measure.

Run with ``python bench/explain.py`` from the repository root (one BLAS
thread, as the window uses). Parts:

(a) Occlusion on one 3x224x224 input, patch 16, stride 8 (27 x 27 = 729
    windows), through a small made-up CNN (random weights, fixed seed:
    conv 3x3 stride 2 to 16, 32 and 64 channels with ReLU, global average
    pooling, dense 10, softmax). The reference is the bare cost the issue
    names: (windows / batch) forward passes of a batch of random inputs of
    the batch size the method picks. Timed alternately, median of
    ``--repeats``; prints method / reference (target <= 1.3).
(b) Score-CAM on that net's 64-channel layer: 64 masked copies, against
    (64 / batch) forward passes of that batch size, the same way.
(c) ``--strokes``: on the 28x28 demo (resources/demo/mnist_cnn.h5), for each
    method, the mean map value on stroke pixels (input >= 0.5) and on
    background pixels (input 0) over the first ``--count`` correctly
    classified held-out digits, each map scaled by its largest absolute value
    (see viewer/analysis/attribution/strokes.py).
"""
from __future__ import annotations

import os

# Before numpy is imported: BLAS reads these once, at load time.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from viewer.analysis.attribution import occlusion, score_cam  # noqa: E402
from viewer.analysis.attribution.batches import batch_rows  # noqa: E402
from viewer.net import Net  # noqa: E402
from viewer.net.layers import (Activation, Conv2D, Dense, GlobalAvgPool2D,  # noqa: E402
                               Input)

DEMO = ROOT / "resources" / "demo" / "mnist_cnn.h5"


def made_up_cnn() -> Net:
    rng = np.random.default_rng(0)
    layers = [Input(shape=(3, 224, 224), name="input", data_format="channels_first")]
    channels = 3
    for k, out in enumerate((16, 32, 64), start=1):
        W = (rng.normal(size=(out, channels, 3, 3)) / math.sqrt(9 * channels)).astype(np.float32)
        layers.append(Conv2D(layers[-1], name=f"conv{k}", W=W, b=np.zeros(out, np.float32),
                             stride=2, padding=1))
        layers.append(Activation(layers[-1], name=f"relu{k}", function="relu"))
        channels = out
    layers.append(GlobalAvgPool2D(layers[-1], name="gap"))
    layers.append(Dense(layers[-1], name="fc", W=rng.normal(size=(64, 10)).astype(np.float32)))
    layers.append(Activation(layers[-1], name="softmax", function="softmax"))
    return Net(layers, name="made_up_cnn")


def forwards(net: Net, copies: int, rows: int, x: np.ndarray) -> None:
    """The reference: ceil(copies / rows) passes of full batches (the last one partial)."""
    done = 0
    while done < copies:
        n = min(rows, copies - done)
        net.outputs(np.repeat(x, n, axis=0), [len(net) - 1])
        done += n


def side_by_side(name: str, method, reference, repeats: int, target: float) -> None:
    method()  # warm-up: plans, work buffers
    reference()
    ratios, m_times, r_times = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        method()
        t1 = time.perf_counter()
        reference()
        t2 = time.perf_counter()
        m_times.append(t1 - t0)
        r_times.append(t2 - t1)
        ratios.append((t1 - t0) / (t2 - t1))
    print(f"{name}: method {statistics.median(m_times):.3f} s, reference "
          f"{statistics.median(r_times):.3f} s, ratio {statistics.median(ratios):.3f} "
          f"(median of {repeats}; target <= {target})")


def strokes(count: int) -> None:
    from viewer.analysis.attribution.strokes import stroke_contrast
    from viewer.session import open_net
    net, samples = open_net(str(DEMO))
    print(f"\nstroke vs background on {DEMO.name}, first {count} correctly classified digits:")
    print(f"{'method':<14}{'stroke':>9}{'background':>12}{'ratio':>8}{'wins':>7}{'seconds':>9}")
    for method, params in (("occlusion", {"patch": 4, "stride": 2}), ("rise", {"masks": 1000}),
                           ("score-cam", {}), ("ablation-cam", {}), ("eigen-cam", {}),
                           ("cam", {})):
        t0 = time.perf_counter()
        r = stroke_contrast(net, samples, method, count=count, **params)
        print(f"{method:<14}{r.stroke_mean:>9.3f}{r.background_mean:>12.3f}{r.ratio:>8.2f}"
              f"{r.wins:>4}/{r.samples:<3}{time.perf_counter() - t0:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--strokes", action="store_true", help="also the stroke measure (c)")
    parser.add_argument("--count", type=int, default=100, help="digits for the stroke measure")
    parser.add_argument("--skip-timing", action="store_true", help="only the stroke measure")
    args = parser.parse_args()
    if not args.skip_timing:
        net = made_up_cnn()
        x = np.random.default_rng(1).random((1, 3, 224, 224)).astype(np.float32)
        rows = batch_rows([net[-1]])
        windows = 27 * 27
        print(f"made-up CNN on 3x224x224; batch of {rows} copies (activation budget)")
        side_by_side(f"occlusion, patch 16 stride 8, {windows} windows",
                     lambda: occlusion(net, x, patch=16, stride=8),
                     lambda: forwards(net, windows, rows, x), args.repeats, 1.3)
        side_by_side("score-cam on relu3 (64 channels)",
                     lambda: score_cam(net, x, layer="relu3"),
                     lambda: forwards(net, 64, rows, x), args.repeats, 1.3)
    if args.strokes or args.skip_timing:
        strokes(args.count)


if __name__ == "__main__":
    main()

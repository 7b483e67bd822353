"""Converting ~5 MB TFLite and .pt2 files, against reading the same net from a strata-net file.

Needs only Strata's core (numpy, h5py). Make the files first (once, in the
frameworks' environments, see bench/make_format_models.py), then::

    python bench/convert_formats.py [--repeats 7]

For each file it times, alternately and on one thread, ``convert(path)``
(read, check, build every layer) against ``viewer.net.load`` of the same net
saved as a strata-net .h5 (the reader Strata is built around, in-process),
and prints the medians, their ratio and whether the conversion stays under
the 1 s budget; then a forward pass of one 64x64 image, the first (with its
one-time costs) and the median of three more.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viewer.convert import convert  # noqa: E402
from viewer.net import load, save  # noqa: E402

MODELS = Path(__file__).resolve().parent / ".nets" / "formats"
FILES = ("cnn_float32.tflite", "cnn_int8.tflite", "cnn.pt2")
BUDGET_S = 1.0


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    missing = [f for f in FILES if not (MODELS / f).exists()]
    if missing:
        print(f"missing {', '.join(missing)} in {MODELS}: run bench/make_format_models.py first")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'file':22s} {'MB':>5s} {'layers':>6s} {'convert s':>10s} {'load .h5 s':>10s} "
              f"{'ratio':>6s}  budget  forward(1) first / again s")
        for name in FILES:
            path = MODELS / name
            net = convert(path)
            native = os.path.join(tmp, name + ".h5")
            save(net, native)
            conv, ref = [], []
            for _ in range(args.repeats):
                conv.append(_timed(lambda: convert(path)))
                ref.append(_timed(lambda: load(native, isolate=False)))
            c, r = statistics.median(conv), statistics.median(ref)
            shape = tuple(64 if s is None else s for s in net.input.output_shape)
            x = np.random.default_rng(0).normal(size=(1,) + shape).astype(np.float32)
            first = _timed(lambda: net[-1](x))
            warm = statistics.median(_timed(lambda: net[-1](x)) for _ in range(3))
            print(f"{name:22s} {path.stat().st_size / 1e6:5.2f} {len(net):6d} {c:10.3f} {r:10.3f} "
                  f"{c / r:6.2f}  {'ok' if c < BUDGET_S else 'OVER':6s}  {first:.3f} / {warm:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

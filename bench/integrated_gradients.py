"""Integrated gradients' completeness error on the demo nets, per quadrature rule.

Run with ``python bench/integrated_gradients.py [--steps 64] [--samples 30]``
from the repository root. For each demo net (resources/demo) and each rule
of :data:`viewer.analysis.attribution.QUADRATURES`, integrated gradients of
the predicted class from the zero baseline on the first samples; prints the
median and the largest relative completeness error
``|sum(IG) - (f(x) - f(0))| / |f(x) - f(0)|`` over the samples whose score
changes by more than 0.1 along the path (a digit the black image already
scores as that digit says little about the integral), and how many exceed 1%.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from viewer.analysis.attribution import QUADRATURES, explain  # noqa: E402
from viewer.data import embedded_samples  # noqa: E402
from viewer.net import load  # noqa: E402

DEMOS = ("digits_mlp.h5", "digits_cnn.h5", "mnist_cnn.h5")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--rules", default=",".join(QUADRATURES),
                        help="comma-separated quadrature rules (default: all)")
    args = parser.parse_args()
    print(f"steps {args.steps}, first {args.samples} samples of each demo net")
    for name in DEMOS:
        path = ROOT / "resources" / "demo" / name
        net, samples = load(str(path)), embedded_samples(str(path))
        for rule in args.rules.split(","):
            errors = []
            for i in range(min(args.samples, len(samples))):
                report = explain(net, samples.batch([i])[0], "integrated-gradients",
                                 steps=args.steps, quadrature=rule).report
                if abs(report["f_x"] - report["f_baseline"]) > 0.1:
                    errors.append(report["relative_error"])
            e = np.array(errors)
            print(f"{net.name:11s} {rule:15s} median {100 * np.median(e):6.3f}%  "
                  f"max {100 * e.max():6.3f}%  over 1%: {int((e > 0.01).sum())}/{len(e)}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

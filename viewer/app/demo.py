"""The nets bundled with Strata (built by resources/make_demo.py)."""

from __future__ import annotations

from pathlib import Path

DEMO_FOLDER = Path(__file__).resolve().parents[2] / "resources" / "demo"
#: What the window opens without a net: a small CNN on 28x28 handwritten digits.
DEMO_NET = DEMO_FOLDER / "mnist_cnn.h5"
#: The small ones, on 8x8 digits: quick to compute, for tests and examples.
SMALL_CNN = DEMO_FOLDER / "digits_cnn.h5"
SMALL_MLP = DEMO_FOLDER / "digits_mlp.h5"

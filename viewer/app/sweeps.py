"""Which samples a window sweep covers, and the limits of automatic sweeps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Sweep each selected layer by itself up to this many samples (more: on request).
AUTO_SWEEP_LIMIT = 20_000
#: Top and bottom samples kept per unit.
TOP_K = 9


@dataclass(frozen=True)
class Subset:
    """Which samples a sweep covers.

    Attributes
    ----------
    size : int or None
        None for all samples, else a random subset of this many.
    seed : int
        Seed of the random subset.
    """

    size: int | None = None
    seed: int = 0

    def indices(self, n: int) -> np.ndarray | None:
        """The sample indices (sorted) out of ``n``; None for all."""
        if self.size is None or self.size >= n:
            return None
        rng = np.random.default_rng(self.seed)
        return np.sort(rng.choice(n, self.size, replace=False))

    def describe(self, n: int) -> str:
        """Short text, e.g. "all 540 samples" or "a random 1,000 of 60,000"."""
        if self.size is None or self.size >= n:
            return f"all {n:,} samples"
        return f"a random {self.size:,} of {n:,} samples"

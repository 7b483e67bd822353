"""Which samples a window sweep covers, the limits of automatic sweeps, and where it runs."""

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
            return "the one sample" if n == 1 else f"all {n:,} samples"
        return f"a random {self.size:,} of {n:,} samples"


#: Where a window sweep runs unless told otherwise.
IN_PROCESS = "in-process"
#: The choices offered besides an address typed in.
RUN_CHOICES = (IN_PROCESS, "local:2", "local:4")
#: The settings key that remembers the choice.
WHERE_KEY = "sweep/where"


def check_where(text: str) -> str:
    """``"in-process"``, ``"local:N"`` or ``"tcp://HOST:PORT"``, stripped.

    Raises
    ------
    StrataError
        For anything else, in one line (Dask is not imported).
    """
    text = text.strip()
    if text in ("", IN_PROCESS):
        return IN_PROCESS
    from viewer.cluster.dask_client import parse_address

    parse_address(text)
    return text

"""Histogram of an activation: NaN/Inf-safe, constant-safe, bounded in cost.

Large arrays are histogrammed from a random subset drawn with a fixed seed,
so the same array always gives the same picture and the cost stays bounded.
The result says whether that happened and how many values were used, so the
window can state it. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from .stats import around

#: Default most values histogrammed; above it a seeded random subset is used.
DEFAULT_CAP = 1_000_000


@dataclass(frozen=True, eq=False)
class Histogram:
    """Counts of one activation's finite values (see :func:`histogram`).

    Attributes
    ----------
    counts : np.ndarray, shape (B,), int64
        Values per bin. Bins are half-open ``[e[i], e[i+1])`` except the last,
        which includes its right edge (numpy's convention).
    edges : np.ndarray, shape (B + 1,), float64
        Bin edges, increasing. With integer ``bins`` and no finite value,
        ``B == 0`` and ``edges == [0.0]``.
    n_used : int
        Finite values histogrammed: all of them, or ``cap`` when sampled.
        ``counts.sum() == n_used`` unless explicit edges left some outside.
    n_ignored : int
        NaN and +-Inf values left out (all of them, counted exactly).
    size : int
        Number of values in the input array.
    sampled : bool
        True when the finite values outnumbered ``cap`` and ``n_used`` of them
        were drawn at random (without replacement, fixed seed).
    cap : int
        The cap in force, for the window to state ("sampled 1,000,000 of ...").
    """

    counts: np.ndarray
    edges: np.ndarray
    n_used: int
    n_ignored: int
    size: int
    sampled: bool
    cap: int


def histogram(
    a: np.ndarray,
    bins: Union[int, np.ndarray] = 64,
    cap: int = DEFAULT_CAP,
    seed: int = 0,
) -> Histogram:
    """Histogram the finite values of an activation.

    Parameters
    ----------
    a : np.ndarray, any shape
        Real values; NaN and +-Inf are counted in ``n_ignored`` and left out.
    bins : int or array_like of shape (B + 1,)
        Number of equal-width bins spanning the finite min to max of *all*
        of ``a`` (not just of a sample), or explicit increasing edges, e.g.
        to share bins between two histograms that are drawn together.
    cap : int
        Most values to histogram. With more finite values than this, ``cap``
        of them are drawn without replacement by
        ``np.random.default_rng(seed)``: the same input, cap and seed always
        give the same counts.
    seed : int
        Seed of that draw.

    Returns
    -------
    Histogram
        With integer ``bins`` and constant finite values, one bin around the
        value (:func:`viewer.analysis.stats.around`) holding them all, whatever
        ``bins`` asked for.
    """
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap!r}")
    a = np.asarray(a)
    finite = np.isfinite(a)
    values = a.ravel() if finite.all() else a[finite]
    n = int(values.size)
    explicit = np.ndim(bins) > 0
    if explicit:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins must be an int or at least 2 increasing edges")
    elif int(bins) < 1:
        raise ValueError(f"bins must be at least 1, got {bins!r}")

    if n == 0:
        if not explicit:
            edges = np.zeros(1, dtype=np.float64)
        counts = np.zeros(edges.size - 1, dtype=np.int64)
        return Histogram(counts, edges, 0, int(a.size), int(a.size), False, cap)

    if not explicit:
        # Edges from the full range, so a sample still spans the true min/max.
        lo, hi = float(values.min()), float(values.max())
        if lo == hi:
            edges = np.array(around(lo), dtype=np.float64)
        else:
            edges = np.linspace(lo, hi, int(bins) + 1)

    sampled = n > cap
    if sampled:
        pick = np.random.default_rng(seed).choice(n, size=cap, replace=False)
        values = values[pick]
    # float64 so values and float64 edges compare exactly as np.histogram would.
    counts, _ = np.histogram(values.astype(np.float64, copy=False), bins=edges)
    return Histogram(
        counts=counts.astype(np.int64, copy=False), edges=edges,
        n_used=int(values.size), n_ignored=int(a.size) - n, size=int(a.size),
        sampled=sampled, cap=cap,
    )

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


#: Bins per unit of a sweep's per-unit value histograms.
UNIT_BINS = 64
#: Narrowest bin width, as a power of two (constant values all fall in one such bin).
_MIN_EXPONENT = -1000
#: Values are at most 2**_EXACT_BITS bin widths from zero, so their bin numbers are exact int64s.
_EXACT_BITS = 50


class UnitHistograms:
    """Per-unit histograms of values arriving in batches; exactly mergeable, no first pass.

    Unit u's bins are ``[j * w, (j + 1) * w)`` for ``j = offset[u] .. offset[u] + B - 1``
    with ``w = 2**exponent[u]``: power-of-two widths aligned on zero. The
    exponent is the smallest at which every value seen so far fits in B bins
    starting at the bin of the smallest value (and for which ``|v| / w <
    2**50``, so bin numbers are exact). Widening by one step joins the bin
    pairs ``(2j, 2j + 1)`` into bin ``j``, so the counts never depend on the
    order values came in: the state is a function of the values' multiset,
    and merging shards in any order gives the very same counts. The price of
    power-of-two widths: between B/2 and B bins span the range. Scaling by a
    power of two (``np.ldexp``) is exact, so a value's bin is exact too.

    Why not bins fixed from a first pass: that pass costs a forward over
    samples, and a value outside its range needs overflow bins whose width is
    unknown; why not a quantile sketch: merges of those are approximate.

    Only finite values are counted; ``low``/``high`` are the exact min and max.

    Parameters
    ----------
    n_units : int
        U.
    bins : int
        B, bins per unit.
    """

    def __init__(self, n_units: int, bins: int = UNIT_BINS) -> None:
        self.bins = int(bins)
        self.exponent = np.full(n_units, _MIN_EXPONENT, dtype=np.int64)
        self.offset = np.zeros(n_units, dtype=np.int64)
        self.counts = np.zeros((n_units, self.bins), dtype=np.int64)
        self.low = np.full(n_units, np.inf)
        self.high = np.full(n_units, -np.inf)

    def add(self, values: np.ndarray) -> None:
        """Count a batch of values, shape (n, U); NaN and +-Inf are left out."""
        values = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(values)
        with np.errstate(invalid="ignore"):
            low = np.where(finite, values, np.inf).min(axis=0, initial=np.inf)
            high = np.where(finite, values, -np.inf).max(axis=0, initial=-np.inf)
        self._widen(np.minimum(self.low, low), np.maximum(self.high, high))
        units = np.broadcast_to(np.arange(values.shape[1]), values.shape)[finite]
        at = self._bin_of(values[finite], units)
        self.counts += np.bincount(units * self.bins + at,
                                   minlength=self.counts.size).reshape(self.counts.shape)

    def merge(self, other: "UnitHistograms") -> None:
        """Take in the counts of other values of the same units (exact)."""
        if other.counts.shape != self.counts.shape:
            raise ValueError(f"cannot merge histograms of shape {other.counts.shape} "
                             f"into {self.counts.shape}")
        low, high = np.minimum(self.low, other.low), np.maximum(self.high, other.high)
        theirs = UnitHistograms.from_arrays(other.arrays())
        theirs._widen(low, high)
        self._widen(low, high)
        self.counts = self.counts + theirs.counts

    def edges(self) -> np.ndarray:
        """Bin edges per unit, shape (U, B + 1), float64."""
        return np.ldexp((self.offset[:, None] + np.arange(self.bins + 1)).astype(np.float64),
                        self.exponent[:, None])

    def _bin_of(self, values: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Bin (0..B-1) of each value of the given units."""
        at = np.floor(np.ldexp(values, -self.exponent[units])).astype(np.int64) - self.offset[units]
        return np.clip(at, 0, self.bins - 1)

    def _widen(self, low: np.ndarray, high: np.ndarray) -> None:
        """Move to the smallest exponent (and its offset) holding [low, high]; rebin the counts."""
        seen = low <= high
        exponent = self.exponent.copy()
        if seen.any():
            lo, hi = low[seen], high[seen]
            span = np.maximum(hi - lo, np.finfo(np.float64).tiny)
            magnitude = np.maximum(np.abs(lo), np.abs(hi))
            with np.errstate(divide="ignore"):
                need = np.maximum(np.floor(np.log2(span / self.bins)),
                                  np.ceil(np.log2(np.maximum(magnitude, 1e-300))) - _EXACT_BITS)
            e = np.maximum(need.astype(np.int64), self.exponent[seen])
            e = np.maximum(e, _MIN_EXPONENT)
            for _ in range(4):  # the log2 estimate is at most a step or two short
                first = np.floor(np.ldexp(lo, -e)).astype(np.int64)
                last = np.floor(np.ldexp(hi, -e)).astype(np.int64)
                short = last - first >= self.bins
                if not short.any():
                    break
                e = e + short
            exponent[seen] = e
        offset = np.where(seen, np.floor(np.ldexp(np.where(seen, low, 0.0), -exponent)),
                          0).astype(np.int64)
        shift = exponent - self.exponent
        if (shift != 0).any() or (offset != self.offset).any():
            absolute = self.offset[:, None] + np.arange(self.bins)
            local = (absolute >> shift[:, None]) - offset[:, None]
            used = self.counts > 0
            rows = np.broadcast_to(np.arange(len(offset))[:, None], local.shape)
            counts = np.zeros_like(self.counts)
            np.add.at(counts, (rows[used], local[used]), self.counts[used])
            self.counts = counts
        self.exponent, self.offset = exponent, offset
        self.low, self.high = low, high

    def arrays(self) -> dict[str, np.ndarray]:
        """exponent, offset (U,) int64, counts (U, B) int64, low, high (U,): the whole state."""
        return {"exponent": self.exponent, "offset": self.offset, "counts": self.counts,
                "low": self.low, "high": self.high}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "UnitHistograms":
        """The state :meth:`arrays` gave."""
        counts = np.asarray(arrays["counts"], dtype=np.int64)
        state = cls(counts.shape[0], counts.shape[1])
        state.counts = counts.copy()
        for name in ("exponent", "offset"):
            setattr(state, name, np.asarray(arrays[name], dtype=np.int64).copy())
        state.low = np.asarray(arrays["low"], dtype=np.float64).copy()
        state.high = np.asarray(arrays["high"], dtype=np.float64).copy()
        return state

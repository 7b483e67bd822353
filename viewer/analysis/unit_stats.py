"""Streaming per-unit statistics of a layer over many samples, batch by batch.

The pieces a dataset sweep (:mod:`viewer.analysis.sweep`) feeds one batch at
a time, so memory holds one batch and the per-unit results, never all
activations:

- :func:`unit_values`: one batch's activation -> per-unit *value* and *peak*
  per sample (a conv channel's mean and max over its positions);
- :class:`Moments`: mean and standard deviation per unit (Chan's merge of
  batch moments, so batching does not change the numbers beyond rounding);
- :class:`TopK`: the k samples with the largest and the k with the smallest
  score per unit, merged per batch with ``np.argpartition``, ties broken by
  the lower sample index;
- :class:`ClassSums`: per-class sums of the values, for class means.

Each also merges with another of its kind fed other samples (``merge``), and
becomes a dict of arrays and back (``arrays`` / ``from_arrays``), so a sweep's
shards can run apart, be saved, and be combined in any order: counts, top-k
and class sums exactly, moments within float rounding.

NaN and Inf: moments and class means use finite values only; in top-k a NaN
score ranks as the worst possible score. Pure numpy.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def unit_values(act: np.ndarray, unit_axis: Optional[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample value and peak of each unit of one batch.

    Parameters
    ----------
    act : np.ndarray, shape (n, *sample_shape)
        A batch of one layer's outputs.
    unit_axis : int or None
        Axis of ``sample_shape`` whose entries are the units (0 for
        channels first, ``len(sample_shape) - 1`` for channels last and for
        sequence features); the other axes are positions. None: every
        element is a unit (dense layers).

    Returns
    -------
    values : np.ndarray, shape (n, U), float64
        The unit's mean over its positions (the element itself for None).
    peaks : np.ndarray, shape (n, U), float32 (float64 for float64 outputs)
        The unit's max over its positions (the element itself for None).
    """
    n = act.shape[0]
    if act.dtype not in (np.float32, np.float64):  # ints, bools, float16
        act = act.astype(np.float64)
    if unit_axis is None:
        flat = act.reshape(n, -1)
        return flat.astype(np.float64), flat
    # Sums as products with a vector of ones: BLAS, about 5x faster than a sum reduction.
    if unit_axis == 0:
        grouped = act.reshape(n, act.shape[1], -1)  # (n, U, positions)
        positions = grouped.shape[2]
        sums = (grouped.reshape(-1, positions) @ np.ones(positions, act.dtype)).reshape(n, -1)
    else:
        grouped = act.reshape(n, -1, act.shape[-1])  # (n, positions, U)
        positions = grouped.shape[1]
        sums = np.ones(positions, act.dtype) @ grouped
    axis = 2 if unit_axis == 0 else 1
    return sums.astype(np.float64) / positions, _max_over(grouped, axis)


def _max_over(grouped: np.ndarray, axis: int) -> np.ndarray:
    """``grouped.max(axis)`` for a 3-D array, NaN propagating like it."""
    positions = grouped.shape[axis]
    if positions > 32:
        return grouped.max(axis=axis)
    # numpy's max over a short axis pays per output value; a few whole-array
    # maximums are 4-20x faster for conv maps of 4x4 or fewer positions.
    at = [slice(None)] * 3
    at[axis] = 0
    peak = grouped[tuple(at)].copy()
    for p in range(1, positions):
        at[axis] = p
        np.maximum(peak, grouped[tuple(at)], out=peak)
    return peak


class Moments:
    """Running count, mean and sum of squared deviations per column.

    Parameters
    ----------
    n_units : int
        Number of columns U.
    """

    def __init__(self, n_units: int) -> None:
        self.count = np.zeros(n_units, dtype=np.int64)
        self._mean = np.zeros(n_units)
        self._m2 = np.zeros(n_units)

    def add(self, values: np.ndarray, finite: Optional[np.ndarray] = None) -> None:
        """Merge a batch of rows, shape (n, U).

        ``finite`` (n, U) bool marks the entries to use; None: all are finite.
        """
        if finite is None:
            count = np.full(values.shape[1], values.shape[0], dtype=np.int64)
            mean = values.mean(axis=0)
            m2 = ((values - mean) ** 2).sum(axis=0)
        else:
            count = finite.sum(axis=0)
            clean = np.where(finite, values, 0.0)
            mean = clean.sum(axis=0) / np.maximum(count, 1)
            m2 = (np.where(finite, values - mean, 0.0) ** 2).sum(axis=0)
        self._combine(count, mean, m2)

    def merge(self, other: "Moments") -> None:
        """Take in the moments of other rows (Chan's merge)."""
        self._combine(other.count, other._mean, other._m2)

    def _combine(self, count: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
        # Chan et al.: merging moments, not sums, keeps precision when |mean| >> std.
        total = self.count + count
        share = np.divide(count, total, out=np.zeros(len(total)), where=total > 0)
        delta = mean - self._mean
        self._mean = self._mean + delta * share
        self._m2 = self._m2 + m2 + delta ** 2 * self.count * share
        self.count = total

    def arrays(self) -> dict[str, np.ndarray]:
        """count (U,) int64, mean (U,), m2 (U,): the whole state."""
        return {"count": self.count, "mean": self._mean, "m2": self._m2}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Moments":
        """The state :meth:`arrays` gave."""
        moments = cls(len(arrays["count"]))
        moments.count = np.asarray(arrays["count"], dtype=np.int64)
        moments._mean = np.asarray(arrays["mean"], dtype=np.float64)
        moments._m2 = np.asarray(arrays["m2"], dtype=np.float64)
        return moments

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (ddof=0) per column, shape (U,); NaN where count is 0."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(self._m2 / self.count)

    @property
    def means(self) -> np.ndarray:
        """Mean per column, shape (U,); NaN where count is 0."""
        return np.where(self.count > 0, self._mean, np.nan)


class TopK:
    """Per unit, the k samples with the largest and the k with the smallest score, streamed.

    Among equal scores the lower sample index wins, so the result does not
    depend on batch sizes or the order batches arrive in. Scores are ranked
    at float32 precision (activations are float32 here); NaN counts as the
    worst score (-inf at the top, +inf at the bottom), its value stays NaN.

    How: each (score, sample) pair becomes one int64 key, the score's
    order-preserving float32 bit pattern in the high 32 bits and the sample
    index in the low 32, so keys are unique and no tie rule is needed. The
    first batch is cut to k per unit by ``np.argpartition``; of later batches
    only the entries that beat a unit's current k-th best get a key, merged
    into the units they touch by one small sort.

    Parameters
    ----------
    n_units : int
        Number of units U.
    k : int
        How many samples to keep per unit and end (fewer if fewer arrive).
    """

    def __init__(self, n_units: int, k: int) -> None:
        self.k = k
        self.n_units = n_units
        # Both ends stacked: rows 0..U-1 are the top, rows U..2U-1 the
        # bottom, each sorted best first. Ranking is by "badness" (-score at
        # the top, score at the bottom): smaller is better.
        self._keys = np.empty((2 * n_units, 0), dtype=np.int64)
        self._values = np.empty((2 * n_units, 0))

    def add(self, scores: np.ndarray, samples: np.ndarray) -> None:
        """Merge a batch.

        Parameters
        ----------
        scores : np.ndarray, shape (n, U), float (ranked as float32)
        samples : np.ndarray, shape (n,), int64
            Sample index of each row (0 <= index < 2**32); distinct from all earlier ones.
        """
        single = scores.astype(np.float32, copy=False)
        badness = np.concatenate([-single, single], axis=1)  # (n, 2U)
        badness[np.isnan(badness)] = np.inf  # NaN is the worst at both ends
        if self._keys.shape[1] < self.k:
            self._merge_all(badness, scores, samples)
        else:
            self._merge_few(badness, scores, samples)

    def _merge_all(self, badness: np.ndarray, scores: np.ndarray, samples: np.ndarray) -> None:
        """First batches: partition every entry."""
        self._keep_best(_key(badness.T, samples), np.concatenate([scores.T, scores.T]))

    def merge(self, other: "TopK") -> None:
        """Take in another TopK of the same units and k, fed other samples.

        Exact: keys are unique, so the k best of the union do not depend on
        which side or order they came from.
        """
        if other.n_units != self.n_units or other.k != self.k:
            raise ValueError(f"cannot merge top-{other.k} of {other.n_units} units into "
                             f"top-{self.k} of {self.n_units}")
        self._keep_best(other._keys, other._values)

    def _keep_best(self, new_keys: np.ndarray, new_values: np.ndarray) -> None:
        """The k smallest keys per row of the current ones and ``new_keys`` (2U, m), sorted."""
        k = self.k
        keys = np.concatenate([self._keys, new_keys], axis=1)
        values = np.concatenate([self._values, new_values], axis=1)
        if keys.shape[1] > k:
            cols = np.argpartition(keys, k - 1, axis=1)[:, :k]
            keys = np.take_along_axis(keys, cols, axis=1)
            values = np.take_along_axis(values, cols, axis=1)
        order = np.argsort(keys, axis=1)
        self._keys = np.take_along_axis(keys, order, axis=1)
        self._values = np.take_along_axis(values, order, axis=1).astype(np.float64)

    def _merge_few(self, badness: np.ndarray, scores: np.ndarray, samples: np.ndarray) -> None:
        """Later batches: only entries that beat a row's k-th best."""
        k = self.k
        kth = self._keys[:, -1]
        bound = _ordered_bits((kth >> 32).astype(np.int32)).view(np.float32)
        # Better badness wins; equal badness wins with a lower sample index (ReLU zeros).
        beats = (badness < bound) | ((badness == bound) & (samples[:, None] < (kth & 0xFFFFFFFF)))
        flat = np.flatnonzero(beats)
        if not flat.size:
            return
        at, rows = np.divmod(flat, badness.shape[1])
        touched, local = np.unique(rows, return_inverse=True)
        n_touched = len(touched)
        all_rows = np.concatenate([np.repeat(np.arange(n_touched), k), local.reshape(-1)])
        all_keys = np.concatenate([self._keys[touched].ravel(),
                                   _key(badness.ravel()[flat], samples[at])])
        all_values = np.concatenate([self._values[touched].ravel(),
                                     scores[at, rows % self.n_units]])
        order = np.lexsort((all_keys, all_rows))
        counts = k + np.bincount(all_rows[n_touched * k:], minlength=n_touched)
        pick = order[((np.cumsum(counts) - counts)[:, None] + np.arange(k)).ravel()]
        self._keys[touched] = all_keys[pick].reshape(n_touched, k)
        self._values[touched] = all_values[pick].reshape(n_touched, k)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(top samples, top scores, bottom samples, bottom scores), each shape (U, k'), best first.

        k' = min(k, samples seen).
        """
        u = self.n_units
        samples = self._keys & 0xFFFFFFFF
        return samples[:u], self._values[:u].copy(), samples[u:], self._values[u:].copy()

    def arrays(self) -> dict[str, np.ndarray]:
        """keys (2U, k') int64 and values (2U, k') float64: top rows then bottom rows."""
        return {"keys": self._keys, "values": self._values}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], k: int) -> "TopK":
        """The state :meth:`arrays` gave, keeping ``k`` per unit."""
        keys = np.asarray(arrays["keys"], dtype=np.int64)
        top = cls(keys.shape[0] // 2, k)
        top._keys = keys
        top._values = np.asarray(arrays["values"], dtype=np.float64)
        return top


def _ordered_bits(bits: np.ndarray) -> np.ndarray:
    """float32 bit patterns (int32) <-> int32 in the float order; its own inverse.

    Floats store sign and magnitude: flipping the magnitude bits of the
    negative ones gives two's complement order.
    """
    return bits ^ ((bits >> 31) & 0x7FFFFFFF)


def _key(badness: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """int64 keys: the float order of NaN-free float32 ``badness``, then the sample index."""
    bits = (badness + np.float32(0)).view(np.int32)  # + 0 turns -0.0 into 0.0
    return _ordered_bits(bits).astype(np.int64) * (1 << 32) + samples


class ClassSums:
    """Per-class sums of per-unit values, for class means.

    Parameters
    ----------
    classes : np.ndarray, shape (K,), int64
        The class numbers.
    n_units : int
    """

    def __init__(self, classes: np.ndarray, n_units: int) -> None:
        self.classes = classes
        self.samples = np.zeros(len(classes), dtype=np.int64)
        self._sums = np.zeros((len(classes), n_units))
        self._missing = np.zeros((len(classes), n_units))  # non-finite values left out

    def add(self, values: np.ndarray, labels: np.ndarray,
            finite: Optional[np.ndarray] = None) -> None:
        """Merge a batch: values (n, U) float64, labels (n,) from ``classes``.

        ``finite`` (n, U) bool marks the entries to use; None: all are finite.
        """
        onehot = (labels[:, None] == self.classes).astype(np.float64)  # (n, K)
        self.samples += onehot.sum(axis=0).astype(np.int64)
        if finite is None:
            self._sums += onehot.T @ values
        else:
            self._sums += onehot.T @ np.where(finite, values, 0.0)
            self._missing += onehot.T @ (~finite).astype(np.float64)

    def merge(self, other: "ClassSums") -> None:
        """Take in the sums of other samples over the same classes (exact: integer counts,
        float sums within rounding)."""
        if not np.array_equal(other.classes, self.classes):
            raise ValueError("cannot merge class sums over different classes")
        self.samples = self.samples + other.samples
        self._sums = self._sums + other._sums
        self._missing = self._missing + other._missing

    def arrays(self) -> dict[str, np.ndarray]:
        """classes (K,), samples (K,), sums (K, U), missing (K, U)."""
        return {"classes": self.classes, "samples": self.samples, "sums": self._sums,
                "missing": self._missing}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "ClassSums":
        """The state :meth:`arrays` gave."""
        sums = np.asarray(arrays["sums"], dtype=np.float64)
        state = cls(np.asarray(arrays["classes"], dtype=np.int64), sums.shape[1])
        state.samples = np.asarray(arrays["samples"], dtype=np.int64)
        state._sums = sums
        state._missing = np.asarray(arrays["missing"], dtype=np.float64)
        return state

    def means(self) -> np.ndarray:
        """Mean value per class and unit, shape (K, U); NaN where a class has no finite value."""
        counts = self.samples[:, None] - self._missing
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, self._sums / counts, np.nan)

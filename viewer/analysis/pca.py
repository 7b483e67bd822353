"""PCA of a layer's outputs over many samples in one streaming pass, memory bounded.

Method (:class:`PCAFitter`, :class:`PCAProjection`, :class:`PCAPart`):

1. Features. A sample's flattened output has D values. Up to
   ``max_features`` (4096) they are used as they are; above, each sample is
   hashed down to ``max_features`` values by a fixed-seed *count sketch*
   (every value is added, with a random sign, to one of the bins; bins get
   equal shares). It costs one pass over the batch and preserves inner
   products in expectation, so sparse ReLU maps keep their signal (a random
   subset of values could miss the active region).
2. Fit. The components are fitted on the first ``n_fit`` samples the sweep
   processes, which it draws at random (fixed seed) from the swept samples
   (500 by default, see :class:`viewer.analysis.sweep.Sweep`). They wait in
   a float32 buffer of at most ``n_fit * features`` values (capped at
   2**22: 16 MB). With ``n_fit`` >= the number of samples the fit is on all
   of them. Small fits (min(samples, features) <= 64) are exact: an
   eigendecomposition of the smaller of the covariance and Gram matrices.
   Larger ones use a randomized SVD (Halko, Martinsson & Tropp 2011,
   algorithm 4.4: 16 random directions, 2 power iterations) in float32; on
   the demo CNN its top two components are within 1e-5 of the exact ones
   (1 - cosine). Why not a streamed covariance: X^T X of a 1024-value layer
   costs about six times the demo CNN's whole forward pass per batch, and
   its eigendecomposition more; the randomized fit on 500 samples costs
   about a tenth of the forward pass over the 1,797 digits.
3. Coordinates. Every sample, fitted or not, is projected on the
   components; the coordinates are centred over all samples at the end.
   The explained variance of a component is the variance of its coordinate
   over all samples, the ratio is that over the total variance (the sum of
   the per-feature variances, streamed over all samples).

Shards (see :mod:`viewer.analysis.sweep_state`): the fit rows are a sweep's
first shard; its :class:`PCAProjection` (2 x F floats) goes to every later
shard, which projects its rows as it streams them, so the data are still
read once. A :class:`PCAPart` per shard (its rows' coordinates and Chan-merged
feature moments) merges in any order into the same map as one pass, within
float rounding. Why this rather than mergeable covariance sums: the sums cost
F^2 per sample (above) and F^2 floats per shard state (128 MB at F = 4096)
for every layer of an all-layer sweep, and a sketch such as Frequent
Directions would give other components than the in-process sweep; the fit
sample gives the same components wherever the shards run.

Samples whose output holds NaN or Inf are left out (NaN coordinates).
Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest feature count used as is; more are hashed down to this many.
MAX_FEATURES = 4096
#: Cap on the fit buffer's size in values (float32): 16 MB.
MAX_FIT_VALUES = 2 ** 22
#: Up to this min(samples, features) the fit is exact.
EXACT_LIMIT = 64
_WIDTH = 16  # random directions of the randomized SVD: 2 components + 14 oversampling
_POWER_ITERATIONS = 2
N_COMPONENTS = 2


@dataclass(frozen=True, eq=False)
class PCAResult:
    """A 2-D map of the samples by the layer's two principal components.

    Attributes
    ----------
    coords : np.ndarray, shape (N, 2), float64
        Each swept sample's coordinates on the components, in the order of
        the sweep's ``indices``, centred; NaN for left-out samples. Zeros in
        the second column when there is only one component.
    explained_variance : np.ndarray, shape (2,), float64
        Variance of each coordinate over all samples.
    explained_variance_ratio : np.ndarray, shape (2,), float64
        ``explained_variance`` over the total variance (0 when that is 0).
    n_fit : int
        Samples the components were fitted on.
    n_samples : int
        Samples with finite outputs (the others have NaN coordinates).
    n_features : int
        Features per sample the PCA saw (after hashing, if any).
    n_original_features : int
        Values per sample in the layer's output (D).
    method : str
        ``"exact"`` or ``"randomized"`` (how the components were fitted).
    seed : int
        Seed of the fit subset, the hash and the randomized SVD.
    """

    coords: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    n_fit: int
    n_samples: int
    n_features: int
    n_original_features: int
    method: str
    seed: int

    @property
    def sketched(self) -> bool:
        """True when the features were hashed down (D > MAX_FEATURES)."""
        return self.n_features < self.n_original_features

    @property
    def description(self) -> str:
        """One line stating how the map was made, for the plot and the files."""
        parts = [f"PCA of {self.n_samples:,} samples"]
        if self.n_fit < self.n_samples:
            parts.append(f"fitted on a random {self.n_fit:,} (seed {self.seed})")
        if self.sketched:
            parts.append(f"{self.n_original_features:,} values hashed to {self.n_features:,}")
        ratio = ", ".join(f"{100 * r:.1f}%" for r in self.explained_variance_ratio)
        parts.append(f"{self.method} fit; explained variance {ratio}")
        return "; ".join(parts)


class FeatureSketch:
    """A fixed-seed count sketch (n, D) -> (n, bins): each value is added, signed, to one bin.

    Parameters
    ----------
    n_features : int
        D, larger than ``bins``.
    bins : int
    seed : int
    """

    def __init__(self, n_features: int, bins: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        # A permutation mod bins gives every bin floor or ceil(D / bins) values, none empty.
        bin_of = rng.permutation(n_features) % bins
        self._order = np.argsort(bin_of, kind="stable")
        self._signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), n_features)
        counts = np.bincount(bin_of, minlength=bins)
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Hash the rows of X, shape (n, D) -> (n, bins)."""
        return np.add.reduceat(X[:, self._order] * self._signs, self._starts, axis=1)


class PCAFitter:
    """Collects the fit rows and fits the components once it has them (step 2 above).

    Parameters
    ----------
    n_fit : int
        The first ``n_fit`` rows to arrive are the fit set (capped so the
        buffer holds at most MAX_FIT_VALUES values).
    n_features : int
        D, values per row (before hashing).
    seed : int
    max_features : int
    """

    def __init__(self, n_fit: int, n_features: int, *, seed: int = 0,
                 max_features: int = MAX_FEATURES) -> None:
        self.seed = seed
        self.n_features = min(n_features, max_features)
        self.n_original_features = n_features
        self.max_features = max_features
        self.n_fit = max(1, min(n_fit, MAX_FIT_VALUES // self.n_features))
        self._buffer = np.empty((self.n_fit, self.n_features), np.float32)
        self._rows = np.empty(self.n_fit, dtype=np.int64)
        self._buffered = 0
        self.arrived = 0

    @property
    def full(self) -> bool:
        """All fit rows have arrived."""
        return self.arrived >= self.n_fit

    def take(self, Z: np.ndarray, rows: np.ndarray, finite: np.ndarray) -> int:
        """Buffer the leading rows of a batch that belong to the fit set.

        Parameters
        ----------
        Z : np.ndarray, shape (n, F)
            The batch's features (hashed if need be).
        rows : np.ndarray, shape (n,), int64
        finite : np.ndarray, shape (n,), bool
            Rows without NaN or Inf; the others are not fitted on.

        Returns
        -------
        int
            How many leading rows of the batch went to the fit set.
        """
        here = min(len(Z), max(0, self.n_fit - self.arrived))
        self.arrived += here
        keep = np.flatnonzero(finite[:here])
        end = self._buffered + len(keep)
        self._buffer[self._buffered:end] = Z[keep]
        self._rows[self._buffered:end] = rows[keep]
        self._buffered = end
        return here

    def fit(self) -> tuple["PCAProjection", np.ndarray, np.ndarray]:
        """The components, and the fitted rows with their coordinates (the buffer is freed).

        Returns
        -------
        projection : PCAProjection
        rows : np.ndarray, shape (m,), int64
        coords : np.ndarray, shape (m, 2), float64
        """
        X = self._buffer[:self._buffered]
        mean = X.mean(axis=0) if len(X) else np.zeros(self.n_features, np.float32)
        X -= mean  # in place: the buffer is not needed uncentred
        small = min(X.shape) <= EXACT_LIMIT
        if not len(X):
            vt = np.empty((0, self.n_features))
        else:
            vt = _exact_components(X) if small else _randomized_components(X, self.seed)
        # A fixed sign: each component's largest loading is positive.
        if len(vt):
            vt *= np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])[:, None]
        projection = PCAProjection(
            components=vt.astype(np.float32), mean=mean.astype(np.float64),
            method="exact" if small else "randomized", n_fit=len(X), seed=self.seed,
            n_original_features=self.n_original_features, max_features=self.max_features)
        coords = np.zeros((len(X), N_COMPONENTS))
        coords[:, :len(vt)] = X @ projection.components.T
        rows = self._rows[:len(X)].copy()
        self._buffer = np.empty((0, self.n_features), np.float32)
        return projection, rows, coords


@dataclass(frozen=True, eq=False)
class PCAProjection:
    """Fitted components: what every shard of a sweep needs to place its samples.

    Attributes
    ----------
    components : np.ndarray, shape (r, F), float32
        r <= 2 unit axes (fewer when the fit rows vary in fewer directions).
    mean : np.ndarray, shape (F,), float64
        The fit rows' mean.
    method : str
        "exact" or "randomized".
    n_fit : int
        Rows fitted on.
    seed : int
        Seed of the hash and of the randomized SVD.
    n_original_features : int
        D.
    max_features : int
        D above this is hashed down to it.
    """

    components: np.ndarray
    mean: np.ndarray
    method: str
    n_fit: int
    seed: int
    n_original_features: int
    max_features: int = MAX_FEATURES

    def arrays(self) -> dict:
        """The projection as arrays and numbers (for HDF5)."""
        return {"components": self.components, "mean": self.mean, "method": self.method,
                "n_fit": self.n_fit, "seed": self.seed,
                "n_original_features": self.n_original_features,
                "max_features": self.max_features}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "PCAProjection":
        """The projection :meth:`arrays` gave."""
        return cls(components=np.asarray(arrays["components"], np.float32),
                   mean=np.asarray(arrays["mean"], np.float64), method=str(arrays["method"]),
                   n_fit=int(arrays["n_fit"]), seed=int(arrays["seed"]),
                   n_original_features=int(arrays["n_original_features"]),
                   max_features=int(arrays["max_features"]))

    def project(self, Z: np.ndarray) -> np.ndarray:
        """Coordinates of feature rows Z (n, F) -> (n, 2), float64 (zeros past r)."""
        coords = np.zeros((len(Z), N_COMPONENTS))
        r = len(self.components)
        # Centred first: far from zero (a bias of -1000), float32 products would cancel.
        coords[:, :r] = (Z - self.mean.astype(Z.dtype)) @ self.components.T
        return coords


def features_of(X: np.ndarray, n_original_features: int, seed: int,
                max_features: int = MAX_FEATURES) -> np.ndarray:
    """The PCA's features of flattened outputs X (n, D): X itself, or hashed (step 1 above)."""
    if n_original_features > max_features:
        X = _sketch(n_original_features, max_features, seed)(X)
    if X.dtype not in (np.float32, np.float64):  # ints, bools, float16
        X = X.astype(np.float32)
    return X


_SKETCHES: dict[tuple[int, int, int], FeatureSketch] = {}


def _sketch(n_features: int, bins: int, seed: int) -> FeatureSketch:
    """One FeatureSketch per (D, bins, seed), made once: a shard's batches share it."""
    key = (n_features, bins, seed)
    if key not in _SKETCHES:
        _SKETCHES[key] = FeatureSketch(n_features, bins, seed)
    return _SKETCHES[key]


class PCAPart:
    """The PCA's mergeable state over some rows: their coordinates and the feature moments.

    The total variance (the sum of the per-feature variances) is streamed as
    a per-feature mean and one sum of squared deviations, merged like
    :class:`viewer.analysis.unit_stats.Moments` (Chan), so it does not cancel
    when ``|mean| >> spread`` and shards merge in any order.

    Parameters
    ----------
    n_features : int
        F, features per row (after hashing).
    """

    def __init__(self, n_features: int) -> None:
        self.rows = np.empty(0, dtype=np.int64)
        self.coords = np.empty((0, N_COMPONENTS))
        self.count = 0
        self.mean = np.zeros(n_features)
        self.m2 = 0.0

    def add_moments(self, Z: np.ndarray) -> None:
        """Take in the feature moments of finite rows Z (n, F)."""
        if not len(Z):
            return
        mean = Z.mean(axis=0, dtype=np.float64)
        centred = (Z - mean.astype(Z.dtype)).ravel()
        self._combine(len(Z), mean, float(np.dot(centred, centred)))

    def add_coords(self, rows: np.ndarray, coords: np.ndarray) -> None:
        """Record the coordinates (m, 2) of rows (m,)."""
        self.rows = np.concatenate([self.rows, rows])
        self.coords = np.concatenate([self.coords, coords])

    def merge(self, other: "PCAPart") -> None:
        """Take in the rows and moments of another part (other rows)."""
        self.add_coords(other.rows, other.coords)
        self._combine(other.count, other.mean, other.m2)

    def _combine(self, count: int, mean: np.ndarray, m2: float) -> None:
        total = self.count + count
        if not total:
            return
        delta = mean - self.mean
        self.m2 += m2 + float(delta @ delta) * self.count * count / total
        self.mean = self.mean + delta * (count / total)
        self.count = total

    def arrays(self) -> dict:
        """rows (m,), coords (m, 2), count, mean (F,), m2."""
        return {"rows": self.rows, "coords": self.coords, "count": self.count,
                "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "PCAPart":
        """The state :meth:`arrays` gave."""
        part = cls(len(arrays["mean"]))
        part.rows = np.asarray(arrays["rows"], dtype=np.int64)
        part.coords = np.asarray(arrays["coords"], dtype=np.float64).reshape(-1, N_COMPONENTS)
        part.count = int(arrays["count"])
        part.mean = np.asarray(arrays["mean"], dtype=np.float64)
        part.m2 = float(arrays["m2"])
        return part

    def result(self, projection: PCAProjection, n_rows: int) -> PCAResult:
        """The map of all ``n_rows`` rows once every part is merged in (step 3 above)."""
        coords = np.full((n_rows, N_COMPONENTS), np.nan)
        coords[self.rows] = self.coords
        finite = np.zeros(n_rows, dtype=bool)
        finite[self.rows] = True
        variance = np.zeros(N_COMPONENTS)
        total = 0.0
        if finite.any():
            coords[finite] -= coords[finite].mean(axis=0)
            variance = (coords[finite] ** 2).mean(axis=0)
            total = max(self.m2 / self.count, 0.0)
        ratio = variance / total if total > 0 else np.zeros(N_COMPONENTS)
        return PCAResult(coords=coords, explained_variance=variance,
                         explained_variance_ratio=ratio, n_fit=projection.n_fit,
                         n_samples=int(self.count), n_features=len(self.mean),
                         n_original_features=projection.n_original_features,
                         method=projection.method, seed=projection.seed)


def _exact_components(X: np.ndarray) -> np.ndarray:
    """Top principal axes of centred X (n, F), shape (min(2, rank), F), float64.

    Eigenvectors of the smaller of X^T X (F x F) and X X^T (n x n).
    """
    X = X.astype(np.float64)
    if X.shape[1] <= X.shape[0]:
        values, vectors = np.linalg.eigh(X.T @ X)
        axes = vectors[:, ::-1][:, :N_COMPONENTS].T
    else:
        values, vectors = np.linalg.eigh(X @ X.T)
        axes = (X.T @ vectors[:, ::-1][:, :N_COMPONENTS]).T
    return _unit_axes(axes, values[::-1][:N_COMPONENTS])


def _unit_axes(axes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Normalised ``axes`` (r, F) whose eigenvalue ``values`` (r,) is not ~0.

    Directions without variance are arbitrary (or 0/0 from a Gram side): left out.
    """
    axes = axes[values > values.max(initial=0.0) * 1e-12]
    return axes / np.linalg.norm(axes, axis=1, keepdims=True)


def _randomized_components(X: np.ndarray, seed: int) -> np.ndarray:
    """Approximate top principal axes of centred float32 X (n, F), shape (<= 2, F), float64."""
    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((X.shape[1], _WIDTH)).astype(X.dtype)
    Q, _ = np.linalg.qr(X @ omega)
    for _ in range(_POWER_ITERATIONS):
        # Re-orthonormalising each half step keeps the small directions from washing out.
        Q, _ = np.linalg.qr(X.T @ Q)
        Q, _ = np.linalg.qr(X @ Q)
    # Right singular vectors of B = Q^T X (width x F) from the small B B^T: cheaper than an SVD.
    B = (Q.T @ X).astype(np.float64)
    values, vectors = np.linalg.eigh(B @ B.T)
    axes = (B.T @ vectors[:, ::-1][:, :N_COMPONENTS]).T
    return _unit_axes(axes, values[::-1][:N_COMPONENTS])

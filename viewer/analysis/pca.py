"""PCA of a layer's outputs over many samples in one streaming pass, memory bounded.

Method (see :class:`StreamingPCA`):

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


class StreamingPCA:
    """Two principal components of rows arriving in batches (see the module docstring).

    Parameters
    ----------
    n_rows : int
        N, the number of rows (samples) that will arrive.
    n_fit : int
        The first ``n_fit`` rows to arrive are the fit set (capped so the
        buffer holds at most MAX_FIT_VALUES values).
    n_features : int
        D, values per row.
    seed : int
    max_features : int
    """

    def __init__(self, n_rows: int, n_fit: int, n_features: int, *, seed: int = 0,
                 max_features: int = MAX_FEATURES) -> None:
        self.seed = seed
        self._sketch = (FeatureSketch(n_features, max_features, seed)
                        if n_features > max_features else None)
        self.n_features = min(n_features, max_features)
        self.n_original_features = n_features
        self.n_fit = max(1, min(n_fit, n_rows, MAX_FIT_VALUES // self.n_features))
        self._coords = np.full((n_rows, N_COMPONENTS), np.nan)
        self._finite_rows = np.zeros(n_rows, dtype=bool)
        self._buffer: np.ndarray | None = np.empty((self.n_fit, self.n_features), np.float32)
        self._buffer_rows = np.empty(self.n_fit, dtype=np.int64)
        self._buffered = 0
        self._arrived = 0
        self._components: np.ndarray | None = None  # (r, features) float32, r <= 2
        self._offset: np.ndarray | None = None  # fit mean @ components.T, shape (r,)
        self._n_fitted = 0
        self.method = ""
        # Rows are shifted by the first batch's mean, so the streamed sums of
        # squares below do not cancel when |mean| >> spread.
        self._shift: np.ndarray | None = None
        self._count = 0
        self._sum = np.zeros(self.n_features)
        self._sumsq = 0.0

    def add(self, X: np.ndarray, rows: np.ndarray) -> None:
        """Take a batch.

        Parameters
        ----------
        X : np.ndarray, shape (n, D)
            The batch's flattened outputs.
        rows : np.ndarray, shape (n,), int64
            Where each row's coordinates go in the result (0..N-1).
        """
        Z = self._sketch(X) if self._sketch is not None else X
        if Z.dtype not in (np.float32, np.float64):  # ints, bools, float16
            Z = Z.astype(np.float32)
        if self._shift is None:
            shift = Z.mean(axis=0)
            self._shift = np.where(np.isfinite(shift), shift, 0).astype(Z.dtype)
        Y = Z - self._shift
        n_fit_here = min(len(Y), max(0, self.n_fit - self._arrived))
        self._arrived += len(Y)
        col_sum = Y.sum(axis=0)
        sumsq = float(np.dot(Y.ravel(), Y.ravel()))
        if not (np.isfinite(sumsq) and np.isfinite(col_sum).all()):
            # Rare: some row holds NaN or Inf. Drop such rows.
            finite = np.isfinite(Y).all(axis=1)
            n_fit_here = int(finite[:n_fit_here].sum())
            Y, rows = Y[finite], rows[finite]
            col_sum = Y.sum(axis=0)
            sumsq = float(np.dot(Y.ravel(), Y.ravel()))
        self._finite_rows[rows] = True
        self._count += len(Y)
        self._sum += col_sum
        self._sumsq += sumsq
        if n_fit_here:
            end = self._buffered + n_fit_here
            self._buffer[self._buffered:end] = Y[:n_fit_here]
            self._buffer_rows[self._buffered:end] = rows[:n_fit_here]
            self._buffered = end
        if self._components is None and self._arrived >= self.n_fit:
            self._fit()
        if n_fit_here < len(Y):
            r = len(self._components)
            self._coords[rows[n_fit_here:], :r] = Y[n_fit_here:] @ self._components.T - self._offset

    def _fit(self) -> None:
        """Components from the buffer; then project the buffer and free it."""
        X = self._buffer[:self._buffered]
        self._n_fitted = len(X)
        mean = X.mean(axis=0) if len(X) else np.zeros(self.n_features, np.float32)
        X -= mean  # in place: the buffer is not needed uncentred
        small = min(X.shape) <= EXACT_LIMIT
        self.method = "exact" if small else "randomized"
        if not len(X):
            vt = np.empty((0, self.n_features))
        else:
            vt = _exact_components(X) if small else _randomized_components(X, self.seed)
        # A fixed sign: each component's largest loading is positive.
        if len(vt):
            vt *= np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])[:, None]
        self._components = vt.astype(np.float32)
        self._offset = mean.astype(np.float64) @ vt.T
        if len(X):
            self._coords[self._buffer_rows[:len(X)], :len(vt)] = X @ self._components.T
        self._buffer = None

    def result(self) -> PCAResult:
        """The coordinates and explained variance, after the last batch."""
        if self._components is None:
            self._fit()
        coords = self._coords
        finite = self._finite_rows
        coords[finite, len(self._components):] = 0.0  # fewer than two directions with variance
        variance = np.zeros(N_COMPONENTS)
        total = 0.0
        if finite.any():
            coords[finite] -= coords[finite].mean(axis=0)
            variance = (coords[finite] ** 2).mean(axis=0)
            mean = self._sum / self._count
            total = max(self._sumsq / self._count - float(mean @ mean), 0.0)
        ratio = variance / total if total > 0 else np.zeros(N_COMPONENTS)
        return PCAResult(coords=coords, explained_variance=variance,
                         explained_variance_ratio=ratio, n_fit=self._n_fitted,
                         n_samples=int(self._count), n_features=self.n_features,
                         n_original_features=self.n_original_features, method=self.method,
                         seed=self.seed)


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

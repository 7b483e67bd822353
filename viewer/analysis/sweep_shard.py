"""One shard of a sweep: the rows a worker sweeps into a mergeable state.

:func:`sweep_rows` is what :class:`viewer.analysis.sweep.Sweep` runs in this
process and what a Dask worker runs for its shard (:mod:`viewer.cluster`):
the net, the samples, a small picklable :class:`SweepSpec` and the rows in,
a :class:`~viewer.analysis.sweep_state.ShardState` out. Samples are read
16 MB at a time (:class:`ReadAhead`).

Pure numpy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from viewer.analysis.classifier import predictions
from viewer.analysis.pca import PCAFitter, features_of
from viewer.analysis.picture import resolve_layout
from viewer.analysis.reading import picture_layout
from viewer.analysis.sweep_state import LayerState, ShardState
from viewer.analysis.unit_stats import ClassSums, unit_values
from viewer.data.batches import Cancelled, sample_batches
from viewer.data.samples import SampleSet
from viewer.errors import LayerError, StrataError

#: Bytes of net input a shard reads at a time (see :class:`ReadAhead`).
READ_AHEAD = 16 * 2 ** 20
#: A block of ascending rows is read as one run when that reads at most this many times
#: the rows it needs (the fit subset's rows are gaps in the other shards).
HULL_FACTOR = 1.25

Progress = Callable[[int, int], Optional[bool]]

#: Raised when the sweep is cancelled (by ``cancel`` or by ``progress`` returning False).
SweepCancelled = Cancelled


@dataclass(frozen=True, eq=False)
class SweepSpec:
    """What a shard of a sweep needs besides the net and the samples: small and picklable.

    Attributes
    ----------
    layers : tuple of int
        The swept layers.
    targets : tuple of int
        The layers each forward computes (the swept ones and, to predict, the last).
    indices : np.ndarray, shape (N,), int64
        The swept sample indices; shards are positions (rows) into it.
    k, threshold, predict, seed : as :class:`Sweep`
    n_fit : int
        Rows in the PCA fit subset (the first shard).
    batch_size : int
        Starting batch size.
    label_classes : np.ndarray, shape (K,), int64, or None
        The labels present among the swept samples.
    """

    layers: tuple[int, ...]
    targets: tuple[int, ...]
    indices: np.ndarray
    k: int
    threshold: float
    predict: bool
    seed: int
    n_fit: int
    batch_size: int
    label_classes: Optional[np.ndarray]


def sweep_rows(net: Any, samples: Any, spec: SweepSpec, rows: np.ndarray,
               projections: Optional[dict] = None, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> ShardState:
    """Sweep some rows (a shard): the mergeable state of their statistics.

    Parameters
    ----------
    net, samples : as :class:`Sweep`
    spec : SweepSpec
    rows : np.ndarray, shape (m,), int64
        Positions in ``spec.indices``, in processing order.
    projections : dict of int to PCAProjection, optional
        The PCA fits of the fit shard; None: these rows begin with the fit
        subset, whose first rows are fitted on.
    progress, cancel : as :meth:`Sweep.run`, counting this shard's rows.

    Returns
    -------
    ShardState
    """
    run = _ShardRun(net, samples, spec, projections)
    sizes: list[int] = []
    order = spec.indices[rows]
    # Batches shrink after a slow one only so that a cancel is honoured quickly; with
    # nobody to cancel (a worker's shard, the command line) they keep their size.
    adaptive = cancel is not None or progress is not None
    for batch in sample_batches(ReadAhead(samples, order), order, batch_size=spec.batch_size,
                                cancel=cancel, adaptive=adaptive):
        run.add(rows[batch.rows], batch.x, batch.indices)
        sizes.append(len(batch.rows))
        if progress is not None and progress(batch.done, batch.total) is False:
            raise SweepCancelled("sweep cancelled")
    return run.state(np.asarray(rows, dtype=np.int64), sizes)


class ReadAhead:
    """Samples read in blocks of consecutive positions of a walk, served a batch at a time.

    A sweep's batches are small (the activation budget), but each read of a
    file has a fixed cost: an HDF5 file is reopened and whole chunks are read
    for a few rows of them. Reading :data:`READ_AHEAD` bytes of net input at
    once (at least one batch) makes that cost once per block.

    Parameters
    ----------
    samples : SampleSet
    order : np.ndarray, shape (m,), int64
        The sample indices the walk asks for, in its order; ``batch`` must be
        asked for consecutive runs of it, from the start.
    """

    def __init__(self, samples: Any, order: np.ndarray) -> None:
        self.samples, self.order = samples, order
        # Samples per read; for other sample sources, from the first batch's size in bytes.
        self.block = (max(1, READ_AHEAD // (4 * int(np.prod(samples.input_shape))))
                      if isinstance(samples, SampleSet) else 0)
        self._start, self._x = 0, np.empty(0)
        self._next = 0  # position in ``order`` of the next sample asked for

    def __len__(self) -> int:
        return len(self.samples)

    def batch(self, indices: np.ndarray) -> np.ndarray:
        """Net input for ``indices``: ``order[p:p + n]``, p where the last batch ended."""
        n = len(indices)
        end = self._next + n
        if not np.array_equal(indices, self.order[self._next:end]):  # not the walk: read them
            return self.samples.batch(indices)
        if not self.block:
            x = self.samples.batch(indices)
            self.block = max(1, READ_AHEAD // max(1, x[:1].nbytes))
            self._start, self._x = self._next, x
        elif end > self._start + len(self._x):
            self._start = self._next
            self._x = self._read(self.order[self._next:self._next + max(n, self.block)])
        begin, self._next = self._next - self._start, end
        return self._x[begin:begin + n]

    def _read(self, indices: np.ndarray) -> np.ndarray:
        """``samples.batch(indices)``; ascending indices with few gaps as one run of rows,
        for HDF5's selection of scattered rows costs far more than reading the gaps."""
        low, high = int(indices[0]), int(indices[-1])
        if (not isinstance(self.samples, SampleSet) or np.any(np.diff(indices) <= 0)
                or high - low + 1 > HULL_FACTOR * len(indices)):
            return self.samples.batch(indices)
        raw = self.samples.raw_batch(np.arange(low, high + 1))
        return self.samples.prepare(raw[indices - low])


class _ShardRun:
    """The running state of one :func:`sweep_rows`, each layer set up from its first batch."""

    def __init__(self, net: Any, samples: Any, spec: SweepSpec,
                 projections: Optional[dict]) -> None:
        self.net, self.spec = net, spec
        labels = samples.labels
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.layers: dict[int, LayerState] = {}
        self.projections = dict(projections or {})
        self.fitters: dict[int, PCAFitter] = {}
        self.predicted: list[np.ndarray] = []

    def add(self, rows: np.ndarray, x: np.ndarray, idx: np.ndarray) -> None:
        """Merge one batch: ``rows`` its positions in ``spec.indices``, ``x`` the net input."""
        outs = self._forward(x, idx)
        predicted = None
        if self.spec.predict:
            predicted = predictions(outs[len(self.net) - 1])
            self.predicted.append(predicted)
        labels = None if self.labels is None else self.labels[idx]
        for layer in self.spec.layers:
            act = outs[layer]
            if layer not in self.layers:
                self._start(layer, act)
            self._add_layer(layer, act, rows, idx, labels, predicted, outs)

    def _forward(self, x: np.ndarray, idx: np.ndarray) -> dict[int, np.ndarray]:
        try:
            return self.net.outputs(x, list(self.spec.targets))
        except StrataError:
            raise
        except Exception as exc:  # a layer's numpy raising on odd input is the net's problem
            names = ", ".join(repr(self.net[i].name) for i in self.spec.layers)
            raise LayerError(f"layer {names} failed on samples "
                             f"{idx[0]}..{idx[-1]}: {type(exc).__name__}: {exc}") from None

    def _start(self, layer: int, act: np.ndarray) -> None:
        shape = tuple(int(s) for s in act.shape[1:])
        if act[:1].size == 0:
            raise LayerError(f"layer {self.net[layer].name!r} has an empty output "
                             f"{shape}: nothing to sweep")
        ndim = len(shape)
        layout = resolve_layout(shape, picture_layout(self.net, layer, ndim))
        unit_axis = {"vector": None, "channels_first": 0}.get(layout, ndim - 1)
        n_units = int(np.prod(shape)) if unit_axis is None else shape[unit_axis]
        n_values = int(np.prod(shape))
        fitter = PCAFitter(self.spec.n_fit, n_values, seed=self.spec.seed)
        if layer not in self.projections:
            self.fitters[layer] = fitter
        self.layers[layer] = LayerState.empty(shape, unit_axis, n_units, self.spec.k,
                                              fitter.n_features, self.spec.label_classes)

    def _add_layer(self, layer: int, act: np.ndarray, rows: np.ndarray, idx: np.ndarray,
                   labels: Optional[np.ndarray], predicted: Optional[np.ndarray],
                   outs: dict[int, np.ndarray]) -> None:
        ls = self.layers[layer]
        values, peaks = unit_values(act, ls.unit_axis)
        finite = np.isfinite(values)
        finite = None if finite.all() else finite
        ls.moments.add(values, finite)
        with np.errstate(invalid="ignore"):
            ls.active += (peaks > self.spec.threshold).sum(axis=0)
        ls.finite += np.isfinite(peaks).sum(axis=0)
        ls.extremes.add(peaks, idx)
        ls.histograms.add(values)
        if ls.by_label is not None:
            ls.by_label.add(values, labels, finite)
        if predicted is not None:
            if ls.by_prediction is None:
                n_classes = outs[len(self.net) - 1].shape[1]
                ls.by_prediction = ClassSums(np.arange(n_classes, dtype=np.int64), ls.n_units)
            ls.by_prediction.add(values, predicted, finite)
        self._add_pca(layer, ls, act.reshape(len(act), -1), rows)

    def _add_pca(self, layer: int, ls: LayerState, X: np.ndarray, rows: np.ndarray) -> None:
        fitter = self.fitters.get(layer)
        projection = self.projections.get(layer)
        Z = features_of(X, int(X.shape[1]), self.spec.seed)
        total = Z.sum()
        row_ok = (np.ones(len(Z), dtype=bool) if np.isfinite(total) and np.isfinite(np.dot(
            Z.ravel(), Z.ravel())) else np.isfinite(Z).all(axis=1))
        all_ok = bool(row_ok.all())
        ls.pca.add_moments(Z if all_ok else Z[row_ok])
        taken = 0
        if fitter is not None:
            taken = fitter.take(Z, rows, row_ok)
            if fitter.full:
                projection = self._fit(layer, ls)
        if taken < len(Z) and projection is not None:
            rest = np.arange(taken, len(Z))[row_ok[taken:]]
            ls.pca.add_coords(rows[rest], projection.project(Z[rest]))

    def _fit(self, layer: int, ls: LayerState):
        projection, fitted_rows, coords = self.fitters.pop(layer).fit()
        self.projections[layer] = projection
        ls.pca.add_coords(fitted_rows, coords)
        return projection

    def state(self, rows: np.ndarray, sizes: list[int]) -> ShardState:
        """The shard's state after its last batch (fitting what waits for a fit)."""
        for layer in list(self.fitters):
            self._fit(layer, self.layers[layer])
        predicted = np.concatenate(self.predicted) if self.spec.predict else None
        return ShardState(rows=rows, predicted=predicted, layers=self.layers,
                          projections=self.projections, batch_sizes=sizes)

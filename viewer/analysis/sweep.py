"""A dataset sweep: one layer over many samples, in batches, with bounded memory.

    sweep = Sweep(net, samples, "relu2", k=9)
    result = sweep.run(progress=lambda done, total: None, cancel=threading.Event())
    result.top_samples[c]        # the 9 samples that drive unit/channel c most

What a *unit* is, and how a conv channel's positions are reduced
-----------------------------------------------------------------
The layer's per-sample output is read with the layout the heatmap uses
(:func:`viewer.analysis.reading.picture_layout`): a vector's units are its elements;
a conv map's units are its channels (axis 0 channels first, the last axis
channels last); a sequence's units are its features (last axis), the steps
being positions. Per sample, each unit then has

- a **value**: its mean over its positions (the element itself for a vector).
  ``mean``, ``std`` and the class means are over these values;
- a **peak**: its max over its positions (the element itself for a vector).
  Top-k and bottom-k rank samples by the peak (the samples where the channel
  responds most strongly *somewhere*), and a unit is **active** on a sample
  when its peak exceeds ``threshold`` (default 0: it fires somewhere after a
  ReLU, or, before one, it is positive somewhere and would pass it).
  Units that are never active over the swept samples are ``never_active``;
  they are ``dead`` only where that means something: in layers whose outputs
  are ReLU-like (>= 0 by construction, see :mod:`viewer.analysis.rectified`).
  A tanh or linear unit below the threshold is merely never above it. For
  outputs that are always positive (sigmoid, softmax) choose a threshold
  such as 0.5.

Batches, progress, cancel
-------------------------
Samples are processed in ascending index order, except that the PCA's fit
subset (see :mod:`viewer.analysis.pca`) comes first; results do not depend on
the order or the batch sizes beyond float rounding (ties in top-k go to the
lower sample index). The batch holds at most ``batch_size`` samples and at
most :data:`ACTIVATION_BUDGET` bytes of the outputs the forward pass computes;
a batch slower than :data:`viewer.data.batches.SLOW_BATCH` seconds makes the next ones smaller, so
``cancel`` (checked between batches) is honoured within about a quarter of a
second. The sweep computes the layer and, for class predictions, the net's
last layer in one ``net.outputs`` call per batch, each layer once. Memory:
one batch of outputs plus the result arrays plus the PCA fit buffer (<= 16 MB).

Pure numpy: :class:`Sweep.run` is meant for a worker thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from viewer.analysis.classifier import classifier_of, predictions
from viewer.analysis.pca import PCAResult, StreamingPCA
from viewer.analysis.picture import resolve_layout
from viewer.analysis.reading import picture_layout
from viewer.analysis.rectified import is_rectified
from viewer.analysis.unit_stats import ClassSums, Moments, TopK, unit_values
from viewer.data.batches import ACTIVATION_BUDGET, Cancelled, sample_batches
from viewer.errors import LayerError, SampleError, StrataError
from viewer.net.layers.base import output_bytes

#: Default size of the PCA's random fit subset (see viewer.analysis.pca).
PCA_SAMPLES = 1000

Progress = Callable[[int, int], Optional[bool]]


#: Raised when the sweep is cancelled (by ``cancel`` or by ``progress`` returning False).
SweepCancelled = Cancelled


@dataclass(frozen=True, eq=False)
class ClassMeans:
    """Mean unit values per class.

    Attributes
    ----------
    classes : np.ndarray, shape (K,), int64
        Class numbers: the labels present among the swept samples, or
        0..K-1 for predicted classes (K = the net's output width).
    names : tuple of str or None
        Class names from the samples' ``label_names`` (the number as text
        where a name is missing); None without label names.
    counts : np.ndarray, shape (K,), int64
        Swept samples in each class.
    means : np.ndarray, shape (K, U), float64
        Mean of each unit's per-sample value over the class's samples;
        NaN for an empty class.
    """

    classes: np.ndarray
    names: Optional[tuple[str, ...]]
    counts: np.ndarray
    means: np.ndarray


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Everything a sweep of one layer found. N = swept samples, U = units, k' = min(k, N).

    Attributes
    ----------
    layer : int
    layer_name : str
    shape : tuple of int
        The layer's per-sample output shape.
    layout : str
        "vector", "sequence", "channels_first" or "channels_last".
    unit_axis : int or None
        Axis of ``shape`` holding the units (unit u is index u along it);
        None: every value is a unit, unit u being value u of the flattened
        shape (C order), so ``mean.reshape(shape)`` lays the units out like
        the heatmap.
    indices : np.ndarray, shape (N,), int64
        The swept sample indices, ascending; per-sample arrays follow them.
    labels : np.ndarray, shape (N,), int64, or None
        The samples' labels.
    predicted : np.ndarray, shape (N,), int64, or None
        Argmax of the net's output when it is a classifier's (see
        :mod:`viewer.analysis.classifier`) and the sweep computed it.
    threshold : float
        A unit is active on a sample when its peak exceeds this.
    mean, std : np.ndarray, shape (U,), float64
        Mean and population std of each unit's per-sample value over the
        samples (finite values only).
    frac_active : np.ndarray, shape (U,), float64
        Fraction of the samples on which the unit is active, counting only
        samples where its output is a number (NaN where it never is).
    never_active : np.ndarray, shape (U,), bool
        Never active over the swept samples, though it had numbers to show.
    rectified : bool
        The layer's outputs are ReLU-like, so never active means dead.
    dead : np.ndarray, shape (U,), bool
        ``never_active`` in a rectified layer; all False elsewhere.
    top_samples, bottom_samples : np.ndarray, shape (U, k'), int64
        Per unit, the sample indices with the largest / smallest peak, best
        first, ties to the lower index.
    top_values, bottom_values : np.ndarray, shape (U, k'), float64
        Their peaks.
    pca : PCAResult
        ``pca.coords`` (N, 2) follows ``indices``.
    by_label : ClassMeans or None
        Means per labelled class (when the samples have labels).
    by_prediction : ClassMeans or None
        Means per predicted class (when ``predicted`` is set).
    batch_sizes : tuple of int
        The batches, in processing order.
    elapsed : float
        Seconds the sweep took.
    """

    layer: int
    layer_name: str
    shape: tuple[int, ...]
    layout: str
    unit_axis: Optional[int]
    indices: np.ndarray
    labels: Optional[np.ndarray]
    predicted: Optional[np.ndarray]
    threshold: float
    mean: np.ndarray
    std: np.ndarray
    frac_active: np.ndarray
    never_active: np.ndarray
    rectified: bool
    dead: np.ndarray
    top_samples: np.ndarray
    top_values: np.ndarray
    bottom_samples: np.ndarray
    bottom_values: np.ndarray
    pca: PCAResult
    by_label: Optional[ClassMeans]
    by_prediction: Optional[ClassMeans]
    batch_sizes: tuple[int, ...]
    elapsed: float

    @property
    def n_units(self) -> int:
        """U, the number of units (channels for conv maps)."""
        return len(self.mean)

    @property
    def n_samples(self) -> int:
        """N, the number of swept samples."""
        return len(self.indices)

    @property
    def inactive_name(self) -> str:
        """What a unit never above the threshold is called: "dead" in a ReLU-like layer,
        "never above <threshold>" elsewhere."""
        return "dead" if self.rectified else f"never above {self.threshold:g}"

    @property
    def accuracy(self) -> Optional[tuple[int, int]]:
        """(correct, counted): predictions equal to the label, over the samples that have both."""
        if self.labels is None or self.predicted is None:
            return None
        counted = self.predicted >= 0
        return int((self.predicted[counted] == self.labels[counted]).sum()), int(counted.sum())


class Sweep:
    """A sweep of one layer over a set of samples; :meth:`run` does the work.

    Parameters
    ----------
    net : Net
    samples : SampleSet
        Net input via ``samples.batch(indices)``; labels from ``samples.labels``.
    layer : int or str
        Layer index (negative counts from the end) or name.
    indices : sequence of int, optional
        The samples to sweep (sorted, repeats dropped); default all.
    batch_size : int
        Most samples per forward pass (see the module docstring).
    k : int
        How many top and bottom samples to keep per unit.
    threshold : float
        Active means peak > threshold.
    predict : bool, optional
        Also compute the net's output for predicted classes; default: when
        the net is a classifier (one output value per class).
    pca_samples : int
        Size of the PCA's random fit subset (the first samples processed).
    seed : int
        Seed of the PCA fit subset, feature hash and randomized SVD.

    Attributes
    ----------
    layer : int
    indices : np.ndarray, shape (N,), int64
    order : np.ndarray, shape (N,), int64
        Processing order as positions into ``indices``: the PCA fit subset
        (ascending), then the rest (ascending).
    targets : list of int
        The layers each batch's ``net.outputs`` call computes.
    sample_bytes : int
        Bytes of the outputs the forward pass computes per sample (float32).
    batch_size : int
        The starting batch size after the activation budget.

    Raises
    ------
    StrataError
        For an unknown layer, bad indices or parameters.
    """

    def __init__(self, net: Any, samples: Any, layer: int | str,
                 indices: Sequence[int] | np.ndarray | None = None, batch_size: int = 256,
                 k: int = 9, *, threshold: float = 0.0, predict: bool | None = None,
                 pca_samples: int = PCA_SAMPLES, seed: int = 0) -> None:
        self.net, self.samples = net, samples
        self.layer = net.resolve(layer)
        n_all = len(samples)
        if indices is None:
            self.indices = np.arange(n_all, dtype=np.int64)
        else:
            self.indices = np.unique(np.asarray(indices, dtype=np.int64).reshape(-1))
            if not len(self.indices):
                raise SampleError("no samples chosen to sweep")
            bad = self.indices[(self.indices < 0) | (self.indices >= n_all)]
            if len(bad):
                raise SampleError(f"sample {bad[0]} is out of range: there are {n_all} samples")
        self.indices.flags.writeable = False  # shared with every result, across threads
        for name, value in (("batch size", batch_size), ("k", k), ("PCA samples", pca_samples)):
            if value < 1:
                raise StrataError(f"{name} must be at least 1, not {value}")
        self.k, self.threshold, self.seed = int(k), float(threshold), int(seed)
        self.predict = _predicts(net, samples) if predict is None else bool(predict)
        last = len(net) - 1
        self.targets = sorted({self.layer, last}) if self.predict else [self.layer]
        n = len(self.indices)
        self.n_fit = min(int(pca_samples), n)
        fit = np.sort(np.random.default_rng(self.seed).choice(n, self.n_fit, replace=False))
        self.order = np.concatenate([fit, np.setdiff1d(np.arange(n), fit)]).astype(np.int64)
        self.sample_bytes = output_bytes([self.net[i] for i in self.targets])
        self.batch_size = max(1, min(int(batch_size), ACTIVATION_BUDGET // self.sample_bytes))

    def run(self, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> SweepResult:
        """Sweep the samples; safe to call from a worker thread.

        Parameters
        ----------
        progress : callable, optional
            ``progress(done, total)`` after each batch, in samples; returning
            False cancels.
        cancel : threading.Event, optional
            Set it to cancel; checked before each batch.

        Returns
        -------
        SweepResult

        Raises
        ------
        SweepCancelled
            When cancelled; nothing is returned then.
        LayerError
            When a layer's computation fails on a batch.
        """
        start = time.perf_counter()
        acc: _Accumulators | None = None
        sizes: list[int] = []
        for batch in sample_batches(self.samples, self.indices[self.order],
                                    batch_size=self.batch_size, cancel=cancel):
            outs = self._forward(batch.x, batch.indices)
            if acc is None:
                acc = _Accumulators(self, outs[self.layer])
            acc.add(outs, self.order[batch.rows])
            sizes.append(len(batch.rows))
            if progress is not None and progress(batch.done, batch.total) is False:
                raise SweepCancelled("sweep cancelled")
        return acc.result(tuple(sizes), time.perf_counter() - start)

    def _forward(self, x: np.ndarray, idx: np.ndarray) -> dict[int, np.ndarray]:
        try:
            return self.net.outputs(x, self.targets)
        except StrataError:
            raise
        except Exception as exc:  # a layer's numpy raising on odd input is the net's problem
            raise LayerError(f"layer {self.net[self.layer].name!r} failed on samples "
                             f"{idx[0]}..{idx[-1]}: {type(exc).__name__}: {exc}") from None


def _predicts(net: Any, samples: Any) -> bool:
    """The net is a classifier for these samples: its output's argmax is the predicted class."""
    return classifier_of(net, labels=getattr(samples, "labels", None)) is not None


def _class_names(classes: np.ndarray, names: Optional[Sequence[str]]) -> Optional[tuple[str, ...]]:
    if not names:
        return None
    return tuple(names[c] if 0 <= c < len(names) else str(c) for c in classes.tolist())


class _Accumulators:
    """The running results of one :meth:`Sweep.run`, set up from its first batch."""

    def __init__(self, sweep: Sweep, act: np.ndarray) -> None:
        self.sweep = sweep
        self.shape = tuple(int(s) for s in act.shape[1:])
        if act[:1].size == 0:
            raise LayerError(f"layer {sweep.net[sweep.layer].name!r} has an empty output "
                             f"{self.shape}: nothing to sweep")
        ndim = len(self.shape)
        self.layout = resolve_layout(self.shape, picture_layout(sweep.net, sweep.layer, ndim))
        self.unit_axis = {"vector": None, "channels_first": 0}.get(self.layout, ndim - 1)
        n_units = int(np.prod(self.shape)) if self.unit_axis is None else self.shape[self.unit_axis]
        n = len(sweep.indices)
        self.moments = Moments(n_units)
        self.active = np.zeros(n_units, dtype=np.int64)
        self.finite = np.zeros_like(self.active)  # samples whose peak is a number, per unit
        self.extremes = TopK(n_units, sweep.k)
        self.pca = StreamingPCA(n, sweep.n_fit, int(np.prod(self.shape)), seed=sweep.seed)
        labels = sweep.samples.labels
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)[sweep.indices]
        self.by_label = None if self.labels is None else ClassSums(np.unique(self.labels), n_units)
        self.predicted = np.full(n, -1, dtype=np.int64) if sweep.predict else None
        self.by_prediction: ClassSums | None = None
        self.n_units = n_units

    def add(self, outs: dict[int, np.ndarray], rows: np.ndarray) -> None:
        """Merge one batch: ``outs`` from net.outputs, ``rows`` its positions in ``indices``."""
        sweep = self.sweep
        act = outs[sweep.layer]
        values, peaks = unit_values(act, self.unit_axis)
        finite = np.isfinite(values)
        finite = None if finite.all() else finite
        self.moments.add(values, finite)
        with np.errstate(invalid="ignore"):
            self.active += (peaks > sweep.threshold).sum(axis=0)
        self.finite += np.isfinite(peaks).sum(axis=0)
        self.extremes.add(peaks, sweep.indices[rows])
        self.pca.add(act.reshape(len(act), -1), rows)
        if self.by_label is not None:
            self.by_label.add(values, self.labels[rows], finite)
        if self.predicted is not None:
            scores = outs[len(sweep.net) - 1]
            if self.by_prediction is None:
                self.by_prediction = ClassSums(np.arange(scores.shape[1], dtype=np.int64),
                                               self.n_units)
            predicted = predictions(scores)
            self.predicted[rows] = predicted
            self.by_prediction.add(values, predicted, finite)

    def result(self, batch_sizes: tuple[int, ...], elapsed: float) -> SweepResult:
        sweep = self.sweep
        names = sweep.samples.label_names
        means = {}
        for key, sums in (("label", self.by_label), ("prediction", self.by_prediction)):
            means[key] = None if sums is None else ClassMeans(
                classes=sums.classes, names=_class_names(sums.classes, names),
                counts=sums.samples, means=sums.means())
        top_samples, top_values, bottom_samples, bottom_values = self.extremes.result()
        never_active = (self.active == 0) & (self.finite > 0)
        rectified = is_rectified(sweep.net[sweep.layer])
        return SweepResult(
            layer=sweep.layer, layer_name=sweep.net[sweep.layer].name, shape=self.shape,
            layout=self.layout, unit_axis=self.unit_axis, indices=sweep.indices,
            labels=self.labels, predicted=self.predicted, threshold=sweep.threshold,
            mean=self.moments.means, std=self.moments.std,
            # Over the samples where the unit has a value: NaN outputs are not "inactive".
            frac_active=np.divide(self.active, self.finite, out=np.full(len(self.active), np.nan),
                                  where=self.finite > 0),
            never_active=never_active, rectified=rectified,
            dead=never_active & rectified,
            top_samples=top_samples, top_values=top_values,
            bottom_samples=bottom_samples, bottom_values=bottom_values,
            pca=self.pca.result(), by_label=means["label"], by_prediction=means["prediction"],
            batch_sizes=batch_sizes, elapsed=elapsed)

"""A dataset sweep: layers over many samples, in batches, with bounded memory.

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
when there is a ``cancel`` or ``progress`` to answer, a batch slower than
:data:`viewer.data.batches.SLOW_BATCH` seconds makes the next ones smaller, so
``cancel`` (checked between batches) is honoured within about a quarter of a
second (a shard on a worker keeps its batch size). The sweep computes the layer and, for class predictions, the net's
last layer in one ``net.outputs`` call per batch, each layer once. Memory:
one batch of outputs, 16 MB of net input read ahead
(:class:`~viewer.analysis.sweep_shard.ReadAhead`), the
result arrays, the PCA fit buffer (<= 16 MB) per layer, and a histogram of 64
bins per unit.

Shards
------
The same sweep can run as shards of rows (:meth:`Sweep.shards`), each swept
by :func:`~viewer.analysis.sweep_shard.sweep_rows` into a mergeable
:class:`~viewer.analysis.sweep_state.ShardState`,
here or on other machines (:mod:`viewer.cluster`). The first shard is the PCA
fit subset; its fit goes to the others. Merged in any order, the shards give
:meth:`Sweep.finish` the numbers of one pass (see :mod:`viewer.analysis.sweep_state`).
Several layers sweep in one pass: each forward computes all of them.

Pure numpy: :class:`Sweep.run` is meant for a worker thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from viewer.analysis.classifier import classifier_of
from viewer.analysis.histogram import UnitHistograms
from viewer.analysis.pca import PCAResult
from viewer.analysis.picture import resolve_layout
from viewer.analysis.reading import picture_layout
from viewer.analysis.rectified import is_rectified
from viewer.analysis.sweep_shard import Progress, SweepSpec, sweep_rows
from viewer.analysis.sweep_state import LayerState, ShardState
from viewer.data.batches import ACTIVATION_BUDGET
from viewer.errors import SampleError, StrataError
from viewer.net.layers.base import output_bytes

#: Default size of the PCA's random fit subset (see viewer.analysis.pca).
PCA_SAMPLES = 1000



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
    histograms : UnitHistograms
        Per unit, a histogram of its per-sample values (finite ones), with
        their exact min and max (``low``, ``high``).
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
    histograms: UnitHistograms
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
    """A sweep of one or more layers over a set of samples; :meth:`run` does the work.

    Parameters
    ----------
    net : Net
    samples : SampleSet
        Net input via ``samples.batch(indices)``; labels from ``samples.labels``.
    layer : int or str, or a sequence of them
        Layer index (negative counts from the end) or name; several layers
        are swept in one pass (each forward computes all of them).
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
    layers : list of int
    layer : int
        The first of them.
    spec : SweepSpec
        What a shard needs besides the net and the samples.
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

    def __init__(self, net: Any, samples: Any, layer: Union[int, str, Sequence[Union[int, str]]],
                 indices: Sequence[int] | np.ndarray | None = None, batch_size: int = 256,
                 k: int = 9, *, threshold: float = 0.0, predict: bool | None = None,
                 pca_samples: int = PCA_SAMPLES, seed: int = 0) -> None:
        self.net, self.samples = net, samples
        asked = [layer] if isinstance(layer, (int, str, np.integer)) else list(layer)
        if not asked:
            raise StrataError("no layer chosen to sweep")
        self.layers = list(dict.fromkeys(net.resolve(one) for one in asked))
        self.layer = self.layers[0]
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
        predict = _predicts(net, samples) if predict is None else bool(predict)
        last = len(net) - 1
        self.targets = sorted(set(self.layers) | {last}) if predict else sorted(self.layers)
        n = len(self.indices)
        n_fit = min(int(pca_samples), n)
        fit = np.sort(np.random.default_rng(seed).choice(n, n_fit, replace=False))
        self.order = np.concatenate([fit, np.setdiff1d(np.arange(n), fit)]).astype(np.int64)
        self.sample_bytes = output_bytes([self.net[i] for i in self.targets])
        self.batch_size = max(1, min(int(batch_size), ACTIVATION_BUDGET // self.sample_bytes))
        labels = samples.labels
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)[self.indices]
        self.spec = SweepSpec(layers=tuple(self.layers), targets=tuple(self.targets),
                              indices=self.indices, k=int(k), threshold=float(threshold),
                              predict=predict, seed=int(seed), n_fit=n_fit,
                              batch_size=self.batch_size,
                              label_classes=None if self.labels is None else
                              np.unique(self.labels))

    @property
    def k(self) -> int:
        """Top and bottom samples kept per unit."""
        return self.spec.k

    @property
    def threshold(self) -> float:
        """Active means peak > threshold."""
        return self.spec.threshold

    def shards(self, shard_size: int) -> list[np.ndarray]:
        """The rows (positions in ``indices``) of each shard, in processing order.

        The first shard is the PCA fit subset, whatever its size (every
        later shard needs its fit); the rest follow in ascending runs of at
        most ``shard_size`` rows.
        """
        if shard_size < 1:
            raise StrataError(f"shard size must be at least 1, not {shard_size}")
        n_fit = self.spec.n_fit
        rest = self.order[n_fit:]
        return [self.order[:n_fit]] + [rest[i:i + shard_size]
                                       for i in range(0, len(rest), shard_size)]

    def run(self, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> SweepResult:
        """Sweep the samples (one layer); safe to call from a worker thread.

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
        StrataError
            When the sweep has several layers (use :meth:`run_layers`).
        """
        if len(self.layers) > 1:
            raise StrataError("a sweep of several layers gives one result each: use run_layers")
        return self.run_layers(progress, cancel)[self.layer]

    def run_layers(self, progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> dict[int, SweepResult]:
        """Sweep the samples for every layer at once (arguments as :meth:`run`)."""
        start = time.perf_counter()
        state = sweep_rows(self.net, self.samples, self.spec, self.order,
                           progress=progress, cancel=cancel)
        return self.finish(state, time.perf_counter() - start)

    def finish(self, state: ShardState, elapsed: float) -> dict[int, SweepResult]:
        """The results from the merged state of all rows.

        Raises
        ------
        StrataError
            When ``state`` does not cover every row exactly once.
        """
        n = len(self.indices)
        if len(state.rows) != n or not np.array_equal(np.sort(state.rows), np.arange(n)):
            raise StrataError(f"the sweep's shards cover {len(state.rows)} of {n} samples")
        predicted = None
        if state.predicted is not None:
            predicted = np.full(n, -1, dtype=np.int64)
            predicted[state.rows] = state.predicted
        return {layer: self._result(layer, state.layers[layer], state.projections[layer],
                                    predicted, tuple(state.batch_sizes), elapsed)
                for layer in self.layers}

    def _result(self, layer: int, ls: LayerState, projection, predicted: Optional[np.ndarray],
                batch_sizes: tuple[int, ...], elapsed: float) -> SweepResult:
        names = self.samples.label_names
        means = {}
        for key, sums in (("label", ls.by_label), ("prediction", ls.by_prediction)):
            # No sample in any class (every prediction NaN): nothing to group by.
            means[key] = None if sums is None or not sums.samples.any() else ClassMeans(
                classes=sums.classes, names=_class_names(sums.classes, names),
                counts=sums.samples, means=sums.means())
        top_samples, top_values, bottom_samples, bottom_values = ls.extremes.result()
        never_active = (ls.active == 0) & (ls.finite > 0)
        rectified = is_rectified(self.net[layer])
        layout = resolve_layout(ls.shape, picture_layout(self.net, layer, len(ls.shape)))
        return SweepResult(
            layer=layer, layer_name=self.net[layer].name, shape=ls.shape,
            layout=layout, unit_axis=ls.unit_axis, indices=self.indices,
            labels=self.labels, predicted=predicted, threshold=self.spec.threshold,
            mean=ls.moments.means, std=ls.moments.std,
            # Over the samples where the unit has a value: NaN outputs are not "inactive".
            frac_active=np.divide(ls.active, ls.finite, out=np.full(ls.n_units, np.nan),
                                  where=ls.finite > 0),
            never_active=never_active, rectified=rectified,
            dead=never_active & rectified,
            top_samples=top_samples, top_values=top_values,
            bottom_samples=bottom_samples, bottom_values=bottom_values,
            pca=ls.pca.result(projection, len(self.indices)), histograms=ls.histograms,
            by_label=means["label"], by_prediction=means["prediction"],
            batch_sizes=batch_sizes, elapsed=elapsed)


def _predicts(net: Any, samples: Any) -> bool:
    """The net is a classifier for these samples: its output's argmax is the predicted class."""
    return classifier_of(net, labels=getattr(samples, "labels", None)) is not None


def _class_names(classes: np.ndarray, names: Optional[Sequence[str]]) -> Optional[tuple[str, ...]]:
    if not names:
        return None
    return tuple(names[c] if 0 <= c < len(names) else str(c) for c in classes.tolist())

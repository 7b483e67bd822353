"""The mergeable state of a sweep over some rows (a shard), and its HDF5 file.

A sweep (:mod:`viewer.analysis.sweep`) may run as several shards of rows, on
one machine or many. Each shard's :class:`ShardState` holds, per layer, a
:class:`LayerState` made of mergeable pieces:

- :class:`~viewer.analysis.unit_stats.Moments` (count, mean, variance; Chan),
- active and finite counts per unit (integer sums),
- :class:`~viewer.analysis.unit_stats.TopK` (top-k and bottom-k with sample
  indices; merge = the k best of the union, ties to the lower index),
- :class:`~viewer.analysis.histogram.UnitHistograms` (per-unit histograms and
  exact min/max),
- :class:`~viewer.analysis.unit_stats.ClassSums` per label and per predicted class,
- :class:`~viewer.analysis.pca.PCAPart` (coordinates of the shard's rows and
  the feature moments), with the :class:`~viewer.analysis.pca.PCAProjection`
  of the fit shard;

plus the shard's rows and their predicted classes. :meth:`ShardState.merge`
combines two states of disjoint rows; any split of the rows into shards,
merged in any order, gives the one-pass numbers: exactly for counts, top-k,
histograms and class sample counts, within float rounding for the rest.

A state file is HDF5 written beside its target and renamed into place
(:mod:`viewer.writing`), so a killed writer never leaves a damaged shard.
Pure numpy + h5py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from viewer.analysis.histogram import UnitHistograms
from viewer.analysis.pca import PCAPart, PCAProjection
from viewer.analysis.unit_stats import ClassSums, Moments, TopK
from viewer.errors import StrataError
from viewer.writing import remove_stale_parts


@dataclass(eq=False)
class LayerState:
    """One layer's mergeable statistics over some rows.

    Attributes
    ----------
    shape : tuple of int
        The layer's per-sample output shape.
    unit_axis : int or None
        Axis of ``shape`` holding the units; None: every value is a unit.
    moments : Moments
        Of each unit's per-sample value.
    active, finite : np.ndarray, shape (U,), int64
        Samples on which the unit's peak exceeds the threshold / is a number.
    extremes : TopK
        By peak.
    histograms : UnitHistograms
        Of the per-sample values.
    by_label, by_prediction : ClassSums or None
    pca : PCAPart
    """

    shape: tuple[int, ...]
    unit_axis: Optional[int]
    moments: Moments
    active: np.ndarray
    finite: np.ndarray
    extremes: TopK
    histograms: UnitHistograms
    by_label: Optional[ClassSums]
    by_prediction: Optional[ClassSums]
    pca: PCAPart

    @classmethod
    def empty(cls, shape: tuple[int, ...], unit_axis: Optional[int], n_units: int, k: int,
              n_features: int, label_classes: Optional[np.ndarray]) -> LayerState:
        """A state over no rows yet."""
        return cls(shape=shape, unit_axis=unit_axis, moments=Moments(n_units),
                   active=np.zeros(n_units, dtype=np.int64),
                   finite=np.zeros(n_units, dtype=np.int64), extremes=TopK(n_units, k),
                   histograms=UnitHistograms(n_units),
                   by_label=None if label_classes is None else ClassSums(label_classes, n_units),
                   by_prediction=None, pca=PCAPart(n_features))

    @property
    def n_units(self) -> int:
        """U."""
        return len(self.active)

    def merge(self, other: LayerState) -> None:
        """Take in the statistics of other rows of the same layer."""
        if other.shape != self.shape or other.unit_axis != self.unit_axis:
            raise StrataError(f"cannot merge sweep states of outputs {other.shape} "
                              f"and {self.shape}")
        self.moments.merge(other.moments)
        self.active = self.active + other.active
        self.finite = self.finite + other.finite
        self.extremes.merge(other.extremes)
        self.histograms.merge(other.histograms)
        if self.by_label is not None and other.by_label is not None:
            self.by_label.merge(other.by_label)
        if other.by_prediction is not None:
            if self.by_prediction is None:
                self.by_prediction = ClassSums.from_arrays(other.by_prediction.arrays())
            else:
                self.by_prediction.merge(other.by_prediction)
        self.pca.merge(other.pca)


@dataclass(eq=False)
class ShardState:
    """The mergeable results of a sweep over some rows (positions in the sweep's indices).

    Attributes
    ----------
    rows : np.ndarray, shape (m,), int64
        The rows swept, in processing order.
    predicted : np.ndarray, shape (m,), int64, or None
        The predicted class of each row (-1 where the output was not a number).
    layers : dict of int to LayerState
    projections : dict of int to PCAProjection
        The PCA fits, once the fit rows have been swept.
    batch_sizes : list of int
        The batches, in processing order.
    """

    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    predicted: Optional[np.ndarray] = None
    layers: dict[int, LayerState] = field(default_factory=dict)
    projections: dict[int, PCAProjection] = field(default_factory=dict)
    batch_sizes: list[int] = field(default_factory=list)

    def merge(self, other: ShardState) -> None:
        """Take in the state of other rows (disjoint from these)."""
        if np.intersect1d(self.rows, other.rows).size:
            raise StrataError("cannot merge sweep states that share rows")
        self.rows = np.concatenate([self.rows, other.rows])
        if other.predicted is not None:
            mine = self.predicted if self.predicted is not None else np.empty(0, np.int64)
            self.predicted = np.concatenate([mine, other.predicted])
        for layer, state in other.layers.items():
            if layer in self.layers:
                self.layers[layer].merge(state)
            else:
                self.layers[layer] = state
        for layer, projection in other.projections.items():
            self.projections.setdefault(layer, projection)
        self.batch_sizes = self.batch_sizes + other.batch_sizes


def save_state(path: str, state: ShardState, fingerprint: dict) -> None:
    """Write ``state`` to the HDF5 file ``path`` atomically (beside it, then renamed).

    Parameters
    ----------
    path : str
    state : ShardState
    fingerprint : dict
        JSON-able description of the sweep the state belongs to; :func:`load_state`
        gives it back so a rerun can tell whether the shard is its own.
    """
    import h5py

    remove_stale_parts(path)
    part = f"{path}.{os.getpid()}.part"
    try:
        with h5py.File(part, "w") as f:
            f.attrs["fingerprint"] = json.dumps(fingerprint, sort_keys=True)
            f["rows"] = state.rows
            f["batch_sizes"] = np.asarray(state.batch_sizes, dtype=np.int64)
            if state.predicted is not None:
                f["predicted"] = state.predicted
            for layer, ls in state.layers.items():
                g = f.create_group(f"layers/{layer}")
                g.attrs["shape"] = np.asarray(ls.shape, dtype=np.int64)
                g.attrs["unit_axis"] = -1 if ls.unit_axis is None else ls.unit_axis
                g.attrs["k"] = ls.extremes.k
                g["active"], g["finite"] = ls.active, ls.finite
                for name, piece in (("moments", ls.moments), ("extremes", ls.extremes),
                                    ("histograms", ls.histograms), ("by_label", ls.by_label),
                                    ("by_prediction", ls.by_prediction), ("pca", ls.pca)):
                    if piece is not None:
                        _write_group(g.create_group(name), piece.arrays())
                if layer in state.projections:
                    _write_group(g.create_group("projection"), state.projections[layer].arrays())
        os.replace(part, path)
    except BaseException:
        if os.path.exists(part):
            os.remove(part)
        raise


def load_state(path: str) -> tuple[ShardState, dict]:
    """Read a state :func:`save_state` wrote: (state, fingerprint).

    Raises
    ------
    StrataError
        One line naming the file when it is not such a state.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            fingerprint = json.loads(f.attrs["fingerprint"])
            state = ShardState(rows=f["rows"][()], batch_sizes=f["batch_sizes"][()].tolist(),
                               predicted=f["predicted"][()] if "predicted" in f else None)
            for name, g in (f["layers"].items() if "layers" in f else ()):
                layer = int(name)
                axis = int(g.attrs["unit_axis"])
                pieces = {key: _read_group(g[key]) for key in g if isinstance(g[key], h5py.Group)}
                state.layers[layer] = LayerState(
                    shape=tuple(int(s) for s in g.attrs["shape"]),
                    unit_axis=None if axis < 0 else axis,
                    moments=Moments.from_arrays(pieces["moments"]),
                    active=g["active"][()], finite=g["finite"][()],
                    extremes=TopK.from_arrays(pieces["extremes"], int(g.attrs["k"])),
                    histograms=UnitHistograms.from_arrays(pieces["histograms"]),
                    by_label=ClassSums.from_arrays(pieces["by_label"])
                    if "by_label" in pieces else None,
                    by_prediction=ClassSums.from_arrays(pieces["by_prediction"])
                    if "by_prediction" in pieces else None,
                    pca=PCAPart.from_arrays(pieces["pca"]))
                if "projection" in pieces:
                    state.projections[layer] = PCAProjection.from_arrays(pieces["projection"])
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise StrataError(f"{path}: not a sweep shard state ({exc})") from None
    return state, fingerprint


def _write_group(g: Any, arrays: dict) -> None:
    for key, value in arrays.items():
        if isinstance(value, np.ndarray):
            g[key] = value
        else:
            g.attrs[key] = value


def _read_group(g: Any) -> dict:
    out = {key: g[key][()] for key in g}
    out.update({key: value.item() if hasattr(value, "item") else value
                for key, value in g.attrs.items()})
    return out

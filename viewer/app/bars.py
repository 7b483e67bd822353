"""A layer's output as a labelled bar chart: what to draw (no Qt, no matplotlib).

Small output vectors (at most :data:`AUTO_BARS` values, a classifier's
scores above all) read better as bars than as a square grid with empty
cells, and any layer can be drawn so on request. One bar per unit: a
vector's values, a conv map's channels or a sequence's features, each the
mean over its positions (the sweeps' *unit value*). A classifier's last
layer is labelled by class name, its predicted class marked, and the
sample's own label too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from viewer.analysis.classifier import classifier_of
from viewer.analysis.picture import resolve_layout
from viewer.analysis.reading import picture_layout
from viewer.analysis.unit_stats import unit_values

#: Vectors of at most this many values are drawn as bars unless the user says otherwise.
AUTO_BARS = 64


@dataclass(frozen=True, eq=False)
class Bars:
    """One sample's bars.

    Attributes
    ----------
    values : np.ndarray, shape (U,), float64
    labels : tuple of str
        One per bar: the class name, or the unit's index.
    axis : str
        What the bars are: "class", "unit", "channel (mean)" or "feature (mean)".
    predicted : int or None
        The bar of the predicted class (classifiers' last layer).
    truth : int or None
        The bar of the sample's label (classifiers' last layer, labelled samples).
    value_name : str
        What the heights are: "value", or for a classifier's last layer
        "probability", "log-probability" or "logit".
    """

    values: np.ndarray
    labels: tuple[str, ...]
    axis: str
    predicted: Optional[int] = None
    truth: Optional[int] = None
    value_name: str = "value"


def auto_bars(shape: tuple) -> bool:
    """True for outputs drawn as bars by default: vectors of at most AUTO_BARS values."""
    return len(shape) == 1 and shape[0] <= AUTO_BARS


def bars_of(net: Any, layer: int, act: np.ndarray, samples: Any = None,
            sample: int | None = None) -> Bars:
    """The bars of layer ``layer``'s output ``act`` (one sample, no batch axis).

    Parameters
    ----------
    net : Net
    layer : int
    act : np.ndarray
        The activation, any shape.
    samples : SampleSet, optional
        For class names and the sample's label.
    sample : int, optional
        The sample shown, for its label.
    """
    act = np.asarray(act)
    labels_all = getattr(samples, "labels", None)
    if act.ndim <= 1:
        values, axis = act.reshape(-1).astype(np.float64), "unit"
    else:
        layout = resolve_layout(act.shape, picture_layout(net, layer, act.ndim))
        unit_axis = 0 if layout == "channels_first" else act.ndim - 1
        values = unit_values(act[None], unit_axis)[0][0]
        axis = "channel (mean)" if layout in ("channels_first", "channels_last") else "feature (mean)"
    labels = tuple(str(u) for u in range(len(values)))
    predicted = truth = None
    value_name = "value"
    found = classifier_of(net, labels=labels_all, names=getattr(samples, "label_names", None))
    if found is not None and layer % len(net) == len(net) - 1 and act.ndim == 1:
        labels, axis = found.names, "class"
        value_name = {"probabilities": "probability", "log-probabilities": "log-probability",
                      "logits": "logit"}[found.output]
        best = found.predict(values)
        predicted = None if best is None else best[0]
        if labels_all is not None and sample is not None:
            truth = int(labels_all[sample])
    return Bars(values=values, labels=labels, axis=axis, predicted=predicted, truth=truth,
                value_name=value_name)

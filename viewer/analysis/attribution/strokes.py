"""Do the maps sit on the strokes? The mean map value on stroke pixels vs background pixels.

For handwritten digits (bright strokes on a black background), a map that
explains the predicted digit should be larger on the strokes than on the
empty background. For each of the first ``count`` correctly classified
samples the map is scaled by its largest absolute value (so every sample
counts the same), then averaged over stroke pixels (net input at least
``stroke_level``) and background pixels (net input at most
``background_level``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from viewer.analysis.attribution.target import Target
from viewer.errors import StrataError


@dataclass(frozen=True)
class StrokeContrast:
    """The measure for one method.

    Attributes
    ----------
    method : str
    samples : int
        Correctly classified samples measured.
    stroke_mean, background_mean : float
        Mean scaled map value on stroke and on background pixels, over all
        those samples' pixels.
    wins : int
        Samples whose own stroke mean exceeds their background mean.
    """

    method: str
    samples: int
    stroke_mean: float
    background_mean: float
    wins: int

    @property
    def ratio(self) -> float:
        """stroke_mean / background_mean (inf for a zero background mean)."""
        if self.background_mean == 0:
            return float("inf") if self.stroke_mean > 0 else float("nan")
        return self.stroke_mean / self.background_mean


def stroke_contrast(net: Any, samples: Any, method: str, *, count: int = 100,
                    stroke_level: float = 0.5, background_level: float = 0.0,
                    **parameters: Any) -> StrokeContrast:
    """Measure ``method`` on the first ``count`` correctly classified labelled samples.

    Parameters
    ----------
    net : Net
    samples : SampleSet
        Labelled, single-channel image samples (net input in [0, 1]).
    method : str
        A key of :data:`viewer.analysis.attribution.METHODS`.
    count : int
    stroke_level, background_level : float
        Net-input thresholds for stroke and background pixels.
    parameters
        Passed to the method.
    """
    from viewer.analysis.attribution import explain

    if samples.labels is None:
        raise StrataError(f"{samples.path}: the stroke measure needs labelled samples")
    strokes: list[np.ndarray] = []
    background: list[np.ndarray] = []
    wins = 0
    for start in range(0, len(samples), 64):
        rows = np.arange(start, min(start + 64, len(samples)))
        batch = samples.batch(rows)
        right = net[-1](batch).argmax(axis=1) == samples.labels[rows]
        for x in batch[right]:
            values = explain(net, x, method, Target(), **parameters).values
            scale = np.nanmax(np.abs(values))
            scaled = values / scale if scale > 0 else values
            pixels = x.reshape(values.shape) if x.size == values.size else x.max(
                axis=0 if x.shape[0] < x.shape[-1] else -1)
            on, off = pixels >= stroke_level, pixels <= background_level
            s, b = scaled[on & ~np.isnan(scaled)], scaled[off & ~np.isnan(scaled)]
            strokes.append(s)
            background.append(b)
            wins += int(s.mean() > b.mean()) if s.size and b.size else 0
            if len(strokes) == count:
                return _report(method, strokes, background, wins)
    return _report(method, strokes, background, wins)


def _report(method: str, strokes: list, background: list, wins: int) -> StrokeContrast:
    if not strokes:
        raise StrataError("no sample is classified correctly, so there is nothing to measure")
    return StrokeContrast(method, len(strokes), float(np.concatenate(strokes).mean()),
                          float(np.concatenate(background).mean()), wins)

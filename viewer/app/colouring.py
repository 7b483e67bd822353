"""Colouring a picture: scalar image -> RGBA through a colour map's table (plain numpy),
and the dataset-wide colour ranges of the "dataset" scale.

The worker thread colours every result, so the main thread only hands
finished pixels to matplotlib; the tables come from matplotlib on the main
thread (:func:`viewer.gui.colour.colour_table`).

A layer's dataset range comes from the last sweep of it where the sweep holds
the exact range (:func:`range_of_sweep`), else from its first samples,
computed in the background (:func:`range_of_first`); until one is known the
picture is coloured by its own range.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from viewer.app.options import DATASET_SCALE_SAMPLES


@dataclass(frozen=True, eq=False)
class Colouring:
    """What the worker needs to colour a picture.

    Attributes
    ----------
    cmap : str
        The colour map option ("auto" or a name).
    tables : mapping of str to np.ndarray
        Colour tables ((N, 4) uint8) of every map ``cmap`` may resolve to.
    gap : np.ndarray, shape (4,), uint8
        The colour of pixels that show no unit.
    """

    cmap: str
    tables: Mapping[str, np.ndarray]
    gap: np.ndarray



def to_rgba(image: np.ndarray, table: np.ndarray, lo: float, hi: float,
            gap: np.ndarray) -> np.ndarray:
    """Colour ``image`` with ``table`` between ``lo`` and ``hi``, as matplotlib would.

    Parameters
    ----------
    image : np.ndarray, shape (H, W)
        Scalar values; NaN where there is nothing to show.
    table : np.ndarray, shape (N, 4), uint8
        The colour map's RGBA colours, lowest value first.
    lo, hi : float
        Colour limits, ``lo < hi``; values outside take the end colours.
    gap : np.ndarray, shape (4,), uint8
        The colour of NaN pixels (the figure's background).

    Returns
    -------
    np.ndarray, shape (H, W, 4), uint8
        RGBA pixels. A value ``v`` gets colour
        ``floor(N * (v - lo) / (hi - lo))`` clipped to 0..N-1, the rule of
        matplotlib's Normalize and Colormap; NaN gets ``gap``.
    """
    n = len(table)
    scale = n / (hi - lo)
    t = np.multiply(image, scale, dtype=np.float32)
    t -= np.float32(lo * scale)
    np.fmax(t, 0, out=t)  # fmax also turns NaN into 0; NaN pixels are set below
    np.fmin(t, n - 1, out=t)
    index = t.astype(np.intp)
    index[np.isnan(image)] = n
    # One 4-byte item per colour, so the lookup moves one item per pixel.
    colours = np.ascontiguousarray(np.vstack([table, gap]), dtype=np.uint8)
    packed = colours.view(np.uint32).ravel()
    return packed[index].view(np.uint8).reshape(image.shape + (4,))


@dataclass(frozen=True)
class DatasetRange:
    """One layer's colour range over many samples, for the "dataset" scale.

    Attributes
    ----------
    limits : ColorLimits
        ``vmin < vmax``; ``both_signs`` picks the "auto" colour map.
    source : str
        What the range spans, for the heatmap's title: "a sweep of 1,000
        samples", "the first 64 samples".
    swept : bool
        It comes from a sweep (and so over more samples than the first few).
    """

    limits: Any
    source: str
    swept: bool = False


def range_of_first(net: Any, samples: Any, layer: int,
                   n: int = DATASET_SCALE_SAMPLES) -> DatasetRange:
    """The min and max of layer ``layer``'s outputs over the first ``n`` samples.

    Raises
    ------
    StrataError
        When the layer fails on those samples.
    """
    from viewer.analysis import color_limits
    from viewer.data.batches import sample_batches

    lo, hi = np.inf, -np.inf
    count = min(n, len(samples))
    for batch in sample_batches(samples, np.arange(count), batch_size=16, adaptive=False):
        out = np.asarray(net.outputs(batch.x, [layer])[layer])
        finite = out[np.isfinite(out)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    limits = color_limits(np.array([lo, hi]) if lo <= hi else np.array([]))
    return DatasetRange(limits, "the one sample" if count == 1 else f"the first {count:,} samples")


def range_of_sweep(result: Any) -> DatasetRange | None:
    """The exact range of a layer over a sweep's samples, where the sweep holds it.

    The largest value is the largest per-sample peak (a unit's max over its
    positions). The smallest is exact for dense layers (each element is a
    unit: its histogram keeps its min) and 0 for ReLU-like layers; a signed
    conv layer's sweep keeps no minimum over positions: None there.
    """
    from viewer.analysis import color_limits

    if result.n_samples == 0 or result.top_values.size == 0:
        return None
    peaks = result.top_values[np.isfinite(result.top_values)]
    if result.unit_axis is None:
        lows = result.histograms.low[np.isfinite(result.histograms.low)]
        if not lows.size:
            return None
        lo = float(lows.min())
    elif result.rectified:
        lo = 0.0
    else:
        return None
    if not peaks.size:
        return None
    hi = float(peaks.max())
    return DatasetRange(color_limits(np.array([lo, hi])),
                        f"a sweep of {result.n_samples:,} samples", swept=True)


class LayerRanges:
    """Each layer's :class:`DatasetRange` for the "dataset" scale, once known.

    Thread-safe; keyed by the net and samples objects themselves (identity),
    so opening another file never returns a stale range. A sweep's range
    replaces one of the first samples; the reverse never happens.
    """

    def __init__(self) -> None:
        self._items: dict[tuple[int, int, int], tuple[Any, Any, DatasetRange]] = {}
        self._lock = threading.Lock()

    def get(self, net: Any, samples: Any, layer: int) -> DatasetRange | None:
        """The range of layer ``layer`` of ``net`` over ``samples``, or None (not yet known)."""
        with self._lock:
            hit = self._items.get((id(net), id(samples), layer))
        if hit is None or hit[0] is not net or hit[1] is not samples:
            return None
        return hit[2]

    def put(self, net: Any, samples: Any, layer: int, found: DatasetRange) -> bool:
        """Keep ``found``; False (and nothing kept) when a sweep's range is already there."""
        key = (id(net), id(samples), layer)
        with self._lock:
            hit = self._items.get(key)
            if (hit is not None and hit[0] is net and hit[1] is samples and hit[2].swept
                    and not found.swept):
                return False
            self._items[key] = (net, samples, found)
        return True

    def clear(self) -> None:
        """Forget every range."""
        with self._lock:
            self._items.clear()

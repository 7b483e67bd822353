"""What the Compare view computes: a pair of activations, their difference, histograms.

No Qt and no matplotlib, so :func:`compare` runs on a worker thread; the
traces come from the window's trace cache, so a sample already on show
costs no forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from viewer.analysis import Histogram, Picture, color_limits, histogram, to_picture
from viewer.analysis.reading import picture_layout
from viewer.app.compute import MOSAIC_ASPECT, TraceCache, forward
from viewer.app.options import colormap_for
from viewer.errors import LayerError

BINS = 60


@dataclass(frozen=True, eq=False)
class Pair:
    """What to compare: sample and layer of A and of B."""

    net: Any
    samples: Any
    a_sample: int
    a_layer: int
    b_sample: int
    b_layer: int


@dataclass(frozen=True, eq=False)
class Comparison:
    """A computed :class:`Pair`.

    Attributes
    ----------
    pair : Pair
    a, b, diff : Picture
        A's and B's activations and ``B - A`` laid out as the heatmap lays
        them out (``diff.source`` is the raw difference).
    clim : (float, float)
        Shared colour limits of A and B.
    cmap : str
        Colour map of A and B.
    diff_clim : (float, float)
        Symmetric limits of the difference, ``(-m, m)``.
    hist_a, hist_b : Histogram
        Over shared bin edges.
    input_a, input_b : np.ndarray
        The samples of A and B as the net sees them (no batch axis), for thumbnails.
    """

    pair: Pair
    a: Picture
    b: Picture
    diff: Picture
    clim: tuple[float, float]
    cmap: str
    diff_clim: tuple[float, float]
    hist_a: Histogram
    hist_b: Histogram
    input_a: np.ndarray
    input_b: np.ndarray


def activation(pair: Pair, cache: TraceCache, sample: int,
               layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Layer ``layer``'s output for ``sample`` and the net input (no batch axes), through the
    state's trace cache.

    Raises
    ------
    StrataError
        The sample cannot be read, or the layer (or one before it) fails.
    """
    trace, _cached = cache.trace(pair.net, pair.samples, sample, forward)
    if layer >= len(trace.outputs):
        raise LayerError(trace.failure)
    return np.asarray(trace.outputs[layer][0]), np.asarray(trace.net_input[0])


def compare(pair: Pair, cache: TraceCache, cmap_option: str = "auto") -> Comparison:
    """Compute the pictures, colour limits and histograms of ``pair`` (worker thread).

    Raises
    ------
    StrataError
        A sample that cannot be read or a layer that fails (one line).
    ValueError
        When A and B have different shapes.
    """
    net = pair.net
    a, input_a = activation(pair, cache, pair.a_sample, pair.a_layer)
    b, input_b = activation(pair, cache, pair.b_sample, pair.b_layer)
    if a.shape != b.shape:
        raise ValueError(f"A has shape {a.shape} and B {b.shape}: they cannot be compared")
    layout = picture_layout(net, pair.b_layer, b.ndim)
    pictures = [to_picture(x, layout=layout, aspect=MOSAIC_ASPECT)
                for x in (a, b, b.astype(np.float64) - a)]
    both = color_limits(np.concatenate([pictures[0].image.ravel(), pictures[1].image.ravel()]))
    cmap, lo, hi = colormap_for(cmap_option, both.vmin, both.vmax)
    m = max(abs(v) for v in color_limits(pictures[2].image).symmetric) or 1.0
    edges = np.linspace(both.vmin, both.vmax, BINS + 1)
    return Comparison(pair, *pictures, clim=(lo, hi), cmap=cmap, diff_clim=(-m, m),
                      hist_a=histogram(a, bins=edges), hist_b=histogram(b, bins=edges),
                      input_a=input_a, input_b=input_b)


def partner_layer(net: Any, layer: int) -> int:
    """The nearest layer before ``layer`` (else after it) with the same output shape."""
    shape = net[layer].output_shape
    for i in list(range(layer - 1, -1, -1)) + list(range(layer + 1, len(net))):
        if net[i].output_shape == shape:
            return i
    return layer

"""Pure-numpy analysis of activations: pictures, statistics, histograms.

No Qt and no matplotlib here: the window and the command line both call
these functions and only draw what they return.

- :func:`to_picture`: one sample's activation as one 2-D image (unit grid,
  channel mosaic or time x features) that maps pixels back to units.
- :func:`activation_stats`: min, max, mean, std, zeros, negatives, NaN/Inf.
- :func:`color_limits`: robust colour limits, and whether a diverging map
  centred on zero suits the values.
- :func:`histogram`: NaN/Inf-safe counts, sampled above a size cap.
- :class:`Sweep`: one layer over a whole dataset: per-unit statistics,
  top-k samples, PCA and class means (import it from viewer.analysis.sweep;
  it needs viewer.net, which the rest of this package does not).
"""

from .histogram import DEFAULT_CAP, Histogram, histogram
from .picture import LAYOUTS, SCALES, Picture, mosaic_grid, to_picture
from .stats import ActivationStats, ColorLimits, activation_stats, color_limits

__all__ = [
    "DEFAULT_CAP", "Histogram", "histogram",
    "LAYOUTS", "SCALES", "Picture", "mosaic_grid", "to_picture",
    "ActivationStats", "ColorLimits", "activation_stats", "color_limits",
]

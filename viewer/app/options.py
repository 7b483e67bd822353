"""Display options: how the selected activation is drawn.

Plain data, without Qt, so that the computation and the export code can read
it too. The window keeps one :class:`DisplayOptions` in its state object and
saves it between runs.
"""

from __future__ import annotations

from dataclasses import dataclass

VIEWS = ("heatmap", "histogram")
#: Colour scales: one for the sample's whole layer, one per channel, one for the dataset.
SCALES = ("shared", "channel", "dataset")
#: Without a sweep, the "dataset" scale spans the layer's values over this many samples
#: (the first ones).
DATASET_SCALE_SAMPLES = 64
AUTO_CMAP = "auto"
SEQUENTIAL_CMAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "gray")
DIVERGING_CMAPS = ("RdBu_r", "coolwarm", "PuOr_r", "seismic")
CMAPS = (AUTO_CMAP,) + SEQUENTIAL_CMAPS + DIVERGING_CMAPS
# What "auto" means: sequential for one-signed values, diverging around zero otherwise.
AUTO_SEQUENTIAL = "viridis"
AUTO_DIVERGING = "RdBu_r"
MIN_BINS, MAX_BINS = 2, 1000


@dataclass(frozen=True)
class DisplayOptions:
    """How the selected activation is drawn.

    Attributes
    ----------
    view : str
        "heatmap" or "histogram".
    cmap : str
        A name from :data:`CMAPS`; "auto" picks by the sign of the values.
    scale : str
        "shared": one colour scale for the whole picture of this sample;
        "channel": each channel normalised on its own; "dataset": one colour
        scale for the layer over the samples (from its last sweep where that
        holds the range, else over the first :data:`DATASET_SCALE_SAMPLES`),
        so stepping through samples keeps the colours' meaning.
    bins : int
        Histogram bins.
    log_counts : bool
        Histogram counts on a log axis.
    """

    view: str = "heatmap"
    cmap: str = AUTO_CMAP
    scale: str = "shared"
    bins: int = 50
    log_counts: bool = False

    def checked(self) -> "DisplayOptions":
        """A copy with every field forced into its allowed values."""
        return DisplayOptions(
            view=self.view if self.view in VIEWS else "heatmap",
            cmap=self.cmap if self.cmap in CMAPS else AUTO_CMAP,
            scale=self.scale if self.scale in SCALES else "shared",
            bins=min(max(int(self.bins), MIN_BINS), MAX_BINS),
            log_counts=bool(self.log_counts),
        )


def candidate_cmaps(cmap: str) -> tuple[str, ...]:
    """The colour maps option ``cmap`` may resolve to (both for "auto")."""
    return (AUTO_SEQUENTIAL, AUTO_DIVERGING) if cmap == AUTO_CMAP else (cmap,)


def colormap_for(cmap: str, vmin: float, vmax: float,
                 both_signs: bool | None = None) -> tuple[str, float, float]:
    """The colour map and limits to draw values in ``[vmin, vmax]`` with.

    Diverging maps are centred on zero: with "auto" whenever the values have
    both signs (or ``both_signs`` says so: a channel shown large keeps the
    map of its whole layer), and always for an explicitly chosen diverging map.

    Returns
    -------
    (name, lo, hi)
        A matplotlib colour map name and the colour limits, ``lo < hi``.
    """
    if both_signs is None:
        both_signs = vmin < 0 < vmax
    if cmap == AUTO_CMAP:
        cmap = AUTO_DIVERGING if both_signs else AUTO_SEQUENTIAL
    if cmap in DIVERGING_CMAPS:
        m = max(abs(vmin), abs(vmax)) or 1.0
        return cmap, -m, m
    return cmap, vmin, vmax

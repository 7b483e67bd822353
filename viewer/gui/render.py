"""Pictures of an activation drawn without a window (matplotlib's Agg), for ``main.py render``.

Uses the same picture, colour and histogram rules as the window, so a
rendered file shows what the window shows.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from viewer.analysis import activation_stats, color_limits, histogram, to_picture
from viewer.app.options import AUTO_CMAP, CMAPS, VIEWS, colormap_for
from viewer.data.formats import PICTURE_FORMATS
from viewer.errors import StrataError

#: What a picture can show: the window's views, and bars (see viewer.app.bars).
KINDS = VIEWS + ("bars",)


def render(act: np.ndarray, path: str, *, title: str, layout: str = "auto", kind: str = "heatmap",
           cmap: str = AUTO_CMAP, scale: str = "shared", bins: int = 64, log: bool = False,
           bars: Any = None) -> None:
    """Draw one sample's activation to an image file.

    Parameters
    ----------
    act : ndarray
        One sample's activation, no batch axis: (units,), (T, F), (C, H, W) or (H, W, C).
    path : str
        Output file; .png, .svg or .pdf.
    title : str
        Shown above the plot (net, layer, sample).
    layout : str
        How to read ``act`` (see viewer.analysis.to_picture).
    kind : "heatmap", "histogram" or "bars"
    cmap : str
        "auto" (diverging centred on zero when values have both signs) or a colour map name.
    scale : "shared" or "channel"
        One colour scale for the whole picture or one per channel.
    bins, log : int, bool
        Histogram bins and log counts.
    bars : Bars, optional
        What to draw for kind "bars" (viewer.app.bars.bars_of).
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in PICTURE_FORMATS:
        raise StrataError(f"{path}: cannot write {ext or 'a file without extension'}; "
                          f"use {', '.join(PICTURE_FORMATS)}")
    if kind not in KINDS or (kind == "bars" and bars is None):
        raise StrataError(f"unknown picture kind {kind!r}; use {', '.join(KINDS)}")
    if cmap not in CMAPS:
        raise StrataError(f"unknown colour map {cmap!r}; use one of {', '.join(CMAPS)}")
    if bins < 1:
        raise StrataError(f"--bins must be at least 1, not {bins}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StrataError(f"{path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise StrataError(f"{path}: is a folder")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    stats = activation_stats(act)
    if kind == "heatmap":
        picture = to_picture(act, layout=layout, scale=scale)
        limits = color_limits(picture.image)
        name, lo, hi = colormap_for(cmap, limits.vmin, limits.vmax)
        image = ax.imshow(picture.image, cmap=name, vmin=lo, vmax=hi, interpolation="nearest",
                          aspect="equal" if picture.kind != "matrix" else "auto")
        fig.colorbar(image, ax=ax, shrink=0.85,
                     label="value / channel max" if scale == "channel" else "activation")
        ax.set_xticks([])
        ax.set_yticks([])
    elif kind == "bars":
        from viewer.gui.bar_drawing import draw_bars
        draw_bars(ax, bars)
    else:
        hist = histogram(act, bins=bins)
        if len(hist.counts):
            ax.stairs(hist.counts, hist.edges, fill=True, alpha=0.8)
        if hist.edges[0] < 0 < hist.edges[-1]:
            ax.axvline(0.0, color="0.3", linewidth=0.8, linestyle="--")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("activation")
        ax.set_ylabel("count" + (" (sampled)" if hist.sampled else ""))
    ax.set_title(_wrapped(title))
    fig.supxlabel(_stats_line(stats), fontsize=8, color="0.25")
    try:
        fig.savefig(path)
    except OSError as exc:
        raise StrataError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _stats_line(stats) -> str:
    return (f"min {stats.min:.4g}   max {stats.max:.4g}   mean {stats.mean:.4g}   "
            f"std {stats.std:.4g}   zero {100 * stats.frac_zero:.1f}%   "
            f"negative {100 * stats.frac_negative:.1f}%   NaN {stats.n_nan}   Inf {stats.n_inf}")


def _wrapped(title: str, width: int = 72) -> str:
    """A long title broken into lines at its " · " separators, so the figure does not clip it."""
    lines = [""]
    for part in title.split(" · "):
        if lines[-1] and len(lines[-1]) + 3 + len(part) > width:
            lines.append(part)
        else:
            lines[-1] = f"{lines[-1]} · {part}" if lines[-1] else part
    return "\n".join(lines)

"""An attribution map over its input drawn without a window (matplotlib's Agg), for ``main.py explain``.

Images: the input in grey (or colour) with the map on top, partly
transparent, and a colour bar; positions the method says nothing about (NaN)
are left clear. Sequences and vectors: the input as a heatmap above the map
as a curve over steps or features.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from viewer.app.messages import wrapped_title
from viewer.errors import StrataError
from viewer.app.options import AUTO_CMAP, AUTO_DIVERGING, AUTO_SEQUENTIAL, CMAPS

FORMATS = (".png", ".svg", ".pdf")
#: Characters of a title line that fit above the map at the figure's size and font.
TITLE_WIDTH = 72


def attribution_cmap(result: Any, cmap: str = AUTO_CMAP) -> str:
    """The colour map for a result: "auto" is diverging for signed maps, sequential otherwise."""
    if cmap != AUTO_CMAP:
        return cmap
    return AUTO_DIVERGING if result.signed else AUTO_SEQUENTIAL


def render_attribution(result: Any, sample: np.ndarray, path: str, *, title: str,
                       cmap: str = AUTO_CMAP, alpha: float = 0.6) -> None:
    """Draw ``result`` (an Attribution) over ``sample`` (one net input, no batch axis) to ``path``."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise StrataError(f"{path}: cannot write {ext or 'a file without extension'}; "
                          f"use .npy or {', '.join(FORMATS)}")
    if cmap not in CMAPS:
        raise StrataError(f"unknown colour map {cmap!r}; use one of {', '.join(CMAPS)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StrataError(f"{path}: the folder {folder} does not exist")
    fig = attribution_figure(result, sample, title=title, cmap=cmap, alpha=alpha)
    try:
        fig.savefig(path)
    except OSError as exc:
        raise StrataError(f"{path}: cannot write ({exc.strerror or exc})") from None


def attribution_figure(result: Any, sample: np.ndarray, *, title: str, cmap: str = AUTO_CMAP,
                       alpha: float = 0.6) -> Any:
    """The figure :func:`render_attribution` writes (a matplotlib Figure on an Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    grid = result.grid
    picture = grid.picture(sample)
    lo, hi = result.limits()
    name = attribution_cmap(result, cmap)
    fig = Figure(figsize=(6.4, 5.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    if len(grid.positions) == 2:
        ax = fig.add_subplot()
        ax.imshow(picture, cmap=None if picture.ndim == 3 else "gray", interpolation="nearest")
        image = ax.imshow(np.ma.masked_invalid(result.values), cmap=name, vmin=lo, vmax=hi,
                          alpha=alpha, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.85, label=f"{result.method} map")
        ax.set_title(wrapped_title(title, TITLE_WIDTH), fontsize=9)
    else:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
        axis = "step" if grid.layout == "sequence" else "feature"
        top.imshow(picture.T if grid.layout == "sequence" else picture, cmap="gray", aspect="auto",
                   interpolation="nearest")
        top.set_ylabel("feature" if grid.layout == "sequence" else "")
        top.set_title(wrapped_title(title, TITLE_WIDTH), fontsize=9)
        steps = np.arange(len(result.values))
        bottom.plot(steps, result.values, color="C3")
        bottom.axhline(0.0, color="0.5", linewidth=0.8)
        bottom.set_xlabel(axis)
        bottom.set_ylabel(f"{result.method} map")
    return fig


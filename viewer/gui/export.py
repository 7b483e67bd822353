"""Taking a result away: the picture as PNG/SVG/PDF, the activation as .npy/.csv.

The exported picture is drawn on a fresh figure with a title naming the net,
layer and sample, so it stands on its own outside the window; the window's
own figure is never touched. Nothing is ever written over a file the user
opened.
"""

from __future__ import annotations

import io
import os
from typing import Any, Iterable

import numpy as np

from viewer.analysis import histogram
from viewer.app.compute import Result
from viewer.app.options import DisplayOptions, colormap_for
from viewer.data.formats import PICTURE_FORMATS
from viewer.errors import StrataError
from viewer.export import save_activation

DPI = 150


def default_name(result: Result, ext: str) -> str:
    """A file name like ``digits_cnn_conv1_sample12.png``."""
    req = result.request
    parts = [req.net.name, req.net[req.layer].name]
    if req.channel is not None:
        parts.append(f"ch{req.channel}")
    parts.append(f"sample{req.sample}")
    stem = "_".join(parts)
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) + ext


def check_target(path: str, protected: Iterable[str | None]) -> None:
    """Refuse to write over a file the user opened (the net or its samples)."""
    target = os.path.realpath(path)
    for p in protected:
        if p and os.path.exists(p) and os.path.realpath(p) == target:
            raise StrataError(f"{path}: this is a file you opened; Strata never writes to it. "
                              "Choose another name.")


def title_of(result: Result) -> str:
    """Net, layer and sample, for the exported picture."""
    req = result.request
    layer = req.net[req.layer]
    title = f"{req.net.name} · {layer.name} ({layer.kind}) · sample {req.sample}"
    if req.channel is not None:
        title += f" · channel {req.channel}"
    return title


def picture_figure(result: Result, opts: DisplayOptions, view: str) -> Any:
    """A standalone matplotlib Figure of ``result`` as a heatmap, histogram or bars."""
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 5.6), dpi=DPI)
    fig.suptitle(title_of(result), fontsize=10)
    if view == "bars":
        from viewer.app.bars import bars_of
        from viewer.gui.bar_drawing import draw_bars
        req = result.request
        draw_bars(fig.add_subplot(), bars_of(req.net, req.layer, result.activation, req.samples,
                                             req.sample))
        return fig
    if view == "histogram":
        ax = fig.add_subplot()
        hist = result.hist or histogram(result.values, bins=opts.bins)
        if hist.counts.size:
            ax.stairs(hist.counts, hist.edges, fill=True, color="#3b75af")
            if hist.edges[0] <= 0 <= hist.edges[-1]:
                ax.axvline(0.0, color="#d62728", linestyle="--", linewidth=1.2)
        if opts.log_counts:
            ax.set_yscale("log")
        ax.set_xlabel("activation value")
        ax.set_ylabel("count")
        st = result.stats
        ax.set_title(f"min {st.min:.4g} · max {st.max:.4g} · mean {st.mean:.4g} · "
                     f"std {st.std:.4g} · zero {100 * st.frac_zero:.1f} %", fontsize=8)
        return fig
    ax = fig.add_subplot()
    name, lo, hi = colormap_for(opts.cmap, result.vmin, result.vmax, result.both_signs)
    cmap = matplotlib.colormaps[name].with_extremes(bad="white")
    im = ax.imshow(result.image, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, shrink=0.85)
    return fig


def export_picture(path: str, result: Result, opts: DisplayOptions, view: str,
                   protected: Iterable[str | None] = ()) -> None:
    """Write the heatmap or histogram of ``result`` as PNG, SVG or PDF (by extension).

    Raises
    ------
    StrataError
        For an unknown extension, a protected target, or a failed write.
    """
    check_target(path, protected)
    ext = os.path.splitext(path)[1].lower()
    if ext not in PICTURE_FORMATS:
        raise StrataError(f"{path}: pictures are saved as {', '.join(PICTURE_FORMATS)}")
    try:
        picture_figure(result, opts, view).savefig(path, format=ext[1:])
    except OSError as exc:
        raise StrataError(f"{path}: cannot write ({exc.strerror or exc})") from None


def picture_png(result: Result, opts: DisplayOptions, view: str) -> bytes:
    """The exported picture as PNG bytes (for the clipboard)."""
    buf = io.BytesIO()
    picture_figure(result, opts, view).savefig(buf, format="png")
    return buf.getvalue()


def export_activation(path: str, values: np.ndarray,
                      protected: Iterable[str | None] = ()) -> None:
    """Write an activation (one sample, no batch axis) as .npy or .csv (see viewer.export).

    Raises
    ------
    StrataError
        For an unknown extension, a protected target, or a failed write.
    """
    check_target(path, protected)
    save_activation(values, path)

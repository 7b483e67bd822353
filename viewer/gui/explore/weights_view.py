"""Weights: the selected layer's parameters as a picture and a histogram.

Conv kernels as a grid of output x input channels, or a first layer's
filters as little images; dense matrices as they are; biases and
batch-norm scales as values per unit. Weights have both signs, so pictures
use a diverging map centred on zero. A layer without parameters names the
nearest layers that have some. The figure is made once and updated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backend_bases import MouseEvent
from matplotlib.collections import PolyCollection
from matplotlib.ticker import MaxNLocator
from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import QComboBox, QWidget

from viewer.analysis import activation_stats, color_limits, histogram
from viewer.app.options import AUTO_DIVERGING
from viewer.app.weights import WeightPicture, weight_picture
from viewer.gui.plot_panel import PlotPanel
from viewer.gui.plotting import text_colour, window_colour
from viewer.gui.state import AppState

BINS = 60
MIN_BINS = 10
PREFERRED = ("W", "gamma", "beta", "b", "mean", "var")  # the order of a layer's parameters
BAR_COLOUR = "#3b75af"
KIND_TEXT = {"rgb": "filters as colour images", "filters": "filters as images",
             "kernels": "rows: outputs · columns: inputs",
             "mosaic": "one tile per kernel", "matrix": "rows × columns",
             "vector": "value per unit"}


class WeightsView(PlotPanel):
    """The selected layer's parameters.

    Attributes
    ----------
    param : str or None
        The parameter on show (e.g. "W", "gamma").
    picture : WeightPicture or None
        Its layout; ``image.get_array()`` shows ``picture.image``.
    image : AxesImage
        The picture (hidden for vectors).
    values : PolyCollection
        Values per unit as bars (shown for vectors).
    bars : StepPatch
        The histogram.

    stats : ActivationStats or None
        The statistics of the parameter on show (the window's Statistics
        panel shows them while this view is current).

    Signals
    -------
    drawn(str)
        A parameter was drawn (its name).
    statsChanged(object)
        ``(title, shape, ActivationStats)`` of the parameter on show, or None.
    """

    drawn = pyqtSignal(str)
    statsChanged = pyqtSignal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.param: str | None = None
        self.stats: Any = None
        self.picture: WeightPicture | None = None
        self._layer: Any = None
        self._dirty = True

        self.param_box = QComboBox()
        self.param_box.setToolTip("Which of the layer's parameter arrays to show")
        ink = text_colour(self)
        import matplotlib

        cmap = matplotlib.colormaps[AUTO_DIVERGING].with_extremes(bad=window_colour(self))
        self.axes = self.figure.add_axes((0.05, 0.1, 0.55, 0.8))
        self.image = self.axes.imshow(np.full((1, 1), np.nan), cmap=cmap, origin="upper",
                                      interpolation="nearest")
        self.colorbar = self.figure.colorbar(
            self.image, cax=self.figure.add_axes((0.62, 0.1, 0.015, 0.8)))
        self.colorbar.ax.tick_params(labelsize=7, colors=ink)
        self.colorbar.outline.set_linewidth(0.5)
        self.values = PolyCollection([], facecolors=BAR_COLOUR, edgecolors="none")
        self.axes.add_collection(self.values)
        self.hist_axes = self.figure.add_axes((0.72, 0.1, 0.25, 0.8))
        for ax in (self.axes, self.hist_axes):
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            ax.tick_params(colors=ink, labelcolor=ink)
        self.hist_axes.set_facecolor("white")
        self.hist_axes.set_xlabel("value", color=ink)
        self.hist_axes.set_ylabel("count", color=ink)
        self.hist_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        self.bars = self.hist_axes.stairs(np.zeros(1), np.array([0.0, 1.0]), fill=True,
                                          color=BAR_COLOUR, alpha=0.9)
        self.hist_axes.axvline(0.0, color="#d62728", linewidth=1.0, linestyle="--")

        self.add_controls("Parameter", self.param_box)

        self.param_box.currentTextChanged.connect(self._on_param)
        state.layerChanged.connect(lambda _i: self.refresh())
        state.netChanged.connect(lambda _n: self.refresh())
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)
        self.canvas.mpl_connect("resize_event", lambda _e: self._layout())
        self.refresh()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def refresh(self) -> None:
        """Show the state's layer (when on show; else on the next show)."""
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        s = self._state
        layer = s.net[s.layer] if s.net is not None else None
        if layer is self._layer and self.param is not None:
            return
        self._layer = layer
        params = _shown_params(layer)
        self.param_box.blockSignals(True)
        self.param_box.clear()
        self.param_box.addItems(list(params))
        self.param_box.setEnabled(bool(params))
        self.param_box.blockSignals(False)
        if layer is None:
            self.show_message("Open a net to see its weights.")
        elif not params:
            self.show_message(self._no_params_text(s.net, s.layer))
        else:
            self.show_param(next(iter(params)))

    def show_message(self, text: str) -> None:
        """Show ``text`` instead of the plots."""
        self.param = None
        self.picture = None
        self.stats = None
        self.statsChanged.emit(None)
        super().show_message(text)

    def show_param(self, name: str) -> None:
        """Draw the current layer's parameter ``name``."""
        layer = self._layer
        W = np.asarray(layer.params()[name])
        first = _reads_input(layer)
        self.param = name
        self.picture = pic = weight_picture(W, first_layer=first)
        if self.param_box.currentText() != name:
            self.param_box.blockSignals(True)
            self.param_box.setCurrentText(name)
            self.param_box.blockSignals(False)
        self.show_plot()
        finite = W[np.isfinite(W)] if W.dtype.kind == "f" else W
        limits = color_limits(W.astype(np.float64))
        m = max(abs(limits.vmin), abs(limits.vmax)) or 1.0
        vector = pic.kind == "vector"
        self.image.set_visible(not vector)
        self.colorbar.ax.set_visible(not vector and pic.kind != "rgb")
        self.values.set_visible(vector)
        ink = text_colour(self)
        if vector or pic.kind == "matrix":
            self.axes.set_axis_on()
        else:
            self.axes.set_axis_off()
        if vector:
            n = W.size
            self.values.set_verts(_bars(np.nan_to_num(W.astype(np.float64).ravel())))
            self.axes.set_xlim(-0.5, n - 0.5)
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            pad = (max(hi, 0) - min(lo, 0)) * 0.05 or 0.5
            self.axes.set_ylim(min(lo, 0) - pad, max(hi, 0) + pad)
            self.axes.set_aspect("auto")
            self.axes.set_xlabel("unit", color=ink)
            self.axes.set_ylabel(name, color=ink)
        else:
            h, w = pic.image.shape[:2]
            self.image.set_data(pic.image)
            self.image.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
            self.image.set_clim(-m, m)
            self.axes.set_xlim(-0.5, w - 0.5)
            self.axes.set_ylim(h - 0.5, -0.5)
            self.axes.set_aspect("equal" if pic.kind != "matrix" else "auto")
            if pic.kind == "matrix":  # a dense layer's W is (inputs, outputs)
                self.axes.set_xlabel(f"output unit (0–{w - 1})", color=ink)
                self.axes.set_ylabel(f"input unit (0–{h - 1})", color=ink)
        # About 1.5 sqrt(n) bins: spiky for few values otherwise.
        hist = histogram(W, bins=int(np.clip(1.5 * np.sqrt(W.size), MIN_BINS, BINS)))
        if len(hist.counts):
            self.bars.set_data(hist.counts.astype(np.float64), hist.edges)
            pad = (hist.edges[-1] - hist.edges[0]) * 0.02
            self.hist_axes.set_xlim(hist.edges[0] - pad, hist.edges[-1] + pad)
            self.hist_axes.set_ylim(0, max(float(hist.counts.max()), 1.0) * 1.08)
        self.set_title(f"<b>{layer.name}</b> · {layer.kind} · <b>{name}</b> "
                       f"{tuple(W.shape)} · {W.size:,} values")
        self.stats = activation_stats(W)
        self.statsChanged.emit((f"{layer.name} · {name}", W.shape, self.stats))
        self.hover.setText(KIND_TEXT[pic.kind])
        self.toolbar.reset_history()
        self._layout()
        self.canvas.draw_idle()
        self.drawn.emit(name)

    def stats_shown(self) -> Any:
        """``(title, shape, ActivationStats)`` of the parameter on show, or None."""
        if self.stats is None or self.param is None:
            return None
        return (f"{self._layer.name} · {self.param}",
                np.shape(self._layer.params()[self.param]), self.stats)

    def _on_param(self, name: str) -> None:
        if name and self._layer is not None:
            self.show_param(name)

    def _no_params_text(self, net: Any, index: int) -> str:
        before = next((net[i].name for i in range(index - 1, -1, -1) if net[i].params()), None)
        after = next((net[i].name for i in range(index + 1, len(net)) if net[i].params()), None)
        near = " and ".join(f"{n!r}" for n in (before, after) if n)
        text = f"Layer {net[index].name!r} ({net[index].kind}) has no parameters."
        return text + (f"\nThe nearest layers with parameters: {near}." if near else "")

    def _layout(self) -> None:
        """The picture (or bars) left with its colour bar beside it; the histogram right."""
        w_px, h_px = self.figure.bbox.width, self.figure.bbox.height
        if w_px < 200 or h_px < 120:
            return
        r = self.canvas.device_pixel_ratio
        hist_w = min(max(0.3 * w_px, 200 * r), 380 * r)
        bottom, top, right = 46 * r, 14 * r, 16 * r
        bar_w, bar_gap, bar_text = 12 * r, 10 * r, 44 * r
        pic = self.picture
        vector = pic is None or pic.kind == "vector"
        labelled = vector or pic.kind == "matrix"  # axes with tick labels and names
        left = 64 * r if labelled else 16 * r
        beside = 0 if vector else bar_w + bar_gap + bar_text  # the colour bar and its labels
        avail_w = w_px - left - hist_w - right - 40 * r - beside
        avail_h = h_px - bottom - top
        box_w, box_h, x0, y0 = avail_w, avail_h, left, bottom
        if not vector and pic.kind != "matrix":
            h, w = pic.image.shape[:2]
            zoom = min(avail_w / w, avail_h / h)
            box_w, box_h = w * zoom, h * zoom
            x0, y0 = left + (avail_w - box_w) / 2, bottom + (avail_h - box_h) / 2
        self.axes.set_position((x0 / w_px, y0 / h_px, box_w / w_px, box_h / h_px))
        self.colorbar.ax.set_position(((x0 + box_w + bar_gap) / w_px, y0 / h_px,
                                       bar_w / w_px, box_h / h_px))
        self.hist_axes.set_position(((w_px - hist_w - right + 50 * r) / w_px, bottom / h_px,
                                     (hist_w - 50 * r) / w_px, avail_h / h_px))

    def _on_motion(self, event: MouseEvent) -> None:
        pic = self.picture
        if pic is None or event.inaxes is not self.axes or event.xdata is None:
            self.hover.setText(KIND_TEXT[pic.kind] if pic is not None else "")
            return
        if pic.kind == "vector":
            unit = int(np.floor(event.xdata + 0.5))
            if 0 <= unit < pic.source.size:
                self.hover.setText(f"unit {unit} · {self.param} {pic.source.ravel()[unit]:.4g}")
            return
        found = pic.locate(event.ydata, event.xdata)
        if found is None:
            self.hover.setText(KIND_TEXT[pic.kind])
            return
        value = found["value"]
        text = (f"{value:.4g}" if np.ndim(value) == 0
                else "RGB " + ", ".join(f"{v:.3g}" for v in value))
        if "out" in found:
            where = f"filter {found['out']}"
            if "in" in found:
                where += f" · input channel {found['in']}"
            where += f" · y {found['y']}, x {found['x']}"
        else:
            where = f"row {found['row']}, column {found['col']}"
        self.hover.setText(f"{where} · {text}")


def _bars(values: np.ndarray, width: float = 0.8) -> np.ndarray:
    """Rectangles (n, 4, 2) from 0 to each value, centred on 0..n-1."""
    x = np.arange(len(values), dtype=np.float64)
    left, right = x - width / 2, x + width / 2
    zero = np.zeros_like(values)
    return np.stack([np.stack([left, zero], 1), np.stack([left, values], 1),
                     np.stack([right, values], 1), np.stack([right, zero], 1)], axis=1)


def _shown_params(layer: Any) -> dict[str, np.ndarray]:
    """The layer's parameters: kernels and matrices first, then scales before shifts."""
    if layer is None:
        return {}
    params = {k: v for k, v in layer.params().items() if np.asarray(v).size}

    def rank(item: tuple[str, Any]) -> tuple[int, int]:
        name, value = item
        order = PREFERRED.index(name) if name in PREFERRED else len(PREFERRED)
        return -np.asarray(value).ndim, order

    return dict(sorted(params.items(), key=rank))


def _reads_input(layer: Any) -> bool:
    """True when the layer's input is the net's input (its filters see the raw samples)."""
    prev = layer.prev
    return prev is not None and not isinstance(prev, tuple) and prev.kind == "Input"

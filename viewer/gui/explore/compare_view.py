"""Compare: two activations side by side, their difference, their histograms.

Two ways to pick the pair:

- **Two samples**: pin a sample as A, then browse; B is the current sample.
  Both at the selected layer.
- **Two layers**: pin a layer as A, then select another of the same output
  shape (before and after a batch norm, a residual add); both on the current
  sample.

A and B share one colour scale (the window's colour option, "auto" centring
a diverging map on zero for values of both signs); B - A is always drawn
with a diverging map centred on zero, with symmetric limits. The histograms
of A and B share their bins. Computing runs on the state's worker threads
(traces come from its cache), only while the view is on show.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
from matplotlib.backend_bases import MouseEvent
from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import QCheckBox, QComboBox, QPushButton, QWidget

from viewer.app.compare import Comparison, Pair, compare, partner_layer
from viewer.app.messages import error_text
from viewer.app.options import AUTO_DIVERGING
from viewer.gui.plot_panel import PlotPanel
from viewer.gui.plotting import text_colour, window_colour
from viewer.gui.sample_panel import to_image
from viewer.gui.state import AppState
from viewer.gui.worker import LatestRunner

MODES = (("samples", "Two samples"), ("layers", "Two layers"))
LOG_FLOOR = 0.8  # where bars start on a log axis (a count of 1 stays visible)
A_COLOUR, B_COLOUR = "#3b75af", "#e1812c"


class CompareView(PlotPanel):
    """A and B side by side, B - A, and both histograms, for the state's selection.

    Attributes
    ----------
    mode : str
        "samples" or "layers".
    pinned_sample, pinned_layer : int or None
        A's sample (samples mode) and A's layer (layers mode).
    images : dict of str to AxesImage
        "a", "b" and "diff": the three drawn images (their arrays are the
        pictures' values, their colour limits the ones in use).
    bars : dict of str to StepPatch
        "a" and "b": the histograms.

    Signals
    -------
    drawn(object)
        A :class:`Comparison` was drawn.
    """

    drawn = pyqtSignal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent, toolbar=False)
        self.runner = LatestRunner(self, "strata-compare")
        self.mode = "samples"
        self.pinned_sample: int | None = None
        self.pinned_layer: int | None = None
        self.comparison: Comparison | None = None
        self._dirty = True
        self._cmap_option = state.options.cmap

        self.mode_box = QComboBox()
        for key, text in MODES:
            self.mode_box.addItem(text, key)
        self.mode_box.setToolTip("Two samples at the selected layer, or two layers of the "
                                 "same shape on the current sample")
        self.log_box = QCheckBox("Log counts")
        self.log_box.setToolTip("Histogram counts on a log axis (the window's histogram option)")
        self.log_box.setChecked(state.options.log_counts)
        self.pin_button = QPushButton("Pin as A")
        self.pin_button.setToolTip("Make the current sample (or layer) A; "
                                   "then browse: B follows the selection")
        self._make_axes()
        self.add_controls("Compare", self.mode_box, self.pin_button, 8, self.log_box)

        self.mode_box.currentIndexChanged.connect(
            lambda i: self.set_mode(self.mode_box.itemData(i)))
        self.pin_button.clicked.connect(lambda: self.pin())
        self.log_box.toggled.connect(lambda on: state.set_options(log_counts=on))
        self.runner.finished.connect(lambda _i, c: self._show(c))
        self.runner.failed.connect(lambda _i, e: self.show_message(error_text(e)))
        state.netChanged.connect(self._on_net)
        state.samplesChanged.connect(self._on_samples)
        for signal in (state.layerChanged, state.sampleChanged):
            signal.connect(lambda _v: self.refresh())
        state.optionsChanged.connect(self._on_options)
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)
        self.canvas.mpl_connect("resize_event", lambda _e: self._layout())
        self.show_message("Loading…")

    def _make_axes(self) -> None:
        fig = self.figure
        ink = text_colour(self)
        self.image_axes = {}
        self.images = {}
        for key in ("a", "b", "diff"):
            ax = fig.add_axes((0, 0, 0.1, 0.1))
            ax.set_axis_off()
            image = ax.imshow(np.full((1, 1), np.nan), interpolation="nearest",
                              origin="upper", cmap=self._cmap("viridis"))
            self.image_axes[key], self.images[key] = ax, image
        self.images["diff"].set_cmap(self._cmap(AUTO_DIVERGING))
        # The samples themselves, small, beside A's and B's titles.
        self.thumb_axes, self.thumbs = {}, {}
        for key in ("a", "b"):
            ax = fig.add_axes((0, 0, 0.05, 0.05))
            ax.set_axis_off()
            self.thumb_axes[key] = ax
            self.thumbs[key] = ax.imshow(np.zeros((1, 1)), cmap="gray", interpolation="nearest",
                                         vmin=0, vmax=255)
        self.colorbars = {key: fig.colorbar(self.images[key], ax=self.image_axes[key],
                                            orientation="horizontal")
                          for key in ("b", "diff")}
        for key, cb in self.colorbars.items():
            cb.ax.tick_params(labelsize=7, colors=ink)
            cb.outline.set_linewidth(0.5)
            cb.set_label("A and B" if key == "b" else "B − A", fontsize=8, color=ink)
        self.hist_axes = fig.add_axes((0.1, 0.05, 0.85, 0.2))
        ax = self.hist_axes
        ax.set_facecolor("white")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(colors=ink, labelcolor=ink)
        ax.set_xlabel("activation value", color=ink)
        ax.set_ylabel("count", color=ink)
        self.bars = {
            "a": ax.stairs(np.zeros(1), np.array([0.0, 1.0]), fill=True, alpha=0.45,
                           color=A_COLOUR, label="A"),
            "b": ax.stairs(np.zeros(1), np.array([0.0, 1.0]), fill=True, alpha=0.45,
                           color=B_COLOUR, label="B"),
        }
        ax.axvline(0.0, color="0.35", linewidth=0.8, linestyle="--")
        ax.legend(loc="upper right", frameon=False, fontsize=8)
        self._layout()

    def _cmap(self, name: str) -> Any:
        """Colour map ``name`` with missing units (NaN) in the window's colour."""
        import matplotlib

        return matplotlib.colormaps[name].with_extremes(bad=window_colour(self))

    # -- choosing the pair ------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        """Compare "samples" or "layers"."""
        if mode == self.mode:
            return
        self.mode = mode
        s = self._state
        if mode == "layers" and s.net is not None and self.pinned_layer in (None, s.layer):
            self.pinned_layer = partner_layer(s.net, s.layer)
        self.mode_box.blockSignals(True)
        self.mode_box.setCurrentIndex(self.mode_box.findData(mode))
        self.mode_box.blockSignals(False)
        self.refresh()

    def pin(self, index: int | None = None) -> None:
        """Pin A: sample ``index`` (samples mode) or layer ``index`` (layers mode).

        Default: the current sample or layer.
        """
        s = self._state
        if self.mode == "samples":
            self.pinned_sample = s.sample if index is None else int(index)
        else:
            self.pinned_layer = s.layer if index is None else int(index)
        self.refresh()

    def pair(self) -> Pair | None:
        """What would be compared now, or None without a net and samples."""
        s = self._state
        if s.net is None or s.samples is None:
            return None
        if self.pinned_sample is None:
            self.pinned_sample = s.sample  # A starts as the sample on show
        if self.pinned_layer is None:
            self.pinned_layer = s.layer
        if self.mode == "samples":
            return Pair(s.net, s.samples, self.pinned_sample, s.layer, s.sample, s.layer)
        return Pair(s.net, s.samples, s.sample, self.pinned_layer, s.sample, s.layer)

    # -- computing and drawing ----------------------------------------------------

    def refresh(self) -> None:
        """Compute the current pair (when on show; else on the next show)."""
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        pair = self.pair()
        if pair is None:
            self.show_message("Open a net with samples to compare activations.")
            return
        problem = self._shape_problem(pair)
        if problem:
            self.show_message(problem)
            return
        self._cmap_option = self._state.options.cmap
        self.runner.submit(partial(compare, pair, self._state.cache, self._cmap_option))

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def _shape_problem(self, pair: Pair) -> str:
        """Why two layers cannot be compared, naming layers that could be; "" if they can."""
        if pair.a_layer == pair.b_layer:
            return "" if self.mode == "samples" else (
                f"Layer {pair.net[pair.a_layer].name!r} is pinned as A: select another layer "
                "of the same shape as B.")
        net = pair.net
        shape_a, shape_b = net[pair.a_layer].output_shape, net[pair.b_layer].output_shape
        if shape_a == shape_b:
            return ""
        same = [layer.name for layer in net
                if layer.output_shape == shape_a and layer is not net[pair.a_layer]]
        hint = f" Layers of that shape: {', '.join(same)}." if same else ""
        return (f"A is layer {net[pair.a_layer].name!r}, shape {shape_a}; B is layer "
                f"{net[pair.b_layer].name!r}, shape {shape_b}: compare layers of the same "
                f"shape.{hint}")

    def show_message(self, text: str) -> None:
        """Show ``text`` instead of the plots."""
        self.comparison = None
        super().show_message(text)
        self._update_info()

    def _show(self, c: Comparison) -> None:
        self.comparison = c
        self.show_plot()
        for key, picture in (("a", c.a), ("b", c.b), ("diff", c.diff)):
            image = self.images[key]
            h, w = picture.image.shape
            image.set_data(picture.image)
            image.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
            self.image_axes[key].set_xlim(-0.5, w - 0.5)
            self.image_axes[key].set_ylim(h - 0.5, -0.5)
            if key != "diff":
                image.set_cmap(self._cmap(c.cmap))
                image.set_clim(*c.clim)
        self.images["diff"].set_clim(*c.diff_clim)
        layout = getattr(self._state.samples, "layout", None) or "channels_first"
        for key, x in (("a", c.input_a), ("b", c.input_b)):
            pixels = to_image(x, layout)
            self.thumb_axes[key].set_visible(pixels is not None)
            if pixels is not None:
                self.thumbs[key].set_data(pixels)
                h, w = pixels.shape[:2]
                self.thumbs[key].set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
        titles = self._titles(c.pair)
        ink = text_colour(self)
        for key, title in zip(("a", "b", "diff"), titles):
            self.image_axes[key].set_title(title, color=ink, fontsize=9)
        self._draw_histograms(c)
        self._layout()
        self._update_info()
        self.canvas.draw_idle()
        self.drawn.emit(c)

    def _draw_histograms(self, c: Comparison) -> None:
        """Both histograms on shared bins, log counts when the window's option says so."""
        log = self._state.options.log_counts
        self.hist_axes.set_yscale("log" if log else "linear")
        floor = LOG_FLOOR if log else 0.0
        top = 1.0
        for key, hist in (("a", c.hist_a), ("b", c.hist_b)):
            counts = hist.counts.astype(np.float64)
            self.bars[key].set_data(np.maximum(counts, floor), hist.edges, baseline=floor)
            top = max(top, float(counts.max(initial=0)))
        edges = c.hist_a.edges
        pad = (edges[-1] - edges[0]) * 0.02
        self.hist_axes.set_xlim(edges[0] - pad, edges[-1] + pad)
        self.hist_axes.set_ylim(floor, top * (1.6 if log else 1.08))
        self.hist_axes.set_ylabel("count (log)" if log else "count", color=text_colour(self))

    def _titles(self, pair: Pair) -> tuple[str, str, str]:
        net = pair.net
        if self.mode == "samples":
            return (f"A · sample {pair.a_sample}{self._label(pair.a_sample)}",
                    f"B · sample {pair.b_sample}{self._label(pair.b_sample)}", "B − A")
        return (f"A · {net[pair.a_layer].name}", f"B · {net[pair.b_layer].name}", "B − A")

    def _label(self, i: int) -> str:
        labels = getattr(self._state.samples, "labels", None)
        return "" if labels is None else f" · label {int(labels[i])}"

    def _update_info(self) -> None:
        s = self._state
        if s.net is None:
            self.set_title("")
            return
        if self.mode == "samples":
            a = "–" if self.pinned_sample is None else str(self.pinned_sample)
            text = (f"<b>{s.net[s.layer].name}</b> · A: sample {a} (pinned) · "
                    f"B: sample {s.sample} (current)")
        else:
            a = "–" if self.pinned_layer is None else s.net[self.pinned_layer].name
            text = (f"sample {s.sample} · A: <b>{a}</b> (pinned) · "
                    f"B: <b>{s.net[s.layer].name}</b> (current)")
        self.set_title(text)

    def _layout(self) -> None:
        """A, B and B − A with their colour bars, and the histogram: in a row over the
        histogram on a wide canvas, else two by two (A, B / B − A, histogram)."""
        w_px, h_px = self.figure.bbox.width, self.figure.bbox.height
        if w_px < 100 or h_px < 100:
            return
        r = self.canvas.device_pixel_ratio
        margin, gap = 12 * r, 16 * r
        title_h, bar_gap, bar_h, bar_text = 22 * r, 8 * r, 10 * r, 32 * r
        shape = self.comparison.b.image.shape if self.comparison is not None else (1, 1)
        if w_px >= 2.2 * h_px:
            hist_h = max(0.3 * h_px, 110 * r)
            hist = (64 * r, 40 * r, w_px - 64 * r - margin, hist_h)
            top = hist[1] + hist_h + 16 * r
            cell_w = (w_px - 2 * margin - 2 * gap) / 3
            cells = [(margin + i * (cell_w + gap), top, cell_w, h_px - top - 6 * r)
                     for i in range(3)]
        else:
            cell_w = (w_px - 2 * margin - gap) / 2
            cell_h = (h_px - 2 * 6 * r - gap) / 2
            low, high = 6 * r, 6 * r + cell_h + gap
            cells = [(margin, high, cell_w, cell_h), (margin + cell_w + gap, high, cell_w, cell_h),
                     (margin, low, cell_w, cell_h)]
            hist = (margin + cell_w + gap + 56 * r, low + 40 * r, cell_w - 56 * r,
                    cell_h - 40 * r - 10 * r)
        self.hist_axes.set_position((hist[0] / w_px, hist[1] / h_px, hist[2] / w_px,
                                     hist[3] / h_px))
        boxes = {}
        for key, (x, y, w, h) in zip(("a", "b", "diff"), cells):
            img_h = max(h - title_h - bar_gap - bar_h - bar_text, 20 * r)
            zoom = min(w / shape[1], img_h / shape[0])
            box_w, box_h = shape[1] * zoom, shape[0] * zoom
            x0 = x + (w - box_w) / 2
            y0 = y + bar_text + bar_h + bar_gap + (img_h - box_h) / 2
            boxes[key] = (x0, y0, box_w, box_h)
            self.image_axes[key].set_position((x0 / w_px, y0 / h_px, box_w / w_px, box_h / h_px))
            if key in self.thumb_axes:  # the sample, left of the title above the picture
                size = title_h + 14 * r
                self.thumb_axes[key].set_position(((x0 - size - 4 * r) / w_px if x0 - size > x
                                                   else x0 / w_px, (y0 + box_h + 2 * r) / h_px,
                                                   size / w_px, size / h_px))
        for key in ("b", "diff"):  # A and B share the colours of the bar under B
            x0, y0, box_w, _ = boxes[key]
            width = box_w * 0.8
            self.colorbars[key].ax.set_position(((x0 + (box_w - width) / 2) / w_px,
                                                 (y0 - bar_gap - bar_h) / h_px,
                                                 width / w_px, bar_h / h_px))

    # -- the mouse and following the state ----------------------------------------

    def _on_motion(self, event: MouseEvent) -> None:
        c = self.comparison
        key = next((k for k, ax in self.image_axes.items() if ax is event.inaxes), None)
        if c is None or key is None or event.xdata is None:
            self.hover.setText("")
            return
        found = c.b.locate(event.ydata, event.xdata)
        if found is None:
            self.hover.setText("")
            return
        at = found["index"]
        where = (f"channel {found['channel']} · y {found['y']}, x {found['x']}"
                 if "channel" in found else f"unit {found.get('unit', at)}")
        values = [float(c.a.source[at]), float(c.b.source[at]), float(c.diff.source[at])]
        a, b, d = (("NaN" if math.isnan(v) else f"{v:.4g}") for v in values)
        self.hover.setText(f"{where} · A {a} · B {b} · B − A {d}")

    def _on_options(self, opts: Any) -> None:
        self.log_box.blockSignals(True)
        self.log_box.setChecked(opts.log_counts)
        self.log_box.blockSignals(False)
        if self.comparison is not None and opts.cmap == self._cmap_option:
            self._draw_histograms(self.comparison)
            self.canvas.draw_idle()
        else:
            self.refresh()  # a new colour map: A and B are recoloured

    def _on_net(self, _net: Any) -> None:
        self.pinned_sample = self.pinned_layer = None
        self.refresh()

    def _on_samples(self, _samples: Any) -> None:
        self.pinned_sample = None
        self.refresh()

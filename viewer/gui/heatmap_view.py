"""The heatmap: the selected activation as one image with a colour bar.

The figure and its one image are made once; each result only updates the
image in place (``set_data``, ``draw_idle``), so the canvas always holds
exactly one image. The worker thread colours the picture (see
:mod:`viewer.gui.colour`), so the main thread only resamples finished pixels;
the colour bar is a small Qt widget laid over the canvas beside the image.
Hovering names the unit under the mouse; clicking a channel of a mosaic
shows it large, clicking again (or Escape) goes back to all channels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.backend_bases import MouseEvent
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QSizePolicy,
                             QVBoxLayout, QWidget)

from viewer.gui import colour_bar
from viewer.app.colouring import to_rgba
from viewer.gui.colour import colour_table
from viewer.gui.colour_bar import ColourBar
from viewer.app.colouring import Colouring
from viewer.app.compute import Result
from viewer.app.options import CMAPS, DisplayOptions, candidate_cmaps, colormap_for
from viewer.gui.plotting import (Canvas, NavToolbar, PixelImage, canvas_or_message, new_figure,
                                 window_colour)
from viewer.gui.state import AppState

# Logical pixels around the image and between it and the colour bar.
MARGIN, BAR_GAP = 14, 12
MIN_BAR_HEIGHT = 160
SCALE_CHOICES = (("shared", "Shared scale"), ("channel", "Per-channel scale"))


def value_text(v: float) -> str:
    """A value as short readable text (4 significant digits)."""
    return "NaN" if math.isnan(v) else f"{v:.4g}"


class HeatmapView(QWidget):
    """Heatmap of the current result, with its options, toolbar and hover text.

    Attributes
    ----------
    canvas : Canvas
    image : matplotlib.image.AxesImage
        The one image on the canvas; its data are the coloured pixels.
    values : np.ndarray (H, W)
        The values those pixels show (NaN where nothing is shown).
    cmap_name : str
        The colour map in use ("auto" resolved).
    clim : (float, float)
        The colour limits in use.
    colorbar : ColourBar

    Signals
    -------
    drawn(object)
        The canvas painted a result (the Result), for benchmarks and markers.
    """

    drawn = pyqtSignal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._result: Result | None = None
        self._unpainted: Result | None = None
        self._shape: tuple[int, int] | None = None
        self.values = np.full((1, 1), np.nan)
        self.cmap_name = ""
        self.clim = (0.0, 1.0)
        self._cmap_option = ""

        self.title = QLabel("")
        self.title.setObjectName("plotTitle")
        self.title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.hover = QLabel("")
        self.hover.setObjectName("hoverText")
        self.hover.setAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        self.hover.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.hover.setToolTip("What is under the mouse pointer")
        # Keep its line when empty, so the canvas does not resize as the mouse moves.
        self.hover.setMinimumHeight(self.hover.fontMetrics().height() + 4)

        self.cmap_box = QComboBox()
        self.cmap_box.addItems(CMAPS)
        self.cmap_box.setToolTip("Colour map. auto: viridis for one-signed values, "
                                 "a diverging map centred on zero for values of both signs")
        self.scale_box = QComboBox()
        for key, text in SCALE_CHOICES:
            self.scale_box.addItem(text, key)
        self.scale_box.setToolTip("Shared: one colour scale for the whole layer. "
                                  "Per-channel: each channel scaled by its own largest |value|")

        self.figure = new_figure(self)
        self.canvas = Canvas(self.figure)
        self.canvas.setFocusPolicy(Qt.ClickFocus)
        self.toolbar = NavToolbar(self.canvas, self)
        self.axes = self.figure.add_axes((0.05, 0.05, 0.8, 0.9))
        self.axes.set_axis_off()
        self.image = PixelImage(self.axes, origin="upper", interpolation="nearest")
        self.image.set_data(np.zeros((1, 1, 4), np.uint8))
        self.axes.add_image(self.image)
        self.axes.set_aspect("equal")
        self.colorbar = ColourBar(self.canvas)
        self.colorbar.hide()
        self._gap = np.array(QColor(window_colour(self)).getRgb(), dtype=np.uint8)
        state.colouring = self.colouring  # the worker colours pictures from now on

        self._pages, self.message = canvas_or_message(self.canvas)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(QLabel("Colours"))
        bar.addWidget(self.cmap_box)
        bar.addWidget(self.scale_box)
        bar.addSpacing(12)
        bar.addWidget(self.toolbar)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.title)
        layout.addLayout(self._pages, 1)
        # Below the plot, with the full width: a readout beside the toolbar was clipped.
        layout.addWidget(self.hover)

        self.show_options(state.options)
        self.cmap_box.currentTextChanged.connect(lambda name: state.set_options(cmap=name))
        self.scale_box.currentIndexChanged.connect(
            lambda i: state.set_options(scale=self.scale_box.itemData(i)))
        state.optionsChanged.connect(self.show_options)
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)
        self.canvas.mpl_connect("axes_leave_event", lambda _e: self.hover.setText(""))
        self.canvas.mpl_connect("button_press_event", self._on_click)
        self.canvas.mpl_connect("resize_event", lambda _e: self._layout())
        self.canvas.painted.connect(self._on_painted)
        self.show_message("Loading…")

    # -- showing ------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        """Show ``text`` instead of the plot (no result, or an error)."""
        self._result = None
        self.title.setText("")
        self.hover.setText("")
        self.message.setText(text)
        self._pages.setCurrentWidget(self.message)

    def show_options(self, opts: DisplayOptions) -> None:
        """Mirror the options in the combo boxes, and recolour the image."""
        for box, value in ((self.cmap_box, opts.cmap), (self.scale_box, opts.scale)):
            box.blockSignals(True)
            box.setCurrentIndex(max(0, box.findData(value) if box is self.scale_box
                                    else box.findText(value)))
            box.blockSignals(False)
        if self._result is not None and opts.cmap != self._cmap_option:
            self._apply_colours(self._result)
            self.canvas.draw_idle()

    def show_result(self, result: Result) -> None:
        """Draw ``result``'s image in place of the previous one."""
        self._result = result
        self._unpainted = result
        self._pages.setCurrentWidget(self.canvas)
        self.title.setText(self._title(result))
        shape = result.image.shape
        if shape != self._shape:
            self._shape = shape
            h, w = shape
            self.image.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
            self.axes.set_xlim(-0.5, w - 0.5)
            self.axes.set_ylim(h - 0.5, -0.5)
            self.toolbar.reset_history()
            self._layout()
        self._apply_colours(result)
        self.canvas.draw_idle()

    def _apply_colours(self, result: Result) -> None:
        """Show ``result`` coloured by the current colour option."""
        self._cmap_option = self._state.options.cmap
        name, lo, hi = colormap_for(self._cmap_option, result.vmin, result.vmax)
        rgba = result.rgba
        if rgba is None or (result.cmap, result.clim) != (name, (lo, hi)):
            # Computed before matplotlib was loaded, or the colour map changed since.
            rgba = to_rgba(result.image, colour_table(name), lo, hi, self._gap)
        self.values = result.image
        self.cmap_name = name
        self.clim = (lo, hi)
        self.image.set_data(rgba)
        self.colorbar.set_scale(colour_table(name), lo, hi)
        self.colorbar.show()

    def colouring(self, cmap: str) -> Colouring:
        """What the worker needs to colour pictures for colour option ``cmap``."""
        return Colouring(cmap, {n: colour_table(n) for n in candidate_cmaps(cmap)}, self._gap)

    def _title(self, result: Result) -> str:
        req = result.request
        layer = req.net[req.layer]
        what = f"<b>{layer.name}</b> · {layer.kind}"
        if req.channel is not None:
            n = len(result.picture.channel_boxes)
            what += f" · channel {req.channel} of {n} <i>(click or Esc: all {n})</i>"
        elif result.picture.kind == "mosaic":
            what += f" · {len(result.picture.channel_boxes)} channels <i>(click one to enlarge)</i>"
            if req.scale == "channel":
                what += " · each channel scaled to its largest |value|"
        return what + f" · sample {req.sample}"

    def _layout(self) -> None:
        """Place the image for its aspect and the canvas size, the colour bar beside it."""
        if self._shape is None:
            return
        w_px, h_px = self.canvas.width(), self.canvas.height()
        if w_px < 80 or h_px < 80:
            return
        h, w = self._shape
        bar_w, pad = colour_bar.WIDTH, colour_bar.PAD
        avail_w = w_px - 2 * MARGIN - BAR_GAP - bar_w
        avail_h = h_px - 2 * MARGIN
        zoom = max(min(avail_w / w, avail_h / h), 1e-3)
        box_w, box_h = w * zoom, h * zoom
        x0 = (w_px - (box_w + BAR_GAP + bar_w)) / 2
        y0 = (h_px - box_h) / 2  # from the top, as Qt counts
        self.axes.set_position((x0 / w_px, y0 / h_px, box_w / w_px, box_h / h_px))
        bar_h = min(max(box_h, MIN_BAR_HEIGHT), avail_h)
        self.colorbar.setGeometry(round(x0 + box_w + BAR_GAP), round((h_px - bar_h) / 2) - pad,
                                  bar_w, round(bar_h) + 2 * pad)
        # Crisp pixels when enlarging; smoothing only when shrinking many units.
        ratio = self.canvas.device_pixel_ratio
        self.image.set_interpolation("nearest" if zoom * ratio >= 1 else "antialiased")

    def _on_painted(self) -> None:
        if self._unpainted is not None and self._pages.currentWidget() is self.canvas:
            result, self._unpainted = self._unpainted, None
            self.drawn.emit(result)

    # -- the mouse ----------------------------------------------------------------

    def describe(self, row: float, col: float) -> str:
        """Hover text for image pixel (row, col): channel, position, value."""
        result = self._result
        if result is None:
            return ""
        req = result.request
        if req.channel is not None:
            r, c = int(math.floor(row + 0.5)), int(math.floor(col + 0.5))
            h, w = result.image.shape
            if not (0 <= r < h and 0 <= c < w):
                return ""
            v = float(result.picture.channel_map(req.channel)[r, c])
            return f"channel {req.channel} · y {r}, x {c} · value {value_text(v)}"
        found = result.picture.locate(row, col)
        if found is None:
            return ""
        value = value_text(found["value"])
        if "channel" in found and "y" in found:
            return f"channel {found['channel']} · y {found['y']}, x {found['x']} · value {value}"
        if "unit" in found:
            return f"unit {found['unit']} · value {value}"
        a, b = result.picture.axes
        return f"{a} {found[a]}, {b} {found[b]} · value {value}"

    def _on_motion(self, event: MouseEvent) -> None:
        if event.inaxes is not self.axes or event.xdata is None:
            self.hover.setText("")
            return
        self.hover.setText(self.describe(event.ydata, event.xdata))

    def _on_click(self, event: MouseEvent) -> None:
        result = self._result
        if (result is None or event.button != 1 or self.toolbar.navigating
                or event.inaxes is not self.axes or event.xdata is None):
            return
        if result.request.channel is not None:
            self._state.set_channel(None)
            return
        channel = result.picture.channel_at(event.ydata, event.xdata)
        if channel is not None:
            self._state.set_channel(channel)

    def current(self) -> Any:
        """The result on show, or None."""
        return self._result

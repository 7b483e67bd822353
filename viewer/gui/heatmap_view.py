"""The heatmap: the selected activation as one image with a colour bar.

The figure, its image and its colour bar are made once; each result only
updates them in place (``set_data``, ``set_clim``, ``draw_idle``), so the
canvas always holds exactly one image. Hovering names the unit under the
mouse; clicking a channel of a mosaic shows it large, clicking again (or
Escape) goes back to all channels.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backend_bases import MouseEvent
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QSizePolicy, QStackedLayout,
                             QVBoxLayout, QWidget)

from viewer.gui.jobs import Result
from viewer.gui.options import CMAPS, DisplayOptions, colormap_for
from viewer.gui.plotting import Canvas, NavToolbar, new_figure, text_colour
from viewer.gui.state import AppState

# Pixel sizes of the figure layout (image, gap, colour bar, its tick labels).
MARGIN, BAR_GAP, BAR_WIDTH, BAR_LABELS = 14, 12, 16, 64
MIN_BAR_HEIGHT = 160
SCALE_CHOICES = (("shared", "Shared scale"), ("channel", "Per-channel scale"))
GAP_COLOUR = "#00000000"  # mosaic gaps and grid padding stay transparent


def value_text(v: float) -> str:
    """A value as short readable text (4 significant digits)."""
    return "NaN" if math.isnan(v) else f"{v:.4g}"


class HeatmapView(QWidget):
    """Heatmap of the current result, with its options, toolbar and hover text.

    Attributes
    ----------
    canvas : Canvas
    image : matplotlib.image.AxesImage
        The one image on the canvas.
    colorbar : matplotlib.colorbar.Colorbar

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

        self.title = QLabel("")
        self.title.setObjectName("plotTitle")
        self.hover = QLabel("")
        self.hover.setObjectName("hoverText")
        self.hover.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.hover.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

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
        self.image = self.axes.imshow(np.full((1, 1), np.nan), cmap="viridis", origin="upper",
                                      interpolation="nearest", aspect="equal")
        self.bar_axes = self.figure.add_axes((0.88, 0.1, 0.03, 0.8))
        self.colorbar = self.figure.colorbar(self.image, cax=self.bar_axes)
        self.colorbar.outline.set_linewidth(0.5)
        ink = text_colour(self)
        self.bar_axes.tick_params(colors=ink, labelcolor=ink, length=3)
        self._cmap_name = ""

        self.message = QLabel("")
        self.message.setObjectName("plotMessage")
        self.message.setAlignment(Qt.AlignCenter)
        self.message.setWordWrap(True)
        self._pages = QStackedLayout()
        self._pages.addWidget(self.canvas)
        self._pages.addWidget(self.message)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(QLabel("Colours"))
        bar.addWidget(self.cmap_box)
        bar.addWidget(self.scale_box)
        bar.addSpacing(12)
        bar.addWidget(self.toolbar)
        bar.addStretch(1)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addWidget(self.hover, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addLayout(head)
        layout.addLayout(self._pages, 1)

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
        if self._result is not None:
            self._apply_colours(self._result)
            self.canvas.draw_idle()

    def show_result(self, result: Result) -> None:
        """Draw ``result``'s image in place of the previous one."""
        self._result = result
        self._unpainted = result
        self._pages.setCurrentWidget(self.canvas)
        self.title.setText(self._title(result))
        image = result.image
        shape = image.shape
        self.image.set_data(image)
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
        name, lo, hi = colormap_for(self._state.options.cmap, result.vmin, result.vmax)
        if name != self._cmap_name:
            self._cmap_name = name
            self.image.set_cmap(matplotlib.colormaps[name].with_extremes(bad=GAP_COLOUR))
        self.image.set_clim(lo, hi)
        normalised = result.request.scale == "channel" and result.request.channel is None
        self.colorbar.set_label("value / channel's max |value|" if normalised else "",
                                color=text_colour(self))

    def _title(self, result: Result) -> str:
        req = result.request
        layer = req.net[req.layer]
        what = f"<b>{layer.name}</b> · {layer.kind}"
        if req.channel is not None:
            n = len(result.picture.channel_boxes)
            what += f" · channel {req.channel} of {n} <i>(click or Esc: all channels)</i>"
        elif result.picture.kind == "mosaic":
            what += f" · {len(result.picture.channel_boxes)} channels <i>(click one to enlarge)</i>"
        return what + f" · sample {req.sample}"

    def _layout(self) -> None:
        """Place the image and colour bar for the image's aspect and the canvas size."""
        if self._shape is None:
            return
        w_px, h_px = self.figure.bbox.width, self.figure.bbox.height
        if w_px < 50 or h_px < 50:
            return
        h, w = self._shape
        ratio = self.canvas.device_pixel_ratio  # the figure counts physical pixels
        margin, gap, bar_w, labels = (v * ratio for v in (MARGIN, BAR_GAP, BAR_WIDTH, BAR_LABELS))
        avail_w = w_px - 2 * margin - gap - bar_w - labels
        avail_h = h_px - 2 * margin
        zoom = max(min(avail_w / w, avail_h / h), 1e-3)
        box_w, box_h = w * zoom, h * zoom
        x0 = (w_px - (box_w + gap + bar_w + labels)) / 2
        y0 = (h_px - box_h) / 2
        bar_h = min(max(box_h, MIN_BAR_HEIGHT * ratio), avail_h)
        bar_y = (h_px - bar_h) / 2
        self.axes.set_position((x0 / w_px, y0 / h_px, box_w / w_px, box_h / h_px))
        self.bar_axes.set_position(((x0 + box_w + gap) / w_px, bar_y / h_px,
                                    bar_w / w_px, bar_h / h_px))
        # Crisp pixels when enlarging; smoothing only when shrinking many units.
        self.image.set_interpolation("nearest" if zoom >= ratio else "antialiased")

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

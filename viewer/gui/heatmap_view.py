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
from matplotlib.ticker import MaxNLocator
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import QComboBox, QWidget

from viewer.app.colouring import Colouring, to_rgba
from viewer.app.compute import Result
from viewer.app.messages import plural
from viewer.app.options import (CMAPS, DATASET_SCALE_SAMPLES, DisplayOptions, candidate_cmaps,
                                colormap_for)
from viewer.errors import StrataError
from viewer.gui import colour_bar
from viewer.gui.bars import BarsSwitch
from viewer.gui.colour import colour_table
from viewer.gui.colour_bar import ColourBar
from viewer.gui.plot_panel import PlotPanel
from viewer.gui.plotting import PixelImage, text_colour, window_colour
from viewer.gui.state import AppState
from viewer.gui.tile_numbers import TileNumbers

# Logical pixels around the image and between it and the colour bar.
MARGIN, BAR_GAP = 14, 12
# Room for tick labels and axis names when the image has axes (sequences, one channel).
AXIS_LEFT, AXIS_BOTTOM = 46, 34
# Mosaic tiles get their channel number when there are at most this many, drawn this big.
MAX_TILE_LABELS, MIN_LABELLED_TILE = 256, 22
MIN_BAR_HEIGHT = 160
SCALE_CHOICES = (("shared", "Scale: this sample"), ("channel", "Scale: per channel"),
                 ("dataset", "Scale: dataset"))


def value_text(v: float) -> str:
    """A value as short readable text (4 significant digits)."""
    return "NaN" if math.isnan(v) else f"{v:.4g}"


class HeatmapView(PlotPanel):
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
    fieldHovered = pyqtSignal(object)  # the input region under the pointer: a Field, or None

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._result: Result | None = None
        self._pointer: tuple[float, float] | None = None  # image (row, col) under the mouse
        self._labels_for: Any = None  # what the axis labels were made for
        self._box: tuple[float, float, float, float] | None = None  # the image, canvas pixels
        self._with_axes = False
        self._unpainted: Result | None = None
        self._shape: tuple[int, int] | None = None
        self.values = np.full((1, 1), np.nan)
        self.cmap_name = ""
        self.clim = (0.0, 1.0)
        self._cmap_option = ""

        self.cmap_box = QComboBox()
        self.cmap_box.addItems(CMAPS)
        self.cmap_box.setToolTip("Colour map. auto: viridis for one-signed values, "
                                 "a diverging map centred on zero for values of both signs")
        self.scale_box = QComboBox()
        for key, text in SCALE_CHOICES:
            self.scale_box.addItem(text, key)
        self.scale_box.setToolTip(
            "This sample: one colour scale for the layer's output on this sample. "
            "Each channel: every channel scaled by its own largest |value|. "
            "Dataset: one scale for the layer over the samples (its last sweep, where that "
            f"holds the range, else the first {DATASET_SCALE_SAMPLES}), so colours keep their "
            "meaning while stepping through samples")

        self.canvas.setFocusPolicy(Qt.ClickFocus)
        self.axes = self.figure.add_axes((0.05, 0.05, 0.8, 0.9))
        self.axes.set_axis_off()
        self.image = PixelImage(self.axes, origin="upper", interpolation="nearest")
        self.image.set_data(np.zeros((1, 1, 4), np.uint8))
        self.axes.add_image(self.image)
        self.axes.set_aspect("equal")
        self.colorbar = ColourBar(self.canvas)
        self.colorbar.hide()
        self.tile_numbers = TileNumbers(self.canvas)
        self.tile_numbers.hide()
        # Zooming or panning moves the tiles away from the numbers: hide them until home.
        self.axes.callbacks.connect("xlim_changed", lambda _ax: self._number_tiles())
        self.axes.callbacks.connect("ylim_changed", lambda _ax: self._number_tiles())
        self._gap = np.array(QColor(window_colour(self)).getRgb(), dtype=np.uint8)
        state.colouring = self.colouring  # the worker colours pictures from now on

        self.add_controls("Colours", self.cmap_box, self.scale_box)
        self.bars = BarsSwitch(self._pages, self.hover, self.drawn.emit, self.show_result)
        self.heading.addWidget(self.bars.box)

        self.show_options(state.options)
        self.cmap_box.currentTextChanged.connect(lambda name: state.set_options(cmap=name))
        self.scale_box.currentIndexChanged.connect(
            lambda i: state.set_options(scale=self.scale_box.itemData(i)))
        state.optionsChanged.connect(self.show_options)
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)
        self.canvas.mpl_connect("axes_leave_event", lambda _e: self._leave())
        self.canvas.mpl_connect("button_press_event", self._on_click)
        self.canvas.mpl_connect("resize_event", lambda _e: self._layout())
        self.canvas.painted.connect(self._on_painted)
        self.show_message("Loading…")

    # -- showing ------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        """Show ``text`` instead of the plot (no result, or an error)."""
        self._result = None
        super().show_message(text)

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
        self.set_title(self._title(result))
        if self.bars.show(result):  # a small vector, or a layer the user wants as bars
            return
        self._unpainted = result
        self.show_plot()
        shape = result.image.shape
        relayout = self._label(result)
        if shape != self._shape:
            self._shape = shape
            h, w = shape
            self.image.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
            self.axes.set_xlim(-0.5, w - 0.5)
            self.axes.set_ylim(h - 0.5, -0.5)
            self.toolbar.reset_history()
            relayout = True
        if relayout:
            self._layout()  # numbers the tiles too
        self._apply_colours(result)
        # The readout describes the new result under the pointer, never the last one.
        self.hover.setText(self.describe(*self._pointer) if self._pointer else "")
        self.canvas.draw_idle()

    def _apply_colours(self, result: Result) -> None:
        """Show ``result`` coloured by the current colour option."""
        self._cmap_option = self._state.options.cmap
        name, lo, hi = colormap_for(self._cmap_option, result.vmin, result.vmax, result.both_signs)
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
            n = len(result.picture.channel_boxes)
            what += f" · {plural(n, 'channel')} <i>(click one to enlarge)</i>"
            if req.scale == "channel":
                what += " · each channel scaled to its largest |value|"
        if req.scale == "dataset":
            found = result.dataset_range
            what += (f" · colours over {found.source}" if found is not None
                     else " · colours over this sample until the dataset's range is known")
        return what + f" · sample {req.sample}"

    def _label(self, result: Result) -> bool:
        """Axis names for sequences and single channels; True when they changed."""
        pic, channel = result.picture, result.request.channel
        key = (pic.kind, pic.axes, pic.image.shape, channel, len(pic.channel_boxes))
        if key == self._labels_for:
            return False
        self._labels_for = key
        ink = text_colour(self)
        if channel is not None:
            names = ("y", "x")
        elif pic.kind == "matrix":
            names = pic.axes  # ("step", "feature"), ("channel", "x") ...
        else:
            names = None
        self._with_axes = names is not None
        if names is not None:
            self.axes.set_axis_on()
            self.axes.set_ylabel(names[0], color=ink)
            self.axes.set_xlabel(names[1], color=ink)
            self.axes.tick_params(colors=ink, labelcolor=ink, length=2)
            for axis in (self.axes.xaxis, self.axes.yaxis):
                axis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        else:
            self.axes.set_axis_off()
        return True

    def _number_tiles(self) -> None:
        """Put the channel numbers on the mosaic's tiles, where they are big enough to read."""
        result = self._result
        pic = result.picture if result is not None else None
        if (pic is None or pic.kind != "mosaic" or result.request.channel is not None
                or len(pic.channel_boxes) > MAX_TILE_LABELS or self._box is None):
            self.tile_numbers.set_places([])
            return
        h, w = self._shape
        if (self.axes.get_xlim(), self.axes.get_ylim()) != ((-0.5, w - 0.5), (h - 0.5, -0.5)):
            self.tile_numbers.set_places([])  # zoomed or panned
            return
        x0, y0, box_w, box_h = self._box
        zoom = box_w / w
        tile_h, tile_w = pic.tile
        if min(tile_h, tile_w) * zoom < MIN_LABELLED_TILE:
            self.tile_numbers.set_places([])
            return
        top_px = self.canvas.height() - (y0 + box_h)  # Qt counts from the top
        self.tile_numbers.set_places([(k, x0 + left * zoom, top_px + top * zoom)
                                      for k, (top, left, _h, _w)
                                      in enumerate(pic.channel_boxes.tolist())])

    def _layout(self) -> None:
        """Place the image for its aspect and the canvas size, the colour bar beside it."""
        if self._shape is None:
            return
        w_px, h_px = self.canvas.width(), self.canvas.height()
        if w_px < 80 or h_px < 80:
            return
        h, w = self._shape
        bar_w, pad = colour_bar.WIDTH, colour_bar.PAD
        left, bottom = (AXIS_LEFT, AXIS_BOTTOM) if self._with_axes else (0, 0)
        avail_w = w_px - 2 * MARGIN - BAR_GAP - bar_w - left
        avail_h = h_px - 2 * MARGIN - bottom
        zoom = max(min(avail_w / w, avail_h / h), 1e-3)
        box_w, box_h = w * zoom, h * zoom
        x0 = left + (w_px - left - (box_w + BAR_GAP + bar_w)) / 2
        y0 = bottom + (h_px - bottom - box_h) / 2  # from the bottom, as matplotlib counts
        self.axes.set_position((x0 / w_px, y0 / h_px, box_w / w_px, box_h / h_px))
        self._box = (x0, y0, box_w, box_h)
        bar_h = min(max(box_h, MIN_BAR_HEIGHT), avail_h)
        middle = h_px - y0 - box_h / 2  # the image's centre, from the top as Qt counts
        self.colorbar.setGeometry(round(x0 + box_w + BAR_GAP), round(middle - bar_h / 2) - pad,
                                  bar_w, round(bar_h) + 2 * pad)
        self._number_tiles()
        # Crisp pixels when enlarging; smoothing only when shrinking many units.
        ratio = self.canvas.device_pixel_ratio
        self.image.set_interpolation("nearest" if zoom * ratio >= 1 else "antialiased")

    def _on_painted(self) -> None:
        if self._unpainted is not None and self.showing_plot():
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
            self._leave()
            return
        self._pointer = (event.ydata, event.xdata)
        self.hover.setText(self.describe(event.ydata, event.xdata))
        self.fieldHovered.emit(self.field_at(event.ydata, event.xdata))

    def _leave(self) -> None:
        self._pointer = None
        self.hover.setText("")
        self.fieldHovered.emit(None)

    def field_at(self, row: float, col: float) -> Any:
        """The receptive field of the conv position under image pixel (row, col), or None."""
        result = self._result
        if result is None:
            return None
        req = result.request
        if req.channel is not None:
            position = (int(math.floor(row + 0.5)), int(math.floor(col + 0.5)))
        else:
            found = result.picture.locate(row, col)
            if found is None or "channel" not in found or "y" not in found:
                return None
            position = (found["y"], found["x"])
        # Here, not at import: the attribution package is not needed for the first paint.
        from viewer.analysis.attribution.receptive import receptive_field

        try:
            return receptive_field(req.net, req.layer, position)
        except StrataError:
            return None

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

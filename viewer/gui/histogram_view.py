"""The histogram: how the selected activation's values are distributed.

One filled step artist and one zero line, made once and updated in place.
Bins and log counts are display options; the statistics stay visible in the
window's side panel.
"""

from __future__ import annotations

import numpy as np
from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import QCheckBox, QSpinBox, QWidget

from viewer.app.compute import Result
from viewer.app.options import MAX_BINS, MIN_BINS, DisplayOptions
from viewer.gui.plot_panel import PlotPanel
from viewer.gui.plotting import text_colour
from viewer.gui.state import AppState

# Margins around the axes in pixels: room for tick labels and axis labels.
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 16, 48
LOG_FLOOR = 0.8  # where bars start on a log axis (a count of 1 stays visible)
BAR_COLOUR = "#3b75af"
ZERO_COLOUR = "#d62728"


class HistogramView(PlotPanel):
    """Histogram of the current result's values, with bins and log options.

    Attributes
    ----------
    bars : matplotlib.patches.StepPatch
        The histogram; ``bars.get_data()`` gives its heights and edges.
    zero_line : matplotlib.lines.Line2D

    Signals
    -------
    drawn(object)
        The canvas painted a result (the Result).
    """

    drawn = pyqtSignal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._result: Result | None = None
        self._unpainted: Result | None = None
        self._log: bool | None = None

        self.bins_box = QSpinBox()
        self.bins_box.setRange(MIN_BINS, MAX_BINS)
        self.bins_box.setKeyboardTracking(False)
        self.bins_box.setToolTip("Number of equal-width bins between the smallest and largest value")
        self.log_box = QCheckBox("Log counts")

        self.hover.setToolTip("How many values the histogram counts")
        self.axes = self.figure.add_axes((0.1, 0.1, 0.85, 0.85))
        ink = text_colour(self)
        self.axes.set_facecolor("white")
        for side in ("top", "right"):
            self.axes.spines[side].set_visible(False)
        self.axes.tick_params(colors=ink, labelcolor=ink)
        self.axes.set_xlabel("activation value", color=ink)
        self.axes.set_ylabel("count", color=ink)
        self.bars = self.axes.stairs(np.zeros(1), np.array([0.0, 1.0]), fill=True,
                                     color=BAR_COLOUR, alpha=0.9)
        self.zero_line = self.axes.axvline(0.0, color=ZERO_COLOUR, linewidth=1.2,
                                           linestyle="--", label="zero")

        self.add_controls("Bins", self.bins_box, self.log_box)

        self.show_options(state.options)
        self.bins_box.valueChanged.connect(lambda n: state.set_options(bins=n))
        self.log_box.toggled.connect(lambda on: state.set_options(log_counts=on))
        state.optionsChanged.connect(self.show_options)
        self.canvas.mpl_connect("resize_event", lambda _e: self._layout())
        self.canvas.painted.connect(self._on_painted)
        self._layout()
        self.show_message("Loading…")

    def show_message(self, text: str) -> None:
        """Show ``text`` instead of the plot."""
        self._result = None
        super().show_message(text)

    def show_options(self, opts: DisplayOptions) -> None:
        """Mirror the options in the widgets; redraw for a change of log counts."""
        self.bins_box.blockSignals(True)
        self.bins_box.setValue(opts.bins)
        self.bins_box.blockSignals(False)
        self.log_box.blockSignals(True)
        self.log_box.setChecked(opts.log_counts)
        self.log_box.blockSignals(False)
        if self._result is not None and opts.log_counts != self._log:
            self.show_result(self._result)

    def show_result(self, result: Result) -> None:
        """Draw ``result``'s histogram in place of the previous one."""
        if result.hist is None:  # counted on request, once this view is on show
            return
        self._result = result
        hist = result.hist
        req = result.request
        layer = req.net[req.layer]
        where = f" · channel {req.channel}" if req.channel is not None else ""
        self.set_title(f"<b>{layer.name}</b> · {layer.kind}{where} · sample {req.sample}")
        note = f"{hist.n_used:,} values"
        if hist.sampled:
            note = f"a random {hist.n_used:,} of {hist.size:,} values"
        if hist.n_ignored:
            note += f" · {hist.n_ignored:,} NaN/Inf left out"
        self.hover.setText(note)
        if hist.counts.size == 0:
            self.message.setText("No finite values to count.")
            self._pages.setCurrentWidget(self.message)
            return
        self.show_plot()
        self._unpainted = result
        log = self._state.options.log_counts
        counts = hist.counts.astype(np.float64)
        edges = hist.edges
        top = max(float(counts.max()), 1.0)
        if log != self._log:
            self._log = log
            self.axes.set_yscale("log" if log else "linear")
        if log:
            self.bars.set_data(np.maximum(counts, LOG_FLOOR), edges, baseline=LOG_FLOOR)
            self.axes.set_ylim(LOG_FLOOR, top * 1.6)
        else:
            self.bars.set_data(counts, edges, baseline=0.0)
            self.axes.set_ylim(0.0, top * 1.05)
        pad = (edges[-1] - edges[0]) * 0.02
        self.axes.set_xlim(edges[0] - pad, edges[-1] + pad)
        self.zero_line.set_visible(bool(edges[0] - pad <= 0.0 <= edges[-1] + pad))
        self.toolbar.reset_history()
        self.canvas.draw_idle()

    def current(self) -> Result | None:
        """The result on show, or None."""
        return self._result

    def _layout(self) -> None:
        w_px, h_px = self.figure.bbox.width, self.figure.bbox.height
        if w_px < 2 * (LEFT + RIGHT) or h_px < 2 * (TOP + BOTTOM):
            return
        r = self.canvas.device_pixel_ratio
        self.axes.set_position((LEFT * r / w_px, BOTTOM * r / h_px,
                                1 - (LEFT + RIGHT) * r / w_px, 1 - (TOP + BOTTOM) * r / h_px))

    def _on_painted(self) -> None:
        if self._unpainted is not None and self.showing_plot():
            result, self._unpainted = self._unpainted, None
            self.drawn.emit(result)

"""Drawing :class:`~viewer.app.bars.Bars`: in the window (made once, then updated) and in files.

The predicted class is drawn in the "right" green or the "wrong" red
(against the sample's label), the label's bar is outlined, the other bars
are the neutral blue; names are on the axis when they fit, and hovering
names the bar under the mouse either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backend_bases import MouseEvent
from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from viewer.app.bars import Bars, auto_bars, bars_of
from viewer.app.classes import BAD, GOOD
from viewer.gui.plotting import Canvas, new_figure, text_colour

NEUTRAL = "#4c78a8"
#: More bars than this get no tick label each (the hover still names them).
MAX_TICK_LABELS = 40


def bar_colours(bars: Bars) -> list[str]:
    """The colour of each bar: the prediction green or red, the others neutral."""
    colours = [NEUTRAL] * len(bars.values)
    if bars.predicted is not None:
        right = bars.truth is None or bars.truth == bars.predicted
        colours[bars.predicted] = GOOD if right else BAD
    return colours


def draw_bars(ax: Any, bars: Bars, colour: str = "black") -> Any:
    """Draw ``bars`` on matplotlib axes ``ax`` (cleared first); returns the BarContainer."""
    ax.clear()
    n = len(bars.values)
    x = np.arange(n)
    container = ax.bar(x, np.nan_to_num(bars.values, nan=0.0), color=bar_colours(bars),
                       width=0.8)
    if bars.truth is not None and 0 <= bars.truth < n:
        container[bars.truth].set_edgecolor(colour)
        container[bars.truth].set_linewidth(1.6)
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlim(-0.6, n - 0.4)
    if n <= MAX_TICK_LABELS:
        ax.set_xticks(x, bars.labels, rotation=0 if max(map(len, bars.labels)) <= 3 else 60,
                      ha="center" if max(map(len, bars.labels)) <= 3 else "right")
    ax.set_xlabel(bars.axis)
    ax.set_ylabel(bars.value_name)
    ax.tick_params(colors=colour)
    ax.xaxis.label.set_color(colour)
    ax.yaxis.label.set_color(colour)
    return container


def describe_bar(bars: Bars, k: int) -> str:
    """Hover text for bar ``k``."""
    what = f"{bars.axis.split(' ')[0]} {k}"
    if bars.labels[k] != str(k):
        what += f" ({bars.labels[k]})"
    notes = [n for n, on in (("predicted", k == bars.predicted), ("label", k == bars.truth)) if on]
    return f"{what} · {bars.value_name} {bars.values[k]:.4g}" + (f" · {', '.join(notes)}" if notes else "")


class BarChart(QWidget):
    """The bars of the current result, on one canvas.

    Attributes
    ----------
    bars : Bars or None
        What is on show.
    container : matplotlib BarContainer or None
        The bars drawn; a result of the same length and labels only updates them.

    Signals
    -------
    hovered(str)
        The text for the bar under the mouse ("" when none).
    """

    hovered = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bars: Bars | None = None
        self.container: Any = None
        self.figure = new_figure(self)
        self.canvas = Canvas(self.figure)
        self.axes = self.figure.add_axes((0.12, 0.2, 0.85, 0.76))
        self._colour = text_colour(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)

    def show_bars(self, bars: Bars) -> None:
        """Draw ``bars``, updating the drawn ones in place when only the values changed."""
        old, self.bars = self.bars, bars
        same = (old is not None and self.container is not None and old.labels == bars.labels
                and old.axis == bars.axis and old.truth == bars.truth)
        if same:
            for rect, value, colour in zip(self.container, bars.values, bar_colours(bars)):
                rect.set_height(0.0 if np.isnan(value) else value)
                rect.set_facecolor(colour)
            self.axes.relim()
            self.axes.autoscale_view(scalex=False)
        else:
            self.container = draw_bars(self.axes, bars, self._colour)
        self.canvas.draw_idle()

    def bar_at(self, x: float) -> int | None:
        """The bar at data x-coordinate ``x``, or None."""
        if self.bars is None:
            return None
        k = int(np.floor(x + 0.5))
        return k if 0 <= k < len(self.bars.values) else None

    def _on_motion(self, event: MouseEvent) -> None:
        k = self.bar_at(event.xdata) if event.inaxes is self.axes and event.xdata is not None else None
        self.hovered.emit("" if k is None else describe_bar(self.bars, k))


class BarsSwitch(QObject):
    """A view's "Bars" check box and bar chart: bars instead of the grid, per layer.

    Small vectors (:func:`~viewer.app.bars.auto_bars`) are drawn as bars
    unless the box is cleared for that layer; any other layer as bars when it
    is ticked. The choice is remembered per layer name while the window is open.

    Parameters
    ----------
    pages : QStackedLayout
        The view's stack of canvas and message; the chart becomes a page of it.
    hover : QLabel
        The view's hover text line.
    drawn : callable
        Called with the result once the chart has painted it.
    redraw : callable
        The view's own ``show_result``, called when the box is toggled.

    Attributes
    ----------
    box : QCheckBox
    chart : BarChart or None
        Made the first time bars are drawn.
    choice : dict of str to bool
        The user's choice per layer name.
    """

    def __init__(self, pages: Any, hover: Any, drawn: Any, redraw: Any) -> None:
        super().__init__()
        self.box = QCheckBox("Bars")
        self.box.setToolTip("Draw the layer as a bar chart, one bar per unit or channel "
                            "(class names on the axis for a classifier's output)")
        self.chart: BarChart | None = None
        self.choice: dict[str, bool] = {}
        self._pages, self._hover, self._drawn, self._redraw = pages, hover, drawn, redraw
        self._result: Any = None
        self._unpainted: Any = None
        self.box.toggled.connect(self._on_toggled)

    def wanted(self, result: Any) -> bool:
        """Whether ``result`` is drawn as bars."""
        req = result.request
        return self.choice.get(req.net[req.layer].name, auto_bars(result.activation.shape))

    def show(self, result: Any) -> bool:
        """Draw ``result`` as bars if wanted; True when it did."""
        self._result = result
        wanted = self.wanted(result)
        self.box.blockSignals(True)
        self.box.setChecked(wanted)
        self.box.blockSignals(False)
        if not wanted:
            return False
        if self.chart is None:
            self.chart = BarChart()
            self.chart.hovered.connect(self._hover.setText)
            self.chart.canvas.painted.connect(self._on_painted)
            self._pages.addWidget(self.chart)
        req = result.request
        self.chart.show_bars(bars_of(req.net, req.layer, result.activation, req.samples,
                                     req.sample))
        self._unpainted = result
        self._pages.setCurrentWidget(self.chart)
        return True

    def _on_toggled(self, on: bool) -> None:
        result = self._result
        if result is None:
            return
        req = result.request
        self.choice[req.net[req.layer].name] = on
        self._redraw(result)

    def _on_painted(self) -> None:
        if self._unpainted is not None and self._pages.currentWidget() is self.chart:
            result, self._unpainted = self._unpainted, None
            self._drawn(result)

"""The window's bar chart of :class:`~viewer.app.bars.Bars`: made once, then updated in place.

Drawn as :mod:`viewer.gui.bar_drawing` says (also used for picture files);
hovering names the bar under the mouse, which matters where there are too
many bars to label each.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backend_bases import MouseEvent
from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from viewer.app.bars import Bars, auto_bars, bars_of
from viewer.gui.bar_drawing import TRUTH_LINE, bar_colours, describe_bar, draw_bars
from viewer.gui.plotting import Canvas, new_figure, text_colour

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
                and old.axis == bars.axis and old.value_name == bars.value_name)
        if same:
            for k, (rect, value, colour) in enumerate(zip(self.container, bars.values,
                                                          bar_colours(bars))):
                rect.set_height(0.0 if np.isnan(value) else value)
                rect.set_facecolor(colour)
                rect.set_edgecolor(self._colour if k == bars.truth else "none")
                rect.set_linewidth(TRUTH_LINE if k == bars.truth else 0.0)
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
        self._hover.setText("")  # the pointer is over another picture now
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

"""The base of the plot views: a control bar, a title, the canvas (or a message), a hover line.

Heatmap, histogram, Compare and Weights are each a :class:`PlotPanel`; a
new plot view subclasses it, adds its controls with :meth:`add_controls` and
draws on ``figure``.
"""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from viewer.gui.plotting import Canvas, NavToolbar, canvas_or_message, new_figure


class PlotPanel(QWidget):
    """Controls, title, canvas or message, and the hover readout, for one plot view.

    Parameters
    ----------
    state : AppState
    parent : QWidget, optional
    toolbar : bool
        Give the canvas matplotlib's (trimmed) navigation toolbar.

    Attributes
    ----------
    figure : matplotlib.figure.Figure
    canvas : Canvas
    toolbar : NavToolbar or None
    title : QLabel
        Rich text above the plot (what is shown); its tooltip repeats it in full.
    hover : QLabel
        What is under the mouse pointer, below the plot at full width.
    message : QLabel
        Shown instead of the canvas by :meth:`show_message`.
    controls : QHBoxLayout
        The bar above the plot.
    heading : QHBoxLayout
        The title's line; widgets added after the title sit at its right end,
        and widen nothing (the title gives way).
    """

    def __init__(self, state: Any, parent: QWidget | None = None, *, toolbar: bool = True) -> None:
        super().__init__(parent)
        self._state = state
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

        self.figure = new_figure(self)
        self.canvas = Canvas(self.figure)
        self.toolbar = NavToolbar(self.canvas, self) if toolbar else None
        self._pages, self.message = canvas_or_message(self.canvas)

        self.controls = QHBoxLayout()
        self.controls.setSpacing(6)
        self._n_controls = 0
        if self.toolbar is not None:
            self.controls.addSpacing(6)
            self.controls.addWidget(self.toolbar)
        self.controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.setSpacing(4)
        layout.addLayout(self.controls)
        self.heading = QHBoxLayout()
        self.heading.addWidget(self.title, 1)
        layout.addLayout(self.heading)
        layout.addLayout(self._pages, 1)
        layout.addWidget(self.hover)

    def add_controls(self, *items: QWidget | str | int) -> None:
        """Append to the control bar, before the toolbar: widgets, label texts, or spacing (int)."""
        for item in items:
            if isinstance(item, int):
                self.controls.insertSpacing(self._n_controls, item)
            else:
                self.controls.insertWidget(self._n_controls,
                                           QLabel(item) if isinstance(item, str) else item)
            self._n_controls += 1

    def set_title(self, html: str) -> None:
        """Show ``html`` above the plot (and in full as the title's tooltip)."""
        self.title.setText(html)
        self.title.setToolTip(html)

    def show_message(self, text: str) -> None:
        """Show ``text`` instead of the plot; the title and hover line are cleared."""
        self.set_title("")
        self.hover.setText("")
        self.message.setText(text)
        self._pages.setCurrentWidget(self.message)

    def show_plot(self) -> None:
        """Show the canvas again (after a message)."""
        self._pages.setCurrentWidget(self.canvas)

    def showing_plot(self) -> bool:
        """True when the canvas, not a message, is on show."""
        return self._pages.currentWidget() is self.canvas

"""The heatmap's colour bar, painted by Qt next to the image.

A matplotlib colour bar re-renders its tick labels on every change of colour
limits, which is most of the cost of redrawing a heatmap when stepping
through samples. This widget paints the same thing (the colour table as a
gradient, ticks chosen by matplotlib's MaxNLocator, their labels) in well
under a millisecond.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import MaxNLocator
from PyQt5.QtCore import QPointF, QRectF, QSize, Qt
from PyQt5.QtGui import QImage, QPainter, QPaintEvent, QPalette, QPen
from PyQt5.QtWidgets import QWidget

BAR_WIDTH = 16
TICK = 4
WIDTH = 84  # bar, ticks and labels like "-0.125"
PAD = 8  # room above and below the bar for the end labels


def tick_texts(values: np.ndarray) -> list[str]:
    """Labels for evenly spaced tick values, with as many decimals as the step needs."""
    if len(values) == 0:
        return []
    step = float(values[1] - values[0]) if len(values) > 1 else abs(float(values[0])) or 1.0
    biggest = float(np.max(np.abs(values)))
    if biggest >= 1e5 or step < 1e-4:
        return [f"{v:.3g}" for v in values]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    if decimals and not np.allclose(values, np.round(values, decimals)):
        decimals += 1  # steps like 0.25
    return [f"{v:.{decimals}f}" if abs(v) > step * 1e-6 else f"{0:.{decimals}f}" for v in values]


class ColourBar(QWidget):
    """A vertical colour bar: gradient, outline, ticks and labels.

    The bar runs from ``PAD`` below the widget's top to ``PAD`` above its
    bottom, so labels at the ends are not cut off.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._gradient: QImage | None = None
        self._table: np.ndarray | None = None
        self._lo, self._hi = 0.0, 1.0
        self._ticks: list[tuple[float, str]] = []
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.resize(WIDTH, 200)

    def sizeHint(self) -> QSize:
        return QSize(WIDTH, 200)

    @property
    def limits(self) -> tuple[float, float]:
        """The colour limits shown (low, high)."""
        return self._lo, self._hi

    @property
    def table(self) -> np.ndarray | None:
        """The colour table shown ((N, 4) uint8 RGBA), None before the first."""
        return self._table

    def ticks(self) -> list[tuple[float, str]]:
        """The ticks shown: (value, label), low to high."""
        return list(self._ticks)

    def set_scale(self, table: np.ndarray, lo: float, hi: float) -> None:
        """Show colour table ``table`` ((N, 4) uint8 RGBA) for values ``lo`` to ``hi``."""
        if table is not self._table:
            self._table = table
            column = np.ascontiguousarray(table[::-1].reshape(len(table), 1, 4))
            self._gradient = QImage(column.data, 1, len(table), 4, QImage.Format_RGBA8888).copy()
        self._lo, self._hi = float(lo), float(hi)
        values = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        span = hi - lo
        values = values[(values >= lo - 1e-9 * span) & (values <= hi + 1e-9 * span)]
        self._ticks = list(zip(values.tolist(), tick_texts(values)))
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._gradient is None:
            return
        painter = QPainter(self)
        bar = QRectF(0.5, PAD + 0.5, BAR_WIDTH, self.height() - 2 * PAD - 1.0)
        painter.setRenderHint(QPainter.SmoothPixmapTransform, True)
        painter.drawImage(bar, self._gradient)
        ink = self.palette().color(QPalette.WindowText)
        painter.setPen(QPen(ink, 1))
        painter.drawRect(bar)
        metrics = painter.fontMetrics()
        half = metrics.ascent() / 2 - 1
        span = self._hi - self._lo
        for value, text in self._ticks:
            y = bar.bottom() - (value - self._lo) / span * bar.height()
            painter.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + TICK, y))
            painter.drawText(QPointF(bar.right() + TICK + 3, y + half), text)
        painter.end()

"""Channel numbers on the heatmap's mosaic tiles, painted by Qt over the canvas.

Matplotlib text artists (with their backgrounds) are redrawn on every step
through samples and cost more than the heatmap itself; Qt paints the same
numbers in a fraction of a millisecond, and only when the layout changes.
"""

from __future__ import annotations

from PyQt5.QtCore import QRectF, Qt
from PyQt5.QtGui import QColor, QFont, QPainter, QPaintEvent
from PyQt5.QtWidgets import QWidget

BACKGROUND = QColor(0, 0, 0, 115)


class TileNumbers(QWidget):
    """A transparent overlay that writes each tile's channel number in its top-left corner.

    Attributes
    ----------
    places : list of (int, float, float)
        Channel, and the x, y (Qt pixels of the canvas) of its tile's top-left corner.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.places: list[tuple[int, float, float]] = []
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WA_NoSystemBackground)
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(6.0, self._font.pointSizeF() * 0.7))

    def set_places(self, places: list[tuple[int, float, float]]) -> None:
        """Number the tiles at ``places`` (an empty list hides the numbers)."""
        self.places = places
        parent = self.parentWidget()
        self.setGeometry(0, 0, parent.width(), parent.height())
        self.setVisible(bool(places))
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setFont(self._font)
        metrics = painter.fontMetrics()
        height = metrics.height()
        painter.setPen(Qt.white)
        for channel, x, y in self.places:
            text = str(channel)
            box = QRectF(x, y, metrics.horizontalAdvance(text) + 4, height)
            painter.fillRect(box, BACKGROUND)
            painter.drawText(box, Qt.AlignCenter, text)
        painter.end()

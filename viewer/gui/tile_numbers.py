"""Channel numbers on the heatmap's mosaic tiles, painted by Qt over the canvas.

Matplotlib text artists (with their backgrounds) are redrawn on every step
through samples and cost more than the heatmap itself; Qt paints the same
numbers in a fraction of a millisecond, and only when the layout changes.
"""

from __future__ import annotations

from PyQt5.QtCore import QRectF, Qt
from PyQt5.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent
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
        self._picture: QImage | None = None
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WA_NoSystemBackground)
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(6.0, self._font.pointSizeF() * 0.7))

    def set_places(self, places: list[tuple[int, float, float]]) -> None:
        """Number the tiles at ``places`` (an empty list hides the numbers)."""
        parent = self.parentWidget()
        if places == self.places and self.size() == parent.size():
            return  # the same numbers: the cached picture stays
        self.places = places
        self.setGeometry(0, 0, parent.width(), parent.height())
        self.setVisible(bool(places))
        self._picture = None
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        # Painted with every repaint of the canvas below: the numbers are drawn into a
        # picture once per layout (64 tiles' text cost ~10 ms a paint), then copied.
        if self._picture is None or self._picture.size() != self.size() * self.devicePixelRatioF():
            self._picture = self._render()
        painter = QPainter(self)  # clipped to the region being repainted
        painter.drawImage(0, 0, self._picture)
        painter.end()

    def _render(self) -> QImage:
        ratio = self.devicePixelRatioF()
        image = QImage(self.size() * ratio, QImage.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(ratio)
        image.fill(Qt.transparent)
        painter = QPainter(image)
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
        return image

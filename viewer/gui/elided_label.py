"""A one-line label that shortens its text with "…" instead of being cut, and shows it whole on hover."""

from __future__ import annotations

from PyQt5.QtCore import QEvent, Qt
from PyQt5.QtGui import QPainter, QPaintEvent
from PyQt5.QtWidgets import QLabel, QSizePolicy, QToolTip, QWidget


class ElidedLabel(QLabel):
    """A plain-text, one-line :class:`QLabel` that ends in "…" where its text is wider than it.

    For summaries that share a row with controls: the label takes the room
    left and never asks for more. Hovering an elided label shows the whole
    text (above the label's own tooltip, if it has one).
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setTextFormat(Qt.PlainText)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setMinimumWidth(1)

    def shown_text(self) -> str:
        """The text as painted: whole, or cut to the label's width and ended with "…"."""
        return self.fontMetrics().elidedText(self.text(), Qt.ElideRight, self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()),
                                  self.palette(), self.isEnabled(), self.shown_text(),
                                  self.foregroundRole())

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.ToolTip and self.shown_text() != self.text():
            whole = "\n".join(t for t in (self.text(), self.toolTip()) if t)
            QToolTip.showText(event.globalPos(), whole, self)
            return True
        return super().event(event)

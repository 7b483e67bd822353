"""The message strip above the plots: errors and warnings, in the window.

Each message has a kind ("open", "compute", "export"), so that a later
success of the same kind can take it away while other messages stay.
"""

from __future__ import annotations

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QWidget


class Banner(QFrame):
    """A closable one-message strip, red for errors and amber for warnings.

    Attributes
    ----------
    text : QLabel
        The message on show (empty when hidden).
    kind : str or None
        The kind of the message on show.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.kind: str | None = None
        self.icon = QLabel()
        self.icon.setObjectName("bannerIcon")
        self.text = QLabel("")
        self.text.setObjectName("bannerText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.icon, 0, Qt.AlignTop)
        layout.addWidget(self.text, 1)
        layout.addWidget(close, 0, Qt.AlignTop)
        self.hide()

    def show_message(self, message: str, kind: str, warning: bool = False) -> None:
        """Show ``message`` (replacing any other)."""
        self.kind = kind
        self.setProperty("level", "warning" if warning else "error")
        icon = QStyle.SP_MessageBoxWarning if warning else QStyle.SP_MessageBoxCritical
        self.icon.setPixmap(self.style().standardIcon(icon).pixmap(18, 18))
        self.text.setText(message)
        # Re-polish so the style sheet sees the new "level" property.
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()

    def hide_kind(self, kind: str) -> None:
        """Hide the message if it is of ``kind``."""
        if self.kind == kind:
            self.dismiss()

    def dismiss(self) -> None:
        """Hide the message."""
        self.kind = None
        self.text.setText("")
        self.hide()

"""The window's status bar: file messages, where the selection is, a busy indicator.

File messages name the file, not its folder (a long path would push the rest
off a 1280-pixel window); the full path is in the status bar's tooltip while
the message shows.
"""

from __future__ import annotations

import os
from typing import Any

from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

BUSY_DELAY_MS = 200  # show the busy indicator only for work that is noticeably slow


class StatusLine:
    """The permanent widgets of ``bar`` and what they show for ``state``.

    Attributes
    ----------
    busy : QProgressBar
        An indefinite bar while the state computes for longer than BUSY_DELAY_MS.
    where : QLabel
        Net, layer and sample of the selection.
    """

    def __init__(self, bar: QStatusBar, state: Any) -> None:
        self.bar = bar
        self.state = state
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setMaximumHeight(14)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.where = QLabel("")
        bar.addPermanentWidget(self.busy)
        bar.addPermanentWidget(self.where)
        # The tooltip names the file of the message on show, and goes with it.
        bar.messageChanged.connect(lambda text: text or bar.setToolTip(""))
        self._busy_timer = QTimer(bar)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(BUSY_DELAY_MS)
        self._busy_timer.timeout.connect(lambda: self.busy.setVisible(self.state.busy))
        state.busyChanged.connect(self._on_busy)
        for signal in (state.samplesChanged, state.layerChanged, state.sampleChanged):
            signal.connect(lambda _v: self.update_where())

    def add_toggle(self, action: Any, text: str, name: str) -> QToolButton:
        """A flat button for ``action`` at the right end, labelled ``text``."""
        button = QToolButton()
        button.setObjectName(name)
        button.setAutoRaise(True)
        action.setIconText(text)
        button.setDefaultAction(action)
        self.bar.addPermanentWidget(button)
        return button

    def show_file_message(self, verb: str, path: str, timeout_ms: int = 5000) -> None:
        """"<verb> <file name>" for ``timeout_ms`` (0: until the next), the path in the tooltip."""
        self.bar.showMessage(f"{verb} {os.path.basename(path) or path}", timeout_ms)
        self.bar.setToolTip(path)

    def show_message(self, text: str, timeout_ms: int = 5000) -> None:
        """A message that names no file."""
        self.bar.showMessage(text, timeout_ms)
        self.bar.setToolTip("")

    def update_where(self) -> None:
        """Net, layer and sample of the selection (nothing without a net)."""
        s = self.state
        if s.net is None:
            self.where.setText("")
            return
        text = f"{s.net.name} · layer {s.layer}: {s.net[s.layer].name}"
        if s.samples is not None:
            text += f" · sample {s.sample} in 0–{len(s.samples) - 1:,}"
        self.where.setText(text)

    def _on_busy(self, busy: bool) -> None:
        if busy:
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self.busy.hide()

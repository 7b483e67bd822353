"""The Preprocessing control beside "Open samples…": what turns sample values into net input.

A line in the Sample panel says which preprocessing is in force, why (the
tooltip has Strata's reason), and the values' range before and after it;
the "Preprocessing…" button opens the editor (:mod:`viewer.gui.preprocess_dialog`,
loaded on first use). Each (net, samples) pair's choice is remembered with the
recent files (:mod:`viewer.app.pairs`), and said on stderr like every message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from viewer.app.messages import warn
from viewer.app.pairs import PairMemory
from viewer.gui import settings as cfg
from viewer.gui.state import AppState

if TYPE_CHECKING:
    from viewer.gui.preprocess_dialog import PreprocessDialog

#: How the preprocessing in force was chosen, in words (Choice.how -> text).
HOW = {"given": "chosen", "stored": "stored with the net", "file": "stated by the file",
       "proposed": "proposed"}


class PreprocessRow(QWidget):
    """The Sample panel's preprocessing line and its "Preprocessing…" button.

    Attributes
    ----------
    summary : QLabel
        ``"x / 255 (proposed) · 0..255 → 0..1"``; the tooltip says why.
    button : QPushButton
        Opens the :class:`PreprocessDialog`; at the line's right end, under "Open samples…".
    dialog : PreprocessDialog or None
        The editor, once opened.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.dialog: PreprocessDialog | None = None
        self.summary = QLabel("")
        self.summary.setObjectName("preprocessSummary")
        self.summary.setWordWrap(True)
        self.summary.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.button = QPushButton("Preprocessing…")
        self.button.setToolTip("How sample values become net input: scale, mean, std, "
                               "channel order, resize")
        self.button.clicked.connect(self.edit)
        layout = QHBoxLayout(self)  # the summary gives way: the panel keeps its width
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary, 1)
        layout.addWidget(self.button, 0, Qt.AlignTop)
        settings = cfg.open_settings()
        state.memory = PairMemory.from_json(settings.value(cfg.PAIRS_KEY, ""))
        state.choiceChanged.connect(self.show_choice)
        self.show_choice(state.choice)

    def show_choice(self, choice: Any) -> None:
        """Show ``choice`` (None: no samples), remember it for the pair, say it on stderr."""
        self.button.setEnabled(choice is not None)
        if choice is None:
            self.summary.setText("")
            self.summary.setToolTip("")
            self.hide()
            return
        self.show()
        text = (f"Preprocessing <b>{choice.preprocess.describe()}</b> ({HOW[choice.how]}) · "
                f"values {choice.raw} → {choice.net_input}")
        if choice.warnings:
            text = "⚠ " + text
        self.summary.setText(text)
        self.summary.setToolTip("\n".join((choice.reason, choice.ranges) + choice.warnings))
        self.summary.setStyleSheet("color: #8a5a00;" if choice.warnings else "")
        if choice.how == "proposed":
            warn(choice.reason)
        for warning in choice.warnings:
            warn(f"warning: {warning}")
        self._remember(choice)
        if self.dialog is not None:
            self.dialog.show_choice(choice)

    def _remember(self, choice: Any) -> None:
        state = self._state
        if not state.net_path:
            return
        spec = choice.preprocess.to_dict() if choice.how == "given" else None
        state.memory = state.memory.remember(state.net_path, state.samples_path, spec)
        settings = cfg.open_settings()
        settings.setValue(cfg.PAIRS_KEY, state.memory.to_json())

    def edit(self) -> None:
        """Open the editor (one per window)."""
        if self.dialog is None:
            from viewer.gui.preprocess_dialog import PreprocessDialog
            self.dialog = PreprocessDialog(self._state, self.window())
        self.dialog.show_choice(self._state.choice)
        self.dialog.show()
        self.dialog.raise_()

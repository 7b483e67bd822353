"""Help dialogs: the keyboard shortcuts and About Strata."""

from __future__ import annotations

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QLabel, QMessageBox,
                             QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

import viewer

SHORTCUTS = (
    ("Right / Left", "Next / previous sample"),
    ("Page Down / Page Up", "Ten samples forward / back"),
    ("Home / End", "First / last sample"),
    ("Down / Up", "Next / previous layer"),
    ("Ctrl+1 / Ctrl+2", "Heatmap / histogram"),
    ("Click a channel", "Show that channel large"),
    ("Escape", "Back to all channels"),
    ("Ctrl+O", "Open a net or samples file"),
    ("Ctrl+Shift+O", "Open samples for this net"),
    ("Ctrl+E", "Export the picture (PNG, SVG, PDF)"),
    ("Ctrl+Shift+E", "Export the activation (.npy, .csv)"),
    ("Ctrl+Shift+C", "Copy the picture to the clipboard"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit"),
)

ABOUT = """<h2>Strata {version}</h2>
<p>A desktop viewer for neural nets converted to plain numpy. Open a net, pick a layer
and an input sample, and see what the layer computes: as a heatmap of its units or
channels, as a histogram, and as statistics.</p>
<p>Each layer is a small numpy object that knows the layer before it, so
<code>net[i](X)</code> is layer <i>i</i>'s output for the input batch <i>X</i>: no
training framework is needed to look inside a trained net.</p>
<p><b>The net file</b> is HDF5, format <code>strata-net</code> version 1: the layers in
order, each with its kind, a JSON config, the names of the layers it reads and one
dataset per parameter array, and optionally the samples to look at (<code>/samples</code>:
X, labels, label names, layout and preprocessing). It holds no code and no pickles;
Strata opens every file read-only and never writes to it.</p>
<p>Samples can also come from HDF5, .npy and .npz files, PNG/JPEG images and folders of
images. Drop a file on the window to open it.</p>"""


def about_html() -> str:
    """The About text as HTML."""
    return ABOUT.format(version=viewer.__version__)


def show_about(parent: QWidget) -> None:
    """Show About Strata."""
    QMessageBox.about(parent, "About Strata", about_html())


class ShortcutsDialog(QDialog):
    """A table of the keyboard shortcuts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        from viewer.gui.explore.attach import EXPLORE_SHORTCUTS

        # The explore views' keys sit before the general F1 / Ctrl+Q rows.
        shortcuts = SHORTCUTS[:-2] + EXPLORE_SHORTCUTS + SHORTCUTS[-2:]
        table = QTableWidget(len(shortcuts), 2)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.NoEditTriggers)
        table.setSelectionMode(QTableWidget.NoSelection)
        table.setFocusPolicy(Qt.NoFocus)
        table.setAlternatingRowColors(True)
        for row, (keys, action) in enumerate(shortcuts):
            table.setItem(row, 0, QTableWidgetItem(keys))
            table.setItem(row, 1, QTableWidgetItem(action))
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        table.resizeRowsToContents()
        table.setMinimumHeight(table.verticalHeader().length() + table.horizontalHeader().height()
                               + 2 * table.frameWidth())
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        note = QLabel("The keys work wherever the focus is in the window; only while typing "
                      "in a number box do Left and Right move the text cursor.")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(540, self.sizeHint().height())

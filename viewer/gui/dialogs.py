"""Help dialogs: the keyboard shortcuts and About Strata."""

from __future__ import annotations

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QLabel, QMessageBox,
                             QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

import viewer

#: What the mouse does; the keys come from the window's actions.
MOUSE_HINTS = (
    ("Click a channel", "Show that channel large (Escape: back to all channels)"),
    ("Hover", "Channel, position and value under the pointer"),
    ("Drop a file", "Open a net, a model or samples"),
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
    """A table of the keyboard shortcuts: ``rows`` (keys, action), then :data:`MOUSE_HINTS`."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        shortcuts = list(rows) + list(MOUSE_HINTS)
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
        self.table = table
        # Wide enough for the longest action without eliding it.
        width = (header.sectionSize(0) + table.fontMetrics().horizontalAdvance(
            max((a for _k, a in shortcuts), key=len)) + 60)
        self.resize(max(540, width), self.sizeHint().height())

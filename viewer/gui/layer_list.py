"""The left panel's net header and layer table.

Shows the net's name and source, one row per layer (index, name, kind, output
shape, parameter count) and the totals. Selecting a row selects the layer in
the state object; the state's selection is mirrored back without loops.
"""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QPaintEvent, QResizeEvent
from PyQt5.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QTreeWidget,
                             QTreeWidgetItem, QVBoxLayout, QWidget)

from viewer.gui.state import AppState

COLUMNS = ("#", "Layer", "Kind", "Output", "Params")
NAME_COLUMN = 1
MIN_NAME_WIDTH = 60  # the layer names give way down to this, the other columns stay whole


def shape_text(shape: Any) -> str:
    """A per-sample shape as ``16×8×8``; "?" for unknown sizes."""
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "scalar"
    return "×".join("?" if s is None else str(s) for s in shape)


class _Table(QTreeWidget):
    """The table, telling when it has painted rows (start-up benchmark)."""

    painted = pyqtSignal()
    resized = pyqtSignal()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.topLevelItemCount():
            self.painted.emit()


class LayerList(QWidget):
    """Net header, layer table and totals.

    Attributes
    ----------
    tree : QTreeWidget
        The table; its ``painted`` signal fires after painting rows.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.title = QLabel("Loading…")
        self.title.setObjectName("netTitle")
        self.title.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.source = QLabel("")
        self.source.setObjectName("netSource")
        self.source.setWordWrap(True)
        self.source.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.tree = _Table()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SingleSelection)
        self.tree.setAllColumnsShowFocus(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        # Long (path-like) names give way to the kind, shape and parameter columns.
        header.setSectionResizeMode(NAME_COLUMN, QHeaderView.Fixed)
        self.tree.resized.connect(self._fit_columns)
        header.setDefaultAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        self.totals = QLabel("")
        self.totals.setObjectName("netTotals")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.source)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.totals)

        self.tree.currentItemChanged.connect(self._on_current)
        state.netChanged.connect(self.show_net)
        state.layerChanged.connect(self.select)

    def show_net(self, net: Any) -> None:
        """Fill the header, the table and the totals from ``net``."""
        self.title.setText(net.name)
        self.source.setText(net.source or (net.path or ""))
        self.source.setToolTip(net.path or "")
        self.source.setVisible(bool(self.source.text()))
        self.tree.blockSignals(True)
        self.tree.clear()
        items = []
        for row in net.summary():
            item = QTreeWidgetItem([str(row.index), row.name, row.kind,
                                    shape_text(row.output_shape), f"{row.n_params:,}"])
            item.setTextAlignment(0, Qt.AlignRight | Qt.AlignVCenter)
            item.setTextAlignment(4, Qt.AlignRight | Qt.AlignVCenter)
            tip = row.name
            if row.inputs and len(row.inputs) > 1:
                tip += "\ninputs: " + ", ".join(row.inputs)
            item.setToolTip(1, tip)
            if row.quantization:  # the values shown are real: scale * (q - zero point)
                item.setText(2, f"{row.kind} · {row.quantization.split(',')[0]}")
                item.setToolTip(2, f"quantized output: {row.quantization}; shown as real values")
            items.append(item)
        self.tree.addTopLevelItems(items)
        self.tree.blockSignals(False)
        # "batch_n…lization_3" keeps both ends; of a path-like name the end says most.
        paths = any("/" in layer.name for layer in net)
        self.tree.setTextElideMode(Qt.ElideLeft if paths else Qt.ElideMiddle)
        self._fit_columns()
        self.select(self._state.layer)
        n_params = sum(layer.n_params for layer in net)
        self.totals.setText(f"{len(net)} layers · {n_params:,} parameters")

    def wanted_width(self) -> int:
        """Pixels the table needs to show every column in full (no elided names)."""
        tree = self.tree
        columns = sum(self._content_width(c) for c in range(tree.columnCount()))
        bar = tree.verticalScrollBar().sizeHint().width()
        return columns + 2 * tree.frameWidth() + bar + 4

    def _content_width(self, column: int) -> int:
        return max(self.tree.sizeHintForColumn(column),
                   self.tree.header().sectionSizeHint(column))

    def _fit_columns(self) -> None:
        """The names as wide as they are, or as the table leaves them (elided, in the
        tooltip in full); every other column whole."""
        tree = self.tree
        others = sum(tree.columnWidth(c) for c in range(tree.columnCount()) if c != NAME_COLUMN)
        room = tree.viewport().width() - others
        tree.setColumnWidth(NAME_COLUMN, max(min(self._content_width(NAME_COLUMN), room),
                                             MIN_NAME_WIDTH))

    def select(self, index: int) -> None:
        """Highlight row ``index`` without telling the state again."""
        item = self.tree.topLevelItem(index)
        if item is None or self.tree.currentItem() is item:
            return
        self.tree.blockSignals(True)
        self.tree.setCurrentItem(item)
        self.tree.blockSignals(False)
        self.tree.scrollToItem(item)

    def _on_current(self, item: QTreeWidgetItem | None, _previous: Any) -> None:
        if item is not None:
            self._state.set_layer(self.tree.indexOfTopLevelItem(item))

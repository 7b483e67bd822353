"""Per-unit statistics of a sweep: a sortable table, and a picture laid out like the heatmap.

The table lists each unit (or conv channel) with its mean, standard
deviation, the fraction of samples it is active on, and whether it is dead
(never active). Sorting uses the numbers, not their text. The picture puts
one statistic where the heatmap puts the unit (a conv channel fills its
whole mosaic tile), marks dead units with a cross and the selected unit
with a frame; clicking a unit selects it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backend_bases import MouseEvent
from matplotlib.patches import Rectangle
from PyQt5.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                             QSizePolicy, QStyle, QTableView, QVBoxLayout, QWidget)

from viewer.analysis import Picture, to_picture
from viewer.app.classes import BAD
from viewer.app.compute import MOSAIC_ASPECT
from viewer.gui.explore.sweep_worker import SweepController
from viewer.gui.plotting import Canvas, new_figure, text_colour, window_colour

COLUMNS = ("Unit", "Mean", "Std", "Active %", "Dead")
SortRole = Qt.UserRole + 1
METRICS = (("mean", "Mean"), ("std", "Std"), ("frac_active", "Active fraction"))


class UnitTableModel(QAbstractTableModel):
    """The rows of a :class:`~viewer.analysis.sweep.SweepResult`'s units."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.result: Any = None

    def set_result(self, result: Any) -> None:
        """Show ``result`` (None: an empty table)."""
        self.beginResetModel()
        self.result = result
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() or self.result is None else self.result.n_units

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.DisplayRole) -> Any:
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            if section == 4 and self.result is not None and not self.result.rectified:
                return "Never active"  # not ReLU-like: below the threshold is not "dead"
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        r = self.result
        if r is None or not index.isValid():
            return None
        u, col = index.row(), index.column()
        if role == SortRole:
            return (u, float(r.mean[u]), float(r.std[u]), float(r.frac_active[u]),
                    int(r.never_active[u]))[col]
        if role == Qt.DisplayRole:
            if col == 0:
                return str(u)
            if col == 4:
                return r.inactive_name if r.never_active[u] else ""
            value = (r.mean[u], r.std[u], 100 * r.frac_active[u])[col - 1]
            return f"{value:.1f}" if col == 3 else f"{value:.4g}"
        if role == Qt.TextAlignmentRole:
            return int(Qt.AlignRight | Qt.AlignVCenter) if col < 4 else int(Qt.AlignCenter)
        if role == Qt.ForegroundRole and r.dead[u]:
            return QColor(BAD)
        return None


class UnitTable(QTableView):
    """The sortable table; selecting a row selects that unit in the controller."""

    def __init__(self, sweeps: SweepController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sweeps = sweeps
        self.units = UnitTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.units)
        self.proxy.setSortRole(SortRole)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setFocusPolicy(Qt.ClickFocus)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(20)
        header = self.horizontalHeader()
        # Columns as wide as their numbers and names (set in _fit_columns: Qt's own sizing
        # keeps room for a sort arrow in every column); the last takes what is left.
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)
        header.setHighlightSections(False)
        header.sortIndicatorChanged.connect(lambda *_a: self._fit_columns())
        self.selectionModel().currentRowChanged.connect(self._on_row)
        sweeps.resultChanged.connect(self._on_result)
        sweeps.unitChanged.connect(self.show_unit)
        self._on_result(sweeps.result)

    def _on_result(self, result: Any) -> None:
        self.units.set_result(result)
        self._fit_columns()
        QTimer.singleShot(0, self._fit_columns)  # again once rows are laid out
        self.show_unit(self.sweeps.unit)

    def column_width(self, column: int) -> int:
        """Pixels that show ``column``'s numbers and title in full (its sort arrow too)."""
        style, header = self.style(), self.horizontalHeader()
        margin = style.pixelMetric(QStyle.PM_HeaderMargin, None, header)
        title = str(self.units.headerData(column, Qt.Horizontal))
        width = header.fontMetrics().horizontalAdvance(title) + 2 * margin + 4
        if header.sortIndicatorSection() == column:
            width += style.pixelMetric(QStyle.PM_HeaderMarkSize, None, header) + margin
        return max(width, self.sizeHintForColumn(column))

    def wanted_width(self) -> int:
        """The width that shows every column in full."""
        columns = sum(self.column_width(c) for c in range(self.units.columnCount()))
        return columns + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        for column in range(self.units.columnCount() - 1):
            self.setColumnWidth(column, self.column_width(column))
        self.setMinimumWidth(self.wanted_width())

    def _on_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            unit = self.proxy.mapToSource(current).row()
            self.sweeps.set_unit(unit)
            if self.units.result is not None:
                self.sweeps.state.choose_unit(self.units.result.layer, unit)

    def show_unit(self, unit: int) -> None:
        """Select ``unit``'s row (wherever sorting put it) and scroll to it."""
        if self.units.result is None or not 0 <= unit < self.units.rowCount():
            return
        index = self.proxy.mapFromSource(self.units.index(unit, 0))
        if self.currentIndex().row() != index.row():
            self.selectionModel().blockSignals(True)
            self.setCurrentIndex(index)
            self.selectionModel().blockSignals(False)
            self.viewport().update()
        self.scrollTo(index)

    def column_values(self, column: int) -> list[str]:
        """The shown text of ``column``, top to bottom (for tests and export)."""
        return [self.proxy.index(r, column).data() for r in range(self.proxy.rowCount())]


def unit_picture(result: Any, values: np.ndarray) -> Picture:
    """Per-unit ``values`` (U,) placed where the heatmap shows each unit of ``result``'s layer.

    A conv channel's value fills its whole mosaic tile, so the picture has
    the heatmap's arrangement; a sequence's features become one row.
    """
    shape = result.shape
    if result.unit_axis is None:
        return to_picture(values.reshape(shape), layout="vector")
    if len(shape) == 3:
        if result.unit_axis == 0:
            full = np.broadcast_to(values[:, None, None], shape)
        else:
            full = np.broadcast_to(values[None, None, :], shape)
        return to_picture(full, layout=result.layout, aspect=MOSAIC_ASPECT)
    return to_picture(values[None, :], layout="sequence")


def unit_at(picture: Picture, row: float, col: float) -> int | None:
    """The unit a :func:`unit_picture` shows at pixel (row, col), or None."""
    if picture.kind == "mosaic":
        return picture.channel_at(row, col)
    found = picture.locate(row, col)
    if found is None:
        return None
    return int(found["unit"] if "unit" in found else found[picture.axes[1]])


def unit_centres(picture: Picture, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image (x, y) of the centre of each unit in ``units``, to mark them."""
    units = np.asarray(units, dtype=np.int64)
    if picture.kind == "mosaic":
        boxes = picture.channel_boxes[units]
        return boxes[:, 1] + (boxes[:, 3] - 1) / 2, boxes[:, 0] + (boxes[:, 2] - 1) / 2
    if picture.kind == "grid":
        cols = picture.grid[1]
        return (units % cols).astype(float), (units // cols).astype(float)
    return units.astype(float), np.zeros(len(units))


class UnitPicture(QWidget):
    """One per-unit statistic laid out like the heatmap; dead units crossed out.

    Attributes
    ----------
    picture : Picture or None
    image : AxesImage
    dead_marks : Line2D
        A cross on each dead unit.
    frame : Rectangle
        Around the selected unit.
    """

    def __init__(self, sweeps: SweepController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sweeps = sweeps
        self.picture: Picture | None = None
        self.metric_box = QComboBox()
        for key, text in METRICS:
            self.metric_box.addItem(text, key)
        self.metric_box.setToolTip("The statistic the picture shows per unit")
        # Narrow ("Active fr…" elides): beside the units table it sets the panel's width.
        self.metric_box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.metric_box.setMinimumContentsLength(6)
        self.hover = QLabel("")
        self.hover.setObjectName("hoverText")
        self.hover.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.figure = new_figure(self)
        self.canvas = Canvas(self.figure)
        # Short enough that a row of top samples fits below it in a 1280x800 window.
        self.canvas.setMinimumSize(160, 44)
        self.axes = self.figure.add_axes((0.02, 0.02, 0.8, 0.96))
        self.axes.set_axis_off()
        import matplotlib

        cmap = matplotlib.colormaps["viridis"].with_extremes(bad=window_colour(self))
        self.image = self.axes.imshow(np.full((1, 1), np.nan), cmap=cmap, origin="upper",
                                      interpolation="nearest")
        self.colorbar = self.figure.colorbar(
            self.image, cax=self.figure.add_axes((0.86, 0.08, 0.035, 0.84)))
        self.colorbar.ax.tick_params(labelsize=7, colors=text_colour(self))
        self.colorbar.outline.set_linewidth(0.5)
        (self.dead_marks,) = self.axes.plot([], [], linestyle="none", marker="x",
                                            color=BAD, markersize=7, markeredgewidth=1.6)
        self.frame = Rectangle((0, 0), 1, 1, fill=False, edgecolor=text_colour(self),
                               linewidth=1.8, visible=False)
        self.axes.add_patch(self.frame)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Picture of"))
        bar.addWidget(self.metric_box)
        bar.addWidget(self.hover, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)
        self.metric_box.currentIndexChanged.connect(lambda _i: self.show_result(sweeps.result))
        sweeps.resultChanged.connect(self.show_result)
        sweeps.unitChanged.connect(lambda _u: self._place_frame())
        self.canvas.mpl_connect("button_press_event", self._on_click)
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)
        self.canvas.mpl_connect("resize_event", lambda _e: self._layout())
        self.show_result(sweeps.result)

    def show_result(self, result: Any) -> None:
        """Draw ``result``'s chosen statistic (None: nothing)."""
        self.axes.set_visible(result is not None)
        self.colorbar.ax.set_visible(result is not None)
        if result is None:
            self.picture = None
            self.frame.set_visible(False)
            self.canvas.draw_idle()
            return
        values = getattr(result, self.metric_box.currentData())
        self.picture = pic = unit_picture(result, np.asarray(values, dtype=np.float64))
        h, w = pic.image.shape
        self.image.set_data(pic.image)
        self.image.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
        finite = pic.image[np.isfinite(pic.image)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self.image.set_clim(lo, hi if hi > lo else lo + 1.0)
        self.axes.set_xlim(-0.5, w - 0.5)
        self.axes.set_ylim(h - 0.5, -0.5)
        self.dead_marks.set_data(*unit_centres(pic, np.flatnonzero(result.dead)))
        self._layout()
        self._place_frame()

    def _layout(self) -> None:
        """The picture as large as its aspect allows, its colour bar right beside it."""
        w_px, h_px = self.figure.bbox.width, self.figure.bbox.height
        if self.picture is None or w_px < 100 or h_px < 60:
            return
        r = self.canvas.device_pixel_ratio
        margin, bar_w, bar_gap, labels = 6 * r, 10 * r, 8 * r, 40 * r
        h, w = self.picture.image.shape
        avail_w, avail_h = w_px - 2 * margin - bar_gap - bar_w - labels, h_px - 2 * margin
        zoom = max(min(avail_w / w, avail_h / h), 1e-3)
        box_w, box_h = w * zoom, h * zoom
        x0, y0 = margin, (h_px - box_h) / 2
        self.axes.set_position((x0 / w_px, y0 / h_px, box_w / w_px, box_h / h_px))
        self.colorbar.ax.set_position(((x0 + box_w + bar_gap) / w_px, y0 / h_px,
                                       bar_w / w_px, box_h / h_px))

    def _place_frame(self) -> None:
        pic = self.picture
        if pic is None:
            return
        unit = self.sweeps.unit
        if pic.kind == "mosaic":
            top, left, h, w = pic.channel_boxes[unit]
        else:
            x, y = unit_centres(pic, [unit])
            top, left, h, w = y[0], x[0], 1, 1
        self.frame.set_bounds(left - 0.5, top - 0.5, w, h)
        self.frame.set_visible(True)
        self.canvas.draw_idle()

    def _on_click(self, event: MouseEvent) -> None:
        if self.picture is None or event.button != 1 or event.inaxes is not self.axes:
            return
        unit = unit_at(self.picture, event.ydata, event.xdata)
        if unit is not None:
            self.sweeps.set_unit(unit)

    def _on_motion(self, event: MouseEvent) -> None:
        result = self.sweeps.result
        unit = (unit_at(self.picture, event.ydata, event.xdata)
                if self.picture is not None and event.inaxes is self.axes else None)
        if unit is None or result is None:
            self.hover.setText("")
            return
        text = (f"unit {unit} · mean {result.mean[unit]:.3g} · "
                f"active {100 * result.frac_active[unit]:.0f} %")
        self.hover.setText(text + (f" · {result.inactive_name}" if result.never_active[unit] else ""))

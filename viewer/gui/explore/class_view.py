"""Class view: the mean of each unit over the samples of each class, as a heatmap.

Rows are classes (by label, or by the class the net predicts), columns are
units (conv channels). "Scale each unit" divides every column by its largest
|mean|, so units of small magnitude show their class preferences as clearly
as large ones. Clicking a column selects that unit for the other views.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backend_bases import MouseEvent
from matplotlib.patches import Rectangle
from PyQt5.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QSizePolicy,
                             QVBoxLayout, QWidget)

from viewer.app.options import AUTO_DIVERGING, AUTO_SEQUENTIAL
from viewer.gui.explore.sweep_worker import SweepController
from viewer.gui.plotting import Canvas, new_figure, text_colour, window_colour
from viewer.gui.state import AppState

MAX_TICKS = 40


class ClassView(QWidget):
    """Classes x units heatmap of a sweep's class means.

    Attributes
    ----------
    means : ClassMeans or None
        The table on show.
    values : np.ndarray, shape (K, U)
        What the image shows (the means, or the means scaled per unit).
    image : AxesImage
    """

    def __init__(self, state: AppState, sweeps: SweepController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.sweeps = sweeps
        self.means: Any = None
        self.values = np.zeros((0, 0))
        self.by_box = QComboBox()
        self.by_box.addItem("Classes by label", "label")
        self.by_box.addItem("Classes by prediction", "prediction")
        self.scale_box = QCheckBox("Scale each unit")
        self.scale_box.setToolTip("Divide each unit's column by its largest |mean|")
        self.hover = QLabel("")
        self.hover.setObjectName("hoverText")
        self.hover.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.figure = new_figure(self)
        self.canvas = Canvas(self.figure)
        self.canvas.setMinimumSize(200, 150)
        ink = text_colour(self)
        self.axes = self.figure.add_axes((0.1, 0.15, 0.78, 0.8))
        self.axes.tick_params(colors=ink, labelcolor=ink, labelsize=7, length=2)
        import matplotlib

        self._cmaps = {name: matplotlib.colormaps[name].with_extremes(bad=window_colour(self))
                       for name in (AUTO_SEQUENTIAL, AUTO_DIVERGING)}
        self.image = self.axes.imshow(np.full((1, 1), np.nan), aspect="auto", origin="upper",
                                      interpolation="nearest", cmap=self._cmaps[AUTO_SEQUENTIAL])
        self.colorbar = self.figure.colorbar(
            self.image, cax=self.figure.add_axes((0.9, 0.15, 0.02, 0.8)))
        self.colorbar.ax.tick_params(labelsize=7, colors=ink)
        self.colorbar.outline.set_linewidth(0.5)
        self.frame = Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linewidth=1.5,
                               visible=False)
        self.axes.add_patch(self.frame)
        bar = QHBoxLayout()
        bar.addWidget(self.by_box)
        bar.addWidget(self.scale_box)
        bar.addWidget(self.hover, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)
        self.by_box.currentIndexChanged.connect(lambda _i: self.show_result(sweeps.result))
        self.scale_box.toggled.connect(lambda _on: self.show_result(sweeps.result))
        sweeps.resultChanged.connect(self.show_result)
        sweeps.unitChanged.connect(lambda _u: self._place_frame())
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)
        self.canvas.mpl_connect("button_press_event", self._on_click)
        self.canvas.mpl_connect("resize_event", lambda _e: self._layout())
        self.show_result(sweeps.result)

    def show_result(self, result: Any) -> None:
        """Draw ``result``'s class means (None, or no classes: an empty plot and a hint)."""
        if result is not None:
            self.by_box.model().item(0).setEnabled(result.by_label is not None)
            self.by_box.model().item(1).setEnabled(result.by_prediction is not None)
            if result.by_label is None and result.by_prediction is not None:
                self.by_box.blockSignals(True)
                self.by_box.setCurrentIndex(1)
                self.by_box.blockSignals(False)
        by = self.by_box.currentData()
        means = None if result is None else (result.by_label if by == "label"
                                             else result.by_prediction)
        self.means = means
        if means is None:
            # Nothing of the previous net or layer stays: data, ticks, names, colour bar.
            self.values = np.zeros((0, 0))
            self.image.set_data(np.full((1, 1), np.nan))
            self.image.set_extent((-0.5, 0.5, 0.5, -0.5))
            self.axes.set_xticks([])
            self.axes.set_yticks([])
            self.axes.set_xlabel("")
            self.axes.set_ylabel("")
            self.colorbar.ax.set_visible(False)
            self.frame.set_visible(False)
            self.hover.setText("Sweep a layer of a net whose samples have labels (or that "
                               "predicts classes) to see class means." if result is None
                               else "These samples have no classes to group by.")
            self.canvas.draw_idle()
            return
        values = means.means.copy()
        if self.scale_box.isChecked():
            peak = np.nanmax(np.abs(values), axis=0, initial=0.0)
            values /= np.where(peak > 0, peak, 1.0)
        self.values = values
        k, u = values.shape
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if lo < 0 < hi:
            m = max(-lo, hi)
            self.image.set_cmap(self._cmaps[AUTO_DIVERGING])
            lo, hi = -m, m
        else:
            self.image.set_cmap(self._cmaps[AUTO_SEQUENTIAL])
        self.colorbar.ax.set_visible(True)
        self.image.set_data(values)
        self.image.set_extent((-0.5, u - 0.5, k - 0.5, -0.5))
        self.image.set_clim(lo, hi if hi > lo else lo + 1.0)
        self.axes.set_xlim(-0.5, u - 0.5)
        self.axes.set_ylim(k - 0.5, -0.5)
        names = means.names or tuple(str(c) for c in means.classes.tolist())
        self.axes.set_yticks(np.arange(k), names if k <= MAX_TICKS else None)
        if k > MAX_TICKS:
            self.axes.set_yticks([])
        self.axes.set_xticks(np.arange(0, u, _tick_step(u, self.axes.get_window_extent().width)))
        ink = text_colour(self)
        what = "channel" if len(result.shape) == 3 else "unit"
        self.axes.set_xlabel(f"{what} of {result.layer_name}", color=ink)
        self.axes.set_ylabel("predicted class" if by == "prediction" else "label", color=ink)
        self.hover.setText("")
        self._layout()
        self._place_frame()

    def _place_frame(self) -> None:
        if self.means is None:
            return
        k = self.values.shape[0]
        self.frame.set_bounds(self.sweeps.unit - 0.5, -0.5, 1, k)
        self.frame.set_visible(True)
        self.canvas.draw_idle()

    def _layout(self) -> None:
        w_px, h_px = self.figure.bbox.width, self.figure.bbox.height
        if w_px < 150 or h_px < 100:
            return
        r = self.canvas.device_pixel_ratio
        left, right, bottom, top = 48 * r, 64 * r, 36 * r, 8 * r
        self.axes.set_position((left / w_px, bottom / h_px, (w_px - left - right) / w_px,
                                (h_px - bottom - top) / h_px))
        self.colorbar.ax.set_position(((w_px - right + 8 * r) / w_px, bottom / h_px,
                                       10 * r / w_px, (h_px - bottom - top) / h_px))

    def _cell(self, event: MouseEvent) -> tuple[int, int] | None:
        if self.means is None or event.inaxes is not self.axes or event.xdata is None:
            return None
        row, col = int(np.floor(event.ydata + 0.5)), int(np.floor(event.xdata + 0.5))
        k, u = self.values.shape
        return (row, col) if 0 <= row < k and 0 <= col < u else None

    def _on_motion(self, event: MouseEvent) -> None:
        cell = self._cell(event)
        if cell is None:
            return
        row, col = cell
        means = self.means
        name = means.names[row] if means.names else str(int(means.classes[row]))
        self.hover.setText(f"class {name} ({int(means.counts[row]):,} samples) · unit {col} · "
                           f"mean {means.means[row, col]:.4g}")

    def _on_click(self, event: MouseEvent) -> None:
        cell = self._cell(event)
        if cell is not None and event.button == 1:
            self.sweeps.set_unit(cell[1])


def _tick_step(count: int, room: float, per_label: float = 28.0) -> int:
    """A round step (1, 2, 5, 10, 20, 50, ...) between unit ticks, so that ``count`` units on
    ``room`` pixels get labels ``per_label`` pixels apart or more (and at most MAX_TICKS)."""
    wanted = count / max(1, min(MAX_TICKS, int(room // per_label)))
    scale = 1
    while True:
        for n in (1, 2, 5):
            if n * scale >= wanted:
                return n * scale
        scale *= 10

"""The representation map: a sweep's PCA of the layer's outputs as a 2-D scatter.

One point per swept sample, coloured by its label or by the class the net
predicts; the axes say how much of the variance each component explains,
and a note under the plot says how the map was made (the random subset the
components were fitted on, hashed features). Past :data:`MAX_POINTS` a fixed
random subset of the points is drawn, and the note says so. Hovering shows
the sample's thumbnail; clicking opens the sample in the window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backend_bases import MouseEvent
from matplotlib.lines import Line2D
from PyQt5.QtCore import Qt
from PyQt5.QtGui import QPixmap
from PyQt5.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from viewer.app.classes import class_colour, class_text, n_classes
from viewer.gui.elided_label import ElidedLabel
from viewer.gui.explore.sweep_worker import SweepController
from viewer.gui.explore.thumbs import ThumbnailCache
from viewer.gui.plotting import Canvas, new_figure, text_colour
from viewer.gui.state import AppState

#: Most points drawn; more are drawn as a fixed random subset.
MAX_POINTS = 20_000
PICK_RADIUS = 7  # pixels
MAX_LEGEND = 20
LEGEND_COLUMNS = 10
POPUP_THUMB = 72


class PCAView(QWidget):
    """Scatter of the sweep's PCA coordinates.

    Attributes
    ----------
    points : PathCollection
        The scatter; ``get_offsets()`` are the drawn coordinates.
    shown : np.ndarray, shape (n,), int64
        Positions (into the sweep's ``indices``) of the drawn points.
    colour_box : QComboBox
        "label" or "predicted".
    note : QLabel
        How the map was made, and the cap on drawn points when it applies.
    """

    def __init__(self, state: AppState, sweeps: SweepController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.sweeps = sweeps
        self.result: Any = None
        self.shown = np.zeros(0, np.int64)
        self._thumbs: ThumbnailCache | None = None
        self._legend_rows = 0

        self.colour_box = QComboBox()
        self.colour_box.addItem("Colour by label", "label")
        self.colour_box.addItem("Colour by predicted class", "predicted")
        self.title = QLabel("")
        self.title.setObjectName("plotTitle")
        self.title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.title.setToolTip("Hover a point to see its sample, click it to open it")
        # One line (whole on hover): under a 1280x800 window's central view the map has
        # ~110 pixels of height, and a wrapped second line took a sixth of them.
        self.note = ElidedLabel("")
        self.note.setObjectName("hoverText")

        self.figure = new_figure(self)
        self.canvas = Canvas(self.figure)
        self.canvas.setMinimumSize(200, 150)
        ink = text_colour(self)
        self.axes = self.figure.add_axes((0.1, 0.12, 0.7, 0.8))
        self.axes.set_facecolor("white")
        self.axes.tick_params(colors=ink, labelcolor=ink, labelsize=7)
        for side in ("top", "right"):
            self.axes.spines[side].set_visible(False)
        self.points = self.axes.scatter(np.zeros(0), np.zeros(0), s=12, linewidths=0)
        (self.current_mark,) = self.axes.plot([], [], linestyle="none", marker="o",
                                              markersize=11, markerfacecolor="none",
                                              markeredgecolor="black", markeredgewidth=1.6)
        (self.hover_mark,) = self.axes.plot([], [], linestyle="none", marker="o",
                                            markersize=9, markerfacecolor="none",
                                            markeredgecolor="#444444", markeredgewidth=1.2)
        self.popup = QLabel(self.canvas)
        self.popup.setObjectName("pcaPopup")
        self.popup.setStyleSheet("QLabel#pcaPopup { background: palette(base); "
                                 "border: 1px solid palette(mid); padding: 3px; }")
        self.popup.hide()

        bar = QHBoxLayout()
        bar.addWidget(self.colour_box)
        bar.addWidget(self.title, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.note)

        self.colour_box.currentIndexChanged.connect(lambda _i: self._colour())
        sweeps.resultChanged.connect(self.show_result)
        state.sampleChanged.connect(lambda _i: self._mark_current())
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)
        self.canvas.mpl_connect("axes_leave_event", lambda _e: self._hide_popup())
        self.canvas.mpl_connect("button_press_event", self._on_click)
        self.canvas.mpl_connect("resize_event", lambda _e: self._layout())
        self.show_result(sweeps.result)

    def show_result(self, result: Any) -> None:
        """Draw ``result``'s PCA map (None: empty)."""
        self.result = result
        self._hide_popup()
        if result is None:
            self.shown = np.zeros(0, np.int64)
            self.points.set_offsets(np.zeros((0, 2)))
            self.current_mark.set_data([], [])
            self.title.setText("")
            self.note.setText("Sweep the layer to see its samples mapped by PCA.")
            self.canvas.draw_idle()
            return
        pca = result.pca
        coords = pca.coords
        finite = np.flatnonzero(np.isfinite(coords).all(axis=1))
        shown = finite
        if len(finite) > MAX_POINTS:
            rng = np.random.default_rng(0)
            shown = np.sort(rng.choice(finite, MAX_POINTS, replace=False))
        self.shown = shown
        self.points.set_offsets(coords[shown])
        ink = text_colour(self)
        ratio = pca.explained_variance_ratio
        self.axes.set_xlabel(f"PC 1 · {100 * ratio[0]:.1f} % of the variance", color=ink)
        self.axes.set_ylabel(f"PC 2 · {100 * ratio[1]:.1f} %", color=ink)
        if len(shown):
            lo, hi = coords[shown].min(axis=0), coords[shown].max(axis=0)
            pad = (hi - lo) * 0.05 + 1e-9
            self.axes.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            self.axes.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        self.title.setText(self._title_text(result))
        note = pca.description
        if len(shown) < len(finite):
            note += f"; drawing a random {len(shown):,} of the {len(finite):,} points"
        self.note.setText(note)
        has_predicted = result.predicted is not None
        self.colour_box.model().item(1).setEnabled(has_predicted)
        if not has_predicted and self.colour_box.currentIndex() == 1:
            self.colour_box.setCurrentIndex(0)
        self._colour()
        self._mark_current()

    def _colour(self) -> None:
        result = self.result
        if result is None:
            return
        by = self.colour_box.currentData()
        classes = result.predicted if by == "predicted" else result.labels
        legend = []
        if classes is None:
            colours = ["#3b75af"] * len(self.shown)
        else:
            k = n_classes(self._state.samples, classes)
            shown_classes = classes[self.shown]
            palette = {c: class_colour(c, k) for c in np.unique(shown_classes).tolist()}
            colours = [palette[c] for c in shown_classes.tolist()]
            if len(palette) <= MAX_LEGEND:
                legend = [Line2D([], [], linestyle="none", marker="o", markersize=6,
                                 markerfacecolor=colour, markeredgewidth=0,
                                 label=class_text(self._state.samples, c))
                          for c, colour in palette.items() if c >= 0]
        self.points.set_facecolors(colours)
        old = self.axes.get_legend()
        if old is not None:
            old.remove()
        self._legend_rows = 0
        if legend:
            # One row of classes above the plot (two for many): the plot keeps its width.
            ncol = min(len(legend), LEGEND_COLUMNS)
            self._legend_rows = -(-len(legend) // ncol)
            self.axes.legend(handles=legend, loc="lower left", bbox_to_anchor=(0.0, 1.01),
                             ncol=ncol, frameon=False, fontsize=8, handletextpad=0.1,
                             columnspacing=1.0, borderaxespad=0.2)
        self._layout()
        self.canvas.draw_idle()

    def _layout(self) -> None:
        w_px, h_px = self.figure.bbox.width, self.figure.bbox.height
        if w_px < 120 or h_px < 100:
            return
        r = self.canvas.device_pixel_ratio
        left, right, bottom = 56 * r, 16 * r, 40 * r
        top = (8 + 17 * self._legend_rows) * r
        self.axes.set_position((left / w_px, bottom / h_px, (w_px - left - right) / w_px,
                                (h_px - bottom - top) / h_px))

    def _mark_current(self) -> None:
        result = self.result
        if result is None:
            return
        at = int(np.searchsorted(result.indices, self._state.sample))
        if at < len(result.indices) and result.indices[at] == self._state.sample:
            x, y = result.pca.coords[at]
            self.current_mark.set_data([x], [y])
        else:
            self.current_mark.set_data([], [])
        self.canvas.draw_idle()

    def sample_near(self, x_px: float, y_px: float) -> int | None:
        """The sample of the drawn point nearest display pixel (x, y), within the pick radius."""
        if self.result is None or not len(self.shown):
            return None
        xy = self.axes.transData.transform(self.result.pca.coords[self.shown])
        d2 = ((xy[:, 0] - x_px) ** 2 + (xy[:, 1] - y_px) ** 2)
        best = int(np.argmin(d2))
        radius = PICK_RADIUS * self.canvas.device_pixel_ratio
        if d2[best] > radius ** 2:
            return None
        return int(self.result.indices[self.shown[best]])

    def _on_click(self, event: MouseEvent) -> None:
        if event.button != 1 or event.inaxes is not self.axes:
            return
        sample = self.sample_near(event.x, event.y)
        if sample is not None:
            self._state.set_sample(sample)

    def _on_motion(self, event: MouseEvent) -> None:
        sample = self.sample_near(event.x, event.y) if event.inaxes is self.axes else None
        if sample is None:
            self._hide_popup()
            return
        self._show_popup(sample, event)

    def _show_popup(self, sample: int, event: MouseEvent) -> None:
        """The sample's thumbnail beside the mouse; its label and prediction in the title."""
        result, samples = self.result, self._state.samples
        if self._thumbs is None or self._thumbs.samples is not samples:
            self._thumbs = ThumbnailCache(samples, POPUP_THUMB)
        at = int(np.searchsorted(result.indices, sample))
        x, y = result.pca.coords[at]
        self.hover_mark.set_data([x], [y])
        lines = [f"sample {sample}"]
        if result.labels is not None:
            lines.append(f"label {class_text(samples, int(result.labels[at]))}")
        if result.predicted is not None:
            lines.append(f"predicted {class_text(samples, int(result.predicted[at]))}")
        self.title.setText(f"<b>{result.layer_name}</b> · {' · '.join(lines)} "
                           "<i>(click to open)</i>")
        image = self._thumbs.get(sample)
        zoom = max(1, POPUP_THUMB // max(image.width(), image.height()))
        self.popup.setPixmap(QPixmap.fromImage(
            image.scaled(image.width() * zoom, image.height() * zoom, Qt.KeepAspectRatio,
                         Qt.FastTransformation)))
        self.popup.adjustSize()
        ratio = self.canvas.device_pixel_ratio
        px, py = event.x / ratio, self.canvas.height() - event.y / ratio
        right = px + 14 + self.popup.width() < self.canvas.width()
        left = px + 14 if right else px - 14 - self.popup.width()
        top = min(max(py - self.popup.height() / 2, 0), self.canvas.height() - self.popup.height())
        self.popup.move(int(left), int(top))
        self.popup.show()
        self.popup.raise_()
        self.canvas.draw_idle()

    def _hide_popup(self) -> None:
        self.popup.hide()
        if len(self.hover_mark.get_xdata()):
            self.hover_mark.set_data([], [])
            self.canvas.draw_idle()
        if self.result is not None:
            self.title.setText(self._title_text(self.result))

    @staticmethod
    def _title_text(result: Any) -> str:
        ratio = result.pca.explained_variance_ratio
        # Short enough for the row beside the colour box at 1280 pixels (the tooltip says
        # what to do with the points; the note below splits the variance per component).
        share = 100 * ratio.sum()
        return f"<b>{result.layer_name}</b> · PC 1 and 2: {share:.1f} % of the variance"

"""Top-k: the samples that drive the selected unit most, and least, as thumbnails.

Each thumbnail shows the input, its sample number and label, and the
unit's peak on it (its largest value over positions for a conv channel,
the value itself for a dense unit: see :mod:`viewer.analysis.sweep`).
Clicking one selects that sample in the window; for a conv channel the
heatmap also shows that channel large, so you see where it fired. For a conv
channel, "Receptive fields" shows instead the crop of each input that the
channel's peak position sees, with the peak's centre marked
(:mod:`viewer.gui.explore.field_crops`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from PyQt5.QtCore import QPointF, QRect, QRectF, QSize, Qt, pyqtSignal
from PyQt5.QtGui import QFont, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PyQt5.QtWidgets import (QCheckBox, QGridLayout, QLabel, QScrollArea, QSizePolicy,
                             QVBoxLayout, QWidget)

from viewer.app.classes import class_text
from viewer.gui.explore.field_crops import field_crops
from viewer.gui.explore.sweep_worker import SweepController
from viewer.gui.explore.thumbs import ThumbnailCache
from viewer.gui.state import AppState
from viewer.gui.worker import LatestRunner

THUMB = 52
CELL = QSize(THUMB + 16, THUMB + 36)


class SampleThumb(QWidget):
    """One sample: thumbnail, "#index · label", and a value; a click emits the index.

    Signals
    -------
    clicked(int)
        The sample index.
    """

    clicked = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sample = -1
        self.image: Any = None
        self.caption = ""
        self.value_text = ""
        self.peak: Any = None
        self.current = False
        self.setFixedSize(CELL)
        self.setCursor(Qt.PointingHandCursor)

    def show_sample(self, sample: int, image: Any, caption: str, value_text: str,
                    peak: Any = None, note: str = "") -> None:
        """Show ``sample`` with its thumbnail ``image`` (a QImage) and two lines of text;
        ``peak`` (x, y in the image's pixels) is marked with a cross."""
        self.sample, self.image, self.peak = sample, image, peak
        self.caption, self.value_text = caption, value_text
        self.setToolTip(f"sample {sample} · {caption} · {value_text}{note}\nClick to open it")
        self.update()

    def set_current(self, on: bool) -> None:
        """Frame the thumbnail when it is the window's current sample."""
        if on != self.current:
            self.current = on
            self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.LeftButton and self.sample >= 0:
            self.clicked.emit(self.sample)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        box = QRect((self.width() - THUMB) // 2, 4, THUMB, THUMB)
        if self.current:
            painter.fillRect(self.rect(), palette.color(QPalette.Highlight).lighter(170))
        if self.image is not None:
            zoom = min(THUMB / self.image.width(), THUMB / self.image.height())
            w, h = round(self.image.width() * zoom), round(self.image.height() * zoom)
            target = QRect(box.left() + (THUMB - w) // 2, box.top() + (THUMB - h) // 2, w, h)
            painter.setRenderHint(QPainter.SmoothPixmapTransform, zoom < 1)
            painter.drawImage(target, self.image)
            if self.peak is not None:
                px, py = target.left() + self.peak[0] * zoom, target.top() + self.peak[1] * zoom
                painter.setPen(QPen(Qt.red, 1.5))
                painter.drawLine(QPointF(px - 4, py), QPointF(px + 4, py))
                painter.drawLine(QPointF(px, py - 4), QPointF(px, py + 4))
        painter.setPen(QPen(palette.color(QPalette.Highlight if self.current else QPalette.Mid),
                            2 if self.current else 1))
        painter.drawRect(QRectF(box).adjusted(-0.5, -0.5, 0.5, 0.5))
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() - 1.5, 7))
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.Text))
        text_box = QRect(0, box.bottom() + 3, self.width(), 14)
        painter.drawText(text_box, Qt.AlignHCenter | Qt.AlignTop, self.caption)
        painter.setPen(palette.color(QPalette.Dark))
        painter.drawText(text_box.translated(0, 14), Qt.AlignHCenter | Qt.AlignTop,
                         self.value_text)
        painter.end()


class TopGallery(QWidget):
    """The selected unit's top-k and bottom-k samples.

    Attributes
    ----------
    top, bottom : list of SampleThumb
        The thumbnails, best first.
    title : QLabel
    """

    def __init__(self, state: AppState, sweeps: SweepController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.sweeps = sweeps
        self._thumbs: ThumbnailCache | None = None
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.fields_box = QCheckBox("Receptive fields")
        self.fields_box.setChecked(True)
        self.fields_box.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)  # no wider column
        self.fields_box.setToolTip("For a conv channel: show the part of each input that the "
                                   "channel's peak position sees, the peak marked")
        self.crops: dict = {}
        self._crop_runner = LatestRunner(self, "strata-crops")
        self._crop_runner.finished.connect(self._on_crops)
        self.top: list[SampleThumb] = []
        self.bottom: list[SampleThumb] = []
        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(2)
        self._grid.setVerticalSpacing(4)
        self._row_labels = []
        for row, text in enumerate(("Most", "Least")):
            label = QLabel(text)
            label.setObjectName("hoverText")
            self._grid.addWidget(label, row, 0, Qt.AlignRight | Qt.AlignVCenter)
            self._row_labels.append(label)
        self._grid.setColumnStretch(sweeps.k + 1, 1)
        for row, thumbs in enumerate((self.top, self.bottom)):
            for j in range(sweeps.k):
                thumb = SampleThumb()
                thumb.clicked.connect(self.open_sample)
                thumbs.append(thumb)
                self._grid.addWidget(thumb, row, j + 1)
        scroll = QScrollArea()
        scroll.setWidget(self._grid_host)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        # Room for one whole row of thumbnails and the scroll bar under it.
        scroll.setMinimumHeight(CELL.height() + scroll.horizontalScrollBar().sizeHint().height()
                                + self._grid.verticalSpacing())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.fields_box)
        layout.addWidget(scroll, 1)
        self.fields_box.toggled.connect(lambda _on: self.refresh())
        sweeps.resultChanged.connect(lambda _r: self.refresh())
        sweeps.unitChanged.connect(lambda _u: self.refresh())
        state.sampleChanged.connect(self._mark_current)
        self.refresh()

    def open_sample(self, sample: int) -> None:
        """Select ``sample`` in the window; for a conv channel, show that channel large."""
        result = self.sweeps.result
        self._state.set_sample(sample)
        if result is not None and len(result.shape) == 3 and result.layer == self._state.layer:
            self._state.set_channel(self.sweeps.unit)

    def refresh(self) -> None:
        """Show the current unit's samples (or a hint when there is no sweep)."""
        result, samples = self.sweeps.result, self._state.samples
        for thumb in self.top + self.bottom:
            thumb.setVisible(False)
        for label in self._row_labels:
            label.setVisible(result is not None and samples is not None)
        self.fields_box.setVisible(result is not None and samples is not None
                                   and len(result.shape) == 3)
        if result is None or samples is None:
            self.title.setText("Sweep the layer to see the samples that drive each unit.")
            return
        if self._thumbs is None or self._thumbs.samples is not samples:
            self._thumbs = ThumbnailCache(samples, THUMB)
        unit = self.sweeps.unit
        what = "channel" if len(result.shape) == 3 else "unit"
        # One line in a 1280-pixel window (the sweep bar names the layer); the rest on hover.
        self.title.setText(f"<b>{what.capitalize()} {unit}</b>: peaks")
        self.title.setToolTip(f"The samples where {what} {unit} of {result.layer_name} peaks "
                              f"highest (Most) and lowest (Least); click one to open it")
        rows = ((self.top, result.top_samples[unit], result.top_values[unit]),
                (self.bottom, result.bottom_samples[unit], result.bottom_values[unit]))
        for thumbs, indices, values in rows:
            for thumb, i, v in zip(thumbs, indices.tolist(), values.tolist()):
                thumb.show_sample(i, self._thumbs.get(i), self._caption(i), f"{v:.3g}")
                thumb.set_current(i == self._state.sample)
                thumb.setVisible(True)
        self.crops = {}
        self._crop_runner.forget()
        if len(result.shape) == 3 and self.fields_box.isChecked():
            shown = [t.sample for t in self.top + self.bottom if not t.isHidden()]
            self._crop_runner.submit(partial(field_crops, self._state.net, samples, result.layer,
                                             unit, shown))

    def _on_crops(self, _job: int, crops: Any) -> None:
        """Put the receptive-field crops in place of the whole thumbnails."""
        if not crops:
            return
        self.crops = crops
        for thumb in self.top + self.bottom:
            crop = crops.get(thumb.sample)
            if crop is None or thumb.isHidden():
                continue
            rows, cols = crop.box
            thumb.show_sample(thumb.sample, crop.image, thumb.caption, thumb.value_text,
                              peak=crop.peak,
                              note=f"\npeak at {crop.position}; input rows {rows.start}..{rows.stop - 1}, "
                                   f"columns {cols.start}..{cols.stop - 1}")

    def _caption(self, i: int) -> str:
        labels = self._state.samples.labels
        if labels is None:
            return f"#{i}"
        return f"#{i} · {class_text(self._state.samples, int(labels[i]))}"

    def _mark_current(self, sample: int) -> None:
        for thumb in self.top + self.bottom:
            thumb.set_current(thumb.sample == sample)

    def shown_samples(self) -> tuple[list[int], list[int]]:
        """The sample numbers on show: (most, least)."""
        return ([t.sample for t in self.top if t.isVisibleTo(self)],
                [t.sample for t in self.bottom if t.isVisibleTo(self)])

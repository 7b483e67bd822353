"""Browse: every sample as a thumbnail with its label and whether the net got it right.

A virtualised list: :class:`StripModel` holds only the indices of the
samples that pass the filters (an int array), and a thumbnail is made when
the view first paints its row (:class:`~.thumbs.ThumbnailCache`), so a
60,000-sample file costs what is on screen. The net's predictions arrive in
batches from :class:`~.predictions.Predictions`; right/wrong marks and the
"only misclassified" filter fill in as they come. Clicking a thumbnail
selects that sample in the window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PyQt5.QtCore import (QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize,
                          Qt, QTimerEvent)
from PyQt5.QtGui import QColor, QFont, QPainter, QPalette, QPen, QResizeEvent
from PyQt5.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QListView, QSizePolicy,
                             QStyle, QStyledItemDelegate, QStyleOptionViewItem, QVBoxLayout,
                             QWidget)

from viewer.app.classes import BAD, GOOD, class_text
from viewer.gui.explore.predictions import Predictions
from viewer.gui.explore.thumbs import ThumbnailCache
from viewer.gui.state import AppState

THUMB = 56  # thumbnail side in the strip, logical pixels
CELL = QSize(THUMB + 12, THUMB + 24)
SampleRole = Qt.UserRole + 1
CorrectRole = Qt.UserRole + 2
PredictedRole = Qt.UserRole + 3


class StripModel(QAbstractListModel):
    """The filtered samples as list rows; thumbnails made when a row is painted.

    Attributes
    ----------
    rows : np.ndarray, shape (n,), int64
        The sample index of each row, ascending.
    """

    def __init__(self, predictions: Predictions, parent: Any = None) -> None:
        super().__init__(parent)
        self.predictions = predictions
        self.samples: Any = None
        self.thumbs: ThumbnailCache | None = None
        self.rows = np.zeros(0, np.int64)
        self.label: int | None = None
        self.wrong_only = False

    # -- Qt's model interface -----------------------------------------------------

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid() or self.samples is None:
            return None
        i = int(self.rows[index.row()])
        if role == SampleRole:
            return i
        if role == Qt.DecorationRole:
            return self.thumbs.get(i)
        if role == CorrectRole:
            return self._correct(i)
        if role == PredictedRole:
            predicted = self.predictions.predicted
            return None if predicted is None or predicted[i] < 0 else int(predicted[i])
        if role == Qt.DisplayRole:
            label = self._label(i)
            return "–" if label is None else str(label)
        if role == Qt.ToolTipRole:
            return self._tooltip(i)
        return None

    # -- contents -------------------------------------------------------------------

    def set_samples(self, samples: Any, wrong_only: bool = False) -> None:
        """Show ``samples`` (None: nothing), any label, misclassified ones only if asked."""
        self.beginResetModel()
        self.samples = samples
        self.thumbs = ThumbnailCache(samples, THUMB) if samples is not None else None
        self.label, self.wrong_only = None, wrong_only
        self.rows = self._matching(0, len(samples) if samples is not None else 0)
        self.endResetModel()

    def set_filters(self, label: int | None, wrong_only: bool) -> None:
        """Keep only samples of class ``label`` (None: any) and, if asked, misclassified ones."""
        if (label, wrong_only) == (self.label, self.wrong_only):
            return
        self.beginResetModel()
        self.label, self.wrong_only = label, wrong_only
        self.rows = self._matching(0, len(self.samples) if self.samples is not None else 0)
        self.endResetModel()

    def predicted_range(self, start: int, end: int) -> None:
        """Predictions arrived for samples ``start..end-1``: add rows or refresh marks."""
        if self.samples is None:
            return
        if self.wrong_only:
            # Predictions come in index order, so new matches go after every row shown.
            new = self._matching(start, end)
            if len(new):
                first = len(self.rows)
                self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
                self.rows = np.concatenate([self.rows, new])
                self.endInsertRows()
            return
        lo, hi = np.searchsorted(self.rows, [start, end])
        if hi > lo:
            self.dataChanged.emit(self.index(int(lo)), self.index(int(hi) - 1),
                                  [CorrectRole, PredictedRole, Qt.ToolTipRole])

    def row_of(self, sample: int) -> int | None:
        """The row showing ``sample``, or None when it is filtered out."""
        at = int(np.searchsorted(self.rows, sample))
        return at if at < len(self.rows) and self.rows[at] == sample else None

    def _matching(self, start: int, end: int) -> np.ndarray:
        """Indices in ``start..end-1`` that pass the filters."""
        keep = np.ones(end - start, bool)
        labels = self.samples.labels if self.samples is not None else None
        if self.label is not None and labels is not None:
            keep &= np.asarray(labels[start:end]) == self.label
        if self.wrong_only:
            predicted = self.predictions.predicted
            if predicted is None or labels is None:
                keep[:] = False
            else:
                got = predicted[start:end]
                keep &= (got >= 0) & (got != np.asarray(labels[start:end]))
        return np.flatnonzero(keep).astype(np.int64) + start

    def _label(self, i: int) -> int | None:
        labels = self.samples.labels
        return None if labels is None else int(labels[i])

    def _correct(self, i: int) -> bool | None:
        predicted = self.predictions.predicted
        label = self._label(i)
        if predicted is None or label is None or predicted[i] < 0:
            return None
        return bool(predicted[i] == label)

    def _tooltip(self, i: int) -> str:
        text = f"sample {i}"
        label = self._label(i)
        if label is not None:
            text += f" · label {class_text(self.samples, label)}"
        predicted = self.predictions.predicted
        if predicted is not None and predicted[i] >= 0:
            text += f" · predicted {class_text(self.samples, int(predicted[i]))}"
        return text


class ThumbDelegate(QStyledItemDelegate):
    """Paints a row: the thumbnail, its label below with a right/wrong mark."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return CELL

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        rect = option.rect.adjusted(2, 2, -2, -2)
        palette = option.palette
        if option.state & QStyle.State_Selected:
            painter.fillRect(rect, palette.color(QPalette.Highlight))
        image = index.data(Qt.DecorationRole)
        box = QRect(rect.left() + (rect.width() - THUMB) // 2, rect.top() + 3, THUMB, THUMB)
        if image is not None and not image.isNull():
            zoom = min(THUMB / image.width(), THUMB / image.height())
            w, h = round(image.width() * zoom), round(image.height() * zoom)
            target = QRect(box.left() + (THUMB - w) // 2, box.top() + (THUMB - h) // 2, w, h)
            painter.setRenderHint(QPainter.SmoothPixmapTransform, zoom < 1)
            painter.drawImage(target, image)
        correct = index.data(CorrectRole)
        if correct is False:  # wrong ones stand out in the grid
            painter.setPen(QPen(QColor(BAD), 2))
            painter.drawRect(box.adjusted(1, 1, -1, -1))
        text_rect = QRect(rect.left(), box.bottom() + 2, rect.width(),
                          rect.bottom() - box.bottom() - 2)
        font = QFont(option.font)
        font.setPointSizeF(max(font.pointSizeF() - 1, 7))
        painter.setFont(font)
        selected = option.state & QStyle.State_Selected
        ink = palette.color(QPalette.HighlightedText if selected else QPalette.Text)
        text = index.data(Qt.DisplayRole)
        if correct is None:
            painter.setPen(ink)
            painter.drawText(text_rect, Qt.AlignHCenter | Qt.AlignTop, text)
        else:
            # "7 ✓" for a right prediction, "7 → 3" (label → predicted) in red for a wrong one.
            mark = " ✓" if correct else f" → {index.data(PredictedRole)}"
            metrics = painter.fontMetrics()
            width = metrics.horizontalAdvance(text + mark)
            left = text_rect.left() + (text_rect.width() - width) // 2
            painter.setPen(ink if correct or selected else QColor(BAD))
            painter.drawText(QRect(left, text_rect.top(), width, text_rect.height()),
                             Qt.AlignLeft | Qt.AlignTop, text)
            painter.setPen(ink if selected else QColor(GOOD if correct else BAD))
            painter.drawText(QRect(left + metrics.horizontalAdvance(text), text_rect.top(),
                                   width, text_rect.height()), Qt.AlignLeft | Qt.AlignTop, mark)
        painter.restore()


class StripListView(QListView):
    """A QListView that keeps scrolling to a row while its batched layout catches up.

    With 60,000 rows the layout runs in slices between events; a row beyond
    the laid-out part has no place yet, so :meth:`scrollTo` is repeated
    after each slice until the last row is placed.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pending: QPersistentModelIndex | None = None

    def scroll_to_row(self, index: QModelIndex) -> None:
        """Scroll ``index`` into view, now and after each layout slice still to come."""
        self.scrollTo(index)
        self._pending = QPersistentModelIndex(index)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.currentIndex().isValid():  # the new width lays the rows out anew
            self._pending = QPersistentModelIndex(self.currentIndex())

    def timerEvent(self, event: QTimerEvent) -> None:
        super().timerEvent(event)
        if self._pending is None:
            return
        model = self.model()
        if not self._pending.isValid() or model is None:
            self._pending = None
            return
        self.scrollTo(QModelIndex(self._pending))
        if self.visualRect(model.index(model.rowCount() - 1, 0)).isValid():
            self._pending = None  # laid out to the end: the place is final


class SampleStrip(QWidget):
    """The Browse panel: filters, a count, and the virtualised thumbnail list.

    Parameters
    ----------
    state : AppState
    predictions : Predictions, optional
        Shared with other views; a new one by default.

    Attributes
    ----------
    model : StripModel
    view : StripListView
    label_box : QComboBox
        "Any label" or one class.
    wrong_box : QCheckBox
        Only misclassified samples.
    count : QLabel
    """

    def __init__(self, state: AppState, predictions: Predictions | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.predictions = predictions or Predictions(state, self)
        self.model = StripModel(self.predictions, self)
        self.view = StripListView()
        self.view.setViewMode(QListView.ListMode)
        self.view.setFlow(QListView.LeftToRight)
        self.view.setWrapping(True)
        self.view.setResizeMode(QListView.Adjust)
        self.view.setMovement(QListView.Static)
        self.view.setUniformItemSizes(True)  # no per-row size queries
        self.view.setLayoutMode(QListView.Batched)  # lay out 60,000 rows in slices, not at once
        self.view.setBatchSize(2000)
        self.view.setSelectionMode(QListView.SingleSelection)
        self.view.setMouseTracking(True)
        self.view.setItemDelegate(ThumbDelegate(self.view))
        self.view.setModel(self.model)
        self.view.setFocusPolicy(Qt.NoFocus)  # arrows belong to the window's navigation
        self.view.setMinimumHeight(CELL.height() + 8)

        self.label_box = QComboBox()
        self.label_box.setToolTip("Show only the samples of one class")
        self.wrong_box = QCheckBox("Only misclassified")
        self.wrong_box.setToolTip("Show only the samples whose predicted class differs from "
                                  "their label")
        self.count = QLabel("")
        self.count.setObjectName("hoverText")
        self.count.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(self.label_box)
        bar.addWidget(self.wrong_box)
        bar.addWidget(self.count, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)

        self.view.clicked.connect(lambda index: state.set_sample(index.data(SampleRole)))
        self.label_box.currentIndexChanged.connect(lambda _i: self._apply_filters())
        self.wrong_box.toggled.connect(lambda _on: self._apply_filters())
        self.predictions.progressed.connect(self._on_predicted)
        self.predictions.failed.connect(lambda _m: self._update_count())
        state.samplesChanged.connect(self.show_samples)
        state.sampleChanged.connect(self.show_sample)
        self.show_samples(state.samples)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.predictions.start()  # the marks are worth a forward pass once someone looks

    def show_samples(self, samples: Any) -> None:
        """Show ``samples`` (None: an empty strip)."""
        self.label_box.blockSignals(True)
        self.label_box.clear()
        self.label_box.addItem("Any label", None)
        labels = samples.labels if samples is not None else None
        if labels is not None:
            for k in np.unique(labels).tolist():
                self.label_box.addItem(f"Only label {class_text(samples, k)}", k)
        self.label_box.setEnabled(labels is not None)
        self.label_box.blockSignals(False)
        can_judge = labels is not None and self.predictions.predicted is not None
        self.wrong_box.setEnabled(can_judge)
        if not can_judge:
            self.wrong_box.blockSignals(True)
            self.wrong_box.setChecked(False)
            self.wrong_box.blockSignals(False)
        self.model.set_samples(samples, self.wrong_box.isChecked())
        if self.isVisible():
            self.predictions.start()
        self.show_sample(self._state.sample)
        self._update_count()

    def set_filters(self, label: int | None = None, wrong_only: bool = False) -> None:
        """Show only class ``label`` (None: any) and, if asked, only misclassified samples."""
        self.label_box.setCurrentIndex(max(0, self.label_box.findData(label)))
        self.wrong_box.setChecked(wrong_only and self.wrong_box.isEnabled())

    def _apply_filters(self) -> None:
        self.model.set_filters(self.label_box.currentData(), self.wrong_box.isChecked())
        if self.wrong_box.isChecked():
            self.predictions.start()
        self.show_sample(self._state.sample)
        self._update_count()

    def show_sample(self, sample: int) -> None:
        """Select and scroll to ``sample``'s thumbnail, if it passes the filters."""
        row = self.model.row_of(sample)
        if row is None:
            self.view.clearSelection()
            return
        index = self.model.index(row)
        self.view.setCurrentIndex(index)
        self.view.scroll_to_row(index)

    def _on_predicted(self, start: int, end: int) -> None:
        self.model.predicted_range(start, end)
        self._update_count()

    def _update_count(self) -> None:
        samples = self.model.samples
        if samples is None:
            self.count.setText("No samples")
            return
        shown, n = len(self.model.rows), len(samples)
        text = f"{shown:,} of {n:,} samples" if shown != n else f"{n:,} samples"
        tip = ""
        pred = self.predictions
        if pred.predicted is not None and samples.labels is not None:
            if pred.complete:
                wrong = int(np.count_nonzero(pred.predicted != np.asarray(samples.labels)))
                # Short: it shares the line with the filters under a 1280-pixel window's heatmap.
                text += f" · {wrong:,} wrong"
                tip = f"{wrong:,} of {n:,} samples misclassified ({100 * wrong / n:.1f} %)"
            elif pred.done:
                text += f" · predicting… {100 * pred.done / n:.0f} %"
        self.count.setText(text)
        self.count.setToolTip(tip)

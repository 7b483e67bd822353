"""The left panel's sample picker: index, thumbnail, label and prediction.

The thumbnail shows the sample as the net sees it (after preprocessing):
an image where the input is image-like, a line plot where it is a vector.
It is painted with QPainter, so it needs no matplotlib.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, QSize, Qt
from PyQt5.QtGui import QColor, QImage, QPainter, QPaintEvent, QPainterPath, QPalette, QPen
from PyQt5.QtWidgets import (QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                             QSizePolicy, QSlider, QSpinBox, QVBoxLayout, QWidget)

from viewer.app.compute import Result
from viewer.app.messages import plural
from viewer.gui.preprocess_panel import PreprocessRow
from viewer.gui.state import AppState

GOOD, BAD = "#1a7f37", "#c62828"


LINE_COLOURS = ("#3b75af", "#ef8636", "#519e3e", "#c53a32", "#8d69b8", "#84584e", "#d57dbf",
                "#7f7f7f")


def to_image(x: np.ndarray, layout: str) -> np.ndarray | None:
    """A sample as an 8-bit picture: (H, W) grey or (H, W, 3) colour, or None.

    None means the sample is better drawn as a plot: a vector, or a sequence
    of at most as many features as there are line colours. Values are
    stretched to the full 0..255 range of this sample.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1 or (x.ndim == 2 and layout == "sequence" and x.shape[1] <= len(LINE_COLOURS)):
        return None
    if x.ndim == 3:
        img = np.moveaxis(x, 0, -1) if layout != "channels_last" else x
        if img.shape[-1] not in (1, 3):
            img = img[..., :1]
    elif x.ndim == 2:
        img = x[..., None]
    else:
        return None
    finite = np.isfinite(img)
    lo = img[finite].min() if finite.any() else 0.0
    hi = img[finite].max() if finite.any() else 1.0
    scaled = (np.where(finite, img, lo) - lo) / ((hi - lo) or 1.0)
    out = np.ascontiguousarray(np.clip(scaled * 255 + 0.5, 0, 255).astype(np.uint8))
    return out[..., 0].copy() if out.shape[-1] == 1 else out


class Thumbnail(QWidget):
    """The current sample as an image or a small line plot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixels: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._curve: np.ndarray | None = None
        self.field: Any = None  # a receptive field to outline (viewer.analysis.attribution.Field)
        self.setMinimumSize(96, 96)
        self.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(128, 128)

    def clear(self) -> None:
        """Show nothing."""
        self._pixels = self._qimage = self._curve = self.field = None
        self.update()

    def show_field(self, field: Any) -> None:
        """Outline the input region ``field`` (a receptive field) on the picture; None: none."""
        if field is not self.field:
            self.field = field
            self.update()

    def show_sample(self, x: np.ndarray, layout: str) -> None:
        """Show sample ``x`` (no batch axis) laid out as ``layout``."""
        pixels = to_image(x, layout)
        self._pixels, self._curve = pixels, None
        if pixels is None:
            self._qimage = None
            curves = np.asarray(x, dtype=np.float64)
            self._curve = curves.reshape(len(curves), -1)  # (steps, features)
        else:
            h, w = pixels.shape[:2]
            fmt = QImage.Format_Grayscale8 if pixels.ndim == 2 else QImage.Format_RGB888
            self._qimage = QImage(pixels.data, w, h, pixels.strides[0], fmt)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        frame = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.fillRect(frame, self.palette().color(QPalette.Base))
        painter.setPen(QPen(self.palette().color(QPalette.Mid), 1))
        painter.drawRect(frame)
        inner = frame.adjusted(4, 4, -4, -4)
        if self._qimage is not None:
            iw, ih = self._qimage.width(), self._qimage.height()
            zoom = min(inner.width() / iw, inner.height() / ih)
            target = QRectF(0, 0, iw * zoom, ih * zoom)
            target.moveCenter(inner.center())
            painter.setRenderHint(QPainter.SmoothPixmapTransform, zoom < 1)
            painter.drawImage(target, self._qimage)
            if self.field is not None and len(self.field.clipped) == 2:
                rows, cols = self.field.clipped
                painter.setPen(QPen(QColor("red"), 1.5))
                painter.drawRect(QRectF(target.left() + cols.start * zoom,
                                        target.top() + rows.start * zoom,
                                        (cols.stop - cols.start) * zoom,
                                        (rows.stop - rows.start) * zoom))
        elif self._curve is not None and self._curve.size:
            self._draw_curve(painter, inner)
        painter.end()

    def _draw_curve(self, painter: QPainter, box: QRectF) -> None:
        """One line per feature over the steps (a vector is one feature), and the zero line."""
        y = np.nan_to_num(self._curve, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(min(y.min(), 0.0)), float(max(y.max(), 0.0))
        span = (hi - lo) or 1.0
        n = len(y)
        xs = box.left() + (np.arange(n) + 0.5) / n * box.width()
        ys = box.bottom() - (y - lo) / span * box.height()
        painter.setRenderHint(QPainter.Antialiasing, True)
        zero = box.bottom() - (0 - lo) / span * box.height()
        painter.setPen(QPen(self.palette().color(QPalette.Mid), 1, Qt.DashLine))
        painter.drawLine(QPointF(box.left(), zero), QPointF(box.right(), zero))
        for k in range(ys.shape[1]):
            path = QPainterPath(QPointF(xs[0], ys[0, k]))
            for px, py in zip(xs[1:], ys[1:, k]):
                path.lineTo(px, py)
            painter.setPen(QPen(QColor(LINE_COLOURS[k % len(LINE_COLOURS)]), 1.5))
            painter.drawPath(path)


class SamplePanel(QWidget):
    """Sample index (spin box and slider), thumbnail, label, prediction."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        box = QGroupBox("Sample")
        self.source = QLabel("No samples")
        self.source.setObjectName("samplesSource")
        self.source.setWordWrap(True)
        self.open_button = QPushButton("Open samples…")
        self.open_button.setToolTip("Open other samples for this net (HDF5, .npy, .npz, images)")
        self.preprocessing = PreprocessRow(state)
        self.spin = QSpinBox()
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(80)
        self.count = QLabel("")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setFocusPolicy(Qt.NoFocus)  # arrows belong to the window's navigation
        self.thumb = Thumbnail()
        self.label = QLabel("–")
        self.label.setObjectName("sampleLabel")
        self.prediction = QLabel("–")
        self.prediction.setObjectName("samplePrediction")
        self.prediction.setWordWrap(True)
        # Text width must not resize the panel (and so the plot) on every step.
        for label in (self.source, self.label, self.prediction):
            label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

        top = QHBoxLayout()
        top.addWidget(self.source, 1)
        top.addWidget(self.open_button)
        pick = QHBoxLayout()
        pick.addWidget(self.spin)
        pick.addWidget(self.count)
        pick.addWidget(self.slider, 1)
        facts = QFormLayout()
        facts.setVerticalSpacing(6)
        facts.addRow("Label", self.label)
        facts.addRow("Predicted", self.prediction)
        info = QHBoxLayout()
        info.addWidget(self.thumb)
        info.addSpacing(8)
        info.addLayout(facts, 1)
        inner = QVBoxLayout(box)
        inner.addLayout(top)
        inner.addWidget(self.preprocessing)
        inner.addLayout(pick)
        inner.addLayout(info)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)

        self.spin.valueChanged.connect(state.set_sample)
        self.slider.valueChanged.connect(state.set_sample)
        state.samplesChanged.connect(self.show_samples)
        state.sampleChanged.connect(self.show_index)
        state.resultReady.connect(self.show_result)
        self.show_samples(None)

    def show_samples(self, samples: Any) -> None:
        """Set up the picker for ``samples`` (None: no samples)."""
        n = len(samples) if samples is not None else 0
        for w in (self.spin, self.slider):
            w.blockSignals(True)
            w.setRange(0, max(n - 1, 0))
            w.setEnabled(n > 1)
            w.blockSignals(False)
        self.slider.setPageStep(max(1, n // 20))
        # The range of indices, not a count: "of 539" read as 539 samples.
        self.count.setText(f"in 0–{n - 1:,}" if n else "")
        if samples is None:
            self.source.setText("No samples: open a samples file to see activations.")
            self.source.setToolTip("")
        else:
            self.source.setText(f"{plural(n, 'sample')} · {self.source_text(samples)}")
            self.source.setToolTip(samples.source)
        self.thumb.clear()
        self.label.setText("–")
        self.prediction.setText("–")
        self.show_index(self._state.sample)

    def source_text(self, samples: Any) -> str:
        """Where the samples come from, short: the net file or the file's name."""
        net = self._state.net
        if net is not None and net.path and samples.path == net.path:
            return "stored in the net file"
        return _short(samples.source.replace(samples.path, os.path.basename(samples.path)))

    def show_index(self, i: int) -> None:
        """Mirror the selected index; show its label at once."""
        for w in (self.spin, self.slider):
            if w.value() != i:
                w.blockSignals(True)
                w.setValue(i)
                w.blockSignals(False)
        self.label.setText(self.label_text(i))

    def label_text(self, i: int) -> str:
        """Sample ``i``'s label as text ("–" when unlabelled)."""
        samples = self._state.samples
        if samples is None or samples.labels is None:
            return "–"
        return self.class_name(int(samples.labels[i]))

    def class_name(self, k: int) -> str:
        """Class ``k`` with its name where the samples name their classes."""
        samples = self._state.samples
        names = samples.label_names if samples is not None else None
        if names and 0 <= k < len(names) and names[k] != str(k):
            return f"{k} ({names[k]})"
        return str(k)

    def show_result(self, result: Result | None) -> None:
        """Show the computed sample's thumbnail and the net's prediction."""
        if result is None:
            self.thumb.clear()
            self.prediction.setText("–")
            return
        req = result.request
        self.thumb.show_sample(result.net_input, getattr(req.samples, "layout", "auto"))
        if result.prediction is None:
            self.prediction.setText("– (the output is not one value per class)")
            self.prediction.setStyleSheet("")
            return
        k, p = result.prediction
        text = f"{self.class_name(k)} · {100 * p:.1f} %"
        labels = req.samples.labels
        colour = ""
        if labels is not None:
            right = int(labels[req.sample]) == k
            colour = f"color: {GOOD if right else BAD}; font-weight: 600;"
            text += "  ✓" if right else "  ✗"
        self.prediction.setText(text)
        self.prediction.setStyleSheet(colour)


def _short(source: str, limit: int = 48) -> str:
    """A long source text shortened from the left, keeping the file name end."""
    return source if len(source) <= limit else "…" + source[-(limit - 1):]

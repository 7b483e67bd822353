"""Small pictures of input samples, made on demand and kept in a bounded cache.

A thumbnail shows a sample as the net sees it, like the sample panel: an
image where the input is image-like, a small line plot where it is a
vector. :class:`ThumbnailCache` reads samples in aligned blocks (one read
serves the neighbours a list view asks for next) and keeps the most recently
used pictures only, so a 60,000-sample file costs the memory of what was
looked at, not of the file.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, Qt
from PyQt5.QtGui import QColor, QImage, QPainter, QPainterPath, QPen

from viewer.gui.sample_panel import to_image

#: Samples read per block.
BLOCK = 64
#: Thumbnails kept.
CACHE_SIZE = 4096
LINE_COLOUR = "#3b75af"


def thumbnail(x: np.ndarray, layout: str, size: int) -> QImage:
    """Sample ``x`` (no batch axis) as a picture at most ``size`` pixels wide and high.

    Image-like samples keep their pixels (scaled down smoothly when larger
    than ``size``, never up: painters enlarge them crisply); vectors become a
    ``size`` x ``size`` line plot on white.
    """
    pixels = to_image(x, layout)
    if pixels is None:
        return _curve_image(np.asarray(x, dtype=np.float64).ravel(), size)
    h, w = pixels.shape[:2]
    fmt = QImage.Format_Grayscale8 if pixels.ndim == 2 else QImage.Format_RGB888
    image = QImage(pixels.data, w, h, pixels.strides[0], fmt).copy()  # owns its pixels
    if max(h, w) > size:
        image = image.scaled(size, size, Qt.KeepAspectRatio, Qt.SmoothTransformation)
    return image


def _curve_image(y: np.ndarray, size: int) -> QImage:
    image = QImage(size, size, QImage.Format_RGB32)
    image.fill(QColor("white"))
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    if not y.size:
        return image
    lo, hi = float(min(y.min(), 0.0)), float(max(y.max(), 0.0))
    span = (hi - lo) or 1.0
    box = QRectF(2, 2, size - 4, size - 4)
    xs = box.left() + (np.arange(len(y)) + 0.5) / len(y) * box.width()
    ys = box.bottom() - (y - lo) / span * box.height()
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing, True)
    path = QPainterPath(QPointF(xs[0], ys[0]))
    for px, py in zip(xs[1:], ys[1:]):
        path.lineTo(px, py)
    painter.setPen(QPen(QColor(LINE_COLOUR), 1.2))
    painter.drawPath(path)
    painter.end()
    return image


class ThumbnailCache:
    """Thumbnails of one sample set, made when first asked for.

    Parameters
    ----------
    samples : SampleSet
    size : int
        Largest thumbnail side in pixels.
    capacity : int
        Thumbnails kept (least recently used ones are dropped).
    """

    def __init__(self, samples: Any, size: int = 64, capacity: int = CACHE_SIZE) -> None:
        self.samples = samples
        self.size = size
        self.capacity = capacity
        self._images: OrderedDict[int, QImage] = OrderedDict()
        self.reads = 0  # blocks read (tests check the laziness)

    def __len__(self) -> int:
        return len(self._images)

    def get(self, i: int) -> QImage:
        """Sample ``i``'s thumbnail (reading its block of samples if needed)."""
        image = self._images.get(i)
        if image is not None:
            self._images.move_to_end(i)
            return image
        start = i - i % BLOCK
        idx = np.arange(start, min(start + BLOCK, len(self.samples)))
        self.reads += 1
        batch = self.samples.batch(idx)
        layout = getattr(self.samples, "layout", "auto")
        for j, x in zip(idx.tolist(), batch):
            if j not in self._images:
                self._images[j] = thumbnail(x, layout, self.size)
        while len(self._images) > self.capacity:
            self._images.popitem(last=False)
        return self._images[i]

    def peek(self, i: int) -> QImage | None:
        """Sample ``i``'s thumbnail if it is made already, else None (no reading)."""
        return self._images.get(i)

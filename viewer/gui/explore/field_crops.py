"""Receptive-field crops for the top-k gallery: the part of each input a conv unit's peak sees.

For a channel of a conv layer, each gallery sample shows the crop of its
input inside the receptive field of the position where the channel peaks
(:func:`viewer.analysis.attribution.peak_fields`), with the peak's centre
marked, as the DeepVis toolbox showed offline. The crops are made on a
worker thread (QImage is safe there); layers without a receptive-field rule
keep whole thumbnails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PyQt5.QtGui import QImage

from viewer.analysis.attribution.receptive import peak_fields
from viewer.errors import StrataError
from viewer.gui.sample_panel import to_image


@dataclass(frozen=True, eq=False)
class Crop:
    """One sample's crop.

    Attributes
    ----------
    image : QImage
        The input inside the field (padding left out).
    peak : (float, float)
        The field's centre in the crop's pixels (x, y), where the unit's peak looks.
    position : tuple of int
        The peak's position in the layer.
    box : tuple of slice
        The crop's rows and columns in the input.
    """

    image: QImage
    peak: tuple
    position: tuple
    box: tuple


def field_crops(net: Any, samples: Any, layer: int, unit: int,
                indices: list[int]) -> dict[int, Crop] | None:
    """Crops of samples ``indices`` for channel ``unit`` of ``layer``; None where no rule applies."""
    unique = sorted(set(indices))
    if not unique:
        return {}
    batch = samples.batch(np.asarray(unique))
    try:
        outputs = net.outputs(batch, [layer])[layer]
        found = peak_fields(net, layer, unit, outputs)
    except StrataError:
        return None
    crops = {}
    layout = getattr(samples, "layout", "auto")
    for i, x, (position, field) in zip(unique, batch, found):
        pixels = to_image(x, layout)
        rows, cols = field.clipped if len(field.clipped) == 2 else (None, None)
        if pixels is None or rows is None or rows.start == rows.stop or cols.start == cols.stop:
            return None
        part = np.ascontiguousarray(pixels[rows, cols])
        h, w = part.shape[:2]
        fmt = QImage.Format_Grayscale8 if part.ndim == 2 else QImage.Format_RGB888
        image = QImage(part.data, w, h, part.strides[0], fmt).copy()
        cy, cx = field.center
        peak = (min(max(cx - cols.start, 0), w - 1) + 0.5, min(max(cy - rows.start, 0), h - 1) + 0.5)
        crops[i] = Crop(image, peak, position, (rows, cols))
    return crops

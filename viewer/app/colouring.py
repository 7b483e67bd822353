"""Colouring a picture: scalar image -> RGBA through a colour map's table (plain numpy).

The worker thread colours every result, so the main thread only hands
finished pixels to matplotlib; the tables come from matplotlib on the main
thread (:func:`viewer.gui.colour.colour_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np


@dataclass(frozen=True, eq=False)
class Colouring:
    """What the worker needs to colour a picture.

    Attributes
    ----------
    cmap : str
        The colour map option ("auto" or a name).
    tables : mapping of str to np.ndarray
        Colour tables ((N, 4) uint8) of every map ``cmap`` may resolve to.
    gap : np.ndarray, shape (4,), uint8
        The colour of pixels that show no unit.
    """

    cmap: str
    tables: Mapping[str, np.ndarray]
    gap: np.ndarray



def to_rgba(image: np.ndarray, table: np.ndarray, lo: float, hi: float,
            gap: np.ndarray) -> np.ndarray:
    """Colour ``image`` with ``table`` between ``lo`` and ``hi``, as matplotlib would.

    Parameters
    ----------
    image : np.ndarray, shape (H, W)
        Scalar values; NaN where there is nothing to show.
    table : np.ndarray, shape (N, 4), uint8
        The colour map's RGBA colours, lowest value first.
    lo, hi : float
        Colour limits, ``lo < hi``; values outside take the end colours.
    gap : np.ndarray, shape (4,), uint8
        The colour of NaN pixels (the figure's background).

    Returns
    -------
    np.ndarray, shape (H, W, 4), uint8
        RGBA pixels. A value ``v`` gets colour
        ``floor(N * (v - lo) / (hi - lo))`` clipped to 0..N-1, the rule of
        matplotlib's Normalize and Colormap; NaN gets ``gap``.
    """
    n = len(table)
    scale = n / (hi - lo)
    t = np.multiply(image, scale, dtype=np.float32)
    t -= np.float32(lo * scale)
    np.fmax(t, 0, out=t)  # fmax also turns NaN into 0; NaN pixels are set below
    np.fmin(t, n - 1, out=t)
    index = t.astype(np.intp)
    index[np.isnan(image)] = n
    # One 4-byte item per colour, so the lookup moves one item per pixel.
    colours = np.ascontiguousarray(np.vstack([table, gap]), dtype=np.uint8)
    packed = colours.view(np.uint32).ravel()
    return packed[index].view(np.uint8).reshape(image.shape + (4,))

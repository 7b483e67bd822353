"""Colouring a picture: scalar image -> RGBA through a colour map's table.

The mapping itself is plain numpy (:func:`to_rgba`), so the worker thread does
it for every result and the main thread only hands finished pixels to
matplotlib. :func:`colour_table` reads a colour map's table from matplotlib
and is called on the main thread, where matplotlib is imported.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

TABLE_SIZE = 256


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


@lru_cache(maxsize=None)
def colour_table(name: str) -> np.ndarray:
    """The (256, 4) uint8 RGBA colours of matplotlib colour map ``name`` (read-only)."""
    import matplotlib

    table = matplotlib.colormaps[name](np.linspace(0.0, 1.0, TABLE_SIZE), bytes=True)
    table.setflags(write=False)
    return table

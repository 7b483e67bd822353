"""Colour maps' tables, read from matplotlib (on the main thread, where it is imported).

The colouring itself is plain numpy in :mod:`viewer.app.colouring`, so the
worker thread does it and the main thread only hands finished pixels to
matplotlib.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

TABLE_SIZE = 256


@lru_cache(maxsize=None)
def colour_table(name: str) -> np.ndarray:
    """The (256, 4) uint8 RGBA colours of matplotlib colour map ``name`` (read-only)."""
    import matplotlib

    table = matplotlib.colormaps[name](np.linspace(0.0, 1.0, TABLE_SIZE), bytes=True)
    table.setflags(write=False)
    return table

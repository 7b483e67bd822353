"""A layer's parameter array laid out as one picture (pure numpy, no Qt).

- Conv kernels (O, C, kh, kw) (always OIHW in Strata's nets):
  - first-layer filters on 1 or 3 input channels become *filters as
    images*: one tile per output filter, grey values or RGB colours;
  - otherwise a *kernel grid*: a row per output channel, a column per
    input channel, each tile one kh x kw kernel (depthwise kernels, with one
    input channel each, as a near-square mosaic of tiles);
- matrices (a dense layer's W (in, out)) as they are;
- vectors (biases, batch-norm scales) are not pictures: the view draws them
  as values per unit.

Tiles are separated by 1-pixel gaps of NaN, like the activation mosaics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from viewer.analysis import mosaic_grid

ASPECT = 4 / 3


@dataclass(frozen=True, eq=False)
class WeightPicture:
    """One parameter array as an image, with the way back to its entries.

    Attributes
    ----------
    image : np.ndarray
        (H, W) values with NaN gaps; for ``kind == "rgb"`` (H, W, 4) RGBA
        floats in [0, 1] (each filter's colours stretched around 0.5, gaps
        transparent).
    kind : str
        "rgb" or "filters" (first-layer filters as images), "kernels"
        (output x input grid), "mosaic" (one tile per kernel, for depthwise
        kernels), "matrix", or "vector" (no picture).
    grid : (int, int)
        Rows and columns of tiles (of the matrix for "matrix").
    tile : (int, int)
        Height and width of one tile; (1, 1) for a matrix.
    source : np.ndarray
        The parameter array as given.
    """

    image: np.ndarray
    kind: str
    grid: tuple[int, int]
    tile: tuple[int, int]
    source: np.ndarray

    def tile_box(self, k: int) -> tuple[int, int, int, int]:
        """``top, left, height, width`` of tile ``k`` (row-major over ``grid``)."""
        h, w = self.tile
        r, c = divmod(k, self.grid[1])
        return r * (h + 1), c * (w + 1), h, w

    def locate(self, row: float, col: float) -> Optional[dict[str, Any]]:
        """The entry under image pixel (row, col): its index, value and what it means."""
        r, c = int(np.floor(row + 0.5)), int(np.floor(col + 0.5))
        if self.kind == "vector" or not (0 <= r < self.image.shape[0]
                                         and 0 <= c < self.image.shape[1]):
            return None
        a = self.source
        if self.kind == "matrix":
            index = (r, c) if a.ndim == 2 else np.unravel_index(r * self.grid[1] + c, a.shape)
            found: dict[str, Any] = {"row": r, "col": c}
        else:
            h, w = self.tile
            tr, y = divmod(r, h + 1)
            tc, x = divmod(c, w + 1)
            if y == h or x == w:
                return None
            k = tr * self.grid[1] + tc
            if self.kind == "kernels":
                out, inp = tr, tc
            elif self.kind == "mosaic":
                out, inp = divmod(k, a.shape[1])
            else:  # one tile per filter: its only input channel, or all three colours
                out, inp = k, (0 if self.kind == "filters" else None)
            if out >= a.shape[0]:
                return None
            if inp is None:
                index = (out, slice(None), y, x)
                found = {"out": out, "y": y, "x": x}
            else:
                index = (out, inp, y, x)
                found = {"out": out, "in": inp, "y": y, "x": x}
        index = tuple(int(i) if not isinstance(i, slice) else i for i in index)
        found["index"] = index
        value = a[index]
        found["value"] = float(value) if np.ndim(value) == 0 else np.asarray(value, float)
        return found


def weight_picture(W: np.ndarray, first_layer: bool = False) -> WeightPicture:
    """Lay out parameter array ``W`` as described in the module docstring.

    Parameters
    ----------
    W : np.ndarray
        A parameter array of any shape.
    first_layer : bool
        The layer reads the net's input, so 1- or 3-channel conv filters are
        shown as little images (one tile per filter).
    """
    a = np.asarray(W)
    if a.ndim <= 1:
        return WeightPicture(np.zeros((0, 0)), "vector", (1, max(a.size, 1)), (1, 1), a)
    if a.ndim == 4:
        o, c, kh, kw = a.shape
        if first_layer and c == 3:
            return _rgb_filters(a)
        if first_layer and c == 1:
            return _tiles(a.reshape(o, kh, kw), "filters", mosaic_grid(o, kh, kw, ASPECT), a)
        if c == 1 or o == 1:
            n = o * c
            return _tiles(a.reshape(n, kh, kw), "mosaic", mosaic_grid(n, kh, kw, ASPECT), a)
        return _tiles(a.reshape(o * c, kh, kw), "kernels", (o, c), a)
    matrix = a.reshape(a.shape[0], -1).astype(np.float64)
    return WeightPicture(matrix, "matrix", matrix.shape, (1, 1), a)


def _tiles(tiles: np.ndarray, kind: str, grid: tuple[int, int],
           source: np.ndarray) -> WeightPicture:
    """Tiles (n, h, w[, channels]) row-major into a grid with NaN gaps."""
    n, h, w = tiles.shape[:3]
    rows, cols = grid
    extra = tiles.shape[3:]
    canvas = np.full((rows, h + 1, cols, w + 1) + extra, np.nan)
    padded = np.full((rows * cols, h, w) + extra, np.nan)
    padded[:n] = tiles
    canvas[:, :h, :, :w] = padded.reshape((rows, cols, h, w) + extra).swapaxes(1, 2)
    image = canvas.reshape((rows * (h + 1), cols * (w + 1)) + extra)[:-1, :-1]
    return WeightPicture(np.ascontiguousarray(image), kind, grid, (h, w), source)


def _rgb_filters(a: np.ndarray) -> WeightPicture:
    """3-channel first-layer filters as RGB tiles, each stretched around grey."""
    o, _, kh, kw = a.shape
    rgb = np.moveaxis(a.astype(np.float64), 1, -1)  # (O, kh, kw, 3)
    peak = np.abs(rgb).reshape(o, -1).max(axis=1)
    rgb = 0.5 + rgb / (2 * np.where(peak > 0, peak, 1.0))[:, None, None, None]
    rgba = np.concatenate([rgb, np.ones(rgb.shape[:3] + (1,))], axis=-1)
    pic = _tiles(rgba, "rgb", mosaic_grid(o, kh, kw, ASPECT), a)
    image = pic.image.copy()
    image[np.isnan(image[..., 3])] = 0.0  # gaps: transparent
    return WeightPicture(image, "rgb", pic.grid, pic.tile, a)

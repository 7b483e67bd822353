"""One sample's activation as one 2-D picture for a heatmap.

The window always draws a single image, whatever the layer: a dense layer's
units as a near-square grid, a conv layer's channels as one mosaic of tiles
with 1-pixel gaps, a sequence as time x features. Cells that hold no unit
(grid padding, gaps, unused tiles) are NaN so the colour map leaves them
empty instead of painting them as zero. The :class:`Picture` also maps every
pixel back to the unit it shows, for hover text and for opening one channel
large. Pure numpy; called on every sample or layer change, so it is
vectorised (no Python loop over channels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

#: Accepted ``layout`` values of :func:`to_picture`.
LAYOUTS = ("auto", "channels_first", "channels_last", "vector", "sequence")
#: Accepted ``scale`` values of :func:`to_picture`.
SCALES = ("shared", "channel")

# Weight of unused tiles against a poor aspect ratio when choosing a mosaic
# grid: 3 makes 64 channels an 8 x 8 square rather than 10 x 7 with 6 holes.
_EMPTY_TILE_WEIGHT = 3.0


@dataclass(frozen=True, eq=False)
class Picture:
    """An activation laid out as one image, with the way back to its units.

    Attributes
    ----------
    image : np.ndarray, shape (H, W)
        The picture; float64 for float64 (or wider) activations, float32
        otherwise (ints and bools included).
        NaN where no unit is shown (grid padding, mosaic gaps, unused tiles)
        and where the activation itself is NaN. With ``scale="channel"``
        the values are normalised (see :func:`to_picture`).
    kind : str
        ``"grid"`` (units of a vector, row by row), ``"matrix"`` (a 2-D
        activation shown as is) or ``"mosaic"`` (2-D maps as tiles).
    layout : str
        The layout used: ``"vector"``, ``"sequence"``, ``"channels_first"``
        or ``"channels_last"`` (``"auto"`` is resolved).
    scale : str
        ``"shared"`` or ``"channel"``.
    grid : (int, int)
        Rows and columns of units (grid), of tiles (mosaic), or of the
        image (matrix).
    tile : (int, int)
        Height and width of one mosaic tile, without its gap; (1, 1) otherwise.
    channel_boxes : np.ndarray, shape (K, 4), int64
        ``top, left, height, width`` in ``image`` of each mosaic channel
        ``k``, so ``image[top:top+height, left:left+width]`` is channel ``k``.
        K = 0 unless ``kind == "mosaic"``.
    axes : (str, str)
        What image rows and columns mean: ``("channel", "x")``,
        ``("x", "channel")`` or ``("step", "feature")`` for a matrix,
        ``("y", "x")`` inside mosaic tiles, ``("", "")`` for a grid.
    source : np.ndarray
        The activation as given (kept by reference, not copied), which
        :meth:`locate` and :meth:`channel_map` read raw values from.
    """

    image: np.ndarray = field(repr=False)
    kind: str
    layout: str
    scale: str
    grid: tuple[int, int]
    tile: tuple[int, int]
    channel_boxes: np.ndarray = field(repr=False)
    axes: tuple[str, str]
    source: np.ndarray = field(repr=False)

    def channel_at(self, row: float, col: float) -> Optional[int]:
        """The mosaic channel ``k`` under pixel (row, col); None for gaps and
        unused tiles, outside the image, or when this is not a mosaic.

        Float coordinates (matplotlib's ``event.ydata, event.xdata`` over an
        ``imshow`` with the default extent) are rounded to the nearest pixel.
        """
        hit = self._tile_at(row, col)
        return None if hit is None else hit[0]

    def channel_map(self, k: int) -> np.ndarray:
        """Raw values of mosaic channel ``k``, shape ``tile`` (h, w).

        A view into ``source``; unnormalised even with ``scale="channel"``.
        Raises IndexError unless ``0 <= k < len(channel_boxes)``.
        """
        if not 0 <= k < len(self.channel_boxes):
            raise IndexError(f"no mosaic channel {k} (this picture has {len(self.channel_boxes)})")
        return self.source[self._mosaic_index(k, slice(None), slice(None))]

    def locate(self, row: float, col: float) -> Optional[dict[str, Any]]:
        """What pixel (row, col) shows, for hover text.

        Parameters
        ----------
        row, col : float
            Image coordinates; floats are rounded to the nearest pixel.

        Returns
        -------
        dict or None
            None where no unit is shown. Otherwise ``"value"`` (the raw
            activation value as a float, NaN if the unit is NaN), ``"index"``
            (tuple of ints into ``source``), and by ``kind``:

            - grid: ``"unit"``, the flat (C-order) unit number;
            - matrix: the two ``axes`` names, e.g. ``"step"``, ``"feature"``
              (a flat number when trailing feature axes were merged);
            - mosaic: ``"channel"`` (mosaic channel k, see :func:`to_picture`),
              ``"y"``, ``"x"``.
        """
        r, c = _pixel(row), _pixel(col)
        h_img, w_img = self.image.shape
        if not (0 <= r < h_img and 0 <= c < w_img):
            return None
        if self.kind == "grid":
            unit = r * self.grid[1] + c
            if unit >= self.source.size:
                return None
            index = _unravel(unit, self.source.shape)
            found: dict[str, Any] = {"unit": unit}
        elif self.kind == "matrix":
            index = (r,) + _unravel(c, self.source.shape[1:])
            found = {self.axes[0]: r, self.axes[1]: c}
        else:
            hit = self._tile_at(r, c)
            if hit is None:
                return None
            k, y, x = hit
            index = self._mosaic_index(k, y, x)
            found = {"channel": k, "y": y, "x": x}
        found["index"] = index
        found["value"] = float(self.source[index])
        return found

    def _tile_at(self, row: float, col: float) -> Optional[tuple[int, int, int]]:
        """(k, y, x) of the mosaic pixel at (row, col), or None."""
        if self.kind != "mosaic":
            return None
        r, c = _pixel(row), _pixel(col)
        h_img, w_img = self.image.shape
        if not (0 <= r < h_img and 0 <= c < w_img):
            return None
        h, w = self.tile
        tile_row, y = divmod(r, h + 1)
        tile_col, x = divmod(c, w + 1)
        k = tile_row * self.grid[1] + tile_col
        if y == h or x == w or k >= len(self.channel_boxes):
            return None
        return k, y, x

    def _mosaic_index(self, k: int, y: Any, x: Any) -> tuple:
        """Index into ``source`` of mosaic channel ``k`` at (y, x) (ints or slices)."""
        shape = self.source.shape
        if self.layout == "channels_first":
            return _unravel(k, shape[:-2]) + (y, x)
        channel, *extra = _unravel(k, (shape[-1],) + shape[:-3])
        return tuple(extra) + (y, x, channel)


def to_picture(
    act: np.ndarray,
    layout: str = "auto",
    scale: str = "shared",
    aspect: float = 4 / 3,
) -> Picture:
    """Lay out one sample's activation as a single 2-D image.

    Parameters
    ----------
    act : np.ndarray
        One sample's activation, no batch axis; real values of any dtype.
    layout : str
        How to read ``act``:

        - ``"vector"``: any shape, flattened in C order, shown as a
          near-square grid of ``ceil(sqrt(n))`` columns filled row by row;
          the padding after the last unit is NaN. 0-D and 1-D activations
          (and empty ones) are always shown this way.
        - ``"sequence"``: (T, F) shown as is, a row per step. (T, *F) with
          more axes merges the trailing ones into F (C order).
        - ``"channels_first"``: (C, H, W) becomes a mosaic of C tiles of
          H x W. (C, L) (a 1-D conv) is shown as is, a row per channel.
          (C, D..., H, W) makes a tile of every (c, d...) slice, in C order,
          so channel c's D... slices sit next to each other.
        - ``"channels_last"``: (H, W, C), (L, C) and (D..., H, W, C), the
          same pictures as channels_first gives for the transposed arrays;
          (L, C) is shown as is, a column per channel.
        - ``"auto"``: vector for 0-D/1-D, sequence for 2-D; from 3-D on, a
          guess: channels first if the last two axes are equal and the two
          before them are not (e.g. (64, 7, 7)), channels last in the mirror
          case (e.g. (7, 7, 64)), else channels on the shorter of the first
          and last axes. Pass the layer's data format when it is known.
    scale : str
        ``"shared"``: raw values, one colour scale for all. ``"channel"``:
        each channel is divided by its own largest finite ``|value|``, so a
        weak channel shows its pattern as clearly as a strong one while zero
        stays zero (a diverging map stays centred): values land in [0, 1],
        [-1, 0] or [-1, 1] by sign. A channel whose finite values are all
        zero, or that has none, is left as it is (no division by zero).
        Channels are the mosaic's C (a channel's D... slices share one
        divisor), the rows (channels_first) or columns (channels_last) of a
        1-D conv, the features of a sequence; a vector is one channel.
    aspect : float
        Width / height of the canvas the mosaic should fit; see
        :func:`mosaic_grid`. Only used for mosaics.

    Returns
    -------
    Picture
        The image and the mapping from its pixels back to ``act``.

    Raises
    ------
    ValueError
        For an unknown ``layout`` or ``scale``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    a = np.asarray(act)
    dtype = np.float64 if a.dtype.kind == "f" and a.dtype.itemsize > 4 else np.float32
    per_channel = scale == "channel"
    layout = resolve_layout(a.shape, layout) if a.size else "vector"
    no_boxes = np.zeros((0, 4), dtype=np.int64)

    if layout == "vector":
        n = a.size
        cols = max(1, math.ceil(math.sqrt(n)))
        rows = max(1, -(-n // cols))
        flat = np.full(rows * cols, np.nan, dtype=dtype)
        flat[:n] = a.ravel()
        if per_channel:
            flat /= _peaks(flat.reshape(1, -1), dtype)[0]
        return Picture(flat.reshape(rows, cols), "grid", "vector", scale,
                       (rows, cols), (1, 1), no_boxes, ("", ""), a)

    if layout == "sequence" or a.ndim == 2:
        image = a.reshape(a.shape[0], -1).astype(dtype)
        if per_channel:
            # Channels are rows for channels_first, columns otherwise.
            if layout == "channels_first":
                image /= _peaks(image, dtype)[:, None]
            else:
                image /= _peaks(image.T, dtype)[None, :]
        axes = {"sequence": ("step", "feature"), "channels_first": ("channel", "x"),
                "channels_last": ("x", "channel")}[layout]
        return Picture(image, "matrix", layout, scale, image.shape, (1, 1),
                       no_boxes, axes, a)

    # Mosaic: bring channels first (a view), then one tile per leading index.
    chan = a if layout == "channels_first" else np.moveaxis(a, -1, 0)
    h, w = chan.shape[-2:]
    n = math.prod(chan.shape[:-2])
    tiles = chan.reshape(n, h, w)
    rows, cols = mosaic_grid(n, h, w, aspect)

    canvas = np.full((rows, h + 1, cols, w + 1), np.nan, dtype=dtype)
    body = canvas[:, :h, :, :w]  # (rows, h, cols, w): every tile without its gap
    full_rows, rest = divmod(n, cols)
    body[:full_rows] = tiles[: full_rows * cols].reshape(full_rows, cols, h, w).transpose(0, 2, 1, 3)
    if rest:
        body[full_rows, :, :rest] = tiles[full_rows * cols:].transpose(1, 0, 2)
    if per_channel:
        per_tile = np.repeat(_peaks(chan, dtype), n // chan.shape[0])
        divisors = np.ones(rows * cols, dtype=dtype)
        divisors[:n] = per_tile
        body /= divisors.reshape(rows, 1, cols, 1)

    k = np.arange(n)
    boxes = np.empty((n, 4), dtype=np.int64)
    boxes[:, 0] = k // cols * (h + 1)
    boxes[:, 1] = k % cols * (w + 1)
    boxes[:, 2] = h
    boxes[:, 3] = w
    # Drop the gap after the last tile row and column; contiguous for buffer users.
    image = np.ascontiguousarray(canvas.reshape(rows * (h + 1), cols * (w + 1))[:-1, :-1])
    return Picture(image, "mosaic", layout, scale, (rows, cols), (h, w),
                   boxes, ("y", "x"), a)


def mosaic_grid(n: int, h: int, w: int, aspect: float = 4 / 3) -> tuple[int, int]:
    """Rows and columns of tiles for a mosaic of ``n`` tiles of ``h x w``.

    Every column count 1..n is scored (rows = ``ceil(n / cols)``) by how far
    the mosaic's pixel aspect ratio, gaps included, is from ``aspect``
    (on a log scale), plus 3 x the fraction of unused tiles; the lowest
    score wins. So square-ish grids that fit a wide-ish canvas win, and a
    grid that fills exactly is preferred to one with holes: 64 square tiles
    give 8 x 8, 32 give 5 x 7, 6 give 2 x 3, 3 give 1 x 3.

    Returns
    -------
    (int, int)
        ``(rows, cols)`` with ``rows * cols >= n`` and no empty row.

    Raises
    ------
    ValueError
        Unless ``aspect > 0``.
    """
    if not aspect > 0:
        raise ValueError(f"aspect must be positive, got {aspect!r}")
    if n <= 1:
        return (1, 1)
    cols = np.arange(1, n + 1)
    rows = -(-n // cols)
    shape_ratio = (cols * (w + 1) - 1) / (rows * (h + 1) - 1)
    score = np.abs(np.log(shape_ratio / aspect)) + _EMPTY_TILE_WEIGHT * (rows * cols - n) / n
    best = int(np.argmin(score))
    return int(rows[best]), int(cols[best])


def resolve_layout(shape: tuple[int, ...], layout: str) -> str:
    """Turn ``"auto"`` (and layouts that need more axes) into the one used."""
    ndim = len(shape)
    if ndim < 2:
        return "vector"
    if layout != "auto":
        return layout
    if ndim == 2:
        return "sequence"
    first_square = shape[-2] == shape[-1]
    last_square = shape[-3] == shape[-2]
    if first_square != last_square:
        return "channels_first" if first_square else "channels_last"
    return "channels_first" if shape[0] <= shape[-1] else "channels_last"


def _peaks(chan: np.ndarray, dtype: type) -> np.ndarray:
    """Per-channel divisor, shape (C,), of ``chan`` (C, ...) with C >= 1 and
    no empty channel: the largest finite |value| of each channel, or 1 where
    that is 0 or there is no finite value."""
    # Computing |value| in the picture's float dtype avoids integer overflow (-128 in int8).
    mag = np.abs(chan, dtype=dtype)
    bad = ~np.isfinite(mag)
    if bad.any():
        mag[bad] = 0
    peak = mag.max(axis=tuple(range(1, chan.ndim)))
    return np.where(peak > 0, peak, 1).astype(dtype, copy=False)


def _pixel(v: float) -> int:
    """Nearest pixel index to an image coordinate (pixel i spans i +- 0.5);
    -1, which is outside every image, for NaN or infinite coordinates."""
    return int(math.floor(v + 0.5)) if math.isfinite(v) else -1


def _unravel(k: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """np.unravel_index as a tuple of Python ints."""
    return tuple(int(i) for i in np.unravel_index(k, shape))

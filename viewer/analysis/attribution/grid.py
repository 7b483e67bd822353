"""Which axes of a per-sample array are positions and which one holds channels.

Attribution maps live on positions: an image's height and width, a
sequence's time steps, a vector's features. A :class:`Grid` records the
split for one layer's (or the input's) per-sample shape, moves arrays to a
canonical ``(batch, channels, *positions)`` order, and resizes maps between
grids with linear interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from viewer.errors import StrataError


@dataclass(frozen=True)
class Grid:
    """The position/channel split of one per-sample shape.

    Attributes
    ----------
    shape : tuple of int
        The per-sample shape, e.g. (C, H, W), (H, W, C), (T, F) or (F,).
    channel_axis : int or None
        Axis of ``shape`` holding channels (features of a sequence); None
        for vectors, whose every axis is a position.
    layout : str
        "channels_first", "channels_last", "sequence" or "vector".
    """

    shape: tuple
    channel_axis: int | None
    layout: str

    @property
    def position_axes(self) -> tuple[int, ...]:
        return tuple(a for a in range(len(self.shape)) if a != self.channel_axis)

    @property
    def positions(self) -> tuple[int, ...]:
        """Sizes of the position axes, e.g. (H, W)."""
        return tuple(self.shape[a] for a in self.position_axes)

    @property
    def channels(self) -> int:
        return 1 if self.channel_axis is None else self.shape[self.channel_axis]

    def canonical(self, batch: np.ndarray) -> np.ndarray:
        """``batch`` (B, *shape) as (B, channels, *positions), a view where possible."""
        if self.channel_axis is None:
            return batch[:, None]
        return np.moveaxis(batch, self.channel_axis + 1, 1)

    def expand(self, values: np.ndarray) -> np.ndarray:
        """A map over positions, shape ``positions``, repeated along the channel axis: ``shape``."""
        if self.channel_axis is None:
            return np.array(values, copy=True)
        return np.repeat(np.expand_dims(values, self.channel_axis), self.channels,
                         axis=self.channel_axis)

    def picture(self, sample: np.ndarray) -> np.ndarray:
        """One sample as a picture in [0, 1] to draw a map over: (H, W) grey or (H, W, 3) colour
        for images (three channels are colour, others are averaged), (T, F) for a sequence,
        (1, F) for a vector. Scaled by the sample's own range."""
        canonical = self.canonical(np.asarray(sample, dtype=np.float64)[None])[0]  # (C, *positions)
        if self.layout == "vector":
            image = canonical.reshape(1, -1)
        elif self.layout == "sequence":
            image = canonical.T  # rows are steps, as the heatmap draws sequences
        elif self.channels == 3:
            image = np.moveaxis(canonical, 0, -1)
        else:
            image = canonical.mean(axis=0)
        low, high = np.nanmin(image), np.nanmax(image)
        return (image - low) / (high - low) if high > low else np.zeros_like(image)

    def mask(self, masks: np.ndarray) -> np.ndarray:
        """Masks (B, *positions) shaped to broadcast against a batch (B, *shape)."""
        if self.channel_axis is None:
            return masks
        return np.expand_dims(masks, self.channel_axis + 1)


def grid_of(shape: Sequence[Any], data_format: str | None) -> Grid:
    """The grid of a per-sample shape, given the nearest data format (or None).

    Rank 3 is an image, (C, H, W) or (H, W, C) by ``data_format`` (channels
    last when unknown); rank 2 a sequence, (T, F), or (C, T) when the format
    says channels first; rank 1 a vector of features.

    Raises
    ------
    StrataError
        For unknown sizes or ranks other than 1, 2 and 3.
    """
    shape = tuple(shape)
    if any(s is None for s in shape):
        raise StrataError(f"the per-sample shape {shape} has unknown sizes")
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return Grid(shape, None, "vector")
    if len(shape) == 2:
        return Grid(shape, 0 if data_format == "channels_first" else 1, "sequence")
    if len(shape) == 3:
        if data_format == "channels_first":
            return Grid(shape, 0, "channels_first")
        return Grid(shape, 2, "channels_last")
    raise StrataError(f"cannot tell positions from channels in a per-sample shape of rank "
                      f"{len(shape)}: {shape}")


def data_format_near(layer: Any) -> str | None:
    """The data format of ``layer`` or of the nearest layer before it that has one."""
    todo, seen = [layer], set()
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        fmt = getattr(current, "data_format", None)
        if fmt in ("channels_first", "channels_last"):
            return fmt
        todo.extend(current.inputs)
    return None


def layer_grid(net: Any, index: int) -> Grid:
    """The grid of layer ``index``'s per-sample output."""
    layer = net[index]
    try:
        return grid_of(layer.output_shape, data_format_near(layer))
    except StrataError as exc:
        raise StrataError(f"layer {layer.name!r}: {exc}") from None


def resize_linear(values: np.ndarray, size: Sequence[int], dtype: Any = np.float64) -> np.ndarray:
    """Resize the last ``len(size)`` axes of ``values`` by (bi)linear interpolation.

    Half-pixel centres, edges clamped: output cell i of n samples the input
    at ``(i + 0.5) * m / n - 0.5`` (m input cells), as PyTorch's
    ``interpolate(..., align_corners=False)`` and OpenCV's ``resize`` do.
    Separable, so the cost is one small matrix product per axis, in ``dtype``.
    """
    out = np.asarray(values, dtype=dtype)
    first = out.ndim - len(size)
    for k, n in enumerate(size):
        axis = first + k
        m = out.shape[axis]
        if m == n:
            continue
        weights = _linear_weights(m, int(n)).T.astype(dtype)
        out = np.moveaxis(np.moveaxis(out, axis, -1) @ weights, -1, axis)
    return out


def _linear_weights(m: int, n: int) -> np.ndarray:
    """(n, m) matrix of linear interpolation weights from m cells to n."""
    where = np.clip((np.arange(n) + 0.5) * m / n - 0.5, 0, m - 1)
    low = np.floor(where).astype(np.int64)
    high = np.minimum(low + 1, m - 1)
    frac = where - low
    weights = np.zeros((n, m))
    weights[np.arange(n), low] += 1 - frac
    weights[np.arange(n), high] += frac
    return weights

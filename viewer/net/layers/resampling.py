"""Resizing images to a given size and repeating data: Resize2D and Tile.

Resize2D follows TFLite's (and TensorFlow's) coordinate rules: output cell
``i`` samples input position ``(i + 0.5) * scale - 0.5`` with half-pixel
centres, ``i * scale`` without, and ``scale = (in - 1) / (out - 1)`` with
aligned corners.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from viewer.errors import LayerError
from viewer.net.layers.base import Layer, Shape, check_format, need_rank, register

MODES = ("nearest", "bilinear")


def _scale(n_in: int, n_out: int, align_corners: bool) -> float:
    if align_corners and n_out > 1:
        return (n_in - 1) / (n_out - 1)
    return n_in / n_out


def nearest_indices(n_in: int, n_out: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """Input index of each output cell for nearest-neighbour resizing (float32 as TFLite)."""
    scale = np.float32(_scale(n_in, n_out, align_corners))
    pos = (np.arange(n_out, dtype=np.float32) + np.float32(0.5 if half_pixel else 0.0)) * scale
    idx = np.sign(pos) * np.floor(np.abs(pos) + 0.5) if align_corners else np.floor(pos)
    idx = np.minimum(idx.astype(np.int64), n_in - 1)
    return np.maximum(idx, 0)


def bilinear_weights(n_in: int, n_out: int, align_corners: bool,
                     half_pixel: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower index, upper index, weight of the upper) per output cell, float32 as TFLite."""
    scale = np.float32(_scale(n_in, n_out, align_corners))
    i = np.arange(n_out, dtype=np.float32)
    pos = (i + np.float32(0.5)) * scale - np.float32(0.5) if half_pixel else i * scale
    lower = np.maximum(np.floor(pos), 0).astype(np.int64)
    upper = np.minimum(np.ceil(pos), n_in - 1).astype(np.int64)
    return lower, upper, (pos - lower).astype(np.float32)


@register
class Resize2D(Layer):
    """Resize height and width to ``size`` by nearest neighbour or bilinear interpolation.

    Parameters
    ----------
    size : (int, int)
        Output height and width.
    mode : "nearest" or "bilinear"
    align_corners, half_pixel_centers : bool
        The coordinate rule (see the module notes).
    data_format : "channels_first" or "channels_last"
    """

    kind = "Resize2D"

    def __init__(self, prev: Layer, *, name: str, size: Sequence[int], mode: str = "nearest",
                 align_corners: bool = False, half_pixel_centers: bool = False,
                 data_format: str = "channels_last") -> None:
        super().__init__(prev, name=name)
        try:
            self.size = tuple(int(s) for s in size)
        except (TypeError, ValueError):
            raise LayerError(f"layer {name!r}: size must be two sizes, not {size!r}") from None
        if len(self.size) != 2 or min(self.size) < 1:
            raise LayerError(f"layer {name!r}: size must be two positive sizes, not {size!r}")
        if mode not in MODES:
            raise LayerError(f"layer {name!r}: mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.align_corners, self.half_pixel_centers = bool(align_corners), bool(half_pixel_centers)
        self.data_format = check_format(data_format)

    def config(self) -> dict:
        return {"size": list(self.size), "mode": self.mode, "align_corners": self.align_corners,
                "half_pixel_centers": self.half_pixel_centers, "data_format": self.data_format}

    def infer_shape(self, in_shape: Shape) -> Shape:
        need_rank(self, in_shape, 3)
        if self.data_format == "channels_last":
            return self.size + (in_shape[2],)
        return (in_shape[0],) + self.size

    def forward(self, x: np.ndarray) -> np.ndarray:
        h_axis = 1 if self.data_format == "channels_last" else 2
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        for axis, n_out in ((h_axis, self.size[0]), (h_axis + 1, self.size[1])):
            n_in = x.shape[axis]
            if self.mode == "nearest":
                x = np.take(x, nearest_indices(n_in, n_out, self.align_corners, self.half_pixel_centers),
                            axis=axis)
                continue
            lower, upper, w = bilinear_weights(n_in, n_out, self.align_corners, self.half_pixel_centers)
            shape = [1] * x.ndim
            shape[axis] = n_out
            w = w.reshape(shape).astype(x.dtype)
            low, high = np.take(x, lower, axis=axis), np.take(x, upper, axis=axis)
            x = low * (1 - w) + high * w
        return x


@register
class Tile(Layer):
    """Repeat each sample ``reps`` times along each of its axes (numpy's ``tile``).

    Parameters
    ----------
    reps : sequence of int
        One count per sample axis (the batch is never repeated).
    """

    kind = "Tile"

    def __init__(self, prev: Layer, *, name: str, reps: Sequence[int]) -> None:
        super().__init__(prev, name=name)
        try:
            self.reps = tuple(int(r) for r in reps)
        except (TypeError, ValueError):
            raise LayerError(f"layer {name!r}: reps must be counts, not {reps!r}") from None
        if any(r < 1 for r in self.reps):
            raise LayerError(f"layer {name!r}: repetition counts must be at least 1, not {self.reps}")

    def config(self) -> dict:
        return {"reps": list(self.reps)}

    def infer_shape(self, in_shape: Shape) -> Shape:
        need_rank(self, in_shape, len(self.reps))
        return tuple(None if n is None else n * r for n, r in zip(in_shape, self.reps))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.tile(x, (1,) + self.reps)

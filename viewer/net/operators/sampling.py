"""ONNX GridSample: sampling an image (any number of spatial axes) at given coordinates,
with every mode (nearest, linear, cubic), padding mode and align_corners setting."""

from __future__ import annotations

import itertools

import numpy as np

from viewer.net.operators import operator

CUBIC_A = -0.75  # the cubic convolution coefficient GridSample uses


def _reflect(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Coordinates outside [low, high] reflected back in, as often as needed."""
    span = high - low
    if span <= 0:
        return np.full_like(x, low)
    below, above = low - x, x - high
    out = x.copy()
    for distance, inside_from, other in ((below, low, high), (above, high, low)):
        mask = distance > 0
        folds = np.floor(distance[mask] / span)
        rest = distance[mask] - folds * span
        step = np.sign(other - inside_from)
        out[mask] = np.where(folds % 2 == 0, inside_from + step * rest, other - step * rest)
    return out


def _borders(size: int, align_corners: bool) -> tuple[float, float]:
    return (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)


def _read(x: np.ndarray, index: list, sizes: tuple, padding: str, align_corners: bool) -> np.ndarray:
    """x (N, C, *sizes) at integer positions ``index`` (one (N, *out) array per spatial axis):
    (N, C, *out); positions outside the image read 0, the border, or their reflection."""
    inside = np.ones(index[0].shape, bool)
    fixed = []
    for i, size in zip(index, sizes):
        if padding == "zeros":
            inside &= (i >= 0) & (i < size)
            i = np.clip(i, 0, size - 1)
        elif padding == "border":
            i = np.clip(i, 0, size - 1)
        else:
            i = np.trunc(_reflect(i.astype(np.float64), *_borders(size, align_corners))).astype(np.int64)
            i = np.clip(i, 0, size - 1)
        fixed.append(i)
    n = np.broadcast_to(np.arange(x.shape[0]).reshape((-1,) + (1,) * (index[0].ndim - 1)), index[0].shape)
    values = np.moveaxis(np.moveaxis(x, 1, -1)[(n,) + tuple(fixed)], -1, 1)
    return values * np.expand_dims(inside, 1)


def _cubic_weights(t: np.ndarray) -> list[np.ndarray]:
    """The four cubic-convolution weights of the points at -1, 0, 1, 2 from the floor."""
    a = CUBIC_A
    far = lambda d: ((a * d - 5 * a) * d + 8 * a) * d - 4 * a  # noqa: E731 - 1 <= |d| < 2
    near = lambda d: ((a + 2) * d - (a + 3)) * d * d + 1  # noqa: E731 - |d| < 1
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


@operator("GridSample")
def _grid_sample(inputs: list, attrs: dict, opset: int) -> list:
    x, grid = inputs[0], inputs[1]
    mode = attrs.get("mode", "linear")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)  # opset 16's names
    padding = attrs.get("padding_mode", "zeros")
    align = bool(attrs.get("align_corners", 0))
    if mode not in ("nearest", "linear", "cubic") or padding not in ("zeros", "border", "reflection"):
        raise ValueError(f"GridSample mode {mode!r} / padding_mode {padding!r} is not defined")
    sizes = x.shape[2:]
    # The grid's last axis lists (x, y, ...): the spatial axes from the last one.
    coords = []
    for k, size in enumerate(sizes):
        g = grid[..., len(sizes) - 1 - k].astype(np.float64)
        c = (g + 1) / 2 * (size - 1) if align else ((g + 1) * size - 1) / 2
        if mode == "nearest":
            c = np.rint(c)
        low, high = _borders(size, align)
        outside = (c < low) | (c > high)
        if padding == "border":
            c = np.where(outside, np.clip(c, 0, size - 1), c)
        elif padding == "reflection":
            c = np.where(outside, _reflect(c, low, high), c)
        coords.append(c)
    xf = x.astype(np.float64)
    if mode == "nearest":
        y = _read(xf, [c.astype(np.int64) for c in coords], sizes, padding, align)
        return [y.astype(x.dtype)]
    floors = [np.floor(c) for c in coords]
    fracs = [c - f for c, f in zip(coords, floors)]
    if mode == "linear":
        offsets, weights = (0, 1), [[1 - t, t] for t in fracs]
    else:
        offsets, weights = (-1, 0, 1, 2), [_cubic_weights(t) for t in fracs]
    y = 0.0
    for corner in itertools.product(range(len(offsets)), repeat=len(sizes)):
        index = [(f + offsets[j]).astype(np.int64) for f, j in zip(floors, corner)]
        w = np.prod([weights[k][j] for k, j in enumerate(corner)], axis=0)
        y = y + _read(xf, index, sizes, padding, align) * np.expand_dims(w, 1)
    return [np.asarray(y).astype(x.dtype)]

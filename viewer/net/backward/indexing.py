"""Backward of the indexing and resampling kinds (:mod:`viewer.net.layers.indexing`,
:mod:`viewer.net.layers.resampling`).

Kinds that only move values (slices, picks, padding, tiling, nearest-neighbour
resizing) share one exact rule, :func:`moved_grad`: run the layer's own
forward on the cells' numbers and send each output cell's gradient back to
the cell it came from.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from viewer.net.backward.registry import backward
from viewer.net.layers.base import Layer
from viewer.net.layers.resampling import bilinear_weights

#: Cell numbers stay exact in float64 up to this many cells.
_EXACT = 2 ** 52


def moved_grad(move: Callable[[np.ndarray], np.ndarray], shape: tuple, grad: np.ndarray) -> np.ndarray:
    """d / d x of ``y = move(x)`` for a ``move`` that only copies cells of x (or fills constants).

    ``move`` runs on the cell numbers of one sample, twice, the second time
    shifted by one half: output cells that moved with the shift came from x,
    at the cell their number names; the others hold a constant of ``move``
    (padding) and send nothing back. Copies of one cell add up. Every sample
    moves alike (no kind moves values across the batch).

    Parameters
    ----------
    move : callable (N, ...) -> (N, ...)
        Must keep float64 values exactly (it only indexes).
    shape : tuple
        Shape of x, batch first.
    grad : ndarray, shape of ``move(x)``
    """
    n, size = shape[0], int(np.prod(shape[1:]))
    if n * size >= _EXACT:
        raise ValueError(f"{n * size} cells are too many to number exactly")
    cells = np.arange(size, dtype=np.float64).reshape((1,) + tuple(shape[1:]))
    where = np.asarray(move(cells))[0]
    moved = np.asarray(move(cells + 0.5))[0] - where == 0.5
    source = where[moved].astype(np.int64)                        # (moved cells,)
    flat = np.bincount((source[None] + size * np.arange(n)[:, None]).ravel(),
                       weights=np.asarray(grad, np.float64)[:, moved].ravel(), minlength=n * size)
    return flat.reshape(shape).astype(grad.dtype, copy=False)


def _moves(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    return [moved_grad(layer.forward, inputs[0].shape, grad)]


backward("Slice", "Take", "Pad", "Tile", inputs=False)(_moves)


@backward("Resize2D", inputs=False)
def _resize(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    if layer.mode == "nearest":
        return _moves(layer, inputs, output, grad, rule)
    x = inputs[0]
    h_axis = 1 if layer.data_format == "channels_last" else 2
    # The forward interpolates height, then width: undo width, then height.
    for axis in (h_axis + 1, h_axis):
        n_in, n_out = x.shape[axis], grad.shape[axis]
        lower, upper, w = bilinear_weights(n_in, n_out, layer.align_corners, layer.half_pixel_centers)
        w = w.astype(grad.dtype)
        weights = np.zeros((n_out, n_in), grad.dtype)   # output cell <- input cells
        np.add.at(weights, (np.arange(n_out), lower), 1 - w)
        np.add.at(weights, (np.arange(n_out), upper), w)
        grad = np.moveaxis(np.moveaxis(grad, axis, -1) @ weights, -1, axis)
    return [grad]

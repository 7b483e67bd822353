"""RISE: randomized input sampling (Petsiuk, Das and Saenko, BMVC 2018).

N random masks M_i over the input's positions, each a coarse ``cells`` x
``cells`` grid of cells kept with probability ``keep``, upsampled linearly to
(cells + 1) * ceil(size / cells) positions and cropped at a random shift of
less than one cell, so mask edges fall anywhere. The map is

    S = sum_i f(x * M_i + baseline * (1 - M_i)) * M_i / (N * keep)

where f is the target's score. Masks come from ``numpy.random.default_rng(seed)``
drawn up front, so the map depends on the seed and not on the batch size.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from viewer.analysis.attribution.batches import Progress, batch_rows, run_batches, scores
from viewer.analysis.attribution.grid import resize_linear
from viewer.analysis.attribution.result import (Attribution, baseline_array, check_positive,
                                                input_grid, one_sample)
from viewer.analysis.attribution.target import Target, resolve_target
from viewer.errors import StrataError


class MaskSource:
    """RISE masks drawn up front as coarse grids and shifts, upsampled a range at a time.

    Attributes
    ----------
    grids : np.ndarray, shape (N, cells, ...), bool
    shifts : np.ndarray, shape (N, len(sizes)), int64
    """

    def __init__(self, sizes: tuple[int, ...], n: int, cells: int, keep: float,
                 rng: np.random.Generator) -> None:
        self.sizes = sizes
        self.cell = tuple(-(-s // cells) for s in sizes)
        self.up = tuple((cells + 1) * c for c in self.cell)
        self.grids = rng.random((n,) + (cells,) * len(sizes)) < keep
        self.shifts = np.stack([rng.integers(0, c, n) for c in self.cell], axis=1)

    def masks(self, start: int, stop: int) -> np.ndarray:
        """Masks ``start:stop`` as float32 (stop - start, *sizes), values in [0, 1]."""
        big = resize_linear(self.grids[start:stop].astype(np.float64), self.up)
        out = np.empty((stop - start,) + self.sizes, dtype=np.float32)
        for j, shift in enumerate(self.shifts[start:stop]):
            out[j] = big[(j,) + tuple(slice(s, s + n) for s, n in zip(shift, self.sizes))]
        return out


def rise(net: Any, x: np.ndarray, target: Target = Target(), *, masks: int = 2000,
         cells: int = 7, keep: float = 0.5, seed: int = 0, baseline: Any = 0.0,
         rows: int | None = None, class_names: list | None = None,
         progress: Progress | None = None, cancel: threading.Event | None = None) -> Attribution:
    """The RISE map of ``target`` for one sample.

    Parameters
    ----------
    net, x, target, baseline, rows, class_names, progress, cancel
        As for :func:`viewer.analysis.attribution.occlusion`.
    masks : int
        N, the number of random masks.
    cells : int
        The coarse grid's cells along each position axis.
    keep : float
        Probability that a cell is kept (0 < keep <= 1).
    seed : int
        Seed of the masks: the same seed gives the same map.

    Returns
    -------
    Attribution
        ``values`` over the input's positions.
    """
    check_positive(masks=masks, cells=cells)
    if not 0.0 < keep <= 1.0:
        raise StrataError(f"keep must be in (0, 1], not {keep}")
    x = one_sample(net, x)
    grid = input_grid(net)
    if cells > max(grid.positions):
        raise StrataError(f"{cells} cells are more than the input's {max(grid.positions)} positions")
    resolved = resolve_target(net, target, x, class_names)
    fill = baseline_array(baseline, x)[None]
    source = MaskSource(grid.positions, int(masks), int(cells), float(keep),
                        np.random.default_rng(seed))
    total = np.zeros(grid.positions)

    def work(start: int, stop: int) -> None:
        m = source.masks(start, stop)
        shaped = grid.mask(m)
        batch = x * shaped + fill * (1.0 - shaped)
        s = scores(net, resolved, batch.astype(np.float32, copy=False))
        total[...] += np.tensordot(s, m, axes=(0, 0))

    run_batches(int(masks), batch_rows([net[resolved.layer]], rows), work, progress, cancel)
    return Attribution("rise", total / (masks * keep), grid, resolved.label,
                       resolved.original, signed=False,
                       params={"masks": int(masks), "cells": int(cells), "keep": float(keep),
                               "seed": int(seed),
                               "baseline": "array" if np.ndim(baseline) else float(baseline)})

"""Occlusion sensitivity: how much the target's score drops when a window of the input is hidden.

A window of ``patch`` cells along each position axis (height and width of an
image, time steps of a sequence, features of a vector; all channels at once)
moves with ``stride``; window starts are 0, stride, 2*stride, ... up to
size - patch. The window is filled with ``baseline``. Each position gets the
mean, over the windows that contain it, of score(original) - score(occluded);
positions no window covers are NaN.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, Sequence

import numpy as np

from viewer.analysis.attribution.batches import Progress, batch_rows, run_batches, scores
from viewer.analysis.attribution.result import (Attribution, baseline_array, check_positive,
                                                input_grid, one_sample)
from viewer.analysis.attribution.target import Target, resolve_target
from viewer.errors import StrataError


#: A default patch is the input's smallest side over this: about twice as many windows
#: a side (a stride of half the patch), whatever the input's size: 4 and 2 on 28x28,
#: 32 and 16 on 224x224, so a map costs about 200 forward passes of an image net.
PATCHES_A_SIDE = 7


def default_patch(sizes: Sequence[int]) -> int:
    """The default window size for an input whose position axes have ``sizes``."""
    return max(1, min((int(n) for n in sizes), default=1) // PATCHES_A_SIDE)


def window_starts(size: int, patch: int, stride: int) -> list[int]:
    """Starts 0, stride, 2*stride, ... <= size - patch of the windows along one axis."""
    if patch > size:
        raise StrataError(f"the patch ({patch}) is larger than the input ({size} positions)")
    return list(range(0, size - patch + 1, stride))


def occlusion(net: Any, x: np.ndarray, target: Target = Target(), *,
              patch: int | Sequence[int] | None = None,
              stride: int | Sequence[int] | None = None, baseline: Any = 0.0,
              rows: int | None = None, class_names: list | None = None,
              progress: Progress | None = None,
              cancel: threading.Event | None = None) -> Attribution:
    """Occlusion sensitivity of ``target`` for one sample.

    Parameters
    ----------
    net : Net
    x : np.ndarray, shape input_shape or (1, *input_shape)
        The sample as net input.
    target : Target
        Default: the predicted class.
    patch, stride : int or one int per position axis
        Window size and step in positions; the patch defaults to
        :func:`default_patch` (a seventh of the input's smallest side), the
        stride to half the patch (at least 1).
    baseline : float or np.ndarray of one sample's shape
        What fills the window: a value, or e.g. the samples' mean input.
    rows : int, optional
        Most occluded copies per forward pass (default: what the activation
        budget allows, at most 256).
    class_names : list of str, optional
        For the target's label.
    progress, cancel
        See :func:`viewer.analysis.attribution.batches.run_batches`.

    Returns
    -------
    Attribution
        ``values`` over the input's positions; ``signed`` is True.
    """
    x = one_sample(net, x)
    grid = input_grid(net)
    sizes = grid.positions
    patches = _per_axis(default_patch(sizes) if patch is None else patch, len(sizes), "patch")
    strides = _per_axis(stride if stride is not None else [max(1, p // 2) for p in patches],
                        len(sizes), "stride")
    windows = list(itertools.product(*(window_starts(n, p, s)
                                       for n, p, s in zip(sizes, patches, strides))))
    resolved = resolve_target(net, target, x, class_names)
    fill = grid.canonical(baseline_array(baseline, x)[None])[0]  # (C, *positions)
    original = resolved.original
    total = np.zeros(sizes)
    count = np.zeros(sizes, dtype=np.int64)

    def work(start: int, stop: int) -> None:
        batch = np.repeat(x, stop - start, axis=0)
        view = grid.canonical(batch)  # writes go to batch
        regions = [tuple(slice(a, a + p) for a, p in zip(w, patches)) for w in windows[start:stop]]
        for j, region in enumerate(regions):
            view[(j, slice(None)) + region] = fill[(slice(None),) + region]
        drop = original - scores(net, resolved, batch)
        for j, region in enumerate(regions):
            total[region] += drop[j]
            count[region] += 1

    run_batches(len(windows), batch_rows([net[resolved.layer]], rows), work, progress, cancel)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return Attribution("occlusion", values, grid, resolved.label, original, signed=True,
                       params={"patch": patches, "stride": strides,
                               "baseline": "array" if np.ndim(baseline) else float(baseline),
                               "windows": len(windows)})


def _per_axis(value: int | Sequence[int], n: int, what: str) -> tuple[int, ...]:
    """One int per position axis from an int or a sequence of n ints."""
    values = (value,) * n if np.ndim(value) == 0 else tuple(value)
    if len(values) != n:
        raise StrataError(f"{what} needs one value or {n} values, not {len(values)}")
    check_positive(**{what: min(values)})
    return tuple(int(v) for v in values)

"""Max and average pooling over the two spatial axes, both layouts."""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Tuple

import numpy as np

from viewer.net.ops_geometry import IntPair, Padding, normal_padding, pad_spatial, pair, \
    pool_output_size, window

def pool2d(x: np.ndarray, mode: str = "max", size: IntPair = (2, 2),
           stride: IntPair | None = None, padding: Padding = ((0, 0), (0, 0)),
           ceil_mode: bool = False, count_include_pad: bool = True,
           channels_last: bool = False) -> np.ndarray:
    """Max or average pooling over the two spatial axes.

    Parameters
    ----------
    x : ndarray
        Input, ``(N, C, H, W)``, or ``(N, H, W, C)`` if ``channels_last``.
    mode : {"max", "avg"}
    size : int or (int, int)
        Window (kh, kw).
    stride : int or (int, int), optional
        Defaults to ``size``.
    padding : int, (int, int) or ((top, bottom), (left, right))
        Max pooling pads with -inf, so padding never wins; average pooling
        pads with zeros.
    ceil_mode : bool
        Keep a last partial window (PyTorch rule, see
        :func:`pool_output_size`). Cells past the after-padding are ignored.
    count_include_pad : bool
        For "avg": divide by the window cells inside input + padding (True,
        PyTorch default) or by the real input cells only (False, Keras/TF).

    Returns
    -------
    ndarray
        ``(N, C, H', W')``, or ``(N, H', W', C)`` if ``channels_last``, with
        ``H' = pool_output_size(H, kh, sh, top, bottom, ceil_mode)``.
    """
    x = np.asarray(x)
    return pool2d_route(x.shape, x.dtype, mode, size, stride, padding, ceil_mode,
                        count_include_pad, channels_last)(x)


def pool2d_route(shape: Tuple[int, ...], dtype: Any, mode: str = "max", size: IntPair = (2, 2),
                 stride: IntPair | None = None, padding: Padding = ((0, 0), (0, 0)),
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 channels_last: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """The pooling :func:`pool2d` runs for inputs of ``shape`` and ``dtype``, worked out once.

    Arguments as for :func:`pool2d`. Returns ``route(x)``, equal to
    ``pool2d(x, ...)`` for x of that shape and dtype (a picklable partial).
    """
    if mode not in ("max", "avg"):
        raise ValueError(f"pool2d mode must be 'max' or 'avg', got {mode!r}")
    if len(shape) != 4:
        raise ValueError(f"pool2d needs a 4-d input, got shape {tuple(shape)}")
    dtype = in_dtype = np.dtype(dtype)
    cast = mode == "avg" and not np.issubdtype(dtype, np.floating)
    if cast:
        dtype = np.dtype(np.float64)
    kh, kw = pair(size, "size")
    sh, sw = pair(size if stride is None else stride, "stride")
    (top, bottom), (left, right) = normal_padding(padding)
    h_axis = 1 if channels_last else 2
    h, wd = shape[h_axis], shape[h_axis + 1]
    if not channels_last and h * wd <= POOL_LAST_MAX_CELLS and any((top, bottom, left, right)):
        # Rows of small channels-first maps are too short for numpy's inner
        # loops; channels last they are W * C cells. The padded copy transposes
        # in, one copy transposes out (3x3/2 max pooling, 22x22x32: 0.81x the
        # time, 6x6x128: 0.7x, 28x28x128: 0.92x, but 44x44x16: 1.2x; unpadded
        # pooling has no copy to transpose in: 2x2/2 on 14x14x64 1.2x).
        last = pool2d_route((shape[0], h, wd, shape[1]), in_dtype, mode, size, stride, padding,
                            ceil_mode, count_include_pad, True)
        return partial(_pooled_transposed, route=last)
    ho = pool_output_size(h, kh, sh, top, bottom, ceil_mode)
    wo = pool_output_size(wd, kw, sw, left, right, ceil_mode)
    if ho < 1 or wo < 1:
        raise ValueError(f"pool2d: input {h}x{wd} is smaller than the window {kh}x{kw}")
    # Extra cells after the after-padding for ceil_mode windows; they hold
    # the neutral value, so they change neither the max nor the sum.
    extra_h = max(0, (ho - 1) * sh + kh - (h + top + bottom))
    extra_w = max(0, (wo - 1) * sw + kw - (wd + left + right))
    if mode == "max":
        fill = -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min
        reduce = np.maximum
    else:
        fill, reduce = 0, np.add
    lead = (slice(None),) * h_axis
    # Separable: reduce the rows of each window, then its columns
    # (kh + kw passes instead of kh * kw).
    rows = tuple(lead + (window(i, sh, ho),) for i in range(kh))
    cols = tuple(lead + (slice(None), window(j, sw, wo)) for j in range(kw))
    divisor = None if mode == "max" else \
        _window_counts(h, wd, (kh, kw), (sh, sw), (top, left), (ho, wo), (bottom, right),
                       count_include_pad, channels_last).astype(dtype)
    return partial(_pool, cast=cast, pads=((top, bottom + extra_h), (left, right + extra_w)),
                   h_axis=h_axis, fill=fill, reduce=reduce, rows=rows, cols=cols, divisor=divisor)


#: Padded pooling of channels-first maps of up to this many cells runs channels
#: last (see :func:`pool2d_route`).
POOL_LAST_MAX_CELLS = 28 * 28


def _pooled_transposed(x: np.ndarray, route: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Channels-first ``x`` pooled by the channels-last, padding ``route``, the result channels
    first (the route's padded copy transposes x)."""
    return np.ascontiguousarray(route(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2))


def _pool(x: np.ndarray, cast: bool, pads, h_axis: int, fill, reduce: np.ufunc, rows: tuple,
          cols: tuple, divisor: np.ndarray | None) -> np.ndarray:
    """The pooling of a :func:`pool2d_route`: rows of each window reduced, then its columns."""
    if cast:
        x = x.astype(np.float64)
    xp = pad_spatial(x, pads, h_axis, fill, tag="pool input")
    reduced = _reduced([xp[r] for r in rows], reduce)
    y = _reduced([reduced[c] for c in cols], reduce)
    if divisor is not None:
        y /= divisor
    return y


def _reduced(parts: list, reduce: np.ufunc) -> np.ndarray:
    """``reduce`` over ``parts`` (views of one shape) into a new array.

    The first two parts go straight into the result (no copy of the first).
    """
    if len(parts) == 1:
        return parts[0].copy()
    out = reduce(parts[0], parts[1])
    for part in parts[2:]:
        reduce(out, part, out=out)
    return out


def _window_counts(h: int, w: int, size, stride, before, out_size, after,
                   count_include_pad: bool, channels_last: bool) -> np.ndarray:
    """Divisor of each average-pooling window, shaped to broadcast on the output.

    Counts are separable: cells per window along H times cells along W.
    """
    counts = []
    for length, k, s, pb, pa, n_out in zip((h, w), size, stride, before, after, out_size):
        starts = np.arange(n_out) * s
        # Window [start, start + k) in padded coordinates, clipped to the part
        # that is counted: input + padding, or the input only.
        lo, hi = (0, length + pb + pa) if count_include_pad else (pb, pb + length)
        counts.append(np.minimum(starts + k, hi) - np.maximum(starts, lo))
    grid = np.maximum(counts[0][:, None] * counts[1][None, :], 1)
    return grid[:, :, None] if channels_last else grid

"""Depthwise convolution kernels: one input channel per output, by multiply-add.

Per-group GEMMs with one input channel each measured 2-12x slower than
accumulating ``window * weight`` over the kernel offsets, so :func:`conv2d
<viewer.net.ops.conv2d>` sends depthwise convolutions here. Each layout has its
own kernel; channels-first maps that are small run channels last.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from viewer.net import ops_geometry as geometry, scratch
from viewer.net.ops_geometry import prepared_weights, window

if TYPE_CHECKING:
    from viewer.net.ops import _Geometry

#: Channels-first depthwise convolutions of maps up to this many cells run
#: channels last (transposed in and out): their rows are too short for numpy's
#: inner loop channels first. Measured with the kept window views: 7x7 to
#: 28x28 maps 0.5-0.9x the time, 40x40 and 48x48 0.7-0.9x, 56x56 and larger
#: 1.4-1.7x (stride 2: 0.9x).
DEPTHWISE_LAST_MAX_CELLS = 48 * 48

#: Bytes of one block of a depthwise accumulator (a band of rows, channels
#: last; a stack of maps, channels first): it and the padded input it reads
#: stay in the core's L2 cache across the kernel taps.
DEPTHWISE_BLOCK_BYTES = 1 << 20


def depthwise_last(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, pads, geo: "_Geometry",
                   prepared: dict) -> np.ndarray:
    """Depthwise convolution, channels last, one input channel per output (x has O channels).

    Parameters
    ----------
    x : ndarray (N, H, W, O)
    w : ndarray (O, 1, kh, kw)
    b : ndarray (O,) or None
    pads : ((top, bottom), (left, right))
    geo : the convolution's geometry (output size, stride, dilation)
    prepared : dict
        Where the weights tiled along an output row are kept between calls.

    Returns
    -------
    ndarray (N, H', W', O)

    Notes
    -----
    Accumulates ``window * weight`` over the kernel offsets, straight into
    the result, band of output rows by band of rows (see :class:`_LastPlan`
    for the windows). Each row of a window is one contiguous run of
    ``W' * O`` cells, so numpy's inner loop runs over a whole output row
    with the weights tiled along it, and no cell is computed that is not
    kept. The work arrays and every window view are made once per input
    geometry and reused (:func:`viewer.net.scratch.reused`): on small maps
    slicing them anew cost as much as the arithmetic.
    """
    n, h, wd, c = x.shape
    o, _, kh, kw = w.shape
    ho, wo = geo.out_size
    block = geometry.samples_per_block(n, (h + kh * geo.dilation[0]) * (wd + kw * geo.dilation[1])
                                       * c * x.dtype.itemsize)
    plan = scratch.reused(("depthwise last", block, x.shape[1:], pads, (kh, kw), geo.stride,
                           geo.dilation, x.dtype.str),
                          lambda: _LastPlan(block, x.shape[1:], pads, (kh, kw), geo.stride,
                                            geo.dilation, geo.out_size, x.dtype))
    taps, bias = prepared_weights(prepared, f"depthwise last {wo}", w, b,
                                  lambda: _row_weights(w, b, plan.taps, wo))
    y = np.empty((n, ho, wo, o), dtype=x.dtype)
    rows = y.reshape(n, ho, wo * o)
    for start in range(0, n, block):
        nb = min(block, n - start)
        partial = nb < block
        plan.interior[:nb] = x[start:start + nb]
        for phase, cells in plan.copies:
            phase[:nb] = cells[:nb]
        for r0, nr, term, windows in plan.bands:
            acc = rows[start:start + nb, r0:r0 + nr]
            if partial:
                term, windows = term[:nb], [win[:nb] for win in windows]
            np.multiply(windows[0], taps[0], out=acc)
            for win, tap in zip(windows[1:], taps[1:]):
                acc += np.multiply(win, tap, out=term)
            if bias is not None:
                acc += bias
    return y


def _row_weights(w: np.ndarray, b: np.ndarray | None, offsets: list, wo: int) -> tuple:
    """Each kernel offset's weights, and the bias, tiled along an output row of ``wo`` cells."""
    o, _, kh, kw = w.shape
    per_offset = w[:, 0].reshape(o, kh * kw).T
    return [np.tile(per_offset[r * kw + q], wo) for r, q in offsets], \
        None if b is None else np.tile(b, wo)


class _LastPlan:
    """The work arrays of :func:`depthwise_last` for one input geometry, and the views it reads.

    The padded input of a block of samples (zero border, written once), with
    a stride its stride phases (the cells ``[a::sh, b::sw]``, copied from it
    on every call), the term array, and for each band of output rows the
    window of every kernel offset: offset (r, q) reads the padded input,
    or with a stride the phase ``(r * dh % sh, q * dw % sw)``, shifted by
    ``(r * dh // sh, q * dw // sw)``. A band is small enough that it, its
    term and the rows it reads stay in cache (DEPTHWISE_BLOCK_BYTES).
    """

    def __init__(self, block: int, shape: tuple, pads, kernel, stride, dilation, out_size,
                 dtype) -> None:
        h, wd, c = shape
        (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_size
        (top, bottom), (left, right) = pads
        # Rows and columns of a stride phase that some window reads.
        ph, pw = ho + (kh - 1) * dh // sh, wo + (kw - 1) * dw // sw
        hp, wp = max(h + top + bottom, sh * ph), max(wd + left + right, sw * pw)
        row = wo * c
        self.block = block
        self.xp = np.zeros((block, hp, wp, c), dtype)
        self.interior = self.xp[:, top:top + h, left:left + wd]
        if (sh, sw) == (1, 1):
            self.phases, self.copies = None, []
        else:
            self.phases = np.empty((sh, sw, block, ph, pw, c), dtype)
            self.copies = [(self.phases[i, j], self.xp[:, i:i + sh * ph:sh, j:j + sw * pw:sw])
                           for i in range(sh) for j in range(sw)]
        band = max(1, min(ho, DEPTHWISE_BLOCK_BYTES // (3 * block * row * np.dtype(dtype).itemsize)))
        self.term = np.empty((block, band, row), dtype)
        self.taps = [(r, q) for r in range(kh) for q in range(kw)]
        self.bands = []
        for r0 in range(0, ho, band):
            nr = min(band, ho - r0)
            windows = []
            for r, q in self.taps:
                src = self.xp if self.phases is None else self.phases[r * dh % sh, q * dw % sw]
                i0, j0 = r0 + r * dh // sh, q * dw // sw
                windows.append(src[:, i0:i0 + nr, j0:j0 + wo].reshape(block, nr, row))
            self.bands.append((r0, nr, self.term[:, :nr], windows))
        self.nbytes = self.xp.nbytes + self.term.nbytes + \
            (0 if self.phases is None else self.phases.nbytes)


def depthwise_first(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geo: "_Geometry",
                    prepared: dict) -> np.ndarray:
    """Depthwise convolution, channels first, one input channel per output (x has O channels).

    Parameters
    ----------
    x : ndarray (N, O, H, W)
    w : ndarray (O, 1, kh, kw)
    b : ndarray (O,) or None
    geo : the convolution's geometry (pads with the flat layout's extra row, output size, ...)
    prepared : dict
        Where each block's weight columns are kept between calls.

    Returns
    -------
    ndarray (N, O, H', W')

    Notes
    -----
    Every (sample, channel) map is independent, so the maps of the whole
    batch are processed as one stack, in blocks small enough that the
    accumulator stays in cache; each block accumulates ``window * weight``
    over the kernel offsets (see :class:`_FirstPlan` for the windows, made
    once per input geometry like those of :func:`depthwise_last`).
    """
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = geo.out_size
    plan = scratch.reused(("depthwise first", n * c, (h, wd), geo.pads, (kh, kw), geo.stride,
                           geo.dilation, x.dtype.str),
                          lambda: _FirstPlan(n * c, (h, wd), geo, (kh, kw), x.dtype))
    columns = prepared_weights(prepared, f"depthwise first {n} {plan.block}", w, None,
                               lambda: _block_columns(w, n, plan.block, plan.window_ndim))
    maps = x.reshape(n * c, h, wd)
    y = np.empty((n * c, ho, wo), dtype=x.dtype)
    for m0, weights in zip(range(0, n * c, plan.block), columns):
        nm = len(weights[0])
        plan.interior[:nm] = maps[m0:m0 + nm]
        for phase, cells in plan.copies:
            phase[:nm] = cells[:nm]
        acc, term, windows = plan.acc, plan.term, plan.windows
        if nm < plan.block:
            acc, term, windows = acc[:nm], term[:nm], [win[:nm] for win in windows]
        np.multiply(windows[0], weights[0], out=acc)
        for win, weight in zip(windows[1:], weights[1:]):
            acc += np.multiply(win, weight, out=term)
        y[m0:m0 + nm] = acc.reshape(nm, ho, -1)[:, :, :wo]
    y = y.reshape(n, c, ho, wo)
    if b is not None:
        y += b[:, None, None]
    return y


def _block_columns(w: np.ndarray, n: int, block: int, ndim: int) -> list:
    """Per block of maps, per kernel offset, the weights of the block's maps as a column."""
    o, _, kh, kw = w.shape
    taps = np.tile(w[:, 0].reshape(o, kh * kw), (n, 1)).reshape((n * o, kh * kw) + (1,) * (ndim - 1))
    return [[taps[m0:m0 + block, k] for k in range(kh * kw)] for m0 in range(0, n * o, block)]


class _FirstPlan:
    """The work arrays of :func:`depthwise_first` for one input geometry, and the views it reads.

    Without dilation and stride together, every window is one contiguous
    slice of a flattened padded map: with stride 1 of the padded map itself
    (whole padded rows, see :func:`viewer.net.ops.conv2d`), with a larger
    stride of one of its stride phases (the cells ``[a::sh, b::sw]``, copied
    on every call), since the window at offset (r, q) reads phase
    ``(r % sh, q % sw)`` shifted by ``(r // sh, q // sw)``. Otherwise the
    windows are strided 2-d views of the padded map.
    """

    def __init__(self, maps: int, shape: tuple, geo: "_Geometry", kernel, dtype) -> None:
        h, wd = shape
        (kh, kw), (sh, sw), (dh, dw) = kernel, geo.stride, geo.dilation
        ho, wo = geo.out_size
        (top, bottom), (left, right) = geo.pads
        item = np.dtype(dtype).itemsize
        flat = geo.flat or (dh, dw) == (1, 1)
        if flat:
            pw = -(-(wd + left + right) // sw)
            ph = ho + (kh - 1) // sh + 1          # +1: the last row's dropped cells read one more
            cells, per_map = (ho * pw,), sh * sw * ph * pw
            hp, wpad = max(h + top + bottom, sh * ph), max(wd + left + right, sw * pw)
        else:
            cells, per_map = (ho, wo), (h + top + bottom) * (wd + left + right)
            hp, wpad = h + top + bottom, wd + left + right
        length = cells[0] * (cells[1] if len(cells) > 1 else 1)
        self.block = cb = max(1, min(maps, DEPTHWISE_BLOCK_BYTES // ((per_map + 2 * length) * item)))
        self.window_ndim = 1 + len(cells)
        self.xp = np.zeros((cb, hp, wpad), dtype)
        self.interior = self.xp[:, top:top + h, left:left + wd]
        self.acc, self.term = np.empty((cb,) + cells, dtype), np.empty((cb,) + cells, dtype)
        self.phases, self.copies, self.windows = None, [], []
        if flat and (sh, sw) != (1, 1):
            self.phases = np.empty((sh, sw, cb, ph * pw), dtype)
            self.copies = [(self.phases[i, j].reshape(cb, ph, pw),
                            self.xp[:, i:i + sh * ph:sh, j:j + sw * pw:sw])
                           for i in range(sh) for j in range(sw)]
        for r in range(kh):
            for q in range(kw):
                if flat:
                    src = self.xp.reshape(cb, -1) if self.phases is None else \
                        self.phases[r * dh % sh, q * dw % sw]
                    off = (r * dh) // sh * pw + (q * dw) // sw
                    self.windows.append(src[:, off:off + length])
                else:
                    self.windows.append(self.xp[:, window(r * dh, sh, ho), window(q * dw, sw, wo)])
        self.nbytes = self.xp.nbytes + self.acc.nbytes + self.term.nbytes + \
            (0 if self.phases is None else self.phases.nbytes)

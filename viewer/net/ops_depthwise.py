"""Depthwise convolution kernels: one input channel per output, summed over the kernel offsets.

Per-group GEMMs with one input channel each measured 2-12x slower than
accumulating ``window * weight`` over the kernel offsets, so :func:`conv2d
<viewer.net.ops.conv2d>` sends depthwise convolutions here. Each layout has its
own kernel; channels-first maps that are small run channels last. Both sum
with ``np.einsum`` over strided window views: its inner loop multiplies and
accumulates in one pass (``out += a * b``), where a ufunc multiply and a ufunc
add make two, and one call covers several offsets (a ufunc call costs about
1.5 us, as much as its arithmetic on small maps).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import as_strided

from viewer.net import scratch
from viewer.net.ops_geometry import add_channels_first, add_channels_last, prepared_weights

if TYPE_CHECKING:
    from viewer.net.ops import _Geometry

#: Channels-first depthwise convolutions of input maps up to this many cells
#: run channels last (transposed in and out): their rows are too short for
#: numpy's inner loop channels first. Measured with the einsum kernels, 3x3,
#: time channels last / channels first: stride 1, 7x7 0.5x, 11x11 0.75x, 14x14
#: 0.87x, 28x28 1.15x, 48x48 1.6x; stride 2 (no stride phases to copy channels
#: last), 14x14 0.46x, 28x28 0.73x, 56x56 0.9x, 112x112 1.7x.
DEPTHWISE_LAST_MAX_CELLS = 20 * 20
DEPTHWISE_LAST_MAX_CELLS_STRIDED = 56 * 56

#: Bytes of one block of depthwise work arrays (the padded input of a block
#: of samples, channels last; a stack of padded maps and their sums, channels
#: first): bounded so they stay in the core's L2 cache across the kernel taps.
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
    Per block of samples, ``np.einsum`` sums ``window * weight`` over the
    kernel offsets: ``y[n, i, j, c] = sum_{r, q} xp[n, i*sh + r*dh, j*sw + q*dw, c]
    * w[c, r, q]``, read from strided views of the padded input
    (:class:`_LastPlan`) against the weights tiled along an output row, so
    that the innermost loop runs over a whole output row (``W' * O``
    cells) and accumulates in place, one pass per offset instead of a
    multiply and an add (measured 2-4x faster than those two ufuncs, whose
    calls also cost as much as their arithmetic on small maps). With a
    column stride, one einsum per column phase, their sums added.
    """
    n, h, wd, c = x.shape
    o, _, kh, kw = w.shape
    ho, wo = geo.out_size
    (top, bottom), (left, right) = pads
    per_sample = (h + top + bottom) * (wd + left + right) * c * x.dtype.itemsize
    block = max(1, min(n, DEPTHWISE_BLOCK_BYTES // per_sample))
    plan = scratch.reused(("depthwise last", block, x.shape[1:], pads, (kh, kw), geo.stride,
                           geo.dilation, x.dtype.str),
                          lambda: _LastPlan(block, x.shape[1:], pads, (kh, kw), geo.stride,
                                            geo.dilation, geo.out_size, x.dtype))
    taps = prepared_weights(prepared, f"depthwise last {wo}", w, None,
                            lambda: _row_weights(w, wo, plan.columns))
    y = np.empty((n, ho, wo, o), dtype=x.dtype)
    for start in range(0, n, block):
        nb = min(block, n - start)
        for dst, cols in plan.copies:
            dst[:nb] = x[start:start + nb, :, cols]
        out = y[start:start + nb].reshape(nb, ho, wo * o)
        for g, (win, tap) in enumerate(zip(plan.windows, taps)):
            np.einsum("nirqk,rqk->nik", win[:nb], tap, out=plan.term[:nb] if g else out)
            if g:
                out += plan.term[:nb]
    if b is not None:
        add_channels_last(y, b, prepared)
    return y


def _row_weights(w: np.ndarray, wo: int, columns: list) -> list:
    """Per group of kernel columns, their offsets' weights tiled along an output row.

    Returns one (kh, len(group), wo * O) array per group of ``columns``.
    """
    o, _, kh, kw = w.shape
    per_offset = w[:, 0].transpose(1, 2, 0)
    tiled = np.broadcast_to(per_offset[:, :, None, :], (kh, kw, wo, o)).reshape(kh, kw, wo * o)
    return [np.ascontiguousarray(tiled[:, group]) for group in columns]


class _LastPlan:
    """The padded input of a block of samples for :func:`depthwise_last`, and its window views.

    The padded input is kept as its column phases (the padded columns
    ``b, b + sw, ...``; with stride 1 the padded input itself), each with a
    zero border written once and the input's cells copied in on every call
    (:attr:`copies`: destination, columns of the input). Offset (r, q) of
    output cell (i, j) reads padded cell ``(i*sh + r*dh, j*sw + q*dw)``:
    phase ``q*dw % sw`` at column ``j + q*dw // sw``, so in a phase an output
    row's cells are one run of ``W' * C``. The kernel columns of one phase
    (:attr:`columns`) are a fixed number of cells apart, so one view
    ``(block, H', kh, columns, W' * C)`` holds all their windows; every cell
    it reads lies inside the phase (``conv_output_size``).
    """

    def __init__(self, block: int, shape: tuple, pads, kernel, stride, dilation, out_size,
                 dtype) -> None:
        h, wd, c = shape
        (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_size
        (top, bottom), (left, right) = pads
        hp, phase_width = h + top + bottom, -(-(wd + left + right) // sw)
        self.copies, self.columns, self.windows, arrays = [], [], [], []
        for phase in range(sw):
            group = [q for q in range(kw) if q * dw % sw == phase]
            if not group:           # a phase no kernel column reads
                continue
            src = np.zeros((block, hp, phase_width, c), dtype)
            arrays.append(src)
            cols = _phase_cells(phase, sw, left, wd, phase_width)
            if cols:
                self.copies.append((src[:, top:top + h, cols[0]], cols[1]))
            offsets = [q * dw // sw for q in group]
            step = offsets[1] - offsets[0] if len(group) > 1 else 1
            sb, sr, sc, sch = src.strides
            self.columns.append(group)
            self.windows.append(as_strided(src[:, :, offsets[0]:],
                                           (block, ho, kh, len(group), wo * c),
                                           (sb, sh * sr, dh * sr, step * sc, sch), writeable=False))
        if len(self.windows) > 1:
            arrays.append(np.empty((block, ho, wo * c), dtype))
        self.term = arrays[-1] if len(self.windows) > 1 else None
        self.nbytes = sum(a.nbytes for a in arrays)


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
    accumulator stays in cache; each block sums ``window * weight`` over
    the kernel offsets, one ``np.einsum`` per group of offsets that one
    strided view covers (a kernel column, with a stride its offsets of one
    stride phase; see :class:`_FirstPlan`, made once per input geometry like
    the plan of :func:`depthwise_last`), the groups' sums added.
    """
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = geo.out_size
    plan = scratch.reused(("depthwise first", n * c, (h, wd), geo.pads, (kh, kw), geo.stride,
                           geo.dilation, x.dtype.str),
                          lambda: _FirstPlan(n * c, (h, wd), geo, (kh, kw), x.dtype))
    columns = prepared_weights(prepared, f"depthwise first {n} {plan.block}", w, None,
                               lambda: _group_columns(w, n, plan.block, plan.taps))
    maps = x.reshape(n * c, h, wd)
    y = np.empty((n * c, ho, wo), dtype=x.dtype)
    for m0, weights in zip(range(0, n * c, plan.block), columns):
        nm = len(weights[0])
        for dst, rows, cols in plan.copies:
            dst[:nm] = maps[m0:m0 + nm, rows, cols]
        acc, term = plan.acc[:nm], plan.term[:nm]
        for g, (win, weight) in enumerate(zip(plan.windows, weights)):
            np.einsum("mr...,mr->m...", win[:nm], weight, out=term if g else acc)
            if g:
                acc += term
        y[m0:m0 + nm] = acc.reshape(nm, ho, -1)[:, :, :wo]
    y = y.reshape(n, c, ho, wo)
    if b is not None:
        add_channels_first(y, b, prepared)
    return y


def _group_columns(w: np.ndarray, n: int, block: int, taps: list) -> list:
    """Per block of maps, per group of kernel offsets, the block's weights as (maps, offsets)."""
    o, _, kh, kw = w.shape
    per_map = np.tile(w[:, 0], (n, 1, 1))
    return [[np.ascontiguousarray(per_map[m0:m0 + block, rows, q]) for rows, q in taps]
            for m0 in range(0, n * o, block)]


class _FirstPlan:
    """The work arrays of :func:`depthwise_first` for one input geometry, and the views it reads.

    Without dilation and stride together, every window is one contiguous
    slice of a flattened padded map: with stride 1 of the padded map itself
    (whole padded rows, see :func:`viewer.net.ops.conv2d`), with a larger
    stride of one of its stride phases (the cells ``[a::sh, b::sw]`` of the
    padded map, copied from the input on every call, their border zero),
    since the window at offset (r, q) reads phase ``(r % sh, q % sw)``
    shifted by ``(r // sh, q // sw)``. Otherwise the
    windows are strided 2-d views of the padded map. The offsets of one
    kernel column that read one source are a fixed number of rows apart,
    so one view ``(maps, offsets, cells)`` holds all their windows (one
    einsum in :func:`depthwise_first`); :attr:`taps` lists each view's
    offsets as (rows, column).
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
        self.acc, self.term = np.empty((cb,) + cells, dtype), np.empty((cb,) + cells, dtype)
        self.phases, self.xp = None, None
        if flat and (sh, sw) != (1, 1):
            # Each call copies the input's cells of each phase straight into it.
            self.phases = np.zeros((sh, sw, cb, ph * pw), dtype)
            self.copies = []
            for i in range(sh):
                rows = _phase_cells(i, sh, top, h, ph)
                for j in range(sw):
                    cols = _phase_cells(j, sw, left, wd, pw)
                    if rows and cols:
                        phase = self.phases[i, j].reshape(cb, ph, pw)
                        self.copies.append((phase[:, rows[0], cols[0]], rows[1], cols[1]))
        else:
            self.xp = np.zeros((cb, hp, wpad), dtype)
            self.copies = [(self.xp[:, top:top + h, left:left + wd], slice(None), slice(None))]
        # Offsets (r, q) and (r', q) reading the same source at rows a fixed step
        # apart form one group: one strided view (maps, offsets, cells).
        self.taps, self.windows = [], []
        for q in range(kw):
            for a in range(sh if flat else 1):
                rows = [r for r in range(kh) if r * dh % sh == a] if flat else list(range(kh))
                if not rows:
                    continue
                if flat:
                    src = self.xp.reshape(cb, -1) if self.phases is None else \
                        self.phases[a, q * dw % sw]
                    offsets = [(r * dh) // sh * pw + (q * dw) // sw for r in rows]
                    step = offsets[1] - offsets[0] if len(rows) > 1 else pw
                    view = as_strided(src[:, offsets[0]:], (cb, len(rows), length),
                                      (src.strides[0], step * item, item), writeable=False)
                else:
                    sb, sr, sc = self.xp.strides
                    view = as_strided(self.xp[:, :, q * dw:], (cb, kh, ho, wo),
                                      (sb, dh * sr, sh * sr, sw * sc), writeable=False)
                self.taps.append((rows, q))
                self.windows.append(view)
        self.nbytes = (self.xp if self.phases is None else self.phases).nbytes + \
            self.acc.nbytes + self.term.nbytes


def _phase_cells(phase: int, stride: int, before: int, size: int, count: int) -> tuple | None:
    """Where the input's cells of one stride phase go in it, and which they are, along one axis.

    Phase cell k is padded cell ``phase + stride * k``, input cell
    ``phase + stride * k - before``; returns (slice of phase cells, slice of
    input cells), or None if the phase holds padding only.
    """
    k0 = max(0, -(-(before - phase) // stride))
    k1 = min(count, -(-(before + size - phase) // stride))
    if k1 <= k0:
        return None
    first = phase + stride * k0 - before
    return slice(k0, k1), slice(first, first + stride * (k1 - k0 - 1) + 1, stride)

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
#: inner loop channels first. Measured: 7x7 to 28x28 maps 0.5-0.9x the time
#: (5x5 kernels and strides gain most), 40x40 and larger 1.0-2.4x.
DEPTHWISE_LAST_MAX_CELLS = 32 * 32

#: Bytes of one block of a depthwise accumulator (a band of rows, channels
#: last; a stack of maps, channels first): it and the padded input it reads
#: stay in the core's L2 cache across the kernel taps.
DEPTHWISE_BLOCK_BYTES = 1 << 20


def depthwise_last(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, pads, geo: "_Geometry",
               prepared: dict) -> np.ndarray:
    """Depthwise convolution, channels last, one input channel per output (x has O channels).

    Accumulates ``window * weight`` over the kernel offsets. Every window is
    one contiguous run of a flattened padded image: with stride 1 of the
    padded image itself, with a larger stride of one of its stride phases
    (the cells ``[a::sh, b::sw]``, copied once), since the window at offset
    (r, q) reads phase ``(r * dh % sh, q * dw % sw)`` shifted by
    ``(r * dh // sh, q * dw // sw)``. Rows span the whole (phase) width, so
    numpy's inner loop runs over ``width * O`` cells with the weights tiled
    along the row; the cells past the output width are computed and dropped.
    The samples of a block are stacked into one tall image, cut into bands
    of rows small enough that the accumulator stays in cache.
    """
    n, h, wd, c = x.shape
    o, _, kh, kw = w.shape
    ho, wo = geo.out_size
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    (top, bottom), (left, right) = pads
    pw = -(-(wd + left + right) // sw)
    ph = ho + (kh - 1) * dh // sh + 1          # +1: the last row's dropped cells read one more
    offsets = [((r * dh) % sh, (q * dw) % sw, ((r * dh) // sh * pw + (q * dw) // sw) * c)
               for r in range(kh) for q in range(kw)]
    taps = prepared_weights(prepared, f"depthwise last {pw}", w, None,
                    lambda: np.tile(w[:, 0].reshape(o, kh * kw).T, (1, pw)))   # (taps, pw * O)
    row = pw * c
    block = geometry.samples_per_block(n, ph * sh * row * sw * x.dtype.itemsize)
    hp, wpad = max(h + top + bottom, sh * ph), sw * pw
    xp = scratch.buffer(("depthwise input last", top, left, h, wd), (block, hp, wpad, c), x.dtype,
                        fill=0)
    interior = xp[:, top:top + h, left:left + wd]
    strided = (sh, sw) != (1, 1)
    phases = scratch.buffer("depthwise phases last", (sh, sw, block * ph * row), x.dtype) \
        if strided else None
    band = max(1, min(block * ph, DEPTHWISE_BLOCK_BYTES // (3 * row * x.dtype.itemsize)))
    acc = scratch.buffer("depthwise sum", (band, row), x.dtype)
    tmp = scratch.buffer("depthwise term", (band, row), x.dtype)
    y = np.empty((n, ho, wo, o), dtype=x.dtype)
    for start in range(0, n, block):
        nb = min(block, n - start)
        interior[:nb] = x[start:start + nb]
        if strided:
            for i in range(sh):
                for j in range(sw):
                    phases[i, j, :nb * ph * row].reshape(nb, ph, pw, c)[...] = \
                        xp[:nb, i:i + sh * ph:sh, j:j + sw * pw:sw]
            flat = phases
        else:
            flat = xp.reshape(1, 1, -1)
        rows = (nb - 1) * ph + ho              # tall-image rows that hold an output row
        for y0 in range(0, rows, band):
            nr = min(band, rows - y0)
            a, t = acc[:nr], tmp[:nr]
            for k, (pa, pb, off) in enumerate(offsets):
                begin = y0 * row + off
                win = flat[pa, pb, begin:begin + nr * row].reshape(nr, row)
                if k == 0:
                    np.multiply(win, taps[k], out=a)
                else:
                    a += np.multiply(win, taps[k], out=t)
            _keep_rows(a.reshape(nr, pw, c), y, start, y0, ph, ho, wo)
    if b is not None:
        y += b
    return y


def _keep_rows(a: np.ndarray, y: np.ndarray, start: int, y0: int, ph: int, ho: int, wo: int) -> None:
    """Copy the output rows among tall-image rows ``y0 ...`` of ``a`` (rows, pw, O) into ``y``.

    Tall-image row ``s * ph + r`` is row r of sample ``start + s`` when r < ho.
    """
    y1 = y0 + a.shape[0]
    for s in range(y0 // ph, -(-y1 // ph)):
        r0, r1 = max(y0, s * ph), min(y1, s * ph + ho)
        if r0 < r1:
            y[start + s, r0 - s * ph:r1 - s * ph] = a[r0 - y0:r1 - y0, :wo]


def depthwise_first(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                     geo: "_Geometry") -> np.ndarray:
    """Depthwise convolution, channels first, one input channel per output (x has O channels).

    Every (sample, channel) map is independent, so the maps of the whole batch
    are processed as one stack, in blocks small enough that the accumulator
    stays in cache. Each block accumulates ``window * weight`` over the kernel
    offsets, and every window is one contiguous slice of a flattened padded
    map: with stride 1 of the padded map itself (see :func:`conv2d`), with a
    larger stride of one of its stride phases (the cells ``[a::sh, b::sw]``,
    copied once), since the window at offset (r, q) reads phase
    ``(r % sh, q % sw)`` shifted by ``(r // sh, q // sw)``.
    """
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = geo.out_size
    (dh, dw), (sh, sw) = geo.dilation, geo.stride
    (top, bottom), (left, right) = geo.pads
    maps = x.reshape(n * c, h, wd)
    taps = np.tile(w[:, 0].reshape(o, kh * kw), (n, 1))[:, :, None]   # (N*C, taps, 1)
    if geo.flat or (dh, dw) == (1, 1):
        # Phase grid: rows of the phases and the offset of each tap in them.
        pw = -(-(wd + left + right) // sw)
        ph = ho + (kh - 1) // sh + 1          # +1: the last row's dropped cells read one more
        offsets = [((r * dh) % sh, (q * dw) % sw, (r * dh) // sh * pw + (q * dw) // sw)
                   for r in range(kh) for q in range(kw)]
        length = ho * pw
        per_map = sh * sw * ph * pw
    else:
        length, per_map = ho * wo, (h + top + bottom) * (wd + left + right)
    cb = max(1, min(n * c, DEPTHWISE_BLOCK_BYTES // ((per_map + 2 * length) * x.dtype.itemsize)))
    acc = scratch.buffer("depthwise sum", (cb, length), x.dtype)
    tmp = scratch.buffer("depthwise term", (cb, length), x.dtype)
    y = np.empty((n * c, ho, wo), dtype=x.dtype)
    if geo.flat or (dh, dw) == (1, 1):
        hp = max(h + top + bottom, sh * ph)
        wpad = max(wd + left + right, sw * pw)
        phases = None if (sh, sw) == (1, 1) else \
            scratch.buffer("depthwise phases", (sh, sw, cb, ph * pw), x.dtype)
    else:
        hp, wpad = h + top + bottom, wd + left + right
    xp = scratch.buffer(("depthwise input", top, left, h, wd), (cb, hp, wpad), x.dtype, fill=0)
    interior = xp[:, top:top + h, left:left + wd]
    for m0 in range(0, n * c, cb):
        nm = min(cb, n * c - m0)
        interior[:nm] = maps[m0:m0 + nm]
        a, t = acc[:nm], tmp[:nm]
        for k in range(kh * kw):
            wcol = taps[m0:m0 + nm, k]
            if geo.flat or (dh, dw) == (1, 1):
                pa, pb, off = offsets[k]
                if phases is None:
                    src = xp[:nm].reshape(nm, -1)
                else:
                    if k == 0:
                        for i in range(sh):
                            for j in range(sw):
                                phases[i, j, :nm].reshape(nm, ph, pw)[...] = \
                                    xp[:nm, i:i + sh * ph:sh, j:j + sw * pw:sw]
                    src = phases[pa, pb, :nm]
                win = src[:, off:off + length]
            else:
                r, q = divmod(k, kw)
                win = xp[:nm, window(r * dh, sh, ho), window(q * dw, sw, wo)].reshape(nm, -1)
            if k == 0:
                np.multiply(win, wcol, out=a)
            else:
                a += np.multiply(win, wcol, out=t)
        y[m0:m0 + nm] = a.reshape(nm, ho, -1)[:, :, :wo]
    y = y.reshape(n, c, ho, wo)
    if b is not None:
        y += b[:, None, None]
    return y

"""Numpy kernels for convolution and pooling.

Every layer that slides a window over an image calls these functions, so they
are written for speed and correctness first: fully vectorised, float32 stays
float32, and only long-stable numpy API (numpy 1.23 must work).

Layouts: ``channels_last=False`` means ``(N, C, H, W)`` (PyTorch, Theano),
``channels_last=True`` means ``(N, H, W, C)`` (TensorFlow/Keras). Each layout is
computed natively, without transposing the activations, because transposes of
big arrays cost as much as the arithmetic here.

Convolution is im2col + GEMM: the window contents are copied into a matrix
whose product with the reshaped weights is the output, already in the
requested layout (depthwise channels-last convolutions multiply and add
instead). The batch is processed in blocks so that the im2col matrix stays in
cache and its memory stays bounded however big the batch is.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import numpy as np

from viewer.net import scratch, winograd

IntPair = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int], Sequence[Sequence[int]]]

#: Size in bytes of one block of the im2col matrix. A few MB keeps the block in
#: cache between being written and being read by the GEMM (1-4 MB measured
#: equally fast, 8 MB and more slower).
IM2COL_BLOCK_BYTES = 2 << 20


def _pair(value: IntPair, what: str) -> Tuple[int, int]:
    """Return ``value`` as a pair of ints; a single int is used for both axes."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}") from None
    return int(a), int(b)


def _padding(padding: Padding) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """Normalise padding to ``((top, bottom), (left, right))``.

    Accepts an int (all sides), a pair ``(ph, pw)`` (symmetric per axis) or
    the explicit nested form.
    """
    if isinstance(padding, (int, np.integer)):
        padding = (padding, padding)
    try:
        rows, cols = padding
    except (TypeError, ValueError):
        raise ValueError(f"padding must be ((top, bottom), (left, right)), "
                         f"got {padding!r}") from None
    pads = _pair(rows, "padding"), _pair(cols, "padding")
    if min(pads[0] + pads[1]) < 0:
        raise ValueError(f"padding must not be negative, got {padding!r}")
    return pads


def same_padding(in_size: int, kernel: int, stride: int = 1, dilation: int = 1) -> Tuple[int, int]:
    """Padding ``(before, after)`` of TensorFlow/Keras ``padding="same"``.

    The output has ``ceil(in_size / stride)`` cells; the total padding needed
    for that is split with the odd cell at the end (after), as TF does.
    """
    effective = dilation * (kernel - 1) + 1
    out = -(-in_size // stride)
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2, total - total // 2


def conv_output_size(in_size: int, kernel: int, stride: int = 1, pad_before: int = 0,
                     pad_after: int = 0, dilation: int = 1) -> int:
    """Number of output cells of a convolution along one axis."""
    effective = dilation * (kernel - 1) + 1
    return (in_size + pad_before + pad_after - effective) // stride + 1


def pool_output_size(in_size: int, kernel: int, stride: int, pad_before: int = 0,
                     pad_after: int = 0, ceil_mode: bool = False) -> int:
    """Number of output cells of a pooling along one axis (PyTorch rule).

    With ``ceil_mode`` a last, partial window is kept only if it starts
    inside the input or the before-padding, never in the after-padding.
    """
    span = in_size + pad_before + pad_after - kernel
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= in_size + pad_before:
        out -= 1
    return out


def _padded(shape: Tuple[int, ...], pads, h_axis: int, fill, dtype):
    """A buffer for ``shape`` padded on axes ``h_axis, h_axis + 1``, and its interior.

    Returns ``(buffer, interior)``: the buffer filled with ``fill``, and the
    view of it where the unpadded data goes.
    """
    (top, bottom), (left, right) = pads
    full = list(shape)
    full[h_axis] += top + bottom
    full[h_axis + 1] += left + right
    buffer = np.full(full, fill, dtype=dtype)
    index = [slice(None)] * len(shape)
    index[h_axis] = slice(top, top + shape[h_axis])
    index[h_axis + 1] = slice(left, left + shape[h_axis + 1])
    return buffer, buffer[tuple(index)]


def _pad_spatial(x: np.ndarray, pads, h_axis: int, fill) -> np.ndarray:
    """``x`` padded with ``fill`` on axes ``h_axis, h_axis + 1`` (x itself if no padding).

    Cheaper than ``np.pad``: one allocation, one copy.
    """
    if not any(pads[0] + pads[1]):
        return x
    buffer, interior = _padded(x.shape, pads, h_axis, fill, x.dtype)
    interior[...] = x
    return buffer


def _window(start: int, step: int, count: int) -> slice:
    """Slice picking ``count`` cells from ``start`` every ``step`` cells."""
    return slice(start, start + step * (count - 1) + 1, step)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
           stride: IntPair = (1, 1), padding: Padding = ((0, 0), (0, 0)),
           dilation: IntPair = (1, 1), groups: int = 1,
           channels_last: bool = False, prepared: dict | None = None) -> np.ndarray:
    """2-D cross-correlation (what PyTorch, TF and Keras call convolution).

    Parameters
    ----------
    x : ndarray
        Input, ``(N, C, H, W)``, or ``(N, H, W, C)`` if ``channels_last``.
    w : ndarray
        Weights ``(O, C // groups, kh, kw)`` (OIHW, whatever the layout of x).
    b : ndarray or None
        Bias ``(O,)``.
    stride, dilation : int or (int, int)
        Along (height, width).
    padding : int, (int, int) or ((top, bottom), (left, right))
        Explicit zero padding; use :func:`same_padding` for "same".
    groups : int
        Channel groups; ``groups == C`` is a depthwise convolution, with
        ``O // C`` outputs per input channel (the channel multiplier).
    channels_last : bool
        Layout of ``x`` and of the result.
    prepared : dict, optional
        Where the weights rearranged for a kernel (GEMM matrices, Winograd
        transforms) are kept between calls; the caller promises that ``w``
        and ``b`` stay the same for as long as it passes the same dict.

    Returns
    -------
    ndarray
        ``(N, O, H', W')``, or ``(N, H', W', O)`` if ``channels_last``, with
        ``H' = conv_output_size(H, kh, sh, top, bottom, dh)`` and likewise W'.
        The dtype is that of ``x`` if it is floating point, else float64.

    Notes
    -----
    The path depends on the shape: unpadded 1x1 convolutions are one GEMM
    on the activations; large enough 3x3 stride-1 ones (64 channels and
    more, see WINOGRAD_MIN_WORK) use Winograd's F(2x2, 3x3) (:mod:`viewer.net.winograd`, channels first;
    channels-last input is transposed around it); depthwise ones
    (``C // groups == 1``) multiply and add one shifted window per kernel
    offset, channels last for small maps whatever the layout (see
    DEPTHWISE_LAST_MAX_CELLS); the others are im2col + GEMM, one GEMM per group. With stride 1, windows cover
    whole padded rows: the window at one kernel offset is then a single
    contiguous slice of the flattened padded image, which copies several
    times faster than a 2-D slice; the ``kw - 1`` extra cells per row are
    computed and dropped.
    """
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    x = x.astype(dtype, copy=False)
    w = np.asarray(w, dtype=dtype)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d needs 4-d x and w, got shapes {x.shape} and {w.shape}")
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = _padding(padding)
    c, h, wd = (x.shape[3], x.shape[1], x.shape[2]) if channels_last else x.shape[1:]
    o, cg, kh, kw = w.shape
    if groups < 1 or o % groups or cg * groups != c:
        raise ValueError(f"conv2d: {c} input channels, weights {w.shape} and groups={groups} "
                         "do not fit together")
    out_size = (conv_output_size(h, kh, stride[0], *pads[0], dilation[0]),
                conv_output_size(wd, kw, stride[1], *pads[1], dilation[1]))
    if min(out_size) < 1:
        raise ValueError(f"conv2d: input {h}x{wd} is smaller than the dilated kernel")
    geometry = _Geometry(x.shape, channels_last, pads, (kh, kw), stride, dilation, out_size)
    bias = None if b is None else np.asarray(b, dtype=dtype)
    if kh == kw == 1 and groups == 1 and not any(pads[0] + pads[1]):
        return _pointwise(x, w, bias, stride, channels_last)
    if (kh, kw) == (3, 3) and stride == dilation == (1, 1) and groups == 1 \
            and _winograd_pays(x.shape[0], c, o, out_size):
        return _winograd(x, w, bias, pads, channels_last, {} if prepared is None else prepared)
    # Measured: per-group GEMMs with cg == 1 are 2-12x slower than multiply-add.
    if cg == 1 and groups > 1:
        if o > c:
            # Channel multiplier: repeat each input channel once per output.
            x = np.repeat(x, o // c, axis=3 if channels_last else 1)
        keep = {} if prepared is None else prepared
        if channels_last:
            return _depthwise(x, w, bias, pads, geometry, keep)
        if h * wd > DEPTHWISE_LAST_MAX_CELLS:
            return _depthwise_first(x, w, bias, geometry)
        y = _depthwise(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), w, bias, pads, geometry, keep)
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2))
    return _grouped(x, w, bias, groups, geometry, {} if prepared is None else prepared)


def _prepare(prepared: dict, key: str, w: np.ndarray, b: np.ndarray | None, make):
    """``make()``, kept in ``prepared`` under ``key`` for as long as it is asked for the same w and b."""
    entry = prepared.get(key)
    if entry is None or entry[0] is not w or entry[1] is not b:
        entry = prepared[key] = (w, b, make())
    return entry[2]


#: When 3x3 stride-1 convolutions go through Winograd: from 64 input and output
#: channels, and from this many (2x2 output blocks x input channels) per
#: sample, or per call from 128 channels on. Measured against im2col with
#: its weights prepared: 64 channels 56x56, batch 1: 0.53x the time; 512
#: channels 7x7, batch 8: 0.54x; 128 channels 28x28, batch 8: 0.8x; but 256
#: channels 7x7 at batch 1 and 64 channels 16x16 at any batch, whose GEMMs
#: are too small for the transforms to pay: 1.2-1.4x.
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_WORK = 48 << 10


def _winograd_pays(n: int, c: int, o: int, out_size: Tuple[int, int]) -> bool:
    """Whether F(2x2, 3x3) measured faster than im2col for this shape (see WINOGRAD_MIN_WORK)."""
    if min(c, o) < WINOGRAD_MIN_CHANNELS:
        return False
    work = -(-out_size[0] // 2) * -(-out_size[1] // 2) * c
    return work >= WINOGRAD_MIN_WORK or (min(c, o) >= 2 * WINOGRAD_MIN_CHANNELS
                                         and n * work >= WINOGRAD_MIN_WORK)


def _winograd(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, pads, channels_last: bool,
              prepared: dict) -> np.ndarray:
    """3x3 stride-1 convolution by F(2x2, 3x3); channels-last data is transposed around it."""
    u = _prepare(prepared, "winograd", w, None, lambda: winograd.transform_kernel(w))
    if not channels_last:
        return winograd.conv3x3(x, u, b, pads)
    y = winograd.conv3x3(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), u, b, pads)
    return np.ascontiguousarray(y.transpose(0, 2, 3, 1))


def _pointwise(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Tuple[int, int],
               channels_last: bool) -> np.ndarray:
    """1x1 convolution without padding: one GEMM on the activations as they are, no im2col."""
    if stride != (1, 1):
        sh, sw = stride
        x = np.ascontiguousarray(x[:, ::sh, ::sw] if channels_last else x[:, :, ::sh, ::sw])
    n, o = x.shape[0], w.shape[0]
    wmat = w.reshape(o, -1)
    if channels_last:
        y = np.empty(x.shape[:3] + (o,), dtype=x.dtype)
        np.matmul(x.reshape(-1, x.shape[3]), wmat.T, out=y.reshape(-1, o))
        if b is not None:
            y += b
        return y
    x = np.ascontiguousarray(x)
    y = np.empty((n, o) + x.shape[2:], dtype=x.dtype)
    np.matmul(wmat, x.reshape(n, x.shape[1], -1), out=y.reshape(n, o, -1))
    if b is not None:
        y += b[:, None, None]
    return y


class _Geometry:
    """Shapes shared by the convolution paths, and the strided window view.

    ``flat`` (stride 1): windows cover whole padded rows, ``length =
    H' * Wp`` cells per sample, of which ``Wp - W'`` per row are dropped.
    Otherwise ``length = H' * W'``.
    """

    def __init__(self, shape, channels_last: bool, pads, kernel, stride, dilation, out_size):
        self.channels_last = channels_last
        self.kernel, self.stride, self.dilation, self.out_size = kernel, stride, dilation, out_size
        self.flat = stride == (1, 1)
        (top, bottom), (left, right) = pads
        # The extra bottom row (flat) is read by the last row's dropped cells.
        self.pads = ((top, bottom + self.flat), (left, right))
        self.wp = shape[2 if channels_last else 3] + left + right
        self.length = out_size[0] * (self.wp if self.flat else out_size[1])
        self.sizes = (self.length,) if self.flat else out_size

    def buffers(self, x: np.ndarray, block: int, groups: int):
        """Padded buffer for ``block`` samples, its interior, and the windows view.

        The buffer is reused for every block: its border stays zero. The
        windows view has axes ``(B, *sizes, G, kh, kw, cg)`` (channels last) or
        ``(B, G, cg, kh, kw, *sizes)`` (channels first): every window of every
        output cell, without a copy.
        """
        h_axis = 1 if self.channels_last else 2
        full = list((block,) + x.shape[1:])
        full[h_axis] += sum(self.pads[0])
        full[h_axis + 1] += sum(self.pads[1])
        xp = scratch.buffer(("conv input", h_axis, self.pads), tuple(full), x.dtype, fill=0)
        (top, _), (left, _) = self.pads
        index = [slice(None)] * xp.ndim
        index[h_axis] = slice(top, top + x.shape[h_axis])
        index[h_axis + 1] = slice(left, left + x.shape[h_axis + 1])
        interior = xp[tuple(index)]
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        if self.channels_last:
            sb, sr, sc, sch = xp.strides
        else:
            sb, sch, sr, sc = xp.strides
        cg = x.shape[3 if self.channels_last else 1] // groups
        cells = (sc,) if self.flat else (sh * sr, sw * sc)
        kernel = (dh * sr, dw * sc)
        if self.channels_last:
            shape = (block,) + self.sizes + (groups, kh, kw, cg)
            strides = (sb,) + cells + (cg * sch,) + kernel + (sch,)
        else:
            shape = (block, groups, cg, kh, kw) + self.sizes
            strides = (sb, cg * sch, sch) + kernel + cells
        return xp, interior, np.ndarray(shape, x.dtype, xp, 0, strides)

    def keep(self, rows: np.ndarray) -> np.ndarray:
        """The valid output cells of flat result rows ``(nb, cells, O)`` / ``(nb, O, cells)``.

        ``cells`` covers whole padded rows (``length`` or a band of rows).
        """
        wo = self.out_size[1]
        if self.channels_last:
            return rows.reshape(rows.shape[0], -1, self.wp, rows.shape[2])[:, :, :wo]
        return rows.reshape(rows.shape[:2] + (-1, self.wp))[..., :wo]


def _block(n: int, per_sample: int) -> int:
    """Samples per block so that ``per_sample`` bytes each fit the block budget."""
    return max(1, min(n, IM2COL_BLOCK_BYTES // per_sample))


def _gemm_weights(w: np.ndarray, b: np.ndarray | None, groups: int, last: bool) -> np.ndarray:
    """The weights (and bias) as the GEMM of :func:`_grouped` reads them.

    (G, K (+1), Og) for channels last, K in (kh, kw, cg) order like the
    windows; (G, Og, K (+1)) for channels first, K in (cg, kh, kw) order.
    """
    o, cg, kh, kw = w.shape
    og, k = o // groups, cg * kh * kw
    if last:
        wmat = w.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, k, og)
    else:
        wmat = w.reshape(groups, og, k)
    if b is None:
        return np.ascontiguousarray(wmat)
    bias = b.reshape(groups, og)
    if last:
        return np.concatenate([wmat, bias[:, None, :]], axis=1)
    return np.concatenate([wmat, bias[:, :, None]], axis=2)


def _grouped(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, groups: int,
             geo: _Geometry, prepared: dict) -> np.ndarray:
    """Convolution as im2col + one GEMM per group (see :func:`conv2d`).

    The bias rides along in the GEMM as a row of ones in the im2col matrix,
    which saves a pass over the output. The batch goes in blocks of samples
    whose im2col matrix fits IM2COL_BLOCK_BYTES; a sample whose matrix alone
    is larger goes in bands of output rows, so the matrix is still read from
    cache by the GEMM.
    """
    n, dtype, last = x.shape[0], x.dtype, geo.channels_last
    o, cg, kh, kw = w.shape
    og, k = o // groups, cg * kh * kw
    k1 = k + (b is not None)
    ho, wo = geo.out_size
    per_row = geo.length // ho                 # im2col columns per output row
    row_bytes = per_row * groups * k1 * dtype.itemsize
    block = _block(n, ho * row_bytes)
    band = ho if block > 1 else max(1, min(ho, IM2COL_BLOCK_BYTES // row_bytes))
    length = band * per_row
    # A leading dimension that is a multiple of 4 KiB makes the GEMM thrash the cache.
    ld = length + 16 * (not last and (length * dtype.itemsize) % 4096 == 0)
    xp, interior, windows = geo.buffers(x, block, groups)
    if last:
        cols = scratch.buffer("im2col", (block, ld, groups, k1), dtype)
    else:
        cols = scratch.buffer("im2col", (block, groups, k1, ld), dtype)
    if b is not None:
        if last:
            cols[..., k] = 1
        else:
            cols[:, :, k] = 1
    wmat = _prepare(prepared, "im2col_last" if last else "im2col", w, b,
                    lambda: _gemm_weights(w, b, groups, last))
    y = np.empty((n, ho, wo, o) if last else (n, o, ho, wo), dtype=dtype)
    # Flat: the GEMM writes whole padded rows here, then their valid cells go to y.
    rows = scratch.buffer("conv rows", (block, length, o) if last else (block, o, length),
                          dtype) if geo.flat else None
    cell_axis = 1 if last else -1              # the windows' (first) output-cell axis
    for start in range(0, n, block):
        nb = min(block, n - start)
        interior[:nb] = x[start:start + nb]
        for r0 in range(0, ho, band):
            nr = min(band, ho - r0)
            cells = nr * per_row
            part = [slice(None)] * windows.ndim
            part[cell_axis if geo.flat or last else -2] = \
                slice(r0 * per_row, r0 * per_row + cells) if geo.flat else slice(r0, r0 + nr)
            src = windows[(slice(0, nb),) + tuple(part[1:])]
            dst = cols[:nb, :cells, :, :k] if last else cols[:nb, :, :k, :cells]
            _view(dst, src.shape)[...] = src
            if geo.flat:
                out = rows[:nb, :cells] if last else rows[:nb, :, :cells]
            else:
                out = y[start:start + nb, r0:r0 + nr] if last else y[start:start + nb, :, r0:r0 + nr]
            if last:
                lhs = cols[:nb, :cells].reshape(nb * cells, groups, k1).transpose(1, 0, 2)
                np.matmul(lhs, wmat, out=_view(out, (nb * cells, groups, og)).transpose(1, 0, 2))
            else:
                np.matmul(wmat, cols[:nb, :, :, :cells], out=_view(out, (nb, groups, og, cells)))
            if geo.flat:
                band_rows = (slice(start, start + nb), slice(r0, r0 + nr)) if last else \
                    (slice(start, start + nb), slice(None), slice(r0, r0 + nr))
                y[band_rows] = geo.keep(out)
    return y


def _view(a: np.ndarray, shape: tuple) -> np.ndarray:
    """``a`` reshaped without a copy (an out= target must be written in place)."""
    view = a.view()
    view.shape = shape      # raises instead of copying when the strides do not allow it
    return view


#: Channels-first depthwise convolutions of maps up to this many cells run
#: channels last (transposed in and out): their rows are too short for numpy's
#: inner loop channels first. Measured: 7x7 to 28x28 maps 0.5-0.9x the time
#: (5x5 kernels and strides gain most), 40x40 and larger 1.0-2.4x.
DEPTHWISE_LAST_MAX_CELLS = 32 * 32

#: Bytes of one block of a depthwise accumulator (a band of rows, channels
#: last; a stack of maps, channels first): it and the padded input it reads
#: stay in the core's L2 cache across the kernel taps.
DEPTHWISE_BLOCK_BYTES = 1 << 20


def _depthwise(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, pads, geo: _Geometry,
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
    taps = _prepare(prepared, f"depthwise last {pw}", w, None,
                    lambda: np.tile(w[:, 0].reshape(o, kh * kw).T, (1, pw)))   # (taps, pw * O)
    row = pw * c
    block = _block(n, ph * sh * row * sw * x.dtype.itemsize)
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


def _depthwise_first(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                     geo: _Geometry) -> np.ndarray:
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
                win = xp[:nm, _window(r * dh, sh, ho), _window(q * dw, sw, wo)].reshape(nm, -1)
            if k == 0:
                np.multiply(win, wcol, out=a)
            else:
                a += np.multiply(win, wcol, out=t)
        y[m0:m0 + nm] = a.reshape(nm, ho, -1)[:, :, :wo]
    y = y.reshape(n, c, ho, wo)
    if b is not None:
        y += b[:, None, None]
    return y


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
    if mode not in ("max", "avg"):
        raise ValueError(f"pool2d mode must be 'max' or 'avg', got {mode!r}")
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"pool2d needs a 4-d input, got shape {x.shape}")
    if mode == "avg" and not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    kh, kw = _pair(size, "size")
    sh, sw = _pair(size if stride is None else stride, "stride")
    (top, bottom), (left, right) = _padding(padding)
    h_axis = 1 if channels_last else 2
    h, wd = x.shape[h_axis], x.shape[h_axis + 1]
    ho = pool_output_size(h, kh, sh, top, bottom, ceil_mode)
    wo = pool_output_size(wd, kw, sw, left, right, ceil_mode)
    if ho < 1 or wo < 1:
        raise ValueError(f"pool2d: input {h}x{wd} is smaller than the window {kh}x{kw}")
    # Extra cells after the after-padding for ceil_mode windows; they hold
    # the neutral value, so they change neither the max nor the sum.
    extra_h = max(0, (ho - 1) * sh + kh - (h + top + bottom))
    extra_w = max(0, (wo - 1) * sw + kw - (wd + left + right))
    if mode == "max":
        fill = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
        reduce = np.maximum
    else:
        fill, reduce = 0, np.add
    xp = _pad_spatial(x, ((top, bottom + extra_h), (left, right + extra_w)), h_axis, fill)
    # Separable: reduce the rows of each window, then its columns
    # (kh + kw passes instead of kh * kw).
    lead = (slice(None),) * h_axis
    rows = None
    for i in range(kh):
        part = xp[lead + (_window(i, sh, ho),)]
        rows = part.copy() if rows is None else reduce(rows, part, out=rows)
    y = None
    for j in range(kw):
        part = rows[lead + (slice(None), _window(j, sw, wo))]
        y = part.copy() if y is None else reduce(y, part, out=y)
    if mode == "avg":
        y /= _window_counts(h, wd, (kh, kw), (sh, sw), (top, left), (ho, wo),
                            (bottom, right), count_include_pad, channels_last).astype(y.dtype)
    return y


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

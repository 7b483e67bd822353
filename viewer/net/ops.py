"""Numpy kernels for convolution, and the entry point of all sliding-window kernels.

Every layer that slides a window over an image calls these functions, so they
are written for speed and correctness first: fully vectorised, float32 stays
float32, and only long-stable numpy API (numpy 1.23 must work).

Layouts: ``channels_last=False`` means ``(N, C, H, W)`` (PyTorch, Theano),
``channels_last=True`` means ``(N, H, W, C)`` (TensorFlow/Keras). Each layout is
computed natively, without transposing the activations, because transposes of
big arrays cost as much as the arithmetic here.

Convolution is im2col + GEMM: the window contents are copied into a matrix
whose product with the reshaped weights is the output, already in the
requested layout (depthwise convolutions sum shifted windows times their weights
instead). The batch is processed in blocks so that the im2col matrix stays in
cache and its memory stays bounded however big the batch is.

One module per concern: depthwise kernels in :mod:`viewer.net.ops_depthwise`,
pooling in :mod:`viewer.net.ops_pool`, argument checks and window geometry in
:mod:`viewer.net.ops_geometry`; their public functions are re-exported here.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Tuple

import numpy as np

from viewer.net import ops_depthwise as depthwise, ops_geometry as geometry, scratch, winograd
# Callers use ops.pool2d, ops.same_padding, ...; the backward reads ops._window_counts.
from viewer.net.ops_geometry import (IntPair, Padding, conv_output_size, normal_padding,  # noqa: F401
                                     pair, pool_output_size, prepared_weights, same_padding)
from viewer.net.ops_pool import _window_counts, pool2d, pool2d_route  # noqa: F401


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
    (``C // groups == 1``) sum the shifted windows of the kernel offsets
    times their weights (:mod:`viewer.net.ops_depthwise`), channels last for small maps
    whatever the layout; the others are im2col + GEMM, one GEMM per group. With stride 1, windows cover
    whole padded rows: the window at one kernel offset is then a single
    contiguous slice of the flattened padded image, which copies several
    times faster than a 2-D slice; the ``kw - 1`` extra cells per row are
    computed and dropped.
    """
    x = np.asarray(x)
    return conv2d_route(x.shape, x.dtype, w, b, stride, padding, dilation, groups, channels_last,
                        {} if prepared is None else prepared)(x)


Route = Callable[[np.ndarray], np.ndarray]


def conv2d_route(shape: Tuple[int, ...], dtype: Any, w: np.ndarray, b: np.ndarray | None,
                 stride: IntPair = (1, 1), padding: Padding = ((0, 0), (0, 0)),
                 dilation: IntPair = (1, 1), groups: int = 1, channels_last: bool = False,
                 prepared: dict | None = None) -> Route:
    """The kernel :func:`conv2d` runs for inputs of ``shape`` and ``dtype``, its arguments bound.

    The checks, the padding, the window geometry and the choice of kernel
    depend only on the shapes, so a layer works them out once per input
    shape and calls the route on every batch of that shape: on small maps
    they cost as much as the arithmetic. Arguments as for :func:`conv2d`;
    ``shape`` is ``(N, C, H, W)`` or ``(N, H, W, C)``.

    Returns
    -------
    callable
        ``route(x)`` for x of ``shape`` and ``dtype`` equals ``conv2d(x, w, b, ...)``;
        picklable (partials of module functions), so layers holding routes pickle.
    """
    in_dtype = np.dtype(dtype)
    dtype = in_dtype if in_dtype.kind == "f" else np.dtype(np.float64)
    w = np.asarray(w, dtype=dtype)
    if len(shape) != 4 or w.ndim != 4:
        raise ValueError(f"conv2d needs 4-d x and w, got shapes {tuple(shape)} and {w.shape}")
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    pads = normal_padding(padding)
    c, h, wd = (shape[3], shape[1], shape[2]) if channels_last else shape[1:]
    o, cg, kh, kw = w.shape
    if groups < 1 or o % groups or cg * groups != c:
        raise ValueError(f"conv2d: {c} input channels, weights {w.shape} and groups={groups} "
                         "do not fit together")
    out_size = (conv_output_size(h, kh, stride[0], *pads[0], dilation[0]),
                conv_output_size(wd, kw, stride[1], *pads[1], dilation[1]))
    if min(out_size) < 1:
        raise ValueError(f"conv2d: input {h}x{wd} is smaller than the dilated kernel")
    keep = {} if prepared is None else prepared
    bias = None if b is None else np.asarray(b, dtype=dtype)
    route = _route(shape, w, bias, stride, pads, dilation, groups, channels_last, out_size, keep)
    return route if in_dtype == dtype else partial(cast_input, dtype=dtype, route=route)


def _route(shape: Tuple[int, ...], w: np.ndarray, bias: np.ndarray | None,
           stride: Tuple[int, int], pads, dilation: Tuple[int, int], groups: int,
           channels_last: bool, out_size: Tuple[int, int], keep: dict) -> Route:
    """The kernel of :func:`conv2d_route` for checked arguments (see :func:`conv2d`'s notes).

    ``w`` and ``bias`` are in the computing dtype, ``pads`` normalised, ``keep``
    the dict of prepared weights.
    """
    c, h, wd = (shape[3], shape[1], shape[2]) if channels_last else shape[1:]
    o, cg, kh, kw = w.shape
    if kh == kw == 1 and groups == 1 and not any(pads[0] + pads[1]):
        return partial(_pointwise, w=w, b=bias, stride=stride, channels_last=channels_last,
                       prepared=keep)
    if channels_last and c == 1:
        # One input channel: the same memory is (N, 1, H, W), whose windows are
        # contiguous runs where channels-last ones are single cells (measured
        # 48x48x1 to 8 channels: 0.6x the time, the result's transpose included).
        first = _route((shape[0], 1, h, wd), w, bias, stride, pads, dilation, groups, False,
                       out_size, keep)
        return partial(_one_channel_last, route=first)
    if (kh, kw) == (3, 3) and stride == dilation == (1, 1) and groups == 1 \
            and _winograd_pays(shape[0], c, o, out_size):
        return partial(_winograd, w=w, b=bias, pads=pads, channels_last=channels_last,
                       prepared=keep)
    geo = _Geometry(shape, channels_last, pads, (kh, kw), stride, dilation, out_size)
    # Measured: per-group GEMMs with cg == 1 are 2-12x slower than multiply-add.
    if cg == 1 and groups > 1:
        if channels_last:
            kernel = partial(depthwise.depthwise_last, w=w, b=bias, pads=pads, geo=geo,
                             prepared=keep)
        elif h * wd > (depthwise.DEPTHWISE_LAST_MAX_CELLS if stride == (1, 1)
                       else depthwise.DEPTHWISE_LAST_MAX_CELLS_STRIDED):
            kernel = partial(depthwise.depthwise_first, w=w, b=bias, geo=geo, prepared=keep)
        else:
            # The kernel copies its input into its padded buffer anyway: that copy transposes.
            kernel = partial(_depthwise_transposed, w=w, b=bias, pads=pads, geo=geo,
                             prepared=keep)
        # Channel multiplier: each input channel repeated once per output.
        return kernel if o == c else partial(_repeated, times=o // c,
                                             axis=3 if channels_last else 1, route=kernel)
    return partial(_grouped, w=w, b=bias, groups=groups, geo=geo, prepared=keep)


def cast_input(x: np.ndarray, dtype: np.dtype, route: Route) -> np.ndarray:
    """``route`` on x converted to the float ``dtype`` it computes in (x of integers)."""
    return route(x.astype(dtype))


def _one_channel_last(x: np.ndarray, route: Route) -> np.ndarray:
    """A one-channel (N, H, W, 1) input through the channels-first ``route``, result channels last."""
    y = route(x.reshape(x.shape[0], 1, x.shape[1], x.shape[2]))
    return np.ascontiguousarray(y.transpose(0, 2, 3, 1))


def _repeated(x: np.ndarray, times: int, axis: int, route: Route) -> np.ndarray:
    """``route`` on x with each channel repeated ``times`` times (a depthwise channel multiplier)."""
    return route(np.repeat(x, times, axis=axis))


def _depthwise_transposed(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, pads,
                          geo: "_Geometry", prepared: dict) -> np.ndarray:
    """A small channels-first depthwise convolution run channels last, transposed in and out."""
    y = depthwise.depthwise_last(x.transpose(0, 2, 3, 1), w, b, pads, geo, prepared)
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


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
    u = prepared_weights(prepared, "winograd", w, None, lambda: winograd.transform_kernel(w))
    if not channels_last:
        return winograd.conv3x3(x, u, b, pads)
    y = winograd.conv3x3(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), u, b, pads)
    return np.ascontiguousarray(y.transpose(0, 2, 3, 1))


#: Channels-first 1x1 convolutions with at least this many times more output
#: than input channels carry their bias in the GEMM, as a row of ones under a
#: copy of the input: the copy costs less than a pass of its own over the wider
#: output. Measured 6x wider (MobileNetV2's expansions), 7x7 to 112x112 maps:
#: 0.76-0.92x the time; 4.5x wider: 1.1x.
POINTWISE_BIAS_ROW_RATIO = 6


def _pointwise(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Tuple[int, int],
               channels_last: bool, prepared: dict) -> np.ndarray:
    """1x1 convolution without padding: one GEMM on the activations as they are, no im2col."""
    n, c, o = x.shape[0], w.shape[1], w.shape[0]
    wmat = w.reshape(o, -1)
    sh, sw = stride
    if not channels_last and b is not None and o >= POINTWISE_BIAS_ROW_RATIO * c:
        cells = x[:, :, ::sh, ::sw] if stride != (1, 1) else x
        rows = scratch.buffer(("pointwise rows", c), (n, c + 1, cells.shape[2] * cells.shape[3]),
                              x.dtype, fill=1)      # row c stays ones
        _view(rows[:, :c], cells.shape)[...] = cells
        wb = prepared_weights(prepared, "pointwise bias row", w, b,
                              lambda: np.concatenate([wmat, b[:, None]], axis=1))
        y = np.empty((n, o) + cells.shape[2:], dtype=x.dtype)
        np.matmul(wb, rows, out=y.reshape(n, o, -1))
        return y
    if stride != (1, 1):
        x = np.ascontiguousarray(x[:, ::sh, ::sw] if channels_last else x[:, :, ::sh, ::sw])
    if channels_last:
        y = np.empty(x.shape[:3] + (o,), dtype=x.dtype)
        np.matmul(x.reshape(-1, x.shape[3]), wmat.T, out=y.reshape(-1, o))
        if b is not None:
            geometry.add_channels_last(y, b, prepared)
        return y
    x = np.ascontiguousarray(x)
    y = np.empty((n, o) + x.shape[2:], dtype=x.dtype)
    np.matmul(wmat, x.reshape(n, x.shape[1], -1), out=y.reshape(n, o, -1))
    if b is not None:
        geometry.add_channels_first(y, b, prepared)
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
    whose im2col matrix fits ops_geometry.IM2COL_BLOCK_BYTES; a sample whose matrix alone
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
    block = geometry.samples_per_block(n, ho * row_bytes)
    band = ho if block > 1 else max(1, min(ho, geometry.IM2COL_BLOCK_BYTES // row_bytes))
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
    wmat = prepared_weights(prepared, "im2col_last" if last else "im2col", w, b,
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

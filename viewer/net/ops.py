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
requested layout. The batch is processed in blocks so that the im2col matrix
stays in cache and its memory stays bounded however big the batch is.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple, Union

import numpy as np

IntPair = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int], Sequence[Sequence[int]]]

#: Size in bytes of one block of the im2col matrix. A few MB keeps the block in
#: the L2/L3 cache between being written and being read by the GEMM.
IM2COL_BLOCK_BYTES = 4 << 20


def _pair(value: IntPair, what: str) -> Tuple[int, int]:
    """Return ``value`` as a pair of ints; a single int is used for both axes."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return pair


def _padding(padding: Padding) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """Normalise padding to ``((top, bottom), (left, right))``.

    Accepts an int (all sides), a pair ``(ph, pw)`` (symmetric per axis) or
    the explicit nested form.
    """
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return (p, p), (p, p)
    rows = list(padding)
    if len(rows) != 2:
        raise ValueError(f"padding must be ((top, bottom), (left, right)), got {padding!r}")
    out = tuple(_pair(r, "padding") for r in rows)
    if min(out[0] + out[1]) < 0:
        raise ValueError(f"padding must not be negative, got {padding!r}")
    return out  # type: ignore[return-value]


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


def _pad_spatial(x: np.ndarray, pads, h_axis: int, fill: float) -> np.ndarray:
    """Pad the two spatial axes ``h_axis, h_axis + 1`` with ``fill``.

    Cheaper than ``np.pad`` (one allocation, one copy) and returns ``x``
    itself when there is nothing to pad.
    """
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    shape = list(x.shape)
    shape[h_axis] += top + bottom
    shape[h_axis + 1] += left + right
    out = np.full(shape, fill, dtype=x.dtype)
    index = [slice(None)] * x.ndim
    index[h_axis] = slice(top, top + x.shape[h_axis])
    index[h_axis + 1] = slice(left, left + x.shape[h_axis + 1])
    out[tuple(index)] = x
    return out


def _window(start: int, step: int, count: int) -> slice:
    """Slice picking ``count`` cells from ``start`` every ``step`` cells."""
    return slice(start, start + step * (count - 1) + 1, step)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
           stride: IntPair = (1, 1), padding: Padding = ((0, 0), (0, 0)),
           dilation: IntPair = (1, 1), groups: int = 1,
           channels_last: bool = False) -> np.ndarray:
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

    Returns
    -------
    ndarray
        ``(N, O, H', W')``, or ``(N, H', W', O)`` if ``channels_last``, with
        ``H' = conv_output_size(H, kh, sh, top, bottom, dh)`` and likewise W'.
        The dtype is that of ``x`` if it is floating point, else float64.
    """
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    x = x.astype(dtype, copy=False)
    w = np.asarray(w, dtype=dtype)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d needs 4-d x and w, got shapes {x.shape} and {w.shape}")
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    pads = _padding(padding)
    n = x.shape[0]
    c, h, wd = (x.shape[3], x.shape[1], x.shape[2]) if channels_last else x.shape[1:]
    o, cg, kh, kw = w.shape
    if groups < 1 or c % groups or o % groups or cg * groups != c:
        raise ValueError(f"conv2d: {c} input channels, weights {w.shape} and groups={groups} "
                         "do not fit together")
    ho = conv_output_size(h, kh, sh, *pads[0], dh)
    wo = conv_output_size(wd, kw, sw, *pads[1], dw)
    if ho < 1 or wo < 1:
        raise ValueError(f"conv2d: input {h}x{wd} is smaller than the dilated kernel")
    og = o // groups
    k = cg * kh * kw
    rows = ho * wo
    # Samples per block, so that one block of the im2col matrix fits the budget.
    block = max(1, IM2COL_BLOCK_BYTES // (rows * c * kh * kw * dtype.itemsize))
    if channels_last:
        y = np.empty((n, ho, wo, o), dtype=dtype)
        # (G, kh*kw*Cg, Og): rows in the (kh, kw, cg) order of the im2col columns.
        wmat = w.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, k, og)
    else:
        y = np.empty((n, o, ho, wo), dtype=dtype)
        wmat = w.reshape(groups, og, k)
    for start in range(0, n, block):
        xb = x[start:start + block]
        nb = xb.shape[0]
        xp = _pad_spatial(xb, pads, 1 if channels_last else 2, 0.0)
        if channels_last:
            xp = xp.reshape(nb, xp.shape[1], xp.shape[2], groups, cg)
            cols = np.empty((nb, ho, wo, groups, kh, kw, cg), dtype=dtype)
            for i in range(kh):
                for j in range(kw):
                    cols[:, :, :, :, i, j, :] = xp[:, _window(i * dh, sh, ho),
                                                   _window(j * dw, sw, wo)]
            # (G, NB*H'*W', K) @ (G, K, Og), written straight into the NHWC output.
            lhs = cols.reshape(nb * rows, groups, k).transpose(1, 0, 2)
            out = y[start:start + nb].reshape(nb * rows, groups, og).transpose(1, 0, 2)
            np.matmul(lhs, wmat, out=out)
        else:
            xp = xp.reshape(nb, groups, cg, xp.shape[2], xp.shape[3])
            cols = np.empty((nb, groups, cg, kh, kw, ho, wo), dtype=dtype)
            for i in range(kh):
                for j in range(kw):
                    cols[:, :, :, i, j] = xp[..., _window(i * dh, sh, ho), _window(j * dw, sw, wo)]
            # (G, Og, K) @ (NB, G, K, H'*W') -> (NB, G, Og, H'*W'), i.e. NCHW.
            out = y[start:start + nb].reshape(nb, groups, og, rows)
            np.matmul(wmat, cols.reshape(nb, groups, k, rows), out=out)
    if b is not None:
        bias = np.asarray(b, dtype=dtype)
        y += bias if channels_last else bias[:, None, None]
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

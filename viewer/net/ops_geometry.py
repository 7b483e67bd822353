"""Argument checks and window geometry shared by the convolution and pooling kernels.

Pairs and paddings in the forms the layers pass them, output sizes, padded
copies, the sample blocks that keep work arrays in cache, and the cache of
weights rearranged for a kernel.
"""
from __future__ import annotations

from typing import Hashable, Sequence, Tuple, Union

import numpy as np

from viewer.net import scratch

IntPair = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int], Sequence[Sequence[int]]]

#: Size in bytes of one block of the im2col matrix. A few MB keeps the block in
#: cache between being written and being read by the GEMM (1-4 MB measured
#: equally fast, 8 MB and more slower).
IM2COL_BLOCK_BYTES = 2 << 20

def pair(value: IntPair, what: str) -> Tuple[int, int]:
    """Return ``value`` as a pair of ints; a single int is used for both axes."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}") from None
    return int(a), int(b)


def normal_padding(padding: Padding) -> Tuple[Tuple[int, int], Tuple[int, int]]:
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
    pads = pair(rows, "padding"), pair(cols, "padding")
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


def padded_buffer(shape: Tuple[int, ...], pads, h_axis: int, fill, dtype, tag: Hashable = None):
    """A buffer for ``shape`` padded on axes ``h_axis, h_axis + 1``, and its interior.

    Returns ``(buffer, interior)``: the buffer filled with ``fill``, and the
    view of it where the unpadded data goes. With ``tag`` it is the work
    array of :func:`viewer.net.scratch.buffer` for that purpose (kept between
    calls: only its interior is written, so its border keeps ``fill``), else
    a new array.
    """
    (top, bottom), (left, right) = pads
    full = list(shape)
    full[h_axis] += top + bottom
    full[h_axis + 1] += left + right
    if tag is None:
        buffer = np.full(full, fill, dtype=dtype)
    else:
        buffer = scratch.buffer((tag, h_axis, tuple(map(tuple, pads))), tuple(full), dtype, fill=fill)
    index = [slice(None)] * len(shape)
    index[h_axis] = slice(top, top + shape[h_axis])
    index[h_axis + 1] = slice(left, left + shape[h_axis + 1])
    return buffer, buffer[tuple(index)]


def pad_spatial(x: np.ndarray, pads, h_axis: int, fill, tag: Hashable = None) -> np.ndarray:
    """``x`` padded with ``fill`` on axes ``h_axis, h_axis + 1`` (x itself if no padding).

    Cheaper than ``np.pad``: one copy, into a new array or, with ``tag``, into
    a kept work array (see :func:`padded_buffer`) that the caller must not return.
    """
    if not any(pads[0] + pads[1]):
        return x
    buffer, interior = padded_buffer(x.shape, pads, h_axis, fill, x.dtype, tag)
    interior[...] = x
    return buffer


def window(start: int, step: int, count: int) -> slice:
    """Slice picking ``count`` cells from ``start`` every ``step`` cells."""
    return slice(start, start + step * (count - 1) + 1, step)

def prepared_weights(prepared: dict, key: str, w: np.ndarray, b: np.ndarray | None, make):
    """``make()``, kept in ``prepared`` under ``key`` for as long as it is asked for the same w and b."""
    entry = prepared.get(key)
    if entry is None or entry[0] is not w or entry[1] is not b:
        entry = prepared[key] = (w, b, make())
    return entry[2]


def samples_per_block(n: int, per_sample: int) -> int:
    """Samples per block so that ``per_sample`` bytes each fit the block budget."""
    return max(1, min(n, IM2COL_BLOCK_BYTES // per_sample))


def add_channels_last(y: np.ndarray, b: np.ndarray, prepared: dict) -> None:
    """``y += b`` for a C-contiguous channels-last ``y`` (N, H, W, O) and a bias ``b`` (O,).

    Added in rows of ``W * O`` cells against ``b`` tiled W times (kept in
    ``prepared``): broadcast over the last axis alone, numpy's inner loop
    runs over O cells only (measured 112x112x16: 2.5x the time, 44x44x8:
    3.7x). The same additions, so the same result.
    """
    width = y.shape[-2]
    if y.shape[-1] >= 64 or not y.flags.c_contiguous:   # inner loops long enough already
        y += b
        return
    row = prepared_weights(prepared, f"bias tiled {width}", b, None, lambda: np.tile(b, width))
    rows = y.reshape(-1, row.shape[0])     # a view: y is contiguous
    rows += row


#: Channels-first biases are tiled into a whole sample's planes up to this many
#: cells (O * H * W; 256 KB of float32 kept per layer), see :func:`add_channels_first`.
BIAS_PLANES_MAX_CELLS = 1 << 16


def add_channels_first(y: np.ndarray, b: np.ndarray, prepared: dict) -> None:
    """``y += b`` for a C-contiguous channels-first ``y`` (N, O, H, W) and a bias ``b`` (O,).

    A bias broadcast along H and W is a stride-0 operand, for which numpy's
    add has no fast loop; up to :data:`BIAS_PLANES_MAX_CELLS` cells per
    sample it is added as one contiguous (O * H * W,) array of the bias
    repeated (kept in ``prepared``): measured 240x14x14 2.7x, 96x28x28 1.7x
    faster. Larger maps keep the broadcast (their rows are long, and the
    repeated bias would be a second array as large as the output to read).
    The same additions, so the same result.
    """
    cells = y.shape[2] * y.shape[3]
    if y.shape[1] * cells > BIAS_PLANES_MAX_CELLS or not y.flags.c_contiguous:
        y += b[:, None, None]
        return
    planes = prepared_weights(prepared, f"bias planes {cells}", b, None,
                              lambda: np.repeat(b, cells))
    rows = y.reshape(y.shape[0], -1)       # a view: y is contiguous
    rows += planes

"""TFLite operators that reshape, join, slice, pad, tile or resize -> Strata layers (NHWC).

Part of :mod:`viewer.convert.tflite_ops`; the int8 table reuses these too,
since they are exact on dequantized values. Per-sample sizes come from the
layers already made (a tensor's stored shape may be a placeholder where the
converter marked it dynamic); a size computed from shapes holds
:data:`~viewer.convert.tflite_model.BATCH` where the batch goes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from viewer.convert.tflite_fold import strided_slice
from viewer.convert.tflite_model import BATCH, Builder, Refused, Value, axis_of
from viewer.convert.tflite_schema import Operator
from viewer.net.layers import Concatenate, Permute, Reshape
from viewer.net.layers.indexing import Pad, Slice, Take
from viewer.net.layers.resampling import Resize2D, Tile


def reshape(b: Builder, op: Operator) -> None:
    """RESHAPE, SQUEEZE, EXPAND_DIMS, each sample on its own."""
    x = b.data(op)
    have = b.in_shape(op)
    if op.name == "SQUEEZE":
        dims = op.option_vector(0, "i32")
        rank = len(have) + 1
        drop = {axis_of(d, rank) for d in dims} if dims is not None and len(dims) else \
            {i + 1 for i, n in enumerate(have) if n == 1}
        if 0 in drop:
            raise Refused("squeezes the batch axis")
        target = tuple(n for i, n in enumerate(have) if i + 1 not in drop)
    elif op.name == "EXPAND_DIMS":
        axis = axis_of(np.asarray(b.const(op, 1, "axis")).reshape(-1)[0], len(have) + 2)
        if axis == 0:
            raise Refused("adds an axis before the batch")
        target = have[:axis - 1] + (1,) + have[axis - 1:]
    else:
        target, rows = _reshape_target(b, op, have)
        if rows:
            layer = b.emit(op, lambda name: Reshape(x, name=name, target_shape=target))
            b.values[op.outputs[0]].rows = rows
            return
    if target == have and not b.rows(op):
        b.values[op.outputs[0]] = Value(x)
        return
    b.emit(op, lambda name: Reshape(x, name=name, target_shape=target))


def _reshape_target(b: Builder, op: Operator, have: tuple) -> tuple[tuple, int]:
    """RESHAPE's per-sample target, from its shape input (or option), batch first, and
    the number of rows per sample when the target merges the batch with rows."""
    shape = b.const(op, 1, "target shape", optional=True) if len(op.inputs) > 1 else None
    if shape is None:
        shape = op.option_vector(0, "i32")
    if shape is None:
        raise Refused("has no target shape")
    dims = [int(d) for d in np.asarray(shape).reshape(-1)]
    stored_batch = b.tensor(op.inputs[0]).shape[0] if b.tensor(op.inputs[0]).shape else 1
    rows = dims[0] // BATCH if dims and dims[0] > BATCH and dims[0] % BATCH == 0 else 0
    if rows and not b.rows(op):
        # (batch * rows, features): Keras' Tensordot runs a Dense over every row this way.
        features = [d for d in dims[1:]]
        if int(np.prod(have)) % rows or features.count(-1) > 1:
            raise Refused(f"reshapes to {dims}: it mixes samples")
        per_row = int(np.prod(have)) // rows
        if -1 in features:
            features[features.index(-1)] = per_row // max(int(np.prod([f for f in features if f != -1])), 1)
        if int(np.prod(features)) != per_row:
            raise Refused(f"reshapes to {dims}: it mixes samples")
        return (rows,) + tuple(features), rows
    if not dims or dims[0] not in (BATCH, -1, stored_batch):
        raise Refused(f"reshapes to {dims}: it mixes samples")
    rest = dims[1:]
    size = int(np.prod(have))
    if dims[0] == -1:
        if -1 in rest:
            raise Refused(f"target shape {dims} has two unknown sizes")
        if int(np.prod(rest)) != size:
            raise Refused(f"reshapes {list(have)} per sample to {rest}: it mixes samples")
    if any(d >= BATCH or d < -1 or d == 0 for d in rest) or rest.count(-1) > 1:
        raise Refused(f"target shape {dims} cannot be followed per sample")
    known = int(np.prod([d for d in rest if d != -1]))
    if -1 in rest:
        if size % known:
            raise Refused(f"cannot reshape {list(have)} to {rest}")
        rest[rest.index(-1)] = size // known
    if int(np.prod(rest)) != size:
        raise Refused(f"reshapes {list(have)} per sample to {rest}: it mixes samples")
    return tuple(rest), 0


def concatenation(b: Builder, op: Operator) -> None:
    parts = tuple(b.data(op, k) for k in range(len(op.inputs)))
    axis = axis_of(op.option(0, "i32"), len(b.tensor(op.inputs[0]).shape))
    if axis == 0:
        raise Refused("concatenates along the batch axis")
    b.emit(op, lambda name: Concatenate(parts, name=name, axis=axis), fused=op.option(1, "i8"))


def pack(b: Builder, op: Operator) -> None:
    parts = tuple(b.data(op, k) for k in range(len(op.inputs)))
    axis = axis_of(op.option(1, "i32"), len(b.tensor(op.inputs[0]).shape) + 1)
    if axis == 0:
        raise Refused("stacks along the batch axis")
    shape = b.in_shape(op)
    expanded = shape[:axis - 1] + (1,) + shape[axis - 1:]
    parts = tuple(b.add(Reshape(p, name=b.unique(f"{b.base_name(op)}_{k}"), target_shape=expanded))
                  for k, p in enumerate(parts))
    b.emit(op, lambda name: Concatenate(parts, name=name, axis=axis))


def pad(b: Builder, op: Operator) -> None:
    x = b.data(op)
    pads = np.asarray(b.const(op, 1, "paddings"), np.int64).reshape(-1, 2)
    value = 0.0
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = float(np.asarray(b.const(op, 2, "padding value")).reshape(-1)[0])
    if pads[0].any():
        raise Refused("pads the batch axis")
    mode = "constant"
    if op.name == "MIRROR_PAD":
        mode = {0: "reflect", 1: "symmetric"}.get(int(op.option(0, "i8")))
        if mode != "reflect":
            raise Refused("symmetric mirror padding is not supported")
    b.emit(op, lambda name: Pad(x, name=name, pads=[tuple(p) for p in pads[1:]], mode=mode, value=value))


def _slice_layer(b: Builder, op: Operator, x, shape: tuple, slices: list, drop: list) -> None:
    """Emit Slice (and Reshape for dropped axes) for per-axis python slices of a batch tensor."""
    first = slices[0]
    stored_batch = max(b.tensor(op.inputs[0]).shape[0], 1)
    if 0 in drop or first.step not in (None, 1) or (first.start or 0) != 0 or \
            (first.stop is not None and 0 <= first.stop < stored_batch):
        raise Refused("slices the batch axis")  # the stored batch size stands for the whole batch
    shape = (BATCH,) + tuple(shape[1:])
    axes, starts, stops, steps = [], [], [], []
    for axis, (s, n) in enumerate(zip(slices, shape)):
        start, stop, step = s.indices(n)
        if axis == 0 or (start, stop, step) == (0, n, 1):
            continue
        axes.append(axis)
        starts.append(start)
        stops.append(None if stop < 0 else stop)
        steps.append(step)
    out_shape = tuple(len(range(*s.indices(n))) for i, (s, n) in enumerate(zip(slices, shape))
                      if i > 0 and i not in drop)
    layer = x
    if axes:
        make = lambda name: Slice(x, name=name, axes=axes, starts=starts, stops=stops, steps=steps)  # noqa: E731
        if not drop:
            b.emit(op, make)
            return
        layer = b.add(make(b.unique(b.base_name(op) + "_slice")))
    elif not drop:
        b.values[op.outputs[0]] = b.values[op.inputs[0]]
        return
    b.emit(op, lambda name: Reshape(layer, name=name, target_shape=out_shape))


def strided_slice_op(b: Builder, op: Operator) -> None:
    x = b.data(op)
    shape = (BATCH,) + b.in_shape(op)
    strides = b.const(op, 3, "strides") if len(op.inputs) > 3 else np.ones(len(shape), np.int64)
    slices, drop = strided_slice(shape, op, b.const(op, 1, "begin"), b.const(op, 2, "end"), strides)
    _slice_layer(b, op, x, shape, slices, drop)


def slice_op(b: Builder, op: Operator) -> None:
    x = b.data(op)
    shape = (BATCH,) + b.in_shape(op)
    begin = np.asarray(b.const(op, 1, "begin"), np.int64).reshape(-1)
    size = np.asarray(b.const(op, 2, "size"), np.int64).reshape(-1)
    slices = [slice(int(s), None if n < 0 else int(s + n)) for s, n in zip(begin, size)]
    if begin[0] == 0 and (size[0] == -1 or size[0] >= max(b.tensor(op.inputs[0]).shape[0], 1)):
        slices[0] = slice(None)
    _slice_layer(b, op, x, shape, slices, [])


def transpose(b: Builder, op: Operator) -> None:
    x = b.data(op)
    perm = [int(p) for p in np.asarray(b.const(op, 1, "permutation")).reshape(-1)]
    if not perm or perm[0] != 0:
        raise Refused("moves the batch axis")
    b.emit(op, lambda name: Permute(x, name=name, dims=[p - 1 for p in perm[1:]]))


def resize(b: Builder, op: Operator) -> None:
    x = b.data(op)
    size = np.asarray(b.const(op, 1, "size")).reshape(-1)
    if len(size) != 2 or min(size) < 1:
        raise Refused(f"bad output size {size.tolist()}")
    oh, ow = int(size[0]), int(size[1])
    bilinear = op.name == "RESIZE_BILINEAR"
    align = bool(op.option(2 if bilinear else 0, "bool", False))
    half = bool(op.option(3 if bilinear else 1, "bool", False))
    b.emit(op, lambda name: Resize2D(x, name=name, size=(oh, ow), mode="bilinear" if bilinear else "nearest",
                                     align_corners=align, half_pixel_centers=half))


def tile(b: Builder, op: Operator) -> None:
    x = b.data(op)
    multiples = [int(m) for m in np.asarray(b.const(op, 1, "multiples")).reshape(-1)]
    if len(multiples) != len(b.in_shape(op)) + 1 or multiples[0] != 1:
        raise Refused(f"repeats {multiples}: the batch axis must stay as it is")
    reps = multiples[1:]
    b.emit(op, lambda name: Tile(x, name=name, reps=reps))


def gather(b: Builder, op: Operator) -> None:
    x = b.data(op)
    rank = len(b.tensor(op.inputs[0]).shape)
    axis = axis_of(op.option(0, "i32"), rank)
    index = np.asarray(b.const(op, 1, "indices"), np.int64)
    if axis == 0 or op.option(1, "i32") or index.ndim > 1:
        raise Refused("gathers along the batch axis or with several index axes")
    b.emit(op, lambda name: Take(x, name=name, axis=axis, index=index.tolist()))


def split(b: Builder, op: Operator) -> None:
    """SPLIT (axis, data) and SPLIT_V (data, sizes, axis): one Slice per output."""
    if op.name == "SPLIT":
        x, axis_k = b.data(op, 1), 0
    else:
        x, axis_k = b.data(op, 0), 2
    data_index = op.inputs[1 if op.name == "SPLIT" else 0]
    rank = len(b.tensor(data_index).shape)
    axis = axis_of(np.asarray(b.const(op, axis_k, "axis")).reshape(-1)[0], rank)
    if axis == 0:
        raise Refused("splits the batch axis")
    n = b.in_shape(op, 1 if op.name == "SPLIT" else 0)[axis - 1]
    if op.name == "SPLIT":
        if n % len(op.outputs):
            raise Refused(f"{n} values do not split into {len(op.outputs)} equal parts")
        sizes = [n // len(op.outputs)] * len(op.outputs)
    else:
        sizes = [int(s) for s in np.asarray(b.const(op, 1, "sizes")).reshape(-1)]
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = n - (sum(sizes) + 1)
    if len(sizes) != len(op.outputs) or sum(sizes) != n or min(sizes) < 1:
        raise Refused(f"sizes {sizes} do not split {n} values")
    start = 0
    for k, size in enumerate(sizes):
        b.emit(op, lambda name, s=start, n=size: Slice(x, name=name, axes=[axis], starts=[s], stops=[s + n]),
               k=k)
        start += size


OPS: dict[str, Callable[[Builder, Operator], None]] = {
    "RESHAPE": reshape, "SQUEEZE": reshape, "EXPAND_DIMS": reshape, "CONCATENATION": concatenation,
    "PACK": pack, "PAD": pad, "PADV2": pad, "MIRROR_PAD": pad, "STRIDED_SLICE": strided_slice_op,
    "SLICE": slice_op, "TRANSPOSE": transpose, "RESIZE_BILINEAR": resize, "RESIZE_NEAREST_NEIGHBOR": resize,
    "TILE": tile, "GATHER": gather, "SPLIT": split, "SPLIT_V": split,
}

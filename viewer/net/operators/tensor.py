"""ONNX operators on tensor shape and layout, indexing and generated tensors."""

from __future__ import annotations

import numpy as np

from viewer.net.operators import operator
from viewer.net.operators.elementwise import onnx_dtype

MAX_ELEMENTS = 1 << 28  # a generated tensor larger than this is refused, not allocated


def _ints(value) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _input(inputs: list, i: int):
    return inputs[i] if len(inputs) > i else None


def axes_input(inputs: list, attrs: dict, i: int, opset_moved: int, opset: int) -> list[int] | None:
    """Axes from input ``i`` (from opset ``opset_moved`` on) or the ``axes`` attribute."""
    if opset >= opset_moved:
        value = _input(inputs, i)
        return None if value is None else _ints(value)
    return None if attrs.get("axes") is None else [int(a) for a in attrs["axes"]]


def _checked(shape) -> tuple[int, ...]:
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims) or np.prod(dims, dtype=np.float64) > MAX_ELEMENTS:
        raise ValueError(f"a tensor of shape {dims} is refused (negative or too large)")
    return dims


@operator("Shape")
def _shape(inputs: list, attrs: dict, opset: int) -> list:
    dims = np.array(inputs[0].shape, np.int64)
    start, end = attrs.get("start", 0), attrs.get("end")
    return [dims[start:end]]


@operator("Size")
def _size(inputs: list, attrs: dict, opset: int) -> list:
    return [np.array(inputs[0].size, np.int64)]


@operator("Reshape")
def _reshape(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    target = _ints(inputs[1]) if opset >= 5 else [int(s) for s in attrs["shape"]]
    if not attrs.get("allowzero", 0):
        target = [x.shape[i] if s == 0 else s for i, s in enumerate(target)]
    return [x.reshape(target)]


@operator("Flatten")
def _flatten(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    axis = int(attrs.get("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    return [x.reshape(int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:])))]


@operator("Transpose")
def _transpose(inputs: list, attrs: dict, opset: int) -> list:
    perm = attrs.get("perm")
    return [np.transpose(inputs[0], None if perm is None else [int(p) for p in perm])]


@operator("Squeeze")
def _squeeze(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    axes = axes_input(inputs, attrs, 1, 13, opset)
    if axes is None:
        return [np.squeeze(x)]
    return [np.squeeze(x, axis=tuple(a % x.ndim for a in axes))]


@operator("Unsqueeze")
def _unsqueeze(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    axes = axes_input(inputs, attrs, 1, 13, opset)
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = np.expand_dims(x, a)
    return [x]


@operator("Concat")
def _concat(inputs: list, attrs: dict, opset: int) -> list:
    values = [v for v in inputs if v is not None]
    dtype = np.result_type(*values)
    return [np.concatenate([v.astype(dtype, copy=False) for v in values], axis=int(attrs["axis"]))]


@operator("Split")
def _split(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    axis = int(attrs.get("axis", 0)) % x.ndim
    sizes = _input(inputs, 1) if opset >= 13 else attrs.get("split")
    n = attrs.get("num_outputs", attrs.get("_outputs", 1))
    size = x.shape[axis]
    if sizes is None or np.size(sizes) == 0:
        n = int(n)
        part = -(-size // n)
        sizes = [part] * (n - 1) + [size - part * (n - 1)]
    cuts = np.cumsum(_ints(sizes))[:-1]
    return list(np.split(x, cuts, axis=axis))


@operator("Slice")
def _slice(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    if opset < 10:
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes"), None
    else:
        starts, ends = _ints(inputs[1]), _ints(inputs[2])
        axes = _input(inputs, 3)
        steps = _input(inputs, 4)
    axes = list(range(len(starts))) if axes is None else _ints(axes)
    steps = [1] * len(starts) if steps is None else _ints(steps)
    index = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        n = x.shape[a]
        s, e = int(s), int(e)
        # Clamp as ONNX does; Python slices would wrap INT_MIN/INT_MAX badly for negative steps.
        s = s + n if s < 0 else s
        e = e + n if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), n), min(max(e, 0), n)
        else:
            s, e = min(max(s, 0), n - 1), min(max(e, -1), n)
        index[a % x.ndim] = slice(s, None if e < 0 else e, st)
    return [x[tuple(index)]]


def _index(indices: np.ndarray, size: int) -> np.ndarray:
    indices = np.asarray(indices, np.int64)
    if indices.size and (indices.min() < -size or indices.max() >= size):
        raise ValueError(f"indices {indices.min()}..{indices.max()} out of range for size {size}")
    return np.where(indices < 0, indices + size, indices)


@operator("Gather")
def _gather(inputs: list, attrs: dict, opset: int) -> list:
    x, indices = inputs
    axis = int(attrs.get("axis", 0)) % x.ndim
    return [np.take(x, _index(indices, x.shape[axis]), axis=axis)]


@operator("GatherElements")
def _gather_elements(inputs: list, attrs: dict, opset: int) -> list:
    x, indices = inputs
    axis = int(attrs.get("axis", 0)) % x.ndim
    return [np.take_along_axis(x, _index(indices, x.shape[axis]), axis=axis)]


@operator("GatherND")
def _gather_nd(inputs: list, attrs: dict, opset: int) -> list:
    x, indices = inputs
    b = int(attrs.get("batch_dims", 0))
    indices = np.asarray(indices, np.int64)
    batch = x.shape[:b]
    k = indices.shape[-1]
    xs = x.reshape((-1,) + x.shape[b:])
    ids = indices.reshape((xs.shape[0], -1, k))
    out = []
    for i in range(xs.shape[0]):
        idx = ids[i] % np.array(xs.shape[1:1 + k])
        out.append(xs[i][tuple(idx.T)])
    result = np.stack(out)
    return [result.reshape(batch + indices.shape[b:-1] + x.shape[b + k:])]


def _reduce_into(target: np.ndarray, index: tuple, updates: np.ndarray, reduction: str) -> None:
    if reduction == "none":
        target[index] = updates
    elif reduction == "add":
        np.add.at(target, index, updates)
    elif reduction == "mul":
        np.multiply.at(target, index, updates)
    elif reduction == "max":
        np.maximum.at(target, index, updates)
    elif reduction == "min":
        np.minimum.at(target, index, updates)
    else:
        raise ValueError(f"unknown reduction {reduction!r}")


@operator("ScatterElements", "Scatter")
def _scatter_elements(inputs: list, attrs: dict, opset: int) -> list:
    x, indices, updates = inputs
    axis = int(attrs.get("axis", 0)) % x.ndim
    out = x.copy()
    idx = _index(indices, x.shape[axis])
    grid = list(np.indices(idx.shape, sparse=True))
    grid[axis] = idx
    _reduce_into(out, tuple(grid), updates, attrs.get("reduction", "none"))
    return [out]


@operator("ScatterND")
def _scatter_nd(inputs: list, attrs: dict, opset: int) -> list:
    x, indices, updates = inputs
    out = x.copy()
    indices = np.asarray(indices, np.int64)
    k = indices.shape[-1]
    flat = indices.reshape(-1, k)
    ups = updates.reshape((flat.shape[0],) + x.shape[k:])
    reduction = attrs.get("reduction", "none")
    for i in range(flat.shape[0]):
        _reduce_into(out, tuple(flat[i]), ups[i], reduction)
    return [out]


@operator("Expand")
def _expand(inputs: list, attrs: dict, opset: int) -> list:
    x, shape = inputs
    target = _ints(shape)
    have = (1,) * (len(target) - x.ndim) + x.shape
    target = [1] * (len(have) - len(target)) + target
    out = tuple(h if t == 1 else t for h, t in zip(have, target))
    return [np.broadcast_to(x.reshape(have), _checked(out)).copy()]


@operator("Tile")
def _tile(inputs: list, attrs: dict, opset: int) -> list:
    x, repeats = inputs
    reps = _ints(repeats)
    _checked([d * r for d, r in zip(x.shape, reps)])
    return [np.tile(x, reps)]


@operator("ConstantOfShape")
def _constant_of_shape(inputs: list, attrs: dict, opset: int) -> list:
    value = attrs.get("value")
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)[:1]
    return [np.full(_checked(_ints(inputs[0])), fill[0], fill.dtype)]


@operator("Range")
def _range(inputs: list, attrs: dict, opset: int) -> list:
    start, limit, delta = (np.asarray(v).reshape(()) for v in inputs)
    count = max(int(np.ceil((float(limit) - float(start)) / float(delta))), 0)
    _checked([count])
    return [(start + np.arange(count) * delta).astype(start.dtype)]


@operator("EyeLike")
def _eye_like(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    dtype = onnx_dtype(attrs["dtype"]) if "dtype" in attrs else x.dtype
    return [np.eye(x.shape[0], x.shape[1], k=int(attrs.get("k", 0)), dtype=dtype)]


@operator("Trilu")
def _trilu(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    k = int(np.asarray(inputs[1])) if _input(inputs, 1) is not None else 0
    return [np.triu(x, k) if attrs.get("upper", 1) else np.tril(x, k)]


@operator("OneHot")
def _one_hot(inputs: list, attrs: dict, opset: int) -> list:
    indices, depth, values = inputs
    depth = int(np.asarray(depth).reshape(-1)[0])
    idx = np.asarray(indices).astype(np.int64)
    idx = np.where(idx < 0, idx + depth, idx)
    hot = idx[..., None] == np.arange(depth)
    out = np.where(hot, values[1], values[0]).astype(values.dtype)
    axis = int(attrs.get("axis", -1))
    return [np.moveaxis(out, -1, axis if axis >= 0 else out.ndim + axis)]


@operator("DepthToSpace")
def _depth_to_space(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    b = int(attrs["blocksize"])
    n, c, h, w = x.shape
    if attrs.get("mode", "DCR") == "DCR":
        y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return [y.reshape(n, c // (b * b), h * b, w * b)]


@operator("SpaceToDepth")
def _space_to_depth(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    b = int(attrs["blocksize"])
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // b, b, w // b, b)
    y = y.transpose(0, 1, 3, 5, 2, 4) if attrs.get("mode", "DCR") == "CRD" else y.transpose(0, 3, 5, 1, 2, 4)
    return [y.reshape(n, c * b * b, h // b, w // b)]


@operator("Pad")
def _pad(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    if opset < 11:
        pads, value, axes = attrs["pads"], attrs.get("value", 0.0), None
    else:
        pads = _ints(inputs[1])
        value = _input(inputs, 2)
        axes = _input(inputs, 3)
    axes = list(range(x.ndim)) if axes is None else [a % x.ndim for a in _ints(axes)]
    widths = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        widths[a] = (int(pads[i]), int(pads[i + len(axes)]))
    # Negative pads crop.
    crop = tuple(slice(max(-b, 0), x.shape[a] - max(-e, 0)) for a, (b, e) in enumerate(widths))
    x = x[crop]
    widths = [(max(b, 0), max(e, 0)) for b, e in widths]
    mode = attrs.get("mode", "constant")
    if mode == "constant":
        fill = 0 if value is None or np.size(value) == 0 else np.asarray(value).reshape(-1)[0]
        return [np.pad(x, widths, constant_values=np.asarray(fill).astype(x.dtype))]
    if mode not in ("reflect", "edge", "wrap"):
        raise ValueError(f"unknown padding mode {mode!r}")
    return [np.pad(x, widths, mode=mode)]


@operator("Einsum")
def _einsum(inputs: list, attrs: dict, opset: int) -> list:
    equation = attrs["equation"].replace(" ", "")
    out = np.einsum(equation, *inputs)
    return [np.asarray(out).astype(inputs[0].dtype, copy=False)]


@operator("CumSum")
def _cumsum(inputs: list, attrs: dict, opset: int) -> list:
    x, axis = inputs[0], int(np.asarray(inputs[1]).reshape(-1)[0])
    axis %= x.ndim
    if attrs.get("reverse", 0):
        x = np.flip(x, axis)
    out = np.cumsum(x, axis=axis, dtype=x.dtype)
    if attrs.get("exclusive", 0):
        out = out - x
    if attrs.get("reverse", 0):
        out = np.flip(out, axis)
    return [out]


@operator("CumProd")
def _cumprod(inputs: list, attrs: dict, opset: int) -> list:
    x, axis = inputs[0], int(np.asarray(inputs[1]).reshape(-1)[0]) % inputs[0].ndim
    if attrs.get("reverse", 0):
        x = np.flip(x, axis)
    out = np.cumprod(x, axis=axis, dtype=x.dtype)
    if attrs.get("exclusive", 0):
        ones = np.ones_like(np.take(out, [0], axis=axis))
        out = np.concatenate([ones, np.take(out, range(out.shape[axis] - 1), axis=axis)], axis=axis)
    if attrs.get("reverse", 0):
        out = np.flip(out, axis)
    return [out]


@operator("Compress")
def _compress(inputs: list, attrs: dict, opset: int) -> list:
    x, cond = inputs
    axis = attrs.get("axis")
    return [np.compress(np.asarray(cond).astype(bool), x, axis=None if axis is None else int(axis))]


@operator("NonZero")
def _nonzero(inputs: list, attrs: dict, opset: int) -> list:
    return [np.array(np.nonzero(inputs[0]), np.int64).reshape(inputs[0].ndim, -1)]


@operator("ReverseSequence")
def _reverse_sequence(inputs: list, attrs: dict, opset: int) -> list:
    x, lengths = inputs
    b_axis, t_axis = int(attrs.get("batch_axis", 1)), int(attrs.get("time_axis", 0))
    out = x.copy()
    for i, n in enumerate(np.asarray(lengths).reshape(-1)):
        index = [slice(None)] * x.ndim
        index[b_axis], index[t_axis] = i, slice(0, int(n))
        src = x[tuple(index)]
        out[tuple(index)] = np.flip(src, axis=t_axis - (1 if b_axis < t_axis else 0))
    return [out]


@operator("Identity", "Dropout")
def _identity(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    return [x, np.ones(x.shape, bool)]


@operator("CenterCropPad")
def _center_crop_pad(inputs: list, attrs: dict, opset: int) -> list:
    x, target = inputs[0], _ints(inputs[1])
    axes = [int(a) % x.ndim for a in attrs.get("axes", range(x.ndim))]
    for a, size in zip(axes, target):
        have = x.shape[a]
        if size < have:
            start = (have - size) // 2
            x = np.take(x, range(start, start + size), axis=a)
        elif size > have:
            before = (size - have) // 2
            widths = [(0, 0)] * x.ndim
            widths[a] = (before, size - have - before)
            x = np.pad(x, widths)
    return [x]

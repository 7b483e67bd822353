"""ONNX neural-net operators: Gemm/MatMul, N-D convolution and pooling, normalisations.

Convolution and pooling work on any number of spatial axes (1-D, 2-D, 3-D):
each loops over the kernel's offsets and adds one strided view of the padded
input per offset, so there is one implementation for every rank.
"""

from __future__ import annotations

import itertools

import numpy as np

from viewer.net.operators import operator


@operator("MatMul")
def _matmul(inputs: list, attrs: dict, opset: int) -> list:
    a, b = inputs
    return [np.matmul(a, b).astype(np.result_type(a, b), copy=False)]


@operator("Gemm")
def _gemm(inputs: list, attrs: dict, opset: int) -> list:
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    if attrs.get("transA", 0):
        a = a.T
    if attrs.get("transB", 0):
        b = b.T
    out = float(attrs.get("alpha", 1.0)) * (a @ b)
    if c is not None:
        out = out + float(attrs.get("beta", 1.0)) * c
    return [np.asarray(out).astype(a.dtype, copy=False)]


def spatial_pads(attrs: dict, in_sizes: list[int], kernel: list[int], strides: list[int],
                 dilations: list[int]) -> list[tuple[int, int]]:
    """(before, after) padding per spatial axis from ``pads`` or ``auto_pad``."""
    dims = len(in_sizes)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for n, k, s, d in zip(in_sizes, kernel, strides, dilations):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return out
    if auto == "VALID":
        return [(0, 0)] * dims
    pads = [int(p) for p in attrs.get("pads", [0] * 2 * dims)]
    return [(pads[i], pads[i + dims]) for i in range(dims)]


def windows(xp: np.ndarray, kernel: list[int], strides: list[int], dilations: list[int],
             out: list[int]):
    """(kernel offset, strided view (N, C, *out)) for every kernel offset."""
    for offset in itertools.product(*(range(k) for k in kernel)):
        index = (slice(None), slice(None)) + tuple(
            slice(o * d, o * d + (m - 1) * s + 1, s) for o, d, s, m in zip(offset, dilations, strides, out))
        yield offset, xp[index]


@operator("Conv")
def _conv(inputs: list, attrs: dict, opset: int) -> list:
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    return [conv_nd(x, w, b, attrs)]


def conv_geometry(x_shape: tuple, w_shape: tuple, attrs: dict) -> tuple:
    """An ONNX Conv's (kernel, strides, dilations, groups, pads, output sizes) per spatial axis."""
    dims = len(x_shape) - 2
    kernel = [int(k) for k in attrs.get("kernel_shape", w_shape[2:])]
    strides = [int(s) for s in attrs.get("strides", [1] * dims)]
    dilations = [int(d) for d in attrs.get("dilations", [1] * dims)]
    groups = int(attrs.get("group", 1))
    pads = spatial_pads(attrs, list(x_shape[2:]), kernel, strides, dilations)
    out = [(n + pb + pe - (k - 1) * d - 1) // s + 1
           for n, (pb, pe), k, d, s in zip(x_shape[2:], pads, kernel, dilations, strides)]
    return kernel, strides, dilations, groups, pads, out


def conv_nd(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, attrs: dict) -> np.ndarray:
    dims = x.ndim - 2
    kernel, strides, dilations, groups, pads, out = conv_geometry(x.shape, w.shape, attrs)
    xp = np.pad(x.astype(np.float64) if x.dtype.kind != "f" else x, [(0, 0), (0, 0)] + pads)
    n, c = x.shape[:2]
    o = w.shape[0]
    cg, og = c // groups, o // groups
    acc = np.zeros((n, groups, og) + tuple(out), np.float64 if x.dtype != np.float32 else np.float32)
    wg = w.reshape((groups, og, cg) + w.shape[2:])
    for offset, view in windows(xp, kernel, strides, dilations, out):
        v = view.reshape((n, groups, cg) + tuple(out))
        acc += np.einsum("ngc...,goc->ngo...", v, wg[(slice(None),) * 3 + offset])
    y = acc.reshape((n, o) + tuple(out))
    if b is not None:
        y = y + b.reshape((1, o) + (1,) * dims)
    return y.astype(x.dtype if x.dtype.kind == "f" else np.float32, copy=False)


@operator("ConvTranspose")
def _conv_transpose(inputs: list, attrs: dict, opset: int) -> list:
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    dims = x.ndim - 2
    kernel = [int(k) for k in attrs.get("kernel_shape", w.shape[2:])]
    strides = [int(s) for s in attrs.get("strides", [1] * dims)]
    dilations = [int(d) for d in attrs.get("dilations", [1] * dims)]
    groups = int(attrs.get("group", 1))
    extra = [int(p) for p in attrs.get("output_padding", [0] * dims)]
    sizes = list(x.shape[2:])
    full = [(n - 1) * s + (k - 1) * d + 1 + e for n, s, k, d, e in zip(sizes, strides, kernel, dilations, extra)]
    auto = attrs.get("auto_pad", "NOTSET")
    given = [int(v) for v in attrs.get("pads", [0] * 2 * dims)]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        target = ([int(v) for v in attrs["output_shape"]][-dims:] if "output_shape" in attrs
                  else [n * s for n, s in zip(sizes, strides)])
        totals = [f - t for f, t in zip(full, target)]
        begins = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
    elif "output_shape" in attrs:
        target = [int(v) for v in attrs["output_shape"]][-dims:]
        begins = given[:dims]
    else:
        begins = given[:dims]
        target = [f - given[i] - given[i + dims] for i, f in enumerate(full)]
    n, c = x.shape[:2]
    og = w.shape[1]
    cg = c // groups
    acc = np.zeros((n, groups, og) + tuple(full), np.float64)
    xg = x.reshape((n, groups, cg) + tuple(sizes)).astype(np.float64)
    wg = w.reshape((groups, cg, og) + tuple(kernel)).astype(np.float64)
    for offset in itertools.product(*(range(k) for k in kernel)):
        contrib = np.einsum("ngc...,gco->ngo...", xg, wg[(slice(None),) * 3 + offset])
        index = (slice(None),) * 3 + tuple(slice(o * d, o * d + (m - 1) * s + 1, s)
                                           for o, d, s, m in zip(offset, dilations, strides, sizes))
        acc[index] += contrib
    y = acc.reshape((n, groups * og) + tuple(full))
    # The output window [begin, begin + target) of the full result; zeros where it reaches past it.
    y = np.pad(y, [(0, 0), (0, 0)] + [(max(-bg, 0), max(bg + t - f, 0))
                                      for bg, t, f in zip(begins, target, full)])
    y = y[(slice(None), slice(None)) + tuple(slice(max(bg, 0), max(bg, 0) + t)
                                             for bg, t in zip(begins, target))]
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * dims)
    return [y.astype(x.dtype, copy=False)]


def pool_geometry(x_shape: tuple, attrs: dict) -> tuple:
    """An ONNX pool's (kernel, strides, dilations, pads, output sizes, ceil mode's overhang)."""
    dims = len(x_shape) - 2
    kernel = [int(k) for k in attrs["kernel_shape"]]
    strides = [int(s) for s in attrs.get("strides", [1] * dims)]
    dilations = [int(d) for d in attrs.get("dilations", [1] * dims)]
    pads = spatial_pads(attrs, list(x_shape[2:]), kernel, strides, dilations)
    ceil = bool(attrs.get("ceil_mode", 0))
    out = []
    for n, (pb, pe), k, d, s in zip(x_shape[2:], pads, kernel, dilations, strides):
        span = n + pb + pe - (k - 1) * d - 1
        if attrs.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
            m = -(-n // s)
        elif attrs.get("auto_pad", "NOTSET") == "VALID":
            m = (n - (k - 1) * d - 1) // s + 1
        else:
            m = (-(-span // s) if ceil else span // s) + 1
            if ceil and (m - 1) * s >= n + pb:
                m -= 1  # the last window would start in the end padding
        out.append(m)
    # Cells beyond the explicit padding (ceil mode's overhang) never count.
    over = [max((m - 1) * s + (k - 1) * d + 1 - (n + pb + pe), 0)
            for m, s, k, d, n, (pb, pe) in zip(out, strides, kernel, dilations, x_shape[2:], pads)]
    return kernel, strides, dilations, pads, out, over


@operator("MaxPool")
def _max_pool(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    kernel, strides, dilations, pads, out, over = pool_geometry(x.shape, attrs)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    widths = [(0, 0), (0, 0)] + [(pb, pe + o) for (pb, pe), o in zip(pads, over)]
    xp = np.pad(x, widths, constant_values=low)
    flat = np.arange(int(np.prod(x.shape[2:]))).reshape(x.shape[2:])
    ip = np.pad(flat, widths[2:], constant_values=-1)
    best = np.full(x.shape[:2] + tuple(out), low, x.dtype)
    where = np.zeros(x.shape[:2] + tuple(out), np.int64)
    for offset, view in windows(xp, kernel, strides, dilations, out):
        index = tuple(slice(o * d, o * d + (m - 1) * s + 1, s)
                      for o, d, s, m in zip(offset, dilations, strides, out))
        better = view > best
        best = np.where(better, view, best)
        where = np.where(better, ip[index], where)
    n, c = x.shape[:2]
    spatial = int(np.prod(x.shape[2:]))
    base = (np.arange(n * c).reshape(n, c) * spatial).reshape((n, c) + (1,) * len(out))
    if attrs.get("storage_order", 0) and len(out) == 2:
        h, w = x.shape[2:]
        where = (where % w) * h + where // w
    return [best, where + base]


def _sum_pool(x: np.ndarray, attrs: dict, power: float | None) -> np.ndarray:
    kernel, strides, dilations, pads, out, over = pool_geometry(x.shape, attrs)
    widths = [(0, 0), (0, 0)] + [(pb, pe + o) for (pb, pe), o in zip(pads, over)]
    wide = x.astype(np.float64)
    if power is not None:
        wide = np.abs(wide) ** power
    xp = np.pad(wide, widths)
    total = np.zeros(x.shape[:2] + tuple(out))
    for _, view in windows(xp, kernel, strides, dilations, out):
        total += view
    if power is not None:
        return (total ** (1.0 / power)).astype(x.dtype)
    return (total / pool_counts(x.shape, attrs)).astype(x.dtype)


def pool_counts(x_shape: tuple, attrs: dict) -> np.ndarray:
    """How many cells each output of an AveragePool divides by, (1, 1, *out), at least 1:
    its window's cells inside the input, the padding's too with count_include_pad."""
    kernel, strides, dilations, pads, out, over = pool_geometry(x_shape, attrs)
    include = bool(attrs.get("count_include_pad", 0))
    mask = np.pad(np.ones(x_shape[2:]), [(pb, pe) for pb, pe in pads], constant_values=float(include))
    mask = np.pad(mask, [(0, o) for o in over])[None, None]
    count = np.zeros((1, 1) + tuple(out))
    for _, m in windows(mask, kernel, strides, dilations, out):
        count += m
    return np.maximum(count, 1)


operator("AveragePool")(lambda inputs, attrs, opset: [_sum_pool(inputs[0], attrs, None)])
operator("LpPool")(lambda inputs, attrs, opset: [_sum_pool(inputs[0], {**attrs, "count_include_pad": 1},
                                                           float(attrs.get("p", 2)))])


def _global(fn) -> callable:
    def run(inputs: list, attrs: dict, opset: int) -> list:
        x = inputs[0]
        axes = tuple(range(2, x.ndim))
        return [np.asarray(fn(x, axes, attrs)).astype(x.dtype)]
    return run


operator("GlobalAveragePool")(_global(lambda x, a, at: x.astype(np.float64).mean(axis=a, keepdims=True)))
operator("GlobalMaxPool")(_global(lambda x, a, at: x.max(axis=a, keepdims=True)))
operator("GlobalLpPool")(_global(lambda x, a, at: (np.abs(x.astype(np.float64)) ** float(at.get("p", 2)))
                                 .sum(axis=a, keepdims=True) ** (1.0 / float(at.get("p", 2)))))


def _channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


@operator("BatchNormalization")
def _batch_norm(inputs: list, attrs: dict, opset: int) -> list:
    x, scale, bias, mean, var = inputs[:5]
    if attrs.get("training_mode", 0):
        raise ValueError("training-mode batch normalisation")
    eps = float(attrs.get("epsilon", 1e-5))
    wide = x.astype(np.float64)
    y = (wide - _channel(mean, x.ndim)) / np.sqrt(_channel(var, x.ndim) + eps)
    return [(y * _channel(scale, x.ndim) + _channel(bias, x.ndim)).astype(x.dtype)]


@operator("InstanceNormalization")
def _instance_norm(inputs: list, attrs: dict, opset: int) -> list:
    x, scale, bias = inputs
    axes = tuple(range(2, x.ndim))
    wide = x.astype(np.float64)
    mean = wide.mean(axis=axes, keepdims=True)
    var = ((wide - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (wide - mean) / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    return [(y * _channel(scale, x.ndim) + _channel(bias, x.ndim)).astype(x.dtype)]


@operator("LayerNormalization")
def _layer_norm(inputs: list, attrs: dict, opset: int) -> list:
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    axis = int(attrs.get("axis", -1)) % x.ndim
    axes = tuple(range(axis, x.ndim))
    wide = x.astype(np.float64)
    mean = wide.mean(axis=axes, keepdims=True)
    var = ((wide - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    y = (wide - mean) * inv * scale
    if bias is not None:
        y = y + bias
    stash = np.float32 if int(attrs.get("stash_type", 1)) == 1 else x.dtype
    return [y.astype(x.dtype), mean.astype(stash), inv.astype(stash)]


@operator("GroupNormalization")
def _group_norm(inputs: list, attrs: dict, opset: int) -> list:
    x, scale, bias = inputs
    groups = int(attrs["num_groups"])
    n, c = x.shape[:2]
    wide = x.astype(np.float64).reshape((n, groups, -1))
    mean = wide.mean(axis=2, keepdims=True)
    var = ((wide - mean) ** 2).mean(axis=2, keepdims=True)
    y = ((wide - mean) / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))).reshape(x.shape)
    if scale.size == groups and groups != c:  # opset 18: one scale and bias per group
        scale, bias = np.repeat(scale, c // groups), np.repeat(bias, c // groups)
    return [(y * _channel(scale, x.ndim) + _channel(bias, x.ndim)).astype(x.dtype)]


@operator("LRN")
def _lrn(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    size = int(attrs["size"])
    alpha, beta = float(attrs.get("alpha", 1e-4)), float(attrs.get("beta", 0.75))
    bias = float(attrs.get("bias", 1.0))
    sq = x.astype(np.float64) ** 2
    c = x.shape[1]
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    padded = np.pad(sq, [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
    total = sum(padded[:, i:i + c] for i in range(size))
    return [(x / (bias + alpha / size * total) ** beta).astype(x.dtype)]


@operator("MeanVarianceNormalization")
def _mvn(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    axes = tuple(int(a) for a in attrs.get("axes", [0, 2, 3]))
    wide = x.astype(np.float64)
    mean = wide.mean(axis=axes, keepdims=True)
    std = np.sqrt(((wide - mean) ** 2).mean(axis=axes, keepdims=True))
    return [((wide - mean) / (std + 1e-9)).astype(x.dtype)]


@operator("RMSNormalization")
def _rms_norm(inputs: list, attrs: dict, opset: int) -> list:
    x, scale = inputs[0], inputs[1]
    axis = int(attrs.get("axis", -1)) % x.ndim
    wide = x.astype(np.float64)
    mean_square = (wide * wide).mean(axis=tuple(range(axis, x.ndim)), keepdims=True)
    y = wide / np.sqrt(mean_square + float(attrs.get("epsilon", 1e-5))) * scale
    return [y.astype(x.dtype)]


@operator("MaxUnpool")
def _max_unpool(inputs: list, attrs: dict, opset: int) -> list:
    x, indices = inputs[0], inputs[1]
    dims = x.ndim - 2
    kernel = [int(k) for k in attrs["kernel_shape"]]
    strides = [int(s) for s in attrs.get("strides", [1] * dims)]
    pads = [int(p) for p in attrs.get("pads", [0] * 2 * dims)]
    shape = x.shape[:2] + tuple((n - 1) * s + k - pads[i] - pads[i + dims]
                                for i, (n, s, k) in enumerate(zip(x.shape[2:], strides, kernel)))
    out = np.zeros(int(np.prod(shape)), x.dtype)
    out[np.asarray(indices, np.int64).reshape(-1)] = x.reshape(-1)
    out = out.reshape(shape)
    if len(inputs) > 2 and inputs[2] is not None:
        # Indices count in the default output; a given larger output gets zeros after it.
        wanted = [int(v) for v in np.asarray(inputs[2]).reshape(-1)]
        out = np.pad(out, [(0, max(w - n, 0)) for w, n in zip(wanted, shape)])
        out = out[tuple(slice(0, w) for w in wanted)]
    return [out]

"""ONNX Resize (and the older Upsample) in every mode.

Resizing is separable: each resized axis gets an (out, in) interpolation
matrix - one-hot rows for nearest, two taps for linear, four for cubic,
wider ones for antialiased downscaling - applied with a tensor product.
"""

from __future__ import annotations

import numpy as np

from viewer.net.operators import operator


def _source_coords(mode: str, out_len: int, in_len: int, scale: float, roi: tuple[float, float]
                   ) -> np.ndarray:
    """Input coordinate of every output index (coordinate_transformation_mode)."""
    o = np.arange(out_len, dtype=np.float64)
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = out_len / (scale * in_len)
        centre = in_len / 2.0
        offset = centre * (1 - adjustment)
        return offset + (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if out_len > 1 else np.zeros(out_len)
    if mode == "align_corners":
        # The spec's "length_resized" is in_len * scale, not the rounded output size.
        resized = in_len * scale
        return o * (in_len - 1) / (resized - 1) if out_len > 1 else np.zeros(out_len)
    if mode == "asymmetric":
        return o / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        if out_len > 1:
            return start * (in_len - 1) + o * (end - start) * (in_len - 1) / (out_len - 1)
        return np.full(out_len, 0.5 * (start + end) * (in_len - 1))
    raise ValueError(f"unknown coordinate_transformation_mode {mode!r}")


def _nearest(x: np.ndarray, mode: str) -> np.ndarray:
    if mode == "round_prefer_floor":
        return np.where(x - np.floor(x) == 0.5, np.floor(x), np.round(x))
    if mode == "round_prefer_ceil":
        return np.where(x - np.floor(x) == 0.5, np.ceil(x), np.round(x))
    if mode == "floor":
        return np.floor(x)
    if mode == "ceil":
        return np.ceil(x)
    raise ValueError(f"unknown nearest_mode {mode!r}")


def _cubic(s: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic kernel at distance ``s`` (>= 0)."""
    s = np.abs(s)
    near = ((a + 2) * s - (a + 3)) * s * s + 1
    far = ((a * s - 5 * a) * s + 8 * a) * s - 4 * a
    return np.where(s <= 1, near, np.where(s < 2, far, 0.0))


def _matrix(attrs: dict, out_len: int, in_len: int, scale: float, roi: tuple[float, float]
            ) -> tuple[np.ndarray, np.ndarray]:
    """The (out, in) interpolation matrix of one axis, and which outputs fall outside."""
    mode = attrs.get("mode", "nearest")
    coords = _source_coords(attrs.get("coordinate_transformation_mode", "half_pixel"), out_len,
                            in_len, scale, roi)
    outside = np.zeros(out_len, bool)
    if attrs.get("coordinate_transformation_mode") == "tf_crop_and_resize":
        outside = (coords < 0) | (coords > in_len - 1)
    m = np.zeros((out_len, in_len))
    rows = np.arange(out_len)
    if mode == "nearest":
        idx = np.clip(_nearest(coords, attrs.get("nearest_mode", "round_prefer_floor")), 0, in_len - 1)
        m[rows, idx.astype(np.int64)] = 1.0
        return m, outside
    antialias = bool(attrs.get("antialias", 0)) and scale < 1
    width = 1.0 / scale if antialias else 1.0
    if mode == "linear":
        support = 1.0 * width
        kernel = lambda d: np.maximum(0.0, 1.0 - np.abs(d) / width)  # noqa: E731
    elif mode == "cubic":
        support = 2.0 * width
        a = float(attrs.get("cubic_coeff_a", -0.75))
        kernel = lambda d: _cubic(d / width, a)  # noqa: E731
    else:
        raise ValueError(f"unknown resize mode {mode!r}")
    base = np.floor(coords)
    reach = int(np.ceil(support)) + 1
    exclude = bool(attrs.get("exclude_outside", 0))
    for tap in range(-reach, reach + 1):
        pos = base + tap
        weight = kernel(coords - pos)
        inside = (pos >= 0) & (pos <= in_len - 1)
        if exclude:
            weight = np.where(inside, weight, 0.0)
        np.add.at(m, (rows, np.clip(pos, 0, in_len - 1).astype(np.int64)), weight)
    if exclude or antialias:
        m /= np.maximum(m.sum(axis=1, keepdims=True), 1e-30)
    return m, outside


def resize(x: np.ndarray, attrs: dict, roi: np.ndarray | None, scales: np.ndarray | None,
           sizes: np.ndarray | None) -> np.ndarray:
    rank = x.ndim
    axes = [int(a) % rank for a in attrs.get("axes", range(rank))]
    full_scales = [1.0] * rank
    full_sizes = list(x.shape)
    if sizes is not None and np.size(sizes):
        wanted = [int(s) for s in np.asarray(sizes).reshape(-1)]
        policy = attrs.get("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            ratios = [w / x.shape[a] for w, a in zip(wanted, axes)]
            r = min(ratios) if policy == "not_larger" else max(ratios)
            wanted = [int(np.floor(r * x.shape[a] + 0.5)) for a in axes]
            for a in axes:
                full_scales[a] = r
        else:
            for w, a in zip(wanted, axes):
                full_scales[a] = w / x.shape[a]
        for w, a in zip(wanted, axes):
            full_sizes[a] = w
    else:
        given = [float(s) for s in np.asarray(scales).reshape(-1)]
        for s, a in zip(given, axes):
            full_scales[a] = s
            full_sizes[a] = int(np.floor(x.shape[a] * s))
    roi_pairs = [(0.0, 1.0)] * rank
    if roi is not None and np.size(roi):
        r = [float(v) for v in np.asarray(roi).reshape(-1)]
        n = len(r) // 2
        for i, a in enumerate(axes if n == len(axes) else range(rank)):
            roi_pairs[a] = (r[i], r[i + n])
    out = x.astype(np.float64)
    outside_any = np.zeros(full_sizes, bool) if attrs.get(
        "coordinate_transformation_mode") == "tf_crop_and_resize" else None
    for a in range(rank):
        if full_sizes[a] == x.shape[a] and full_scales[a] == 1.0 and outside_any is None:
            continue
        m, outside = _matrix(attrs, full_sizes[a], x.shape[a], full_scales[a], roi_pairs[a])
        out = np.moveaxis(np.tensordot(m, out, axes=([1], [a])), 0, a)
        if outside_any is not None:
            shape = [1] * rank
            shape[a] = -1
            outside_any = outside_any | outside.reshape(shape)
    if outside_any is not None:
        out = np.where(outside_any, float(attrs.get("extrapolation_value", 0.0)), out)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return np.clip(np.round(out), info.min, info.max).astype(x.dtype)
    return out.astype(x.dtype)


@operator("Resize")
def _resize(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    if opset < 11:
        return [resize(x, attrs, None, inputs[1], None)]
    roi = inputs[1] if len(inputs) > 1 else None
    scales = inputs[2] if len(inputs) > 2 else None
    sizes = inputs[3] if len(inputs) > 3 else None
    return [resize(x, attrs, roi, scales, sizes)]


@operator("Upsample")
def _upsample(inputs: list, attrs: dict, opset: int) -> list:
    scales = inputs[1] if len(inputs) > 1 else np.asarray(attrs["scales"])
    options = {"mode": attrs.get("mode", "nearest"), "coordinate_transformation_mode": "asymmetric",
               "nearest_mode": "floor"}
    if options["mode"] == "bilinear":
        options["mode"] = "linear"
    return [resize(inputs[0], options, None, scales, None)]

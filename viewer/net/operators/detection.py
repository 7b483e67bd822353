"""ONNX detection ops: NonMaxSuppression and RoiAlign, as the spec (and onnxruntime) compute them."""

from __future__ import annotations

import math

import numpy as np

from viewer.net.operators import operator


def _scalar(inputs: list, i: int, default: float) -> float:
    value = inputs[i] if len(inputs) > i and inputs[i] is not None else None
    return default if value is None or np.size(value) == 0 else np.asarray(value).reshape(-1)[0]


def _corners(boxes: np.ndarray, center_point_box: int) -> np.ndarray:
    """Boxes (n, 4) as (y_min, x_min, y_max, x_max), from corners in either order or centres."""
    boxes = boxes.astype(np.float64)
    if center_point_box:
        x, y, w, h = boxes.T
        return np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], axis=1)
    return np.stack([np.minimum(boxes[:, 0], boxes[:, 2]), np.minimum(boxes[:, 1], boxes[:, 3]),
                     np.maximum(boxes[:, 0], boxes[:, 2]), np.maximum(boxes[:, 1], boxes[:, 3])], axis=1)


def _overlaps(box: np.ndarray, others: np.ndarray, threshold: float) -> np.ndarray:
    """Whether each of ``others`` overlaps ``box`` by an IoU above ``threshold`` (empty boxes never)."""
    height = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    width = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = np.where((height > 0) & (width > 0), height * width, 0.0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    valid = (inter > 0) & (area > 0) & (areas > 0) & (union > 0)
    return valid & (inter / np.where(valid, union, 1.0) > threshold)


@operator("NonMaxSuppression")
def _non_max_suppression(inputs: list, attrs: dict, opset: int) -> list:
    """boxes (B, n, 4), scores (B, classes, n) -> selected (k, 3): batch, class, box index."""
    boxes, scores = inputs[0], inputs[1]
    limit = int(max(_scalar(inputs, 2, 0), 0))
    iou = float(_scalar(inputs, 3, 0.0))
    has_floor = len(inputs) > 4 and inputs[4] is not None
    floor = float(_scalar(inputs, 4, 0.0))
    center = int(attrs.get("center_point_box", 0))
    selected = []
    for b in range(boxes.shape[0]):
        corners = _corners(boxes[b], center)
        for c in range(scores.shape[1]):
            s = scores[b, c]
            candidates = np.flatnonzero(s > floor) if has_floor else np.arange(s.size)
            # Highest score first; among equal scores the lower index first.
            order = candidates[np.lexsort((candidates, -s[candidates]))]
            kept: list[int] = []
            for i in order:
                if len(kept) >= limit:
                    break
                if not kept or not _overlaps(corners[i], corners[kept], iou).any():
                    kept.append(int(i))
            selected += [(b, c, i) for i in kept]
    return [np.array(selected, np.int64).reshape(-1, 3)]


def _bilinear_taps(pos: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For sample positions along one axis: (low index, high index, low weight, high weight),
    weights 0 for positions beyond the map by more than one pixel."""
    outside = (pos < -1.0) | (pos > size)
    pos = np.maximum(pos, 0.0)
    low = np.floor(pos).astype(np.int64)
    last = low >= size - 1
    low = np.where(last, size - 1, low)
    high = np.where(last, size - 1, low + 1)
    frac = np.where(last, 0.0, pos - low)
    return low, high, np.where(outside, 0.0, 1 - frac), np.where(outside, 0.0, frac)


@operator("RoiAlign")
def _roi_align(inputs: list, attrs: dict, opset: int) -> list:
    """X (N, C, H, W), rois (R, 4) as x1, y1, x2, y2, batch_indices (R,) -> (R, C, out_h, out_w)."""
    x, rois, batch = inputs[0], inputs[1].astype(np.float64), inputs[2].astype(np.int64)
    out_h, out_w = int(attrs.get("output_height", 1)), int(attrs.get("output_width", 1))
    ratio = int(attrs.get("sampling_ratio", 0))
    scale = float(attrs.get("spatial_scale", 1.0))
    mode = attrs.get("mode", "avg")
    default = "half_pixel" if opset >= 16 else "output_half_pixel"
    half = attrs.get("coordinate_transformation_mode", default) == "half_pixel"
    height, width = x.shape[2:]
    y = np.zeros((rois.shape[0], x.shape[1], out_h, out_w), np.float64)
    offset = 0.5 if half else 0.0
    for r, (x1, y1, x2, y2) in enumerate(rois):
        start_w, start_h = x1 * scale - offset, y1 * scale - offset
        roi_w, roi_h = x2 * scale - offset - start_w, y2 * scale - offset - start_h
        if not half:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / out_h, roi_w / out_w
        grid_h = ratio if ratio > 0 else int(math.ceil(roi_h / out_h))
        grid_w = ratio if ratio > 0 else int(math.ceil(roi_w / out_w))
        # Sample positions: (out_h, grid_h) rows and (out_w, grid_w) columns.
        ys = start_h + np.arange(out_h)[:, None] * bin_h + (np.arange(grid_h)[None] + 0.5) * bin_h / grid_h
        xs = start_w + np.arange(out_w)[:, None] * bin_w + (np.arange(grid_w)[None] + 0.5) * bin_w / grid_w
        # A sample is dropped (all four weights 0) if either coordinate is far outside.
        y_low, y_high, wy_low, wy_high = _bilinear_taps(ys, height)
        x_low, x_high, wx_low, wx_high = _bilinear_taps(xs, width)
        image = x[batch[r]].astype(np.float64)
        rows = lambda i: i[:, None, :, None]  # noqa: E731 - (out_h, 1, grid_h, 1)
        cols = lambda i: i[None, :, None, :]  # noqa: E731 - (1, out_w, 1, grid_w)
        keep = rows((wy_low + wy_high) > 0) & cols((wx_low + wx_high) > 0)
        taps = [image[:, rows(yi), cols(xi)] * (rows(wy) * cols(wx) * keep)
                for yi, wy in ((y_low, wy_low), (y_high, wy_high)) for xi, wx in ((x_low, wx_low), (x_high, wx_high))]
        if mode == "avg":
            y[r] = sum(taps).sum(axis=(3, 4)) / max(grid_h * grid_w, 1)
        else:
            y[r] = np.max(np.maximum.reduce(taps), axis=(3, 4))
    return [y.astype(x.dtype)]

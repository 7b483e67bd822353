"""Sample layouts and the net's stored preprocessing.

A net file stores how raw samples become net input as JSON text::

    {"scale": s, "mean": m, "std": d}      # every key optional

    net_input = (raw.astype(float32) * scale - mean) / std

``mean`` and ``std`` are one number, or one number per channel broadcast
along the channel axis that the layout names. Defaults: scale=1, mean=0, std=1.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

import numpy as np

from viewer.errors import SampleError

#: The layouts a sample can have, as stored in the ``layout`` attribute.
LAYOUTS = ("channels_first", "channels_last", "vector", "sequence")

_KEYS = ("scale", "mean", "std")


def check_layout(layout: str, path: str) -> str:
    """Return ``layout`` if it is one of :data:`LAYOUTS`, else raise SampleError."""
    if layout not in LAYOUTS:
        raise SampleError(
            f"{path}: unknown sample layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    return layout


def guess_layout(sample_shape: tuple) -> str:
    """Guess the layout of samples that do not say theirs.

    Parameters
    ----------
    sample_shape : tuple of int
        Shape of one sample, without the batch axis.

    Returns
    -------
    str
        ``"vector"`` for 1-D samples, ``"sequence"`` for 2-D ones (a grey
        image without a channel axis is shown the same way), and for 3-D or
        more ``"channels_first"`` when the first axis looks more like channels
        than the last: only it is 1, 3 or 4 long, or else it is the shorter
        one. A tie means ``"channels_last"``.
    """
    if len(sample_shape) <= 1:
        return "vector"
    if len(sample_shape) == 2:
        return "sequence"
    first, last = sample_shape[0], sample_shape[-1]
    if (first in (1, 3, 4)) != (last in (1, 3, 4)):
        return "channels_first" if first in (1, 3, 4) else "channels_last"
    return "channels_first" if first < last else "channels_last"


def channel_axis(layout: str) -> int:
    """Axis of one sample (no batch axis) that holds channels or features."""
    return 0 if layout == "channels_first" else -1


def parse_preprocess(text: Any, path: str) -> dict:
    """Parse the ``preprocess`` attribute (JSON text, or bytes) into a dict."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        spec = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise SampleError(f"{path}: the preprocess attribute is not valid JSON ({exc})") from None
    if not isinstance(spec, dict):
        raise SampleError(f"{path}: the preprocess attribute must be a JSON object")
    return spec


def _numbers(value: Any, key: str, path: str) -> float | list[float]:
    """Check one preprocess value: a finite number or a list of them."""
    values = value if isinstance(value, (list, tuple)) else [value]
    ok = bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for v in values)
    if not ok:
        raise SampleError(f"{path}: preprocess {key!r} must be a finite number "
                          f"or a list of them, not {value!r}")
    if isinstance(value, (list, tuple)):
        return [float(v) for v in values]
    return float(value)


def normalize_preprocess(spec: Mapping | None, sample_shape: tuple, layout: str,
                         path: str) -> dict:
    """Validate a preprocess spec and fill in the defaults.

    Parameters
    ----------
    spec : mapping or None
        ``{"scale", "mean", "std"}``, any key optional; None means identity.
    sample_shape : tuple of int
        Shape of one net input sample, to check per-channel lengths.
    layout : str
        One of :data:`LAYOUTS`; says which axis holds the channels.
    path : str
        File named in error messages.

    Returns
    -------
    dict
        ``{"scale": float, "mean": float | list, "std": float | list}``.
    """
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(_KEYS))
    if unknown:
        raise SampleError(f"{path}: unknown preprocess key(s) {', '.join(map(repr, unknown))}; "
                          f"known: scale, mean, std")
    out = {"scale": _numbers(spec.get("scale", 1.0), "scale", path),
           "mean": _numbers(spec.get("mean", 0.0), "mean", path),
           "std": _numbers(spec.get("std", 1.0), "std", path)}
    if isinstance(out["scale"], list):
        raise SampleError(f"{path}: preprocess 'scale' must be one number")
    stds = out["std"] if isinstance(out["std"], list) else [out["std"]]
    if any(s == 0 for s in stds):
        raise SampleError(f"{path}: preprocess 'std' must not be zero")
    channels = sample_shape[channel_axis(layout)] if sample_shape else 1
    for key in ("mean", "std"):
        if isinstance(out[key], list) and len(out[key]) not in (1, channels):
            raise SampleError(
                f"{path}: preprocess {key!r} has {len(out[key])} values but the "
                f"samples have {channels} channels (layout {layout}, shape {tuple(sample_shape)})")
    return out


def _broadcastable(value: float | list, ndim: int, layout: str) -> np.ndarray:
    """Shape a mean/std value to broadcast against a batch (n, *sample)."""
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 0 or layout != "channels_first":
        return arr  # a scalar, or per-channel values on the last axis
    return arr.reshape((1, -1) + (1,) * (ndim - 2))


def apply_preprocess(raw: np.ndarray, spec: Mapping, layout: str) -> np.ndarray:
    """Turn a raw batch into net input.

    Parameters
    ----------
    raw : np.ndarray, shape (n, *sample_shape)
        Raw samples, any numeric dtype.
    spec : mapping
        A dict from :func:`normalize_preprocess`.
    layout : str
        Says which axis the per-channel mean/std run along.

    Returns
    -------
    np.ndarray, float32, shape (n, *sample_shape)
        ``(raw * scale - mean) / std``.
    """
    x = raw.astype(np.float32)  # always a copy: the caller's raw data stays untouched
    if spec["scale"] != 1.0:
        x *= np.float32(spec["scale"])
    if spec["mean"] != 0.0:
        x -= _broadcastable(spec["mean"], x.ndim, layout)
    if spec["std"] != 1.0:
        x /= _broadcastable(spec["std"], x.ndim, layout)
    return x

"""Sample layouts, and the preprocessing that turns sample values into net input.

The preprocessing is one :class:`Preprocess` object. It is written as JSON
(in a net file's ``/samples`` group, on the command line, in the window's
settings)::

    {"scale": s, "mean": m, "std": d, "channel_order": "RGB", "resize": "bilinear"}

    net_input = (raw.astype(float32) * scale - mean) / std

every key optional. ``mean`` and ``std`` are one number, or one number per
channel broadcast along the channel axis that the layout names. Defaults:
scale=1, mean=0, std=1. ``channel_order`` "BGR" swaps the first and third
of 3 channels before the arithmetic (images decode as RGB; nets trained with
OpenCV want BGR). ``resize`` says what happens to an image whose size is not
the net's: one of :data:`RESIZE_METHODS` resizes it with that filter, "crop"
cuts the centre out, "refuse" makes it an error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Union

import numpy as np

from viewer.errors import SampleError

#: The layouts a sample can have, as stored in the ``layout`` attribute.
LAYOUTS = ("channels_first", "channels_last", "vector", "sequence")
#: Channel orders of 3-channel samples: as decoded (RGB) or red and blue swapped.
CHANNEL_ORDERS = ("RGB", "BGR")
#: Pillow filters an image may be resized with, in the order the window lists them.
RESIZE_METHODS = ("bilinear", "bicubic", "lanczos", "box", "nearest")
#: What may happen to an image of another size than the net's input.
RESIZE_POLICIES = RESIZE_METHODS + ("crop", "refuse")

Number = Union[float, tuple]


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


def preprocess_option(text: str, flag: str = "--preprocess") -> dict:
    """A command line's ``--preprocess`` value as a spec: JSON text, or ``none`` for identity.

    Raises
    ------
    SampleError
        ``--preprocess is not valid JSON (...)`` or not a JSON object.
    """
    if text.strip().lower() == "none":
        return {}
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise SampleError(f"{flag} is not valid JSON ({exc}); give a JSON object or none") from None
    if not isinstance(spec, dict):
        raise SampleError(f"{flag} must be a JSON object, e.g. '{{\"scale\": 0.00392}}', or none")
    return spec


def _numbers(value: Any, key: str, path: str) -> Number:
    """Check one preprocess value: a finite number or a list of them."""
    values = value if isinstance(value, (list, tuple)) else [value]
    ok = bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for v in values)
    if not ok:
        raise SampleError(f"{path}: preprocess {key!r} must be a finite number "
                          f"or a list of them, not {value!r}")
    if isinstance(value, (list, tuple)):
        return tuple(float(v) for v in values)
    return float(value)


def _choice(value: Any, key: str, allowed: tuple, path: str) -> str:
    if value not in allowed:
        raise SampleError(f"{path}: preprocess {key!r} must be one of "
                          f"{', '.join(allowed)}, not {value!r}")
    return value


def _text(value: float) -> str:
    """A number as short text: 16, 0.5, 0.00392."""
    return f"{value:.6g}"


def _vector_text(value: Number) -> str:
    return "(" + ", ".join(_text(v) for v in value) + ")" if isinstance(value, tuple) else _text(value)


@dataclass(frozen=True)
class Preprocess:
    """How sample values become net input; the identity by default.

    Attributes
    ----------
    scale : float
    mean, std : float or tuple of float
        One number, or one per channel.
    channel_order : str
        One of :data:`CHANNEL_ORDERS`; "BGR" swaps channels 0 and 2.
    resize : str
        One of :data:`RESIZE_POLICIES`; applies to image files only.
    """

    scale: float = 1.0
    mean: Number = 0.0
    std: Number = 1.0
    channel_order: str = "RGB"
    resize: str = "bilinear"

    @classmethod
    def from_spec(cls, spec: Mapping | Preprocess | None, sample_shape: tuple, layout: str,
                  path: str) -> Preprocess:
        """Validate a spec (a JSON object, or a Preprocess) for samples of one shape.

        Parameters
        ----------
        spec : mapping, Preprocess or None
            Keys as in the module docstring, any optional; None means identity.
        sample_shape : tuple of int
            Shape of one net input sample, to check per-channel lengths.
        layout : str
            One of :data:`LAYOUTS`; says which axis holds the channels.
        path : str
            File named in error messages.

        Raises
        ------
        SampleError
            ``"FILE: preprocess 'mean' has 2 values but the samples have 3 channels ..."``.
        """
        spec = spec.to_dict() if isinstance(spec, Preprocess) else dict(spec or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(spec) - set(known))
        if unknown:
            raise SampleError(f"{path}: unknown preprocess key(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(known)}")
        out = cls(scale=_numbers(spec.get("scale", 1.0), "scale", path),
                  mean=_numbers(spec.get("mean", 0.0), "mean", path),
                  std=_numbers(spec.get("std", 1.0), "std", path),
                  channel_order=_choice(spec.get("channel_order", "RGB"), "channel_order",
                                        CHANNEL_ORDERS, path),
                  resize=_choice(spec.get("resize", "bilinear"), "resize", RESIZE_POLICIES, path))
        if isinstance(out.scale, tuple):
            raise SampleError(f"{path}: preprocess 'scale' must be one number")
        stds = out.std if isinstance(out.std, tuple) else (out.std,)
        if any(s == 0 for s in stds):
            raise SampleError(f"{path}: preprocess 'std' must not be zero")
        channels = sample_shape[channel_axis(layout)] if sample_shape else 1
        where = f"(layout {layout}, shape {tuple(sample_shape)})"
        for key in ("mean", "std"):
            value = getattr(out, key)
            if isinstance(value, tuple) and len(value) not in (1, channels):
                raise SampleError(f"{path}: preprocess {key!r} has {len(value)} values but the "
                                  f"samples have {channels} channels {where}")
        if out.channel_order == "BGR" and channels != 3:
            raise SampleError(f"{path}: preprocess channel_order BGR needs 3 channels; the "
                              f"samples have {channels} {where}")
        return out

    def to_dict(self) -> dict:
        """The JSON form; channel order and resize only when not the defaults."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("scale", "mean", "std") or value != f.default:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text, as ``--preprocess`` takes it."""
        return json.dumps(self.to_dict())

    def with_changes(self, **changes: Any) -> Preprocess:
        """A copy with some fields changed (not validated: pass it to :meth:`from_spec`)."""
        return replace(self, **changes)

    @property
    def is_identity(self) -> bool:
        """True when the net input equals the values (apart from the float32 cast)."""
        return (self.scale == 1.0 and self.mean == 0.0 and self.std == 1.0
                and self.channel_order == "RGB")

    def formula(self) -> str:
        """The arithmetic in plain words: ``x / 16``, ``(x / 255 - mean) / std, mean=(...)``."""
        expr = "x"
        if self.scale != 1.0:
            inverse = 1.0 / self.scale
            # A divisor reads better when it is short: x / 255, not x * 0.00392157.
            expr = f"x / {_text(inverse)}" if len(_text(inverse)) <= len(_text(self.scale)) \
                else f"x * {_text(self.scale)}"
        per_channel = isinstance(self.mean, tuple) or isinstance(self.std, tuple)
        extra = []
        if self.mean != 0.0:
            expr = f"{expr} - {'mean' if per_channel else _text(self.mean)}"
            if per_channel:
                extra.append(f"mean={_vector_text(self.mean)}")
        if self.std != 1.0:
            expr = f"({expr}) / {'std' if per_channel else _text(self.std)}"
            if per_channel:
                extra.append(f"std={_vector_text(self.std)}")
        return ", ".join([expr] + extra)

    def describe(self, images: bool = False) -> str:
        """One line for the user: the formula, the channel order and, for images, the resize.

        Parameters
        ----------
        images : bool
            The samples are image files, so the resize policy applies.
        """
        parts = ["x (unchanged)" if self.formula() == "x" else self.formula()]
        if self.channel_order == "BGR":
            parts.append("channels BGR (red and blue swapped)")
        if images:
            parts.append({"crop": "images of another size centre-cropped",
                          "refuse": "images of another size refused"}.get(
                              self.resize, f"images of another size resized ({self.resize})"))
        return "; ".join(parts)

    def apply(self, raw: np.ndarray, layout: str) -> np.ndarray:
        """Turn a raw batch into net input.

        Parameters
        ----------
        raw : np.ndarray, shape (n, *sample_shape)
            Raw samples, any numeric dtype.
        layout : str
            Says which axis the channels (and per-channel mean/std) run along.

        Returns
        -------
        np.ndarray, float32, shape (n, *sample_shape)
            ``(raw * scale - mean) / std``, channels swapped first for BGR.
        """
        x = raw.astype(np.float32)  # always a copy: the caller's raw data stays untouched
        if self.channel_order == "BGR":
            axis = 1 if layout == "channels_first" else -1
            x = np.flip(x, axis=axis).copy()
        if self.scale != 1.0:
            x *= np.float32(self.scale)
        if self.mean != 0.0:
            x -= _broadcastable(self.mean, x.ndim, layout)
        if self.std != 1.0:
            x /= _broadcastable(self.std, x.ndim, layout)
        return x


def _broadcastable(value: Number, ndim: int, layout: str) -> np.ndarray:
    """Shape a mean/std value to broadcast against a batch (n, *sample)."""
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 0 or layout != "channels_first":
        return arr  # a scalar, or per-channel values on the last axis
    return arr.reshape((1, -1) + (1,) * (ndim - 2))


IDENTITY = Preprocess()

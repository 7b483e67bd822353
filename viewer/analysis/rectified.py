"""Which layers rectify: their outputs are >= 0 by construction, and 0 means "off".

"Dead" has a meaning only there. A ReLU unit that never exceeds the
threshold passes no signal and gets no gradient: it is dead. A tanh or
linear unit that stays below 0 is merely negative, and is reported as
"never above threshold" instead (see :mod:`viewer.analysis.sweep`).

Known from the layer kinds alone, never from values:

- rectifiers: ``Activation`` relu with no negative slope and a threshold
  >= 0 (ReLU, ReLU6 via ``max_value``), ``Unary`` clip with a lower bound of 0;
- layers that only move, pick, pool or pad values keep a rectified input
  rectified: dropout, flatten, reshape, permute, max and average pooling,
  upsampling, zero padding, slicing, gathering, and a concatenation of
  rectified inputs.
"""

from __future__ import annotations

from typing import Any

#: Kinds whose outputs are >= 0 whenever their inputs are.
KEEPS_RECTIFIED = frozenset({
    "Dropout", "Flatten", "Reshape", "Permute", "MaxPool2D", "AvgPool2D", "MaxPool1D",
    "AvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool2D", "Upsample", "ZeroPadding2D",
    "Slice", "Take", "Concatenate",
})


def _rectifier(layer: Any) -> bool:
    if layer.kind == "Activation" and getattr(layer, "function", None) == "relu":
        options = getattr(layer, "options", {})
        return not options.get("alpha") and (options.get("threshold") or 0.0) >= 0.0
    if layer.kind == "Unary" and getattr(layer, "function", None) == "clip":
        return getattr(layer, "low", None) == 0.0
    return False


def is_rectified(layer: Any) -> bool:
    """True when ``layer``'s outputs are ReLU-like: >= 0 by construction, 0 meaning off.

    Parameters
    ----------
    layer : Layer
        Any layer of a net; its inputs are followed through :data:`KEEPS_RECTIFIED`.
    """
    todo, seen = [layer], set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _rectifier(current):
            continue
        if current.kind not in KEEPS_RECTIFIED or not current.inputs:
            return False
        todo.extend(current.inputs)
    return True

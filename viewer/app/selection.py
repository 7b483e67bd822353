"""What the window selects on its own: the layer shown first when a net opens."""

from __future__ import annotations

from typing import Any


def default_layer(net: Any) -> int:
    """The layer to show first: the first activation of image-like maps, if any.

    A conv block's activation shows the most structure; failing that the first
    image-like layer, else the first layer after the input.
    """
    shaped = []
    for i, row in enumerate(net.summary()):
        if i and row.output_shape is not None and len(row.output_shape) == 3:
            shaped.append((i, row.kind))
    for i, kind in shaped:
        if kind == "Activation":
            return i
    if shaped:
        return shaped[0][0]
    return 1 if len(net) > 1 else 0

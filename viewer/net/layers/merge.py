"""Layers that join several inputs into one: sums, products and concatenation."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from viewer.errors import LayerError
from viewer.net.layers.base import Layer, Shape, register


class _Merge(Layer):
    """A layer whose ``prev`` is a tuple of two or more layers."""

    is_merge = True

    def __init__(self, prev: Sequence[Layer], *, name: str) -> None:
        prev = tuple(prev) if not isinstance(prev, Layer) else (prev,)
        if len(prev) < 2:
            raise LayerError(f"layer {name!r} ({self.kind}) needs at least two inputs")
        super().__init__(prev, name=name)


class _Elementwise(_Merge):
    """Inputs of one shape combined value by value."""

    def infer_shape(self, in_shape: tuple[Shape, ...]) -> Shape:
        first = in_shape[0]
        for other in in_shape[1:]:
            if other != first:
                raise LayerError(f"layer {self.name!r} ({self.kind}) needs inputs of one shape, "
                                 f"got {', '.join(map(str, in_shape))}")
        return first


@register
class Add(_Elementwise):
    """Sum of its inputs (for example a residual connection)."""

    kind = "Add"

    def forward(self, x: tuple[np.ndarray, ...]) -> np.ndarray:
        out = x[0] + x[1]
        for more in x[2:]:
            out += more
        return out


@register
class Multiply(_Elementwise):
    """Element-wise product of its inputs."""

    kind = "Multiply"

    def forward(self, x: tuple[np.ndarray, ...]) -> np.ndarray:
        out = x[0] * x[1]
        for more in x[2:]:
            out *= more
        return out


@register
class Concatenate(_Merge):
    """Join inputs along ``axis`` of the batch tensor (default -1; never 0, the batch)."""

    kind = "Concatenate"

    def __init__(self, prev: Sequence[Layer], *, name: str, axis: int = -1) -> None:
        super().__init__(prev, name=name)
        self.axis = int(axis)
        if self.axis == 0:
            raise LayerError(f"layer {name!r}: cannot concatenate along the batch axis")

    def config(self) -> dict:
        return {"axis": self.axis}

    def infer_shape(self, in_shape: tuple[Shape, ...]) -> Shape:
        rank = len(in_shape[0])
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if not 0 <= axis < rank:
            raise LayerError(f"layer {self.name!r}: axis {self.axis} is out of range for {in_shape[0]}")
        out = list(in_shape[0])
        for other in in_shape[1:]:
            same = len(other) == rank and all(a == b for i, (a, b) in enumerate(zip(other, in_shape[0]))
                                              if i != axis)
            if not same:
                raise LayerError(f"layer {self.name!r} (Concatenate): shapes "
                                 f"{', '.join(map(str, in_shape))} differ off axis {self.axis}")
            out[axis] = None if out[axis] is None or other[axis] is None else out[axis] + other[axis]
        return tuple(out)

    def forward(self, x: tuple[np.ndarray, ...]) -> np.ndarray:
        return np.concatenate(x, axis=self.axis)

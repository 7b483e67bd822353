"""Indexing kinds the converters need: slicing, picking entries, padding.

ONNX graphs and some Keras layers (Cropping, ZeroPadding in other modes) map
onto these. Axes are counted on the batch tensor; axis 0, the batch, is never
touched.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from viewer.errors import LayerError
from viewer.net.layers.base import Layer, Shape, register
from viewer.net.layers.tensor import axis_index


@register
class Slice(Layer):
    """Python slicing of sample axes: ``x[..., start:stop:step, ...]`` per axis.

    Parameters
    ----------
    axes, starts, stops, steps : sequence of int
        Batch-tensor axes (never 0) and their slice bounds; a stop of None
        runs to the end.
    """

    kind = "Slice"

    def __init__(self, prev: Layer, *, name: str, axes: Sequence[int], starts: Sequence[int],
                 stops: Sequence[int | None], steps: Sequence[int] | None = None) -> None:
        super().__init__(prev, name=name)
        self.axes = tuple(int(a) for a in axes)
        self.starts = tuple(int(s) for s in starts)
        self.stops = tuple(None if s is None else int(s) for s in stops)
        self.steps = tuple(int(s) for s in steps) if steps is not None else (1,) * len(self.axes)
        if not len(self.axes) == len(self.starts) == len(self.stops) == len(self.steps):
            raise LayerError(f"layer {name!r}: axes, starts, stops and steps differ in length")
        if 0 in self.axes or 0 in self.steps:
            raise LayerError(f"layer {name!r}: cannot slice the batch axis or with step 0")

    def config(self) -> dict:
        return {"axes": list(self.axes), "starts": list(self.starts), "stops": list(self.stops),
                "steps": list(self.steps)}

    def _index(self, rank: int) -> tuple:
        index = [slice(None)] * (rank + 1)
        for a, start, stop, step in zip(self.axes, self.starts, self.stops, self.steps):
            index[axis_index(a, rank, self.name)] = slice(start, stop, step)
        return tuple(index)

    def infer_shape(self, in_shape: Shape) -> Shape:
        index = self._index(len(in_shape))[1:]
        return tuple(n if n is None else len(range(n)[i]) for n, i in zip(in_shape, index))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x[self._index(x.ndim - 1)]


@register
class Take(Layer):
    """Pick entries along one sample axis: ``np.take(x, index, axis)``.

    Parameters
    ----------
    axis : int
        Batch-tensor axis (never 0).
    index : int or sequence of int
        A single index removes the axis; a list keeps it.
    """

    kind = "Take"

    def __init__(self, prev: Layer, *, name: str, axis: int, index: Any) -> None:
        super().__init__(prev, name=name)
        self.axis = int(axis)
        if self.axis == 0:
            raise LayerError(f"layer {name!r}: cannot pick along the batch axis")
        self.index = int(index) if np.ndim(index) == 0 else [int(i) for i in index]

    def config(self) -> dict:
        return {"axis": self.axis, "index": self.index}

    def infer_shape(self, in_shape: Shape) -> Shape:
        a = axis_index(self.axis, len(in_shape), self.name) - 1
        size = in_shape[a]
        picks = [self.index] if isinstance(self.index, int) else self.index
        if size is not None and any(not -size <= i < size for i in picks):
            raise LayerError(f"layer {self.name!r}: index {self.index} out of range for size {size}")
        if isinstance(self.index, int):
            return tuple(in_shape[:a]) + tuple(in_shape[a + 1:])
        return tuple(in_shape[:a]) + (len(self.index),) + tuple(in_shape[a + 1:])

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.take(x, self.index, axis=axis_index(self.axis, x.ndim - 1, self.name))


@register
class Pad(Layer):
    """Pad sample axes.

    Parameters
    ----------
    pads : sequence of (before, after)
        One pair per sample axis.
    mode : str
        constant, reflect or edge.
    value : float
        The fill of constant padding.
    """

    kind = "Pad"

    def __init__(self, prev: Layer, *, name: str, pads: Sequence[Sequence[int]],
                 mode: str = "constant", value: float = 0.0) -> None:
        super().__init__(prev, name=name)
        try:
            self.pads = tuple((int(b), int(a)) for b, a in pads)
        except (TypeError, ValueError):
            raise LayerError(f"layer {name!r}: pads must be (before, after) pairs") from None
        if any(min(p) < 0 for p in self.pads):
            raise LayerError(f"layer {name!r}: negative padding is not supported")
        if mode not in ("constant", "reflect", "edge"):
            raise LayerError(f"layer {name!r}: unknown padding mode {mode!r}")
        self.mode, self.value = mode, float(value)

    def config(self) -> dict:
        return {"pads": [list(p) for p in self.pads], "mode": self.mode, "value": self.value}

    def infer_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != len(self.pads):
            raise LayerError(f"layer {self.name!r}: {len(self.pads)} pads for input {in_shape}")
        return tuple(None if n is None else n + b + a for n, (b, a) in zip(in_shape, self.pads))

    def forward(self, x: np.ndarray) -> np.ndarray:
        widths = ((0, 0),) + self.pads
        if self.mode == "constant":
            return np.pad(x, widths, constant_values=np.asarray(self.value, x.dtype))
        return np.pad(x, widths, mode=self.mode)

"""Input, dense and shape layers: the kinds that need no spatial arithmetic."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from viewer.errors import LayerError
from viewer.net.layers.base import Layer, Shape, as_array, check_format, need_rank, register


@register
class Input(Layer):
    """Where the data enters: returns the batch it is given, after checking its shape.

    Parameters
    ----------
    shape : sequence of int or None
        Per-sample shape; None where any size is accepted (a sequence length).
    data_format : str, optional
        Layout of image-like input, for display: "channels_first" or "channels_last".
    """

    kind = "Input"

    def __init__(self, prev: None = None, *, name: str = "input", shape: Sequence[int | None],
                 data_format: str | None = None) -> None:
        super().__init__(None, name=name)
        if prev is not None:
            raise LayerError(f"input layer {name!r} cannot have a previous layer")
        try:
            self.shape = tuple(None if s is None else int(s) for s in shape)
        except (TypeError, ValueError):
            raise LayerError(f"input {name!r}: shape must be a list of sizes, not {shape!r}") from None
        if any(s is not None and s < 0 for s in self.shape):
            raise LayerError(f"input {name!r}: sizes must not be negative, not {self.shape}")
        self.data_format = None if data_format is None else check_format(data_format)

    def config(self) -> dict:
        return {"shape": list(self.shape), "data_format": self.data_format}

    def infer_shape(self, in_shape: Any) -> Shape:
        return self.shape

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        got = x.shape[1:]
        if len(got) != len(self.shape) or any(s is not None and s != g for s, g in zip(self.shape, got)):
            want = ", ".join("any" if s is None else str(s) for s in self.shape)
            raise LayerError(f"input {self.name!r} expects samples of shape ({want}), "
                             f"got a batch of shape {x.shape}")
        if x.dtype.kind not in "fiub":
            raise LayerError(f"input {self.name!r} expects numbers, got {x.dtype}")
        return x


@register
class Dense(Layer):
    """Fully connected layer (the seed's Projection): ``x @ W + b`` over the last axis.

    Parameters
    ----------
    W : ndarray (in, out)
    b : ndarray (out,), optional
    """

    kind = "Dense"
    param_names = ("W", "b")

    def __init__(self, prev: Layer, *, name: str, W: Any, b: Any = None) -> None:
        super().__init__(prev, name=name)
        self.W = as_array(W, f"{name}.W", ndim=2)
        self.b = None if b is None else as_array(b, f"{name}.b", ndim=1)
        if self.b is not None and self.b.shape[0] != self.W.shape[1]:
            raise LayerError(f"layer {name!r}: bias has {self.b.shape[0]} values for "
                             f"{self.W.shape[1]} units")

    def infer_shape(self, in_shape: Shape) -> Shape:
        if not in_shape or in_shape[-1] != self.W.shape[0]:
            raise LayerError(f"layer {self.name!r} (Dense) expects {self.W.shape[0]} input "
                             f"features, gets shape {in_shape}")
        return tuple(in_shape[:-1]) + (self.W.shape[1],)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = x @ self.W
        if self.b is not None:
            out += self.b
        return out


@register
class Dropout(Layer):
    """Dropout, which is the identity at inference; kept so layer lists match the source."""

    kind = "Dropout"

    def __init__(self, prev: Layer, *, name: str, rate: float = 0.5) -> None:
        super().__init__(prev, name=name)
        self.rate = float(rate)

    def config(self) -> dict:
        return {"rate": self.rate}

    def infer_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x


@register
class Flatten(Layer):
    """Flatten each sample to a vector, in the order its source framework used.

    Parameters
    ----------
    data_format : str
        Layout of the (C, H, W) or (H, W, C) input.
    order : str, optional
        Order of the flattened values: "channels_first" (C, H, W order) or
        "channels_last" (H, W, C order). Defaults to ``data_format``: a plain
        reshape. Keras from 2.1.6 on flattens channels-first maps in
        channels-last order, which is ``data_format="channels_first",
        order="channels_last"``.
    """

    kind = "Flatten"

    def __init__(self, prev: Layer, *, name: str, data_format: str = "channels_last",
                 order: str | None = None) -> None:
        super().__init__(prev, name=name)
        self.data_format = check_format(data_format)
        self.order = check_format(order or data_format)

    def config(self) -> dict:
        return {"data_format": self.data_format, "order": self.order}

    def _moves_channels(self, ndim: int) -> bool:
        return self.order != self.data_format and ndim >= 2

    def infer_shape(self, in_shape: Shape) -> Shape:
        if in_shape is None or any(s is None for s in in_shape):
            raise LayerError(f"layer {self.name!r} (Flatten) needs a fully known input shape, "
                             f"got {in_shape}")
        return (int(np.prod(in_shape)),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self._moves_channels(x.ndim - 1):
            if self.data_format == "channels_first":
                x = np.moveaxis(x, 1, -1)
            else:
                x = np.moveaxis(x, -1, 1)
        return x.reshape(x.shape[0], -1)


@register
class Reshape(Layer):
    """Reshape each sample (row-major), like numpy; one size may be -1."""

    kind = "Reshape"

    def __init__(self, prev: Layer, *, name: str, target_shape: Sequence[int]) -> None:
        super().__init__(prev, name=name)
        self.target_shape = tuple(int(s) for s in target_shape)
        if sum(s == -1 for s in self.target_shape) > 1 or any(s < -1 or s == 0 for s in self.target_shape):
            raise LayerError(f"layer {name!r}: bad target shape {self.target_shape}")

    def config(self) -> dict:
        return {"target_shape": list(self.target_shape)}

    def infer_shape(self, in_shape: Shape) -> Shape:
        if in_shape is None or any(s is None for s in in_shape):
            raise LayerError(f"layer {self.name!r} (Reshape) needs a fully known input shape")
        size = int(np.prod(in_shape))
        known = int(np.prod([s for s in self.target_shape if s != -1]))
        if -1 in self.target_shape:
            if size % known:
                raise LayerError(f"layer {self.name!r}: cannot reshape {in_shape} to {self.target_shape}")
            return tuple(size // known if s == -1 else s for s in self.target_shape)
        if known != size:
            raise LayerError(f"layer {self.name!r}: cannot reshape {in_shape} to {self.target_shape}")
        return self.target_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.reshape((x.shape[0],) + self.target_shape)


@register
class Permute(Layer):
    """Permute the axes of each sample; ``dims`` are per-sample axes counted from 0."""

    kind = "Permute"

    def __init__(self, prev: Layer, *, name: str, dims: Sequence[int]) -> None:
        super().__init__(prev, name=name)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(len(self.dims))):
            raise LayerError(f"layer {name!r}: dims {self.dims} are not a permutation")

    def config(self) -> dict:
        return {"dims": list(self.dims)}

    def infer_shape(self, in_shape: Shape) -> Shape:
        need_rank(self, in_shape, len(self.dims))
        return tuple(in_shape[d] for d in self.dims)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.transpose((0,) + tuple(d + 1 for d in self.dims))

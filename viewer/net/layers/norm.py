"""Normalisation at inference time."""

from __future__ import annotations

from typing import Any

import numpy as np

from viewer.errors import LayerError
from viewer.net.layers.base import Layer, Shape, as_array, register


@register
class BatchNorm(Layer):
    """Batch normalisation with its learnt statistics, as at inference time.

    ``out = (x - mean) / sqrt(var + eps) * gamma + beta`` along ``axis``.

    Parameters
    ----------
    mean, var, gamma, beta : ndarray (channels,)
        Running mean and variance, learnt scale and shift.
    eps : float
    axis : int
        The channel axis of the batch tensor: 1 for channels first, -1 for
        channels last and for plain vectors.
    """

    kind = "BatchNorm"
    param_names = ("mean", "var", "gamma", "beta")

    def __init__(self, prev: Layer, *, name: str, mean: Any, var: Any, gamma: Any = None,
                 beta: Any = None, eps: float = 1e-5, axis: int = 1) -> None:
        super().__init__(prev, name=name)
        self.mean = as_array(mean, f"{name}.mean", ndim=1)
        n = self.mean.shape[0]
        self.var = as_array(var, f"{name}.var", ndim=1)
        self.gamma = np.ones(n, self.mean.dtype) if gamma is None else as_array(gamma, f"{name}.gamma", ndim=1)
        self.beta = np.zeros(n, self.mean.dtype) if beta is None else as_array(beta, f"{name}.beta", ndim=1)
        for key in ("var", "gamma", "beta"):
            if getattr(self, key).shape != (n,):
                raise LayerError(f"layer {name!r}: {key} has shape {getattr(self, key).shape}, "
                                 f"mean has ({n},)")
        self.eps = float(eps)
        self.axis = int(axis)
        if self.axis == 0:
            raise LayerError(f"layer {name!r}: axis 0 is the batch axis")
        # Fold the four vectors into one scale and shift once, not on every call.
        self._scale = (self.gamma / np.sqrt(self.var + self.eps)).astype(self.mean.dtype)
        self._shift = (self.beta - self.mean * self._scale).astype(self.mean.dtype)

    def config(self) -> dict:
        return {"eps": self.eps, "axis": self.axis}

    def _sample_axis(self, ndim: int) -> int:
        """The channel axis counted in a per-sample shape of ``ndim`` axes."""
        return self.axis - 1 if self.axis > 0 else ndim + self.axis

    def infer_shape(self, in_shape: Shape) -> Shape:
        if in_shape is None or not in_shape:
            raise LayerError(f"layer {self.name!r} (BatchNorm) needs a non-scalar input")
        axis = self._sample_axis(len(in_shape))
        if not 0 <= axis < len(in_shape) or in_shape[axis] != self.mean.shape[0]:
            raise LayerError(f"layer {self.name!r} (BatchNorm) has {self.mean.shape[0]} channels "
                             f"on axis {self.axis}, input shape is {in_shape}")
        return in_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        shape = [1] * x.ndim
        shape[self.axis] = -1
        return x * self._scale.reshape(shape) + self._shift.reshape(shape)

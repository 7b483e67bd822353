"""The result every attribution method returns, and the checks they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from viewer.analysis.attribution.grid import Grid, grid_of
from viewer.errors import SampleError, StrataError


@dataclass(frozen=True, eq=False)
class Attribution:
    """A map over one input sample's positions saying how much each drives a target.

    Attributes
    ----------
    method : str
        One of :data:`viewer.analysis.attribution.METHODS`.
    values : np.ndarray, float64
        The map over the input's positions: (H, W) for images, (T,) for
        sequences, (F,) for vectors. NaN where the method says nothing
        (occlusion: positions no window covers).
    grid : Grid
        The input's grid; :meth:`per_sample` spreads the map over its channels.
    target : str
        What is explained, e.g. ``"class 3 of softmax"``; "" for EigenCAM,
        which explains no particular unit.
    score : float
        The target's score on the unaltered sample (NaN for EigenCAM).
    signed : bool
        The map has both signs by construction (draw it diverging around zero).
    layer : str or None
        The layer a CAM method worked on.
    layer_values : np.ndarray or None
        CAM methods: the map at that layer's resolution, before resizing.
    params : dict
        The parameters used, for titles and files.
    raw : np.ndarray or None
        Gradient methods: the attribution of every input cell, shaped like
        one sample of the net input (channels apart), float64.
    report : dict
        What the method measured besides the map: integrated gradients'
        ``completeness_error`` = sum(raw) - (f(x) - f(baseline)), its
        ``relative_error`` (divided by |f(x) - f(baseline)|), ``f_x``,
        ``f_baseline`` and the quadrature's ``points`` along the path.
    """

    method: str
    values: np.ndarray
    grid: Grid
    target: str
    score: float
    signed: bool
    layer: Optional[str] = None
    layer_values: Optional[np.ndarray] = None
    params: dict = field(default_factory=dict)
    raw: Optional[np.ndarray] = None
    report: dict = field(default_factory=dict)

    def limits(self) -> tuple[float, float]:
        """Colour limits: symmetric around zero for signed maps, else the map's range (NaN ignored)."""
        finite = self.values[np.isfinite(self.values)]
        if not finite.size:
            return (-1.0, 1.0) if self.signed else (0.0, 1.0)
        if self.signed:
            m = float(np.abs(finite).max()) or 1.0
            return -m, m
        low, high = float(finite.min()), float(finite.max())
        return (low, high) if high > low else (low - 0.5, high + 0.5)

    def overlay(self, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sample's picture and the map laid over it, pixel for pixel.

        Returns
        -------
        picture : np.ndarray
            (H, W) or (H, W, 3) in [0, 1] for images; (F, T) for a sequence
            (features as rows, steps as columns); (1, F) for a vector.
        over : np.ndarray, shape picture.shape[:2]
            The map: itself for images, repeated down the features of a
            sequence, one row for a vector.
        """
        picture = self.grid.picture(sample)
        if self.grid.layout == "sequence":
            picture = picture.T
            return picture, np.repeat(self.values[None, :], picture.shape[0], axis=0)
        if self.grid.layout == "vector":
            return picture, self.values[None, :]
        return picture, self.values

    def per_sample(self) -> np.ndarray:
        """The attribution with the input's per-sample shape: ``raw`` where the method gives
        one value per input cell, else the map with channels sharing each position's value."""
        return self.raw if self.raw is not None else self.grid.expand(self.values)


def input_grid(net: Any) -> Grid:
    """The grid of the net's input: its Input layer's data format, else the first layer's that has one."""
    fmt = getattr(net.input, "data_format", None)
    if fmt is None:
        fmt = next((layer.data_format for layer in net
                    if getattr(layer, "data_format", None) in ("channels_first", "channels_last")),
                   None)
    try:
        return grid_of(net.input.output_shape, fmt)
    except StrataError as exc:
        raise StrataError(f"input {net.input.name!r}: {exc}") from None


def one_sample(net: Any, x: np.ndarray) -> np.ndarray:
    """``x`` as a batch of one float32 sample of the net's input shape: (1, *input_shape)."""
    x = np.asarray(x)
    shape = tuple(net.input.output_shape)
    if x.shape == shape or (len(x.shape) == len(shape) and None in shape):
        x = x[None]
    if x.ndim != len(shape) + 1 or x.shape[0] != 1:
        raise SampleError(f"one sample of shape {shape} is needed, not an array of shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def baseline_array(baseline: Any, x: np.ndarray) -> np.ndarray:
    """``baseline`` (a number, or an array of one sample's shape) as an array like ``x[0]``."""
    fill = np.asarray(baseline, dtype=np.float32)
    try:
        return np.ascontiguousarray(np.broadcast_to(fill, x.shape[1:]))
    except ValueError:
        raise SampleError(f"the baseline of shape {fill.shape} does not fit samples of shape "
                          f"{x.shape[1:]}") from None


def check_positive(**values: Any) -> None:
    """Raise a one-line StrataError unless every named value is an int >= 1."""
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise StrataError(f"{name} must be a whole number of at least 1, not {value}")

"""What an attribution explains: a class of the last layer, or any unit of any layer.

    Target()                          # the predicted class (argmax of the last layer)
    Target(unit=3)                    # class 3 of the last layer
    Target(layer="relu2", unit=5)     # channel 5 of relu2, its mean over positions
    Target(layer="relu2", unit=5, position=(3, 4))   # one position of that channel

A unit is what the units table and the dataset sweep call one: a channel of
a conv map, a feature of a sequence, an element of a vector. The *score* of a
batch is that unit's value in each sample: a probability where the last layer
is a softmax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from viewer.analysis.attribution.grid import Grid, data_format_near, grid_of, layer_grid
from viewer.errors import LayerError, StrataError
from viewer.net.layers.base import LayerFailed


@dataclass(frozen=True)
class Target:
    """A unit to explain (see the module docstring).

    Attributes
    ----------
    layer : int, str or None
        Layer index or name; None for the last layer.
    unit : int or None
        Unit (class, channel, feature, element); None for the predicted class
        of the last layer.
    position : tuple of int or None
        One position of the unit (row, column for a conv map; the step of a
        sequence); None for the unit's mean over its positions.
    """

    layer: Any = None
    unit: Optional[int] = None
    position: Optional[tuple] = None


@dataclass(frozen=True)
class ResolvedTarget:
    """A :class:`Target` checked against a net and one sample.

    Attributes
    ----------
    layer : int
        Layer index.
    unit : int
    position : tuple of int or None
    grid : Grid
        The layer's per-sample output grid.
    label : str
        Says what is explained, e.g. ``"class 3 of softmax"``.
    original : float
        The target's score on the unaltered sample.
    outputs : dict
        Layer index -> output for the sample (batch of one) of the layers
        asked for with ``also``, computed in the same pass.
    """

    layer: int
    unit: int
    position: Optional[tuple]
    grid: Grid
    label: str
    original: float = float("nan")
    outputs: Optional[dict] = None

    def score(self, out: np.ndarray) -> np.ndarray:
        """The target's value in each sample of a batch of the layer's outputs: (B, ...) -> (B,)."""
        values = self.grid.canonical(out)[:, self.unit]  # (B, *positions)
        if self.position is not None:
            return values[(slice(None),) + self.position].astype(np.float64)
        return values.reshape(len(out), -1).mean(axis=1, dtype=np.float64)


def resolve_target(net: Any, target: Target, x: np.ndarray,
                   class_names: Optional[list] = None, also: tuple = ()) -> ResolvedTarget:
    """Check ``target`` against ``net``; fill in the predicted class for sample ``x``.

    Parameters
    ----------
    net : Net
    target : Target
    x : np.ndarray, shape (1, *input_shape)
        The sample, as net input.
    class_names : list of str, optional
        Names of the last layer's classes, for the label.
    also : tuple of int
        Other layers whose outputs for ``x`` to compute in the same pass.

    Raises
    ------
    StrataError
        One line: unknown layer, unit or position out of range, or no unit
        given for a layer other than the last.
    """
    last = len(net) - 1
    index = last if target.layer is None else net.resolve(target.layer)
    name = net[index].name
    sized = None not in net[index].output_shape
    grid = _unit_grid(net, index) if sized else None
    unit = target.unit
    if unit is None and index != last and grid is not None:
        raise StrataError(f"say which unit of layer {name!r} to explain (it has {grid.channels})")
    try:
        outputs = net.outputs(x, (index,) + tuple(also))
    except LayerFailed as exc:
        raise LayerError(str(exc)) from None
    if grid is None:  # sizes the shape rules cannot tell (a reshape read at run time)
        grid = _unit_grid(net, index, outputs[index].shape[1:])
        if unit is None and index != last:
            raise StrataError(f"say which unit of layer {name!r} to explain (it has "
                              f"{grid.channels})")
    if unit is None:
        unit = int(np.argmax(grid.canonical(outputs[index])[0].reshape(grid.channels, -1)
                             .mean(axis=1)))
    unit = int(unit)
    if not 0 <= unit < grid.channels:
        raise StrataError(f"unit {unit} is out of range: layer {name!r} has {grid.channels} "
                          f"units (0..{grid.channels - 1})")
    position = None if target.position is None else tuple(int(p) for p in target.position)
    if position is not None:
        sizes = grid.positions if grid.channel_axis is not None else ()
        if len(position) != len(sizes) or any(not 0 <= p < s for p, s in zip(position, sizes)):
            raise StrataError(f"position {position} is not in layer {name!r}, whose unit "
                              f"positions are {sizes or 'none'}")
    what = "class" if index == last and position is None else "unit"
    label = f"{what} {unit}"
    if index == last and class_names and unit < len(class_names) and class_names[unit] != str(unit):
        label += f" ({class_names[unit]})"
    label += f" of {name}" + ("" if position is None else f" at {position}")
    resolved = ResolvedTarget(index, unit, position, grid, label)
    return ResolvedTarget(index, unit, position, grid, label,
                          float(resolved.score(outputs[index])[0]), outputs)


def _unit_grid(net: Any, index: int, shape: Optional[tuple] = None) -> Grid:
    """The grid whose channels are the layer's units; a vector's elements are its units.

    ``shape`` is the layer's per-sample output shape as computed, for a layer whose
    static shape has unknown sizes.
    """
    if shape is None:
        grid = layer_grid(net, index)
    else:
        layer = net[index]
        try:
            grid = grid_of(tuple(int(n) for n in shape), data_format_near(layer))
        except StrataError as exc:
            raise StrataError(f"layer {layer.name!r}: {exc}") from None
    if grid.channel_axis is None:
        return Grid(grid.shape, 0, "vector")  # one position, unit = element
    return grid

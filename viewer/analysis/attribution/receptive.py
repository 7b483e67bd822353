"""Receptive fields: the input region that one position of a layer sees.

Walked back from the layer to the input through each layer's kernel, stride,
padding and dilation. Along one axis, output cells lo..hi of a layer with
kernel k, stride s, dilation d and padding p before read input cells

    lo * s - p  ..  hi * s - p + (k - 1) * d

(pooling: d = 1; zero padding: a shift by p; element-wise layers: the same
cells). Where branches meet, the fields are joined (their bounding box).
The field may reach past the input's edges into padding; :attr:`Field.clipped`
is the box of the real input cells read (padding inside the net left out too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from viewer.analysis.attribution.grid import Grid, layer_grid
from viewer.analysis.attribution.result import input_grid
from viewer.errors import StrataError
from viewer.net.layers.base import ancestors

#: Kinds whose output cell reads only the same cell of its inputs.
SAME_CELL = ("Activation", "BatchNorm", "Dropout", "Add", "Multiply", "Elementwise", "PReLU",
             "Unary", "ConstArithmetic", "Arithmetic")
#: Kinds with a kernel over positions (their rule is the convolution's).
KERNEL = ("Conv2D", "SeparableConv2D", "MaxPool2D", "AvgPool2D", "Conv1D", "SeparableConv1D",
          "MaxPool1D", "AvgPool1D")

Interval = tuple[list[int], list[int]]  # (lo, hi) per position axis, inclusive


class ReceptiveFieldUnknown(StrataError):
    """A layer on the way back to the input has no known receptive-field rule."""


@dataclass(frozen=True)
class Field:
    """The input region one layer position sees.

    Attributes
    ----------
    start, stop : tuple of int
        First and one-past-last input position along each position axis
        (height and width of an image, the steps of a sequence); may reach
        outside the input where the layers pad.
    sizes : tuple of int
        The input's positions.
    inside : (start, stop) or None
        The box of the input cells the position really reads: padding
        cells, also those inside the net (which with dilation or strides can
        hide real cells), are left out. None when it reads only padding.
    """

    start: tuple
    stop: tuple
    sizes: tuple
    inside: Optional[tuple] = None

    @property
    def size(self) -> tuple:
        """The field's extent along each axis, padding included."""
        return tuple(b - a for a, b in zip(self.start, self.stop))

    @property
    def clipped(self) -> tuple:
        """Slices of the input cells the position reads (:attr:`inside`), one per position axis;
        empty slices when it reads only padding. This is the crop to show."""
        if self.inside is None:
            return tuple(slice(0, 0) for _ in self.sizes)
        return tuple(slice(a, b) for a, b in zip(*self.inside))

    @property
    def center(self) -> tuple:
        """The field's centre in input positions (cell centres at whole numbers)."""
        return tuple((a + b - 1) / 2 for a, b in zip(self.start, self.stop))


def receptive_field(net: Any, layer: Any, position: Sequence[int]) -> Field:
    """The input region that ``position`` of ``layer``'s output sees.

    Parameters
    ----------
    net : Net
    layer : int or str
    position : sequence of int
        A position of the layer's output: (row, column) of a conv map, (step,)
        of a sequence.

    Raises
    ------
    ReceptiveFieldUnknown
        When a layer between the input and ``layer`` has no rule here
        (dense, recurrent, global pooling, reshaping ...).
    StrataError
        For a layer without positions or a position outside it.
    """
    index = net.resolve(layer)
    target = net[index]
    grid = layer_grid(net, index)
    if grid.channel_axis is None or not grid.positions:
        raise StrataError(f"layer {target.name!r} has no positions (output {grid.shape})")
    position = tuple(int(p) for p in position)
    if len(position) != len(grid.positions) or any(not 0 <= p < n for p, n in
                                                   zip(position, grid.positions)):
        raise StrataError(f"position {position} is not in layer {target.name!r}, whose "
                          f"positions are {grid.positions}")
    sizes = input_grid(net).positions
    if len(sizes) != len(position):
        raise ReceptiveFieldUnknown(f"layer {target.name!r} has {len(position)} position axes, "
                                    f"the input {len(sizes)}")
    # Per layer: the field with padding cells counted ("theory") and the box of the real
    # cells read ("real"; None where only padding is read).
    theory: dict[int, Interval] = {id(target): (list(position), list(position))}
    real: dict[int, Interval | None] = {id(target): (list(position), list(position))}
    for current in reversed(ancestors(target)):
        if not current.inputs or id(current) not in theory:
            continue
        rules = _rules(net, current)
        lo, hi = theory.pop(id(current))
        box = real.pop(id(current))
        in_sizes = _grid(net, current.inputs[0]).positions
        new_theory = ([r.first(a) for r, a in zip(rules, lo)], [r.last(b) for r, b in zip(rules, hi)])
        new_real = None if box is None else _real_box(rules, box, in_sizes)
        for prev in current.inputs:
            theory[id(prev)] = _join(theory.get(id(prev)), new_theory)
            real[id(prev)] = _join(real.get(id(prev)), new_real) if id(prev) in real else new_real
    lo, hi = theory[id(net.input)]
    box = real[id(net.input)]
    inside = (tuple(box[0]), tuple(h + 1 for h in box[1])) if box is not None else None
    return Field(tuple(lo), tuple(h + 1 for h in hi), sizes, inside)


@dataclass(frozen=True)
class _Rule:
    """Output cell o of one axis reads input cells o*stride - before + j*dilation, j < kernel
    (``divide``: o // stride instead, for nearest upsampling)."""

    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    before: int = 0
    divide: bool = False

    def first(self, o: int) -> int:
        return o // self.stride if self.divide else o * self.stride - self.before

    def last(self, o: int) -> int:
        if self.divide:
            return o // self.stride
        return o * self.stride - self.before + (self.kernel - 1) * self.dilation

    def cells(self, lo: int, hi: int) -> np.ndarray:
        """Every input cell that output cells lo..hi read."""
        outs = np.arange(lo, hi + 1)
        if self.divide:
            return outs // self.stride
        return (outs[:, None] * self.stride - self.before
                + np.arange(self.kernel)[None, :] * self.dilation).ravel()


def _real_box(rules: list, box: Interval, sizes: tuple) -> Interval | None:
    """The box of the real (not padding) input cells the output box reads; None: only padding."""
    lo, hi = [], []
    for rule, a, b, n in zip(rules, box[0], box[1], sizes):
        cells = rule.cells(a, b)
        cells = cells[(cells >= 0) & (cells < n)]
        if not cells.size:
            return None
        lo.append(int(cells.min()))
        hi.append(int(cells.max()))
    return lo, hi


def _join(old: Interval | None, new: Interval | None) -> Interval | None:
    """The bounding box of two boxes (None: empty)."""
    if old is None:
        return None if new is None else (list(new[0]), list(new[1]))
    if new is None:
        return old
    return ([min(a, b) for a, b in zip(old[0], new[0])], [max(a, b) for a, b in zip(old[1], new[1])])


def _rules(net: Any, layer: Any) -> list:
    """One :class:`_Rule` per position axis for ``layer``."""
    kind = layer.kind
    n_axes = len(_grid(net, layer.inputs[0]).positions)
    if kind in SAME_CELL or (kind == "Concatenate" and _joins_channels(net, layer)):
        return [_Rule()] * n_axes
    if kind in KERNEL:
        kernels, strides, dilations, before = _kernel_geometry(
            layer, _grid(net, layer.inputs[0]).positions)
        return [_Rule(k, s, d, p) for k, s, d, p in zip(kernels, strides, dilations, before)]
    if kind == "ZeroPadding2D":
        return [_Rule(before=layer.padding[0][0]), _Rule(before=layer.padding[1][0])]
    if kind in ("Pad", "Upsample"):
        axes = _grid(net, layer.inputs[0]).position_axes
        if kind == "Pad":
            return [_Rule(before=layer.pads[a][0]) for a in axes]
        return [_Rule(stride=layer.scale[a], divide=True) for a in axes]
    raise ReceptiveFieldUnknown(f"layer {layer.name!r} ({kind}) has no receptive-field rule, so "
                                f"the input region its outputs see is not known")


def _grid(net: Any, layer: Any) -> Grid:
    return layer_grid(net, net.index(layer.name))


def _joins_channels(net: Any, layer: Any) -> bool:
    """True when a Concatenate joins along its inputs' channel axis."""
    grid = _grid(net, layer)
    axis = layer.axis - 1 if layer.axis > 0 else len(grid.shape) + layer.axis
    return axis == grid.channel_axis


def _kernel_geometry(layer: Any, sizes: tuple) -> tuple[list, list, list, list]:
    """Kernel sizes, strides, dilations and padding before, per position axis."""
    kind = layer.kind
    if kind in ("Conv2D", "SeparableConv2D", "MaxPool2D", "AvgPool2D"):
        conv = getattr(layer, "_depth", layer)  # a separable conv's depthwise step sets the geometry
        kernels = list(conv.W.shape[2:]) if hasattr(conv, "W") else list(conv.pool_size)
        dilations = list(getattr(conv, "dilation", (1, 1)))
        pads = conv._pads(*sizes)
        return kernels, list(conv.stride), dilations, [pads[0][0], pads[1][0]]
    from viewer.net.layers.conv_extra import _resolve_1d
    if kind in ("Conv1D", "SeparableConv1D"):
        weights = layer.W if kind == "Conv1D" else layer.W_depth
        kernel, dilation = int(weights.shape[2]), layer.dilation
    else:
        kernel, dilation = layer.pool_size, 1
    before, _ = _resolve_1d(layer.padding, sizes[0], kernel, layer.stride, dilation)
    return [kernel], [layer.stride], [dilation], [before]


def peak_fields(net: Any, layer: Any, unit: int, outputs: np.ndarray) -> list[tuple[tuple, Field]]:
    """Where channel ``unit`` of ``layer`` peaks in each sample, and the input region it sees there.

    Parameters
    ----------
    net : Net
    layer : int or str
    unit : int
        A channel of the layer.
    outputs : np.ndarray, shape (N, *layer output shape)
        The layer's outputs for N samples.

    Returns
    -------
    list of (position, Field)
        Per sample: the peak's position (the first of equal maxima) and its
        receptive field.

    Raises
    ------
    ReceptiveFieldUnknown, StrataError
        As :func:`receptive_field`.
    """
    index = net.resolve(layer)
    grid = layer_grid(net, index)
    if grid.channel_axis is None or not grid.positions:
        raise StrataError(f"layer {net[index].name!r} has no positions (output {grid.shape})")
    maps = grid.canonical(outputs)[:, unit]  # (N, *positions)
    found = []
    for values in maps:
        position = tuple(int(p) for p in np.unravel_index(int(np.argmax(values)), values.shape))
        found.append((position, receptive_field(net, index, position)))
    return found

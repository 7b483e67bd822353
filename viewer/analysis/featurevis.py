"""Feature visualisation: the input a unit, a channel or a class responds to most.

    result = visualise(net, Target(layer="conv2", unit=3), Settings(steps=256), low=0, high=1,
                       centre=0.13)
    result.image          # (*input_shape) net input, float32
    result.scores[:, 0]   # the target's activation at each step
    gallery(net, "conv2") # every channel of a layer, batched

Starting from seeded low-amplitude noise around the samples' mean input
(:func:`input_mean`; as Lucid starts near the data's mean, here a dark
28x28 digit background rather than mid grey), the image climbs the gradient
of the target's score (a channel's mean over its positions, one unit, or a
class logit) with respect to the net input, by Adam steps whose size falls
to zero along a half cosine, under the regularisers that make the
result readable (Lucid, DeepVis): each step sees a randomly rolled, zoomed and
rotated copy (:mod:`viewer.analysis.featurevis_warp`), the image is either a
frequency-scaled Fourier spectrum squashed into the input range by a sigmoid,
or plain pixels blurred every few steps and clipped to the range; an L2 decay
pulls it back towards the start's mean. The input range is the one the
preprocessing gives the samples' raw values (:func:`input_range`).

Every sample of a batch draws its noise and transforms from its own stream,
seeded by (seed, unit), so a channel's image is the same whether it is
computed alone or in a gallery. Numpy only, no Qt.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional, Sequence

import numpy as np

from viewer.analysis.attribution import sized_for, takes_any_size
from viewer.analysis.attribution.grid import Grid
from viewer.analysis.attribution.target import Target, resolve_target
from viewer.analysis.featurevis_ascent import (PARAMETERISATIONS, Callback, Problem, Result,
                                               Settings, ascend, input_grid)
from viewer.errors import StrataError
from viewer.net.layers.base import Layer, output_bytes

__all__ = ["PARAMETERISATIONS", "Result", "Settings", "at_sample_size", "colour_mixing", "gallery",
           "input_mean", "input_range", "input_statistics", "mosaic", "pictures",
           "unit_objective", "visualise"]

#: Gallery batches take at most about this many bytes of layer outputs.
GALLERY_BYTES = 256 << 20
#: And at most this many channels.
GALLERY_BATCH = 64


def unit_objective(grid: Grid, units: np.ndarray, position: Optional[tuple],
                   rectified: bool = False) -> Callable:
    """The score of a unit per sample (its mean over positions, or one position) and its seed.

    Sample i of the batch scores unit ``units[i]``. With ``rectified`` the
    output is a ReLU's input z and the score that of relu(z); where the unit
    is zero at every cell it scores, relu has no gradient, so the seed is
    redirected to z itself there (as Lucid does) until the unit wakes; once
    any cell is positive the seed is the true gradient.
    """
    def objective(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(out))
        picked = grid.canonical(out)[rows, units]                 # (B, *positions)
        if position is not None:
            picked = picked[(slice(None),) + position].reshape(len(out), 1)
        values = np.maximum(picked, 0) if rectified else picked
        weights = np.full(values.shape, 1.0 / max(1, values[0].size))
        if rectified:
            alive = picked.reshape(len(out), -1) > 0
            awake = alive.any(axis=1).reshape((-1,) + (1,) * (picked.ndim - 1))
            weights = np.where(awake, weights * alive.reshape(picked.shape), weights)
        seed = np.zeros(out.shape, out.dtype if out.dtype.kind == "f" else np.float64)
        seeded = grid.canonical(seed)                              # a view of seed
        if position is not None:
            seeded[(rows, units) + tuple(np.full(len(out), p) for p in position)] = weights[:, 0]
        else:
            seeded[rows, units] = weights
        return values.reshape(len(out), -1).mean(axis=1, dtype=np.float64), seed
    return objective


def at_sample_size(net: Any, samples: Any) -> Any:
    """``net``, its one input's unknown sizes (an image net that takes any size) taken from
    the first sample's, so that the image has a size to grow at (:meth:`Net.sized
    <viewer.net.Net.sized>`); the net itself when its sizes are known or there is no sample."""
    if samples is None or len(samples) == 0 or not takes_any_size(net):
        return net
    return sized_for(net, samples.batch([0]))


def input_range(net: Any, samples: Any, count: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The net-input range (low, high) per input channel that the samples' raw values imply.

    The smallest and largest raw value over the first ``count`` samples, put
    through the samples' preprocessing (an affine map per channel).

    Returns
    -------
    (ndarray (C,), ndarray (C,))
        One value per channel of the net's input (C = 1 for vectors).
    """
    n = min(len(samples), count)
    if n == 0:
        raise StrataError("no samples to take the input range from")
    raw = samples.raw_batch(np.arange(n))
    ends = np.stack([np.full(raw.shape[1:], raw.min()), np.full(raw.shape[1:], raw.max())])
    grid = input_grid(net)
    values = grid.canonical(np.asarray(samples.prepare(ends), np.float64))  # (2, C, *positions)
    values = values.reshape(2, grid.channels, -1)
    return values.min(axis=(0, 2)), values.max(axis=(0, 2))


#: Samples read at a time for :func:`input_statistics`.
MEAN_BLOCK = 64


def input_mean(net: Any, samples: Any, count: int = 1024) -> np.ndarray:
    """The mean net input per input channel over the first ``count`` samples, preprocessed.

    Returns
    -------
    ndarray (C,)
        One value per channel of the net's input (C = 1 for vectors).
    """
    sums, _, cells = _channel_moments(net, samples, count, "the mean input")
    return sums / cells


def colour_mixing(net: Any, samples: Any, low: Any, high: Any, count: int = 1024
                  ) -> Optional[np.ndarray]:
    """How the Fourier image's channels mix into the input's colours, from the samples.

    Lucid's colour decorrelation, with the user's own data in place of
    ImageNet's colour statistics: the square root of the samples' channel
    covariance, each channel measured in shares of its input range (low,
    high), scaled so that its longest column has length 1. The ascent then
    moves along the data's colour axes, so an image does not fill with the
    saturated, unnatural colours independent channels drift to.

    Returns
    -------
    ndarray (C, C) or None
        Symmetric; None for an input of one channel (the samples are not
        read), or samples whose channels do not vary.
    """
    return input_statistics(net, samples, low, high, count)[1]


def input_statistics(net: Any, samples: Any, low: Any, high: Any, count: int = 1024
                     ) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """:func:`input_mean` and :func:`colour_mixing` from one pass over the samples.

    Returns
    -------
    (ndarray (C,), ndarray (C, C) or None)
    """
    sums, cross, cells = _channel_moments(net, samples, count, "the input's statistics")
    mean = sums / cells
    if len(mean) < 2:
        return mean, None
    span = (np.broadcast_to(np.asarray(high, np.float64).ravel(), mean.shape)
            - np.broadcast_to(np.asarray(low, np.float64).ravel(), mean.shape))
    covariance = (cross / cells - np.outer(mean, mean)) / np.outer(span, span)
    values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
    root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    longest = np.linalg.norm(root, axis=0).max()
    if not np.isfinite(longest) or longest <= 1e-12:
        return mean, None
    return mean, root / longest


def _channel_moments(net: Any, samples: Any, count: int, what: str
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Per input channel, the sum of the first ``count`` preprocessed samples' values (C,),
    the sums of their products (C, C), and the number of cells summed per channel."""
    n = min(len(samples), count)
    if n == 0:
        raise StrataError(f"no samples to take {what} from")
    grid = input_grid(net)
    # In blocks, summed in float64: 1,024 ImageNet-sized samples would be 1.2 GB as float64.
    sums, cross, cells = np.zeros(grid.channels), np.zeros((grid.channels,) * 2), 0
    for start in range(0, n, MEAN_BLOCK):
        rows = np.arange(start, min(n, start + MEAN_BLOCK))
        block = grid.canonical(np.asarray(samples.batch(rows)))
        block = block.reshape(block.shape[0], grid.channels, -1)  # (b, C, positions)
        sums += block.sum(axis=(0, 2), dtype=np.float64)
        cells += block.shape[0] * block.shape[2]
        if grid.channels > 1:    # products only where there are colours to mix
            for sample in block:
                values = sample.astype(np.float64)   # one at a time: float64 stays small
                cross += values @ values.T
    return sums, cross, cells


def visualise(net: Any, target: Target = Target(), settings: Settings = Settings(), *,
              low: Any = None, high: Any = None, centre: Any = None, colours: Any = None,
              callback: Optional[Callback] = None,
              cancel: Optional[Callable[[], bool]] = None, class_names: Optional[list] = None
              ) -> Result:
    """The image that most excites one unit, channel (its mean) or class.

    Parameters
    ----------
    net : Net
    target : Target
        As the explain view takes it; a class of a last layer that is a
        softmax is ascended on its input (the logit), since raising a
        probability mostly lowers the other classes.
    settings : Settings
    low, high : float or array (C,), optional
        The net-input range per channel (:func:`input_range`); both or neither.
    centre : float or array (C,), optional
        The start image's value per channel, noise aside (:func:`input_mean`);
        default the middle of the range.
    colours : ndarray (C, C), optional
        How the Fourier image's channels mix into the input's (:func:`colour_mixing`);
        default independent channels. Used when ``settings.decorrelate``.
    callback : callable, optional
        ``callback(step, images (1, *input_shape), scores (step, 1), checks (K, 2))``
        (see :func:`~viewer.analysis.featurevis_ascent.ascend`); False stops.
    cancel : callable, optional
        Checked before each step; True stops.
    class_names : list of str, optional
        For the label.

    Returns
    -------
    Result
        With one image.
    """
    layer, unit, position = _head(net, target)
    problem, units, label = _unit_problem(net, layer, [unit], position, class_names)
    result = ascend(problem, units, settings, low, high, callback, cancel, centre=centre,
                    colours=colours)
    result.labels = [label]
    return result


def gallery(net: Any, layer: Any, units: Optional[Sequence[int]] = None,
            settings: Settings = Settings(), *, low: Any = None, high: Any = None,
            centre: Any = None, colours: Any = None,
            progress: Optional[Callable[[int, int, np.ndarray], Optional[bool]]] = None,
            cancel: Optional[Callable[[], bool]] = None,
            callback: Optional[Callback] = None) -> Result:
    """The images of many channels (units) of one layer, in batches as memory allows.

    Parameters
    ----------
    net : Net
    layer : int or str
    units : sequence of int, optional
        Default: every channel of the layer.
    settings, low, high, centre, colours, cancel
        As for :func:`visualise`.
    progress : callable, optional
        ``progress(done, total, images)`` after each batch: units done, units
        asked for, the images so far (done, *input_shape); False stops.
    callback : callable, optional
        ``callback(step, images, scores, checks)`` every ``settings.every``
        steps of each batch: the images of the batches done and the current
        one's images, and the current batch's scores (step, batch) and checks
        (K, 1 + batch); False stops.

    Returns
    -------
    Result
        One image per unit done (fewer than asked for when stopped); its
        ``checks`` put the batches' side by side (NaN where a batch stopped early).
    """
    index = net.resolve(layer)
    problem, units, _ = _unit_problem(net, index, units, None, None)
    per_sample = 3 * output_bytes([problem.head])
    batch = int(max(1, min(GALLERY_BATCH, GALLERY_BYTES // per_sample)))
    parts: list[Result] = []
    for start in range(0, len(units), batch):
        chunk = units[start:start + batch]
        relay = None if callback is None else partial(_after, callback, [p.images for p in parts])
        parts.append(ascend(_unit_problem(net, index, chunk, None, None)[0], chunk, settings,
                            low, high, relay, cancel, centre=centre, colours=colours))
        done = sum(len(p.units) for p in parts)
        if parts[-1].cancelled or (progress is not None and progress(
                done, len(units), np.concatenate([p.images for p in parts])) is False):
            break
    result = Result(np.concatenate([p.images for p in parts]), _scores(parts),
                    np.concatenate([p.start for p in parts]),
                    np.concatenate([p.final for p in parts]),
                    np.concatenate([p.units for p in parts]),
                    steps=min(p.steps for p in parts),
                    cancelled=parts[-1].cancelled or done < len(units), checks=_checks(parts))
    result.labels = [f"unit {u} of {net[index].name}" for u in result.units]
    return result


def pictures(net: Any, images: np.ndarray, low: Any = None, high: Any = None) -> np.ndarray:
    """Net-input images as pictures in [0, 1]: (B, H, W) grey or (B, H, W, 3) colour.

    Each channel is scaled from its input range (low, high) to [0, 1], or from
    the batch's own range without one; three channels are colour, others are
    averaged; a sequence is (T, F), a vector one row.
    """
    grid = input_grid(net)
    canonical = grid.canonical(np.asarray(images, np.float64))          # (B, C, *positions)
    b, c = canonical.shape[:2]
    if low is None or high is None:
        low, high = np.nanmin(canonical), np.nanmax(canonical)
    low, high = (np.broadcast_to(np.asarray(v, np.float64).ravel(), (c,)) for v in (low, high))
    shape = (1, c) + (1,) * (canonical.ndim - 2)
    span = np.where(high > low, high - low, 1.0).reshape(shape)
    scaled = np.clip((canonical - low.reshape(shape)) / span, 0.0, 1.0)
    if grid.layout == "vector":
        return scaled.reshape(b, 1, -1)
    if grid.layout == "sequence":
        return np.swapaxes(scaled, 1, 2)                                  # (B, T, F)
    return np.moveaxis(scaled, 1, -1) if c == 3 else scaled.mean(axis=1)


def mosaic(pictures: np.ndarray, columns: Optional[int] = None, gap: int = 1) -> np.ndarray:
    """Pictures (B, H, W[, 3]) side by side in rows, ``gap`` pixels of 1 (white) between.

    ``columns`` defaults to the smallest count that makes the mosaic at least as wide as tall.
    """
    b, h, w = pictures.shape[:3]
    columns = columns or max(1, int(np.ceil(np.sqrt(b * h / w))))
    rows = int(np.ceil(b / columns))
    out = np.ones((rows * (h + gap) - gap, columns * (w + gap) - gap) + pictures.shape[3:])
    for i, picture in enumerate(pictures):
        r, k = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, k * (w + gap):k * (w + gap) + w] = picture
    return out


def _head(net: Any, target: Target) -> tuple[int, int, Optional[tuple]]:
    """The layer, unit and position to ascend: a softmax's class moves to its input (the logit)."""
    last = len(net) - 1
    index = last if target.layer is None else net.resolve(target.layer)
    if target.unit is None:
        raise StrataError("say which class, channel or unit to visualise")
    layer = net[index]
    if (index == last and target.position is None and layer.kind == "Activation"
            and layer.config().get("function") in ("softmax", "log_softmax")):
        index = net.index(layer.prev.name)
    return index, int(target.unit), target.position


def _unit_problem(net: Any, index: int, units: Optional[Sequence[int]],
                  position: Optional[tuple], class_names: Optional[list]
                  ) -> tuple[Problem, np.ndarray, str]:
    """The problem of ascending ``units`` (None: every unit) of layer ``index``, checked;
    the units, and the first unit's label."""
    shape = input_grid(net).shape
    first = 0 if units is None or len(units) == 0 else int(units[0])
    resolved = resolve_target(net, Target(layer=index, unit=first, position=position),
                              np.zeros((1,) + shape, np.float32), class_names)
    grid = resolved.grid
    units = np.arange(grid.channels) if units is None else np.asarray(units, dtype=np.int64)
    for u in units:
        if not 0 <= int(u) < grid.channels:
            raise StrataError(f"unit {int(u)} is out of range: layer {net[index].name!r} has "
                              f"{grid.channels} units (0..{grid.channels - 1})")
    head = _relu_input(net, index)
    objective = unit_objective(grid, units, resolved.position, rectified=head != index)
    return Problem(net, head, objective), units, resolved.label


def _relu_input(net: Any, index: int) -> int:
    """The index of a plain ReLU's input (same shape), where the ascent reads it; else ``index``."""
    layer = net[index]
    if layer.kind != "Activation" or not isinstance(layer.prev, Layer):
        return index
    if layer.config() != {"function": "relu", "max_value": None, "alpha": 0.0, "threshold": 0.0}:
        return index
    if layer.prev.output_shape != layer.output_shape:
        return index
    return net.index(layer.prev.name)


def _after(callback: Callback, before: list, step: int, images: np.ndarray,
           scores: np.ndarray, checks: np.ndarray) -> Optional[bool]:
    """A batch's callback, with the images of the batches before it in front of its own."""
    return callback(step, np.concatenate(before + [images]), scores, checks)


def _checks(parts: list) -> np.ndarray:
    """The batches' checks side by side (K, 1 + units) at the longest batch's steps; NaN
    where a batch has no check at a step."""
    steps = max(parts, key=lambda p: len(p.checks)).checks[:, :1]
    return np.hstack((steps, _side_by_side([p.checks[:, 1:] for p in parts])))


def _scores(parts: list) -> np.ndarray:
    """The batches' scores side by side (steps, units); NaN after a batch stopped early."""
    return _side_by_side([p.scores for p in parts])


def _side_by_side(blocks: list) -> np.ndarray:
    """Blocks (rows_i, cols_i) side by side, as long as the longest; NaN below the shorter."""
    out = np.full((max(len(b) for b in blocks), sum(b.shape[1] for b in blocks)), np.nan)
    col = 0
    for block in blocks:
        out[:len(block), col:col + block.shape[1]] = block
        col += block.shape[1]
    return out

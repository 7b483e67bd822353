"""DeepDream: amplify what a layer already sees in a sample.

    result = dream(net, x, "conv2", DREAM, octaves=3, low=0, high=1)
    result.image          # the sample, changed to raise conv2's activation norm

The objective is half the mean square of the layer's whole output (its
activation norm); the ascent is :func:`~viewer.analysis.featurevis_ascent.ascend`
on the sample's own pixels, with the same rolls, zooms, rotations, decay and
clipping as feature visualisation. Octaves work coarse to fine: in octave k
of n, each Adam step is band-limited to the image size divided by
``octave_scale ** (n - 1 - k)`` (resized down and back up), so large
patterns grow first and detail last, while the net always sees its own
input size (so nets with a fixed input size dream too). Numpy only, no Qt.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from viewer.analysis.attribution.grid import resize_linear
from viewer.analysis.featurevis_ascent import Callback, Problem, Result, Settings, ascend
from viewer.errors import StrataError

#: DeepDream's defaults: the sample's own pixels, small steps, no blur (it would wash the
#: sample out), a constant step (each octave amplifies; it need not settle).
DREAM = Settings(steps=32, lr=0.05, parameterisation="pixel", blur=0.0, anneal=False)


def norm_objective(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half the mean square of each sample's output (B,), and its gradient ``out / cells``."""
    values = np.asarray(out, np.float64).reshape(len(out), -1)
    cells = max(1, values.shape[1])
    seed = (np.asarray(out) / cells).astype(out.dtype if out.dtype.kind == "f" else np.float64)
    return 0.5 * np.mean(values * values, axis=1), seed


def dream(net: Any, x: np.ndarray, layer: Any, settings: Settings = DREAM, *,
          octaves: int = 1, octave_scale: float = 1.4, low: Any = None, high: Any = None,
          callback: Optional[Callback] = None, cancel: Optional[Callable[[], bool]] = None
          ) -> Result:
    """The sample ``x`` changed by gradient ascent of ``layer``'s activation norm.

    Parameters
    ----------
    net : Net
    x : ndarray (*input_shape) or (B, *input_shape)
        Net input, after preprocessing.
    layer : int or str
    settings : Settings
        ``settings.steps`` steps per octave; the parameterisation is always
        the pixels of the sample.
    octaves : int
        Passes from coarse to fine (1: one pass at full resolution).
    octave_scale : float
        Size ratio between successive octaves, above 1.
    low, high, callback, cancel
        As for :func:`~viewer.analysis.featurevis.visualise`; the callback's
        step counts over all octaves.

    Returns
    -------
    Result
        ``scores`` over all octaves' steps; ``start`` and ``final`` are the
        activation norms of the sample and of the dream.
    """
    if octaves < 1:
        raise StrataError(f"octaves must be at least 1, not {octaves}")
    if not octave_scale > 1:
        raise StrataError(f"octave_scale must be above 1, not {octave_scale}")
    index = net.resolve(layer)
    problem = Problem(net, index, norm_objective)
    x = np.asarray(x, np.float64)
    single = x.ndim == len(problem.grid.shape)
    image = problem.grid.canonical(x[None] if single else x)
    scores: list[np.ndarray] = []
    checks: list[np.ndarray] = []  # each octave's, its steps counted over all octaves
    start = None
    result = None
    for k in range(octaves):
        done = sum(len(s) for s in scores)
        smooth = _band_limit(problem, octave_scale ** (octaves - 1 - k))

        def relay(step: int, images: np.ndarray, part: np.ndarray, checked: np.ndarray,
                  done: int = done) -> Any:
            return callback(done + step, images, np.concatenate(scores + [part]),
                            np.concatenate(checks + [_after_steps(checked, done)]))

        result = ascend(problem, np.full(len(image), k), settings, low, high,
                        relay if callback is not None else None, cancel, init=image,
                        smooth=smooth)
        start = result.start if start is None else start
        scores.append(result.scores)
        checks.append(_after_steps(result.checks, done))
        image = problem.grid.canonical(result.images.astype(np.float64))
        if result.cancelled:
            break
    return Result(result.images, np.concatenate(scores), start, result.final,
                  np.zeros(len(image), np.int64), [f"activation norm of {net[index].name}"],
                  steps=sum(len(s) for s in scores), cancelled=result.cancelled,
                  checks=np.concatenate(checks))


def _after_steps(checks: np.ndarray, done: int) -> np.ndarray:
    """An octave's checks (K, 1 + B) with their steps counted after the ``done`` before it."""
    moved = checks.copy()
    moved[:, 0] += done
    return moved


def _band_limit(problem: Problem, factor: float) -> Optional[Callable]:
    """A step filter keeping what an image ``factor`` times smaller holds; None at full size."""
    if factor <= 1 or not problem.spatial:
        return None
    size = problem.grid.positions
    small = tuple(max(1, int(round(s / factor))) for s in size)
    return lambda g: resize_linear(resize_linear(g, small), size)

"""The gradient ascent under feature visualisation: settings, the loop, the parameterisations.

:func:`ascend` climbs an objective of a net cut at one layer (a
:class:`Problem`) from seeded low-amplitude noise around the data's mean
input, by Adam steps whose size falls to zero along a half cosine, on either
a damped Fourier spectrum squashed into the input range by a sigmoid, or on
plain pixels blurred every few steps and clipped to the range; each step sees a
randomly rolled, zoomed and rotated copy of the image
(:mod:`viewer.analysis.featurevis_warp`), and an L2 decay pulls the image
back towards the start's mean. Every sample of a batch draws its noise and
transforms from its own stream, seeded by (seed, unit). Numpy only, no Qt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from viewer.analysis.attribution.grid import Grid, layer_grid
from viewer.analysis.featurevis_warp import Fourier, Warp, blur, draw
from viewer.errors import StrataError
from viewer.net.backward.chain import backward_pass, forward_pass, kept_for_backward
from viewer.net.backward.registry import check_backward
from viewer.net.layers.base import ancestors

#: How the image is held: a damped Fourier spectrum, or plain pixels.
PARAMETERISATIONS = ("fourier", "pixel")
#: Adam's step size when the settings give none, per parameterisation: the first step's, when
#: the step falls along a cosine (Settings.anneal). On the demo's conv2 and relu2 after 256
#: steps (bench/featurevis.py), 1.0 ends a median 1.98x and 2.82x above the channels' best real
#: digits, 0.5 1.77x and 2.69x, 2.0 2.03x and 2.94x but one more relu2 channel short of it.
STEP_SIZES = {"fourier": 1.0, "pixel": 0.05}

#: ``callback(step, images, scores, checks)`` every few steps (see :func:`ascend`); returning
#: False stops the ascent.
Callback = Callable[[int, np.ndarray, np.ndarray, np.ndarray], Optional[bool]]


@dataclass(frozen=True)
class Settings:
    """How the ascent runs.

    Attributes
    ----------
    steps : int
        Adam steps.
    lr : float or None
        Adam step size: in logits of the sigmoid for "fourier", in input
        ranges for "pixel"; None for :data:`STEP_SIZES`.
    parameterisation : str
        One of :data:`PARAMETERISATIONS`.
    jitter : int
        Largest random roll, pixels.
    scale : float
        Random zoom in [1 - scale, 1 + scale].
    rotate : float
        Largest random rotation, degrees.
    blur : float
        "pixel": Gaussian blur sigma (pixels) applied every ``blur_every`` steps
        (with ``anneal``, blended in by the step size's share of its first).
    blur_every : int
    decay : float
        L2 decay: each step moves the image (for "fourier": its logits) this
        fraction of the way back to the start's mean.
    decorrelate : bool
        "fourier" with a colour mixing given (:func:`ascend`'s ``colours``):
        the spectrum's channels are mixed into the input's by it, so the
        ascent moves along the data's colour axes; else channels are independent.
    anneal : bool
        The step size falls from ``lr`` to 0 along a half cosine over the
        steps; else it stays ``lr``. Each step's gradient is taken through a
        random transform, so it is a noisy estimate, and a constant step
        keeps the image wandering instead of settling. The decay's and the
        blur's pulls fall with it.
    every : int
        The callback runs every this many steps (and after the last).
    seed : int
    """

    steps: int = 256
    lr: Optional[float] = None
    parameterisation: str = "fourier"
    jitter: int = 2
    scale: float = 0.05
    rotate: float = 5.0
    blur: float = 0.5
    blur_every: int = 4
    decay: float = 0.0
    decorrelate: bool = True
    anneal: bool = True
    every: int = 8
    seed: int = 0

    def checked(self) -> "Settings":
        """Self, or one line naming the bad setting."""
        if self.parameterisation not in PARAMETERISATIONS:
            raise StrataError(f"unknown parameterisation {self.parameterisation!r}; use one of "
                              f"{', '.join(PARAMETERISATIONS)}")
        for name in ("steps", "every", "blur_every"):
            if getattr(self, name) < 1:
                raise StrataError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("lr", "jitter", "scale", "rotate", "blur", "decay"):
            value = self.step_size if name == "lr" else getattr(self, name)
            if not value >= 0:
                raise StrataError(f"{name} must not be negative, not {value}")
        if self.scale >= 1 or self.decay >= 1:
            raise StrataError("scale and decay must be below 1")
        return self

    @property
    def step_size(self) -> float:
        """``lr``, or the parameterisation's default."""
        return STEP_SIZES.get(self.parameterisation, 0.0) if self.lr is None else self.lr


@dataclass
class Result:
    """What an ascent returns.

    Attributes
    ----------
    images : ndarray (B, *input_shape), float32
        The optimised net inputs, in the net's layout.
    scores : ndarray (steps, B)
        The target's score at each step (on that step's transformed image).
    start, final : ndarray (B,)
        The score of the starting and of the final image, untransformed.
    checks : ndarray (K, 1 + B)
        At each callback: the step (column 0) and the score of the image as
        it stood, untransformed (empty without a callback).
    units : ndarray (B,) of int
        The unit of each image.
    labels : list of str
        What each image shows, e.g. "unit 3 of conv2".
    steps : int
        Steps done.
    cancelled : bool
        The ascent stopped before ``Settings.steps``.
    """

    images: np.ndarray
    scores: np.ndarray
    start: np.ndarray
    final: np.ndarray
    units: np.ndarray
    labels: list = field(default_factory=list)
    steps: int = 0
    cancelled: bool = False
    checks: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)))

    @property
    def image(self) -> np.ndarray:
        """The first image, (*input_shape)."""
        return self.images[0]


class Problem:
    """A net cut at the layer an objective reads, ready for repeated gradients.

    Parameters
    ----------
    net : Net
    layer : int
        Index of the layer the objective reads.
    objective : callable
        ``objective(out) -> (score (B,), d score / d out)`` for that layer's
        output ``out`` (B, ...).

    Raises
    ------
    NoBackward
        Naming every layer on the way without a backward.
    StrataError
        For a net with several inputs, or an input that is not a fixed-size
        image, sequence or vector.
    """

    def __init__(self, net: Any, layer: int, objective: Callable) -> None:
        self.grid: Grid = input_grid(net)
        self.net = net
        self.head = net[layer]
        self.order = ancestors(self.head)
        check_backward(self.order)
        self.input = net.inputs[0]
        self.keep = kept_for_backward(self.order, [self.head])
        self.objective = objective

    @property
    def image_shape(self) -> tuple:
        """Canonical per-sample shape: (C, *positions)."""
        return (self.grid.channels,) + self.grid.positions

    @property
    def spatial(self) -> bool:
        """True for images (two position axes), which the transforms apply to."""
        return len(self.grid.positions) == 2

    def to_net(self, canonical: np.ndarray) -> np.ndarray:
        """Canonical (B, C, *positions) -> the net's input layout, float32."""
        if self.grid.channel_axis is None:
            return canonical[:, 0].astype(np.float32)
        return np.moveaxis(canonical, 1, self.grid.channel_axis + 1).astype(np.float32)

    def score(self, canonical: np.ndarray) -> np.ndarray:
        """The objective's score (B,) of canonical images, forward only."""
        values, _ = forward_pass(self.order, self.to_net(canonical), {id(self.head)})
        return self.objective(values[id(self.head)])[0]

    def gradient(self, canonical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score (B,) and d score / d image, canonical (B, C, *positions), float64."""
        values, meta = forward_pass(self.order, self.to_net(canonical), self.keep)
        score, seed = self.objective(values[id(self.head)])
        _, grads = backward_pass(self.order, values, meta, seed, "standard", {})
        g = grads.get(id(self.input))
        if g is None:
            return score, np.zeros_like(canonical)
        return score, self.grid.canonical(np.asarray(g, np.float64))


def input_grid(net: Any) -> Grid:
    """The grid of the net's one input (known sizes), or one line saying why not."""
    if len(net.inputs) != 1:
        raise StrataError(f"feature visualisation needs a net with one input; "
                          f"{net.name!r} has {len(net.inputs)}")
    return layer_grid(net, net.index(net.inputs[0].name))


def ascend(problem: Problem, units: np.ndarray, settings: Settings, low: Any, high: Any,
           callback: Optional[Callback] = None, cancel: Optional[Callable[[], bool]] = None,
           init: Optional[np.ndarray] = None, smooth: Optional[Callable] = None,
           centre: Any = None, colours: Any = None) -> Result:
    """Gradient ascent of ``problem``'s objective from seeded noise (or ``init``).

    Parameters
    ----------
    problem : Problem
    units : ndarray (B,) of int
        The unit of each sample; with ``settings.seed`` it seeds the sample's stream.
    settings : Settings
    low, high : float, array (C,) or None
        Input range per channel; None for unbounded.
    callback, cancel
        ``callback(step, images, scores, checks)`` every ``settings.every``
        steps and after the last: the images (B, *input_shape) in the net's
        layout, the scores so far (step, B) of each step's transformed image,
        and the rows so far of :attr:`Result.checks` (the untransformed
        images' scores, one forward pass each: the curve to show, where each
        step's own score jitters with its transform). ``cancel()`` is
        checked before each step; True stops.
    init : ndarray (B, C, *positions), optional
        Canonical starting images (DeepDream); implies the pixel parameterisation.
    smooth : callable, optional
        Applied to each step (of the pixels: with ``init``) before it is taken
        (DeepDream's octaves; after Adam, whose per-cell scaling would undo a
        smoothing of the gradient).
    centre : float, array (C,) or None
        The start image's value per channel, noise aside (:func:`input_mean`
        of the samples); None for the middle of the range. Clipped to
        within 1% of the range from its ends.
    colours : ndarray (C, C), optional
        With ``settings.decorrelate`` and the Fourier parameterisation: the
        image's channels are ``colours @`` the spectrum's, before the sigmoid
        (:func:`~viewer.analysis.featurevis.colour_mixing`).

    Returns
    -------
    Result
    """
    settings = settings.checked()
    units = np.asarray(units, dtype=np.int64)
    shape = (len(units),) + problem.image_shape
    bounds = _bounds(low, high, problem.grid.channels, len(shape))
    rngs = [np.random.default_rng([settings.seed, int(u)]) for u in units]
    mixing = _mixing(colours, problem.grid.channels) if settings.decorrelate else None
    view = _View(problem, settings, bounds, _centre(centre, bounds, problem.grid.channels,
                                                    len(shape)), rngs, shape, init, mixing)
    adam = _Adam(view.parameter.shape, settings.step_size)
    start = problem.score(view.image())
    scores = np.empty((settings.steps, len(units)))
    checks: list[np.ndarray] = []
    done, stopped = 0, False
    for step in range(settings.steps):
        if cancel is not None and cancel():
            stopped = True
            break
        image = view.image()
        warp = view.warp()
        seen = image if warp is None else warp.apply(image)
        score, g = problem.gradient(seen)
        if warp is not None:
            g = warp.adjoint(g)
        share = 0.5 * (1.0 + math.cos(math.pi * step / settings.steps)) if settings.anneal else 1.0
        delta = adam.step(view.parameter_grad(g), share * settings.step_size)
        view.step(delta if smooth is None else smooth(delta), step, share)
        scores[step] = score
        done = step + 1
        if callback is not None and (done % settings.every == 0 or done == settings.steps):
            image = view.image()
            checks.append(np.concatenate(([done], problem.score(image))))
            if callback(done, problem.to_net(image), scores[:done], np.stack(checks)) is False:
                stopped = done < settings.steps
                break
    final = view.image()
    return Result(problem.to_net(final), scores[:done], start, problem.score(final), units,
                  steps=done, cancelled=stopped,
                  checks=np.stack(checks) if checks else np.zeros((0, 1 + len(units))))


class _View:
    """The parameter being optimised, and the image it stands for (canonical, float64)."""

    def __init__(self, problem: Problem, settings: Settings, bounds: Optional[tuple],
                 centre: Optional[np.ndarray], rngs: list, shape: tuple, init: Optional[np.ndarray],
                 mixing: Optional[np.ndarray] = None) -> None:
        self.settings = settings
        self.bounds = bounds
        self.centre = 0.5 if centre is None else centre
        self.rngs = rngs
        self.spatial = problem.spatial
        self.fourier = None
        self.mixing = mixing       # (C, C) colour mixing of the spectrum's image, or None
        # Added to the spectrum's image: the sigmoid's logit of the centre, or the centre itself
        # without a range; so that a spectrum near 0 stands for the centre.
        self.offset = 0.0 if centre is None else centre
        if init is None and settings.parameterisation == "fourier" and problem.spatial:
            self.fourier = Fourier(shape[2:])
            per = self.fourier.parameter_shape(1, shape[1])[1:]
            self.parameter = np.stack([0.01 * r.standard_normal(per) for r in rngs])
            if bounds is not None:
                share = (self.centre - bounds[0]) / (bounds[1] - bounds[0])
                self.offset = np.log(share / (1.0 - share))
        elif init is not None:
            self.parameter = np.array(init, dtype=np.float64)
        else:
            low, high = bounds if bounds is not None else (0.0, 1.0)
            noise = np.stack([r.standard_normal(shape[1:]) for r in rngs])
            self.parameter = self.centre + 0.01 * (high - low) * noise
        self._sigmoid: Optional[np.ndarray] = None

    def image(self) -> np.ndarray:
        if self.fourier is None:
            return self.parameter.copy()
        raw = self.fourier.image(self.parameter)
        if self.mixing is not None:
            raw = np.einsum("dc,bc...->bd...", self.mixing, raw)
        raw = raw + self.offset
        if self.bounds is None:
            return raw
        low, high = self.bounds
        self._sigmoid = 1.0 / (1.0 + np.exp(-raw))
        return low + (high - low) * self._sigmoid

    def warp(self) -> Optional[Warp]:
        s = self.settings
        if not self.spatial or not (s.jitter or s.scale or s.rotate):
            return None
        return Warp([draw(r, s.jitter, s.scale, s.rotate) for r in self.rngs],
                    self.parameter.shape[2:4] if self.fourier is None else self.fourier.size)

    def parameter_grad(self, g: np.ndarray) -> np.ndarray:
        """d score / d parameter from d score / d image (after :meth:`image` was called)."""
        if self.fourier is None:
            return g
        if self.bounds is not None:
            low, high = self.bounds
            g = g * (high - low) * self._sigmoid * (1.0 - self._sigmoid)
        if self.mixing is not None:
            g = np.einsum("dc,bd...->bc...", self.mixing, g)
        return self.fourier.adjoint(g)

    def step(self, delta: np.ndarray, step: int, share: float = 1.0) -> None:
        """Move by an Adam step (in input ranges for pixels), decay, blur and clip.

        ``share`` is the step size's share of its first: the decay's and the blur's pulls
        shrink with it, else they would drag the image off once the steps no longer push.
        """
        s = self.settings
        if self.fourier is not None:
            self.parameter = (self.parameter + delta) * (1.0 - share * s.decay)
            return
        low, high = self.bounds if self.bounds is not None else (0.0, 1.0)
        x = self.parameter + delta * (high - low)
        x = self.centre + (x - self.centre) * (1.0 - share * s.decay)
        if self.spatial and s.blur > 0 and (step + 1) % s.blur_every == 0:
            x = x + share * (blur(x, s.blur) - x)
        self.parameter = x if self.bounds is None else np.clip(x, low, high)


class _Adam:
    """Adam ascent steps (Kingma and Ba), element-wise, so samples of a batch stay independent."""

    def __init__(self, shape: tuple, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.t = 0
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps

    def step(self, g: np.ndarray, lr: Optional[float] = None) -> np.ndarray:
        """The step for gradient ``g``, of size ``lr`` (default: the one given at creation)."""
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        return (self.lr if lr is None else lr) * m_hat / (np.sqrt(v_hat) + self.eps)


def _mixing(colours: Any, channels: int) -> Optional[np.ndarray]:
    """The colour mixing as a float64 (C, C) array, checked; None without one."""
    if colours is None:
        return None
    arr = np.asarray(colours, dtype=np.float64)
    if arr.shape != (channels, channels):
        raise StrataError(f"the colour mixing is {arr.shape}; the input has {channels} channels, "
                          f"so it must be ({channels}, {channels})")
    if not np.all(np.isfinite(arr)):
        raise StrataError("the colour mixing holds values that are not finite")
    return arr


def _centre(centre: Any, bounds: Optional[tuple], channels: int, ndim: int
            ) -> Optional[np.ndarray]:
    """The start's value per channel, shaped like the bounds, kept 1% inside the range (where
    the sigmoid's logit is finite); the middle of the range by default; None without either."""
    if centre is None:
        return None if bounds is None else (bounds[0] + bounds[1]) / 2
    arr = np.asarray(centre, dtype=np.float64).ravel()
    if arr.size not in (1, channels):
        raise StrataError(f"the start's mean has {arr.size} values; the input has {channels} "
                          f"channels")
    arr = np.broadcast_to(arr, (channels,)).reshape((1, channels) + (1,) * (ndim - 2))
    if bounds is None:
        return arr.copy()
    low, high = bounds
    margin = 0.01 * (high - low)
    return np.clip(arr, low + margin, high - margin)


def _bounds(low: Any, high: Any, channels: int, ndim: int) -> Optional[tuple]:
    """(low, high) shaped to broadcast over a canonical batch, or None."""
    if low is None and high is None:
        return None
    if low is None or high is None:
        raise StrataError("give both ends of the input range, or neither")
    shape = (1, channels) + (1,) * (ndim - 2)
    ends = []
    for name, value in (("low", low), ("high", high)):
        arr = np.asarray(value, dtype=np.float64).ravel()
        if arr.size not in (1, channels):
            raise StrataError(f"the input range's {name} end has {arr.size} values; the input "
                              f"has {channels} channels")
        ends.append(np.broadcast_to(arr, (channels,)).reshape(shape))
    if not np.all(ends[1] > ends[0]):
        raise StrataError("the input range is empty: each high end must be above its low end")
    return ends[0], ends[1]

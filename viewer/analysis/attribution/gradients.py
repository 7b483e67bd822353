"""Attribution by gradients of the target's score with respect to the net input.

With f the target's score (a probability where the net ends in a softmax, as
for every method here), x the sample and g = df/dx (the backward pass,
:func:`viewer.net.backward.gradient`):

- gradient: g itself; the map sums it over channels.
- saliency (Simonyan et al., 2014): |g|; the map is its largest value over
  channels, as is usual for colour images.
- gradient x input: g * x, summed over channels.
- SmoothGrad (Smilkov et al., 2017): the mean of g over ``n`` copies of x
  with Gaussian noise of standard deviation ``noise * (max(x) - min(x))``
  (seeded); the map is its magnitude's largest value over channels.
- guided backprop (Springenberg et al., 2015) and deconvnet (Zeiler and
  Fergus, 2014): g with ReLUs passing only positive gradients (guided: and
  only where their input was positive); summed over channels.

Each result keeps the per-cell attribution, shaped like one sample, in
:attr:`~viewer.analysis.attribution.result.Attribution.raw`. Copies go
through the net in bounded batches with progress and cancel, as the
forward-only methods' do.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

from viewer.analysis.attribution.batches import MAX_ROWS, Progress, run_batches
from viewer.analysis.attribution.grid import Grid
from viewer.analysis.attribution.result import (Attribution, check_positive, input_grid,
                                                one_sample)
from viewer.analysis.attribution.target import ResolvedTarget, Target, resolve_target
from viewer.data.batches import ACTIVATION_BUDGET
from viewer.errors import LayerError, StrataError
from viewer.net.layers.base import LayerFailed, ancestors, output_bytes

#: Operator ops computing a rectifier that the backward's ReLU rules do not modify.
_RECTIFYING_OPS = ("Relu", "LeakyRelu", "PRelu", "ThresholdedRelu", "Clip", "Max", "Min")
#: Element-wise functions of the Unary, (Const)Arithmetic and Elementwise kinds that rectify.
_RECTIFYING_FUNCTIONS = ("abs", "clip", "max", "maximum", "min", "minimum", "relu")

#: Bytes of kept outputs and gradients per byte of one forward pass's outputs.
_BACKWARD_FACTOR = 3


def prepare(net: Any, x: np.ndarray, target: Target,
            class_names: list | None = None) -> tuple[np.ndarray, ResolvedTarget, Target]:
    """``x`` as a batch of one, ``target`` resolved on it, and the target with its unit fixed.

    The fixed target keeps explaining the sample's predicted class in altered
    copies (noisy, interpolated) whose own predicted class may differ.

    Raises
    ------
    StrataError
        For a net with several inputs, or a bad target.
    """
    if len(net.inputs) != 1:
        raise StrataError(f"{net.name}: gradient methods explain nets with one input; this one "
                          f"has {len(net.inputs)} ({', '.join(l.name for l in net.inputs)})")
    x = one_sample(net, x)
    resolved = resolve_target(net, target, x, class_names)
    fixed = Target(layer=resolved.layer, unit=resolved.unit, position=resolved.position)
    return x, resolved, fixed


def net_gradient(net: Any, X: np.ndarray, target: Target, **options: Any) -> Any:
    """:func:`viewer.net.backward.gradient`, a layer failing named in one line.

    Imported on first use: the backward pass imports this package's target
    module, so a module-level import would be circular.
    """
    from viewer.net.backward import gradient as backward_gradient

    try:
        return backward_gradient(net, X, target, **options)
    except LayerFailed as exc:
        raise LayerError(str(exc)) from None


def gradient_rows(net: Any, layer: int, limit: int | None = None) -> int:
    """Copies per forward + backward pass: outputs kept and gradients within the activation budget."""
    per_copy = _BACKWARD_FACTOR * output_bytes([net[layer]])
    rows = max(1, ACTIVATION_BUDGET // per_copy)
    return max(1, min(rows, MAX_ROWS if limit is None else int(limit)))


def check_rule(net: Any, layer: int, rule: str) -> None:
    """Refuse guided backprop or deconvnet on a net with rectifiers the ReLU rules do not reach.

    The backward's modified ReLU rules apply to the Activation kind's relu and
    leaky_relu; any other layer that rectifies (an ONNX Relu operator, a
    PReLU, a clip or max in a formula, a recurrent layer with relu) would
    silently keep the standard rule, so such nets are refused by name.

    Raises
    ------
    StrataError
        Naming every such layer feeding ``layer``.
    """
    if rule == "standard":
        return
    found = [f"{l.name!r} ({l.kind}{_what(l)})" for l in ancestors(net[layer])
             if _rectifies_outside_rule(l)]
    if found:
        raise StrataError(f"{rule} backprop modifies ReLU activation layers only, and these layers "
                          f"rectify otherwise: {', '.join(found)}")


def _what(layer: Any) -> str:
    detail = getattr(layer, "op", None) or getattr(layer, "function", None)
    return f" {detail}" if isinstance(detail, str) else ""


def _rectifies_outside_rule(layer: Any) -> bool:
    """Whether ``layer`` computes a rectifier the ReLU rules do not modify."""
    kind = layer.kind
    if kind in ("PReLU",):
        return True
    if kind == "Operator":
        return layer.op in _RECTIFYING_OPS
    if kind in ("Unary", "Arithmetic", "ConstArithmetic"):
        return (getattr(layer, "function", None) or getattr(layer, "op", None)) in _RECTIFYING_FUNCTIONS
    if kind == "Elementwise":
        return any(step[0] in _RECTIFYING_FUNCTIONS for step in layer.steps)
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        return "relu" in str(layer.activation) or "relu" in str(layer.recurrent_activation)
    return False


def summed_gradient(net: Any, fixed: Target, resolved: ResolvedTarget, total: int,
                    make: Callable[[int, int], np.ndarray], weights: np.ndarray | None = None, *,
                    rule: str = "standard", rows: int | None = None,
                    progress: Progress | None = None,
                    cancel: threading.Event | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The weighted sum of input gradients over ``total`` altered copies of one sample.

    Parameters
    ----------
    net : Net
    fixed, resolved : Target, ResolvedTarget
        From :func:`prepare`.
    total : int
        Number of copies.
    make : callable
        ``make(start, stop)`` -> the copies start..stop-1, (stop - start, *input_shape).
    weights : ndarray (total,), optional
        Each copy's weight (default 1).
    rule : str
        The backward's ReLU rule.
    rows : int, optional
        Most copies per pass (default: what the activation budget allows).
    progress, cancel
        As :func:`~viewer.analysis.attribution.batches.run_batches`.

    Returns
    -------
    summed : ndarray (*input_shape,) float64
        sum_i weights[i] * d score / d input at copy i.
    scores : ndarray (total,) float64
        The target's score at each copy.
    """
    summed = np.zeros(tuple(net.input.output_shape), np.float64)
    scores = np.empty(total)
    w = np.ones(total) if weights is None else np.asarray(weights, np.float64)

    def work(start: int, stop: int) -> None:
        nonlocal summed
        result = net_gradient(net, make(start, stop), fixed, rule=rule, resolved=resolved)
        grads = np.asarray(result.input_grad, np.float64)
        summed += np.tensordot(w[start:stop], grads, axes=(0, 0))
        scores[start:stop] = result.score

    run_batches(total, gradient_rows(net, resolved.layer, rows), work, progress, cancel)
    return summed, scores


def signed_map(grid: Grid, raw: np.ndarray) -> np.ndarray:
    """A per-sample attribution summed over channels: the map over positions."""
    return grid.canonical(raw[None])[0].sum(axis=0)


def magnitude_map(grid: Grid, raw: np.ndarray) -> np.ndarray:
    """A per-sample attribution's largest magnitude over channels: the map over positions."""
    return np.abs(grid.canonical(raw[None])[0]).max(axis=0)


def _single(net: Any, x: np.ndarray, target: Target, class_names: list | None,
            rule: str = "standard") -> tuple[np.ndarray, np.ndarray, ResolvedTarget]:
    """One backward pass: (the sample (1, ...), d score / d x per sample, resolved target)."""
    x, resolved, fixed = prepare(net, x, target, class_names)
    check_rule(net, resolved.layer, rule)
    grad, _ = summed_gradient(net, fixed, resolved, 1, lambda a, b: x, rule=rule)
    return x, grad, resolved


def gradient(net: Any, x: np.ndarray, target: Target = Target(), *,
             class_names: list | None = None) -> Attribution:
    """d score / d input for one sample (``raw``); the map sums it over channels."""
    _, grad, resolved = _single(net, x, target, class_names)
    grid = input_grid(net)
    return Attribution("gradient", signed_map(grid, grad), grid, resolved.label,
                       resolved.original, True, raw=grad)


def saliency(net: Any, x: np.ndarray, target: Target = Target(), *,
             class_names: list | None = None) -> Attribution:
    """|d score / d input| (``raw``); the map is its largest value over channels."""
    _, grad, resolved = _single(net, x, target, class_names)
    grid = input_grid(net)
    return Attribution("saliency", magnitude_map(grid, grad), grid, resolved.label,
                       resolved.original, False, raw=np.abs(grad))


def gradient_x_input(net: Any, x: np.ndarray, target: Target = Target(), *,
                     class_names: list | None = None) -> Attribution:
    """d score / d input times the input (``raw``), summed over channels for the map."""
    x, grad, resolved = _single(net, x, target, class_names)
    grid = input_grid(net)
    raw = grad * x[0].astype(np.float64)
    return Attribution("gradient-x-input", signed_map(grid, raw), grid, resolved.label,
                       resolved.original, True, raw=raw)


def guided_backprop(net: Any, x: np.ndarray, target: Target = Target(), *,
                    class_names: list | None = None) -> Attribution:
    """The gradient with guided backprop's ReLUs (positive gradient, positive input)."""
    return _modified("guided-backprop", "guided", net, x, target, class_names)


def deconvnet(net: Any, x: np.ndarray, target: Target = Target(), *,
              class_names: list | None = None) -> Attribution:
    """The gradient with deconvnet's ReLUs (positive gradient, whatever the input)."""
    return _modified("deconvnet", "deconvnet", net, x, target, class_names)


def _modified(method: str, rule: str, net: Any, x: np.ndarray, target: Target,
              class_names: list | None) -> Attribution:
    _, grad, resolved = _single(net, x, target, class_names, rule)
    grid = input_grid(net)
    return Attribution(method, signed_map(grid, grad), grid, resolved.label, resolved.original,
                       True, raw=grad, params={"rule": rule})


def smoothgrad(net: Any, x: np.ndarray, target: Target = Target(), *, noise: float = 0.15,
               n: int = 50, seed: int = 0, rows: int | None = None,
               class_names: list | None = None, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> Attribution:
    """SmoothGrad: the gradient averaged over ``n`` noisy copies of the sample.

    Parameters
    ----------
    noise : float
        Noise standard deviation as a fraction of the sample's range max(x) - min(x).
    n : int
        Noisy copies.
    seed : int
        Seed of the noise; the copies do not depend on ``rows``.
    rows, class_names, progress, cancel
        As :func:`~viewer.analysis.attribution.occlusion.occlusion`.

    Returns
    -------
    Attribution
        ``raw`` the mean gradient (*input_shape); ``values`` its largest
        magnitude over channels.
    """
    check_positive(n=n)
    if not np.isfinite(noise) or noise < 0:
        raise StrataError(f"the noise level must be a fraction of the input range >= 0, not {noise}")
    x, resolved, fixed = prepare(net, x, target, class_names)
    sigma = float(noise) * float(x.max() - x.min())
    rng = np.random.default_rng(seed)

    def make(start: int, stop: int) -> np.ndarray:
        noisy = x + sigma * rng.standard_normal((stop - start,) + x.shape[1:], dtype=np.float32)
        return noisy.astype(np.float32, copy=False)

    summed, _ = summed_gradient(net, fixed, resolved, int(n), make, rows=rows, progress=progress,
                                cancel=cancel)
    mean = summed / int(n)
    grid = input_grid(net)
    return Attribution("smoothgrad", magnitude_map(grid, mean), grid, resolved.label,
                       resolved.original, False, raw=mean,
                       params={"noise": float(noise), "n": int(n), "seed": int(seed),
                               "sigma": sigma})

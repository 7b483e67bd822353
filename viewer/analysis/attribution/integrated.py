"""Integrated gradients (Sundararajan et al., ICML 2017), with its completeness check.

With x the sample, b the baseline and f the target's score::

    IG(x) = (x - b) * integral over a in [0, 1] of df/dx (b + a (x - b)) da

and, f being differentiable almost everywhere, sum(IG) = f(x) - f(b)
("completeness"). The integral is a quadrature over ``steps`` points of the
path; the result reports ``sum(IG) - (f(x) - f(b))`` so that a user sees how
well ``steps`` sufficed.

The score along the path of a ReLU net is smooth only piecewise: its
derivative jumps wherever a ReLU or a max pool switches, and a softmax makes
it rise steeply over a short stretch. High-order rules (Gauss-Legendre) lose
their edge on such integrands. The default, "adaptive", is a trapezoid rule
that places its points where the error is: every gradient point also gives
the score there, and over a stretch [a, b] of the path the exact integral of
the score's derivative is f(b) - f(a), so each stretch's own completeness
error is known. Half the ``steps`` start evenly spaced (ends included); the
rest go, a quarter of them per round, to the middles of the stretches with
the largest errors. It keeps one gradient per point (``steps`` samples of
memory). Gauss-Legendre, trapezoid, midpoint and left Riemann (the paper's)
are there to compare; bench/integrated_gradients.py measures them all.

Baselines: a number (0 by default), an array of one sample's shape, or
"blur": the sample blurred by a Gaussian of ``sigma`` positions along each
position axis (channels apart), which keeps colours and drops edges.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from viewer.analysis.attribution.batches import AttributionCancelled, Progress, scores
from viewer.analysis.attribution.gradients import (gradient_rows, net_gradient, prepare,
                                                   signed_map, summed_gradient)
from viewer.analysis.attribution.grid import Grid
from viewer.analysis.attribution.result import (Attribution, baseline_array, check_positive,
                                                input_grid)
from viewer.analysis.attribution.target import Target
from viewer.errors import StrataError

#: Quadrature rules for the path integral, in menu order.
QUADRATURES = ("adaptive", "gauss-legendre", "trapezoid", "midpoint", "left-riemann")


def quadrature_points(rule: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points a in [0, 1] and weights of a ``steps``-point rule for an integral over [0, 1].

    Returns
    -------
    (ndarray (steps,), ndarray (steps,))
        Points and weights; the weights sum to 1.
    """
    check_positive(steps=steps)
    if rule == "gauss-legendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1.0) / 2.0, weights / 2.0
    if rule == "trapezoid":
        if steps == 1:
            return np.array([0.5]), np.array([1.0])
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, steps), weights
    if rule == "midpoint":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    if rule == "left-riemann":
        return np.arange(steps) / steps, np.full(steps, 1.0 / steps)
    raise StrataError(f"unknown quadrature {rule!r}; use one of {', '.join(QUADRATURES)}")


def trapezoid_weights(t: np.ndarray) -> np.ndarray:
    """Trapezoid weights of increasing points ``t`` (n,) on [t[0], t[-1]]."""
    gaps = np.diff(t)
    weights = np.zeros(len(t))
    weights[:-1] += gaps / 2
    weights[1:] += gaps / 2
    return weights


def stretch_errors(t: np.ndarray, slopes: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Each stretch's trapezoid integral of the score's slope minus the score's change there.

    Parameters
    ----------
    t, slopes, f : ndarray (n,)
        Increasing points, d f / d t and f at them.

    Returns
    -------
    ndarray (n - 1,)
    """
    return (slopes[:-1] + slopes[1:]) / 2 * np.diff(t) - np.diff(f)


def blurred(grid: Grid, x: np.ndarray, sigma: float) -> np.ndarray:
    """``x`` (1, *shape) blurred along its position axes by a Gaussian of ``sigma`` positions.

    Edges are reflected; each axis is a small matrix product (separable).
    """
    if not np.isfinite(sigma) or sigma <= 0:
        raise StrataError(f"the blur sigma must be a positive number of positions, not {sigma}")
    out = grid.canonical(np.asarray(x, np.float64)).copy()  # (1, C, *positions)
    for k, n in enumerate(grid.positions):
        out = np.moveaxis(np.moveaxis(out, k + 2, -1) @ _gaussian_matrix(n, sigma).T, -1, k + 2)
    batch = np.moveaxis(out, 1, grid.channel_axis + 1) if grid.channel_axis is not None else out[:, 0]
    return batch.astype(np.float32)


def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) matrix of a Gaussian blur along one axis, edges reflected, rows summing to 1."""
    radius = int(np.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    matrix = np.zeros((n, n))
    for i in range(n):
        j = i + offsets
        j = np.abs(j)                                   # reflect at 0 ...
        j = np.where(j > n - 1, 2 * (n - 1) - j, j)     # ... and at n - 1
        np.add.at(matrix[i], np.clip(j, 0, n - 1), kernel)
    return matrix


def integrated_gradients(net: Any, x: np.ndarray, target: Target = Target(), *,
                         baseline: Any = 0.0, steps: int = 64, sigma: float = 2.0,
                         quadrature: str = "adaptive", rows: int | None = None,
                         class_names: list | None = None, progress: Progress | None = None,
                         cancel: threading.Event | None = None) -> Attribution:
    """Integrated gradients of the target for one sample.

    Parameters
    ----------
    baseline : float, ndarray of one sample's shape, or "blur"
        Where the path starts.
    steps : int
        Points of the quadrature along the path.
    sigma : float
        The blur baseline's Gaussian, in positions.
    quadrature : str
        One of :data:`QUADRATURES`.
    rows, class_names, progress, cancel
        As :func:`~viewer.analysis.attribution.occlusion.occlusion`.

    Returns
    -------
    Attribution
        ``raw`` the attribution per input cell (*input_shape), ``values`` it
        summed over channels, ``report`` the completeness error.
    """
    check_positive(steps=steps)
    if quadrature == "adaptive" and steps < 3:
        raise StrataError(f"adaptive integrated gradients needs at least 3 steps, not {steps}")
    if quadrature != "adaptive":
        alphas, weights = quadrature_points(quadrature, steps)
    x, resolved, fixed = prepare(net, x, target, class_names)
    grid = input_grid(net)
    if isinstance(baseline, str):
        if baseline != "blur":
            raise StrataError(f"the baseline must be a number, an array or 'blur', not {baseline!r}")
        base = blurred(grid, x, sigma)
        shown: Any = f"blur {float(sigma):g}"
    else:
        base = baseline_array(baseline, x)[None]
        shown = "array" if np.ndim(baseline) else float(baseline)
    delta = x - base

    def on_path(a: np.ndarray) -> np.ndarray:
        a = a.astype(np.float32).reshape((-1,) + (1,) * (x.ndim - 1))
        return (base + a * delta).astype(np.float32, copy=False)

    if quadrature == "adaptive":
        summed, f_base, alphas = _adaptive(net, fixed, resolved, on_path, delta[0], steps, rows,
                                           progress, cancel)
    else:
        f_base = float(scores(net, resolved, base)[0])
        summed, _ = summed_gradient(net, fixed, resolved, len(alphas),
                                    lambda start, stop: on_path(alphas[start:stop]), weights,
                                    rows=rows, progress=progress, cancel=cancel)
    raw = summed * delta[0].astype(np.float64)
    change = resolved.original - f_base
    error = float(raw.sum() - change)
    relative = abs(error) / abs(change) if change != 0 else float("nan")
    return Attribution("integrated-gradients", signed_map(grid, raw), grid, resolved.label,
                       resolved.original, True, raw=raw,
                       params={"baseline": shown, "steps": int(steps), "quadrature": quadrature},
                       report={"completeness_error": error, "relative_error": relative,
                               "f_x": resolved.original, "f_baseline": f_base,
                               "points": alphas})


def _adaptive(net: Any, fixed: Target, resolved: Any, on_path: Any, delta: np.ndarray, steps: int,
              rows: int | None, progress: Progress | None,
              cancel: threading.Event | None) -> tuple[np.ndarray, float, np.ndarray]:
    """The adaptive trapezoid rule of the module docstring.

    Returns
    -------
    (ndarray (*input_shape,), float, ndarray (steps,))
        sum_i w_i d score / d input at the rule's points; the score at the
        baseline; the points.
    """
    size = gradient_rows(net, resolved.layer, rows)
    flat_delta = delta.reshape(-1).astype(np.float64)
    t = np.linspace(0.0, 1.0, steps // 2 + 1)
    done = 0

    def evaluate(points: np.ndarray) -> tuple[list, np.ndarray]:
        nonlocal done
        got, values = [], []
        for start in range(0, len(points), size):
            if cancel is not None and cancel.is_set():
                raise AttributionCancelled("cancelled")
            part, score = _node_gradients(net, fixed, resolved, on_path(points[start:start + size]))
            got.extend(part)
            values.append(score)
            done += len(part)
            if progress is not None and progress(done, steps) is False:
                raise AttributionCancelled("cancelled")
        return got, np.concatenate(values)

    grads, f = evaluate(t)
    per_round = max(1, (steps - len(t) + 3) // 4)
    while len(t) < steps:
        slopes = np.array([g.reshape(-1) @ flat_delta for g in grads])
        errors = np.abs(stretch_errors(t, slopes, f))
        worst = np.sort(np.argsort(-errors, kind="stable")[:min(per_round, steps - len(t))])
        middles = (t[worst] + t[worst + 1]) / 2
        new_grads, new_f = evaluate(middles)
        order = np.argsort(np.concatenate([t, middles]), kind="stable")
        t = np.concatenate([t, middles])[order]
        f = np.concatenate([f, new_f])[order]
        joined = grads + new_grads
        grads = [joined[i] for i in order]
    weights = trapezoid_weights(t)
    summed = np.zeros(delta.shape, np.float64)
    for w, g in zip(weights, grads):
        summed += w * g
    return summed, float(f[0]), t


def _node_gradients(net: Any, fixed: Target, resolved: Any,
                    batch: np.ndarray) -> tuple[list, np.ndarray]:
    """d score / d input at each copy of ``batch`` (a list of (*input_shape,) arrays) and the scores."""
    result = net_gradient(net, batch, fixed, resolved=resolved)
    return list(np.asarray(result.input_grad, np.float64)), np.asarray(result.score, np.float64)

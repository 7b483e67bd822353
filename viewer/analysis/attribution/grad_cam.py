"""Grad-CAM and Grad-CAM++ on a layer with channels over positions.

With A_k the layer's channel k for the sample and g_k = dS/dA_k, S the
target's score *before* a closing softmax (the class logit, as both papers
use; other targets are taken as they are):

- Grad-CAM (Selvaraju et al., ICCV 2017): ``w_k = mean over positions of g_k``,
  ``M = ReLU(sum_k w_k A_k)``.
- Grad-CAM++ (Chattopadhyay et al., WACV 2018), in the closed form for the
  exponential of the score, Y = exp(S), where the second and third
  derivatives are powers of the first: ``alpha_k = g_k^2 / (2 g_k^2 +
  sum over positions of A_k * g_k^3)`` (0 where the denominator is),
  ``w_k = sum over positions of alpha_k ReLU(g_k)``, ``M = ReLU(sum_k w_k A_k)``.
  The constant factor exp(S) is left out, as it scales the map only.

Maps are computed at the layer's resolution (``layer_values``) and resized
linearly to the input's positions (``values``), as the other CAMs are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viewer.analysis.attribution.cam import default_layer, finish_cam, spatial_grid
from viewer.analysis.attribution.gradients import net_gradient, prepare
from viewer.analysis.attribution.result import Attribution
from viewer.analysis.attribution.target import Target


def layer_gradient(net: Any, x: np.ndarray, target: Target, layer: Any,
                   class_names: list | None = None) -> tuple[int, np.ndarray, np.ndarray, str, float]:
    """A layer's channels and the score's gradient there, for one sample.

    The score is the target's, or the logit under it when the target is a
    class of a closing softmax.

    Returns
    -------
    index : int
        The layer's index.
    A, G : ndarray (K, *positions) float64
        The layer's output and d score / d output, channels first.
    label : str
        What is explained.
    score : float
        The score S on the sample.
    """
    x, resolved, fixed = prepare(net, x, target, class_names)
    index = default_layer(net) if layer is None else net.resolve(layer)
    grid = spatial_grid(net, index)
    label = resolved.label
    head = net[resolved.layer]
    if (head.kind == "Activation" and head.function == "softmax" and resolved.position is None
            and resolved.layer == len(net) - 1 and head.prev.output_shape == head.output_shape):
        fixed = Target(layer=net.index(head.prev.name), unit=resolved.unit)
        label = label.replace(f" of {head.name}", f" logit in {head.prev.name}")
    result = net_gradient(net, x, fixed, wrt=[index])
    A = grid.canonical(np.asarray(result.activations[index], np.float64))[0]
    G = grid.canonical(np.asarray(result.grads[index], np.float64))[0]
    return index, A, G, label, float(result.score[0])


def grad_cam(net: Any, x: np.ndarray, target: Target = Target(), *, layer: Any = None,
             class_names: list | None = None) -> Attribution:
    """Grad-CAM of the target on ``layer`` (default: the last layer with positions)."""
    index, A, G, label, score = layer_gradient(net, x, target, layer, class_names)
    weights = G.reshape(len(G), -1).mean(axis=1)
    layer_map = np.maximum(np.tensordot(weights, A, axes=(0, 0)), 0.0)
    return finish_cam("grad-cam", net, index, layer_map, label, score, False, {})


def grad_cam_plus_plus(net: Any, x: np.ndarray, target: Target = Target(), *, layer: Any = None,
                       class_names: list | None = None) -> Attribution:
    """Grad-CAM++ of the target on ``layer``, in the exp-score closed form."""
    index, A, G, label, score = layer_gradient(net, x, target, layer, class_names)
    flat_a, flat_g = A.reshape(len(A), -1), G.reshape(len(G), -1)
    g2, g3 = flat_g ** 2, flat_g ** 3
    denominator = 2.0 * g2 + flat_a.sum(axis=1, keepdims=True) * g3
    alpha = np.divide(g2, denominator, out=np.zeros_like(g2), where=denominator != 0)
    weights = (alpha * np.maximum(flat_g, 0.0)).sum(axis=1)
    layer_map = np.maximum(np.tensordot(weights, A, axes=(0, 0)), 0.0)
    return finish_cam("grad-cam++", net, index, layer_map, label, score, False, {})

"""Attribution maps: which parts of an input drive a unit.

    from viewer.analysis.attribution import Target, explain
    result = explain(net, x, "occlusion", Target(), patch=4, stride=2)
    result.values        # (H, W) for an image: the map over the input's positions

The forward-only methods work on any converted net; the gradient methods
need the backward pass (:mod:`viewer.net.backward`), which refuses kinds
without one by name. Altered copies go through the net in bounded batches
(see :mod:`~viewer.analysis.attribution.batches`), with progress and cancel.

- :func:`occlusion`: score drop when a moving window is hidden.
- :func:`rise`: random masks weighted by the score they keep.
- :func:`score_cam`, :func:`ablation_cam`, :func:`eigen_cam`, :func:`cam`:
  class activation maps on a layer with channels over positions.
- :func:`gradient`, :func:`saliency`, :func:`gradient_x_input`,
  :func:`smoothgrad`, :func:`guided_backprop`, :func:`deconvnet`: from the
  gradient of the score with respect to the input.
- :func:`integrated_gradients`: along a path from a baseline, with its
  completeness error.
- :func:`grad_cam`, :func:`grad_cam_plus_plus`: CAMs from a layer's gradients.
- :func:`receptive_field`: the input region a layer position sees.

Pure numpy, no Qt: meant for worker threads and the command line.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from viewer.analysis.attribution.batches import AttributionCancelled
from viewer.analysis.attribution.cam import (ablation_cam, cam, cam_head, default_layer,
                                             eigen_cam, score_cam)
from viewer.analysis.attribution.grad_cam import grad_cam, grad_cam_plus_plus
from viewer.analysis.attribution.gradients import (deconvnet, gradient, gradient_x_input,
                                                   guided_backprop, saliency, smoothgrad)
from viewer.analysis.attribution.grid import Grid, layer_grid, resize_linear
from viewer.analysis.attribution.integrated import QUADRATURES, integrated_gradients
from viewer.analysis.attribution.occlusion import occlusion
from viewer.analysis.attribution.receptive import Field, ReceptiveFieldUnknown, receptive_field
from viewer.analysis.attribution.result import Attribution, input_grid
from viewer.analysis.attribution.rise import rise
from viewer.analysis.attribution.target import Target
from viewer.errors import StrataError

#: Method name -> function(net, x, target, **parameters), in menu order.
METHODS: dict[str, Callable[..., Attribution]] = {
    "occlusion": occlusion,
    "rise": rise,
    "score-cam": score_cam,
    "ablation-cam": ablation_cam,
    "eigen-cam": lambda net, x, target=None, **kw: eigen_cam(net, x, **kw),
    "cam": cam,
    "gradient": gradient,
    "saliency": saliency,
    "gradient-x-input": gradient_x_input,
    "smoothgrad": smoothgrad,
    "integrated-gradients": integrated_gradients,
    "grad-cam": grad_cam,
    "grad-cam++": grad_cam_plus_plus,
    "guided-backprop": guided_backprop,
    "deconvnet": deconvnet,
}
#: Methods that work on a layer (the ``layer`` parameter) rather than on the input.
LAYER_METHODS = ("score-cam", "ablation-cam", "eigen-cam", "cam", "grad-cam", "grad-cam++")
#: Methods slow enough to want progress and Cancel (they run the net once per mask, window or channel).
BATCHED_METHODS = ("occlusion", "rise", "score-cam", "ablation-cam", "smoothgrad",
                   "integrated-gradients")
#: Methods that need the backward pass.
GRADIENT_METHODS = ("gradient", "saliency", "gradient-x-input", "smoothgrad",
                    "integrated-gradients", "grad-cam", "grad-cam++", "guided-backprop",
                    "deconvnet")


def explain(net: Any, x: np.ndarray, method: str, target: Target = Target(),
            **parameters: Any) -> Attribution:
    """Run attribution ``method`` (a key of :data:`METHODS`) for one sample.

    A net whose input has unknown sizes (an image net that takes any size) is
    explained at the sample's own size (:meth:`viewer.net.Net.sized`).
    """
    try:
        function = METHODS[method]
    except KeyError:
        raise StrataError(f"unknown attribution method {method!r}; use one of "
                          f"{', '.join(METHODS)}") from None
    return function(sized_for(net, x), x, target, **parameters)


def takes_any_size(net: Any) -> bool:
    """Whether ``net`` has one input and it has unknown sizes (it takes samples of any size)."""
    inputs = net.inputs
    return len(inputs) == 1 and None in inputs[0].output_shape


def sized_for(net: Any, x: np.ndarray) -> Any:
    """``net`` with its input's unknown sizes taken from the sample ``x`` ((1, *shape) or shape).

    Raises LayerError (one line) when ``x`` does not fit the input.
    """
    if not takes_any_size(net):
        return net
    rank, shape = len(net.inputs[0].output_shape), np.shape(x)
    return net.sized(shape[1:] if len(shape) == rank + 1 else shape)


__all__ = [
    "METHODS", "LAYER_METHODS", "sized_for", "takes_any_size", "BATCHED_METHODS", "GRADIENT_METHODS", "QUADRATURES", "explain", "Attribution", "Target", "Grid",
    "AttributionCancelled", "occlusion", "rise", "score_cam", "ablation_cam", "eigen_cam", "cam",
    "gradient", "saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "grad_cam",
    "grad_cam_plus_plus", "guided_backprop", "deconvnet", "cam_head", "default_layer", "layer_grid", "input_grid", "resize_linear",
    "Field", "ReceptiveFieldUnknown", "receptive_field",
]

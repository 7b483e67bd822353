"""Class activation maps on a layer with positions: CAM, Score-CAM, Ablation-CAM, EigenCAM.

With A_k the layer's channel k for the sample (K channels over positions):

- CAM (Zhou et al., CVPR 2016), for nets ending in global average pooling +
  dense (+ softmax): ``M = sum_k w[k, c] A_k`` with w the dense weights.
- Score-CAM (Wang et al., CVPR workshops 2020): ``H_k`` = A_k resized to the
  input's positions and scaled to [0, 1] (min-max; 0 for a constant map);
  ``alpha_k = f(x * H_k + b * (1 - H_k)) - f(b)``; ``M = ReLU(sum_k alpha_k A_k)``.
- Ablation-CAM (Desai and Ramaswamy, WACV 2020): y = f(x); y_k = f with
  channel k of the layer set to zero; ``w_k = (y - y_k) / y``;
  ``M = ReLU(sum_k w_k A_k)``.
- EigenCAM (Muhammad and Yeasin, IJCNN 2020): the activations as a
  (positions x K) matrix projected on its first right singular vector; the
  sign is chosen so the map sums to a positive value. It explains no class.

f is the target's score (a probability where the net ends in a softmax), b
the baseline. Each map is computed at the layer's resolution
(``layer_values``) and resized linearly to the input's positions (``values``).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from viewer.analysis.attribution.batches import (Progress, Tail, batch_rows, run_batches,
                                                 scores)
from viewer.analysis.attribution.grid import Grid, layer_grid, resize_linear
from viewer.analysis.attribution.result import Attribution, baseline_array, input_grid, one_sample
from viewer.analysis.attribution.target import Target, resolve_target
from viewer.errors import LayerError, StrataError
from viewer.net.layers.base import LayerFailed

#: Layers that pass values through unchanged at inference (between pooling, dense and softmax).
_PASS_THROUGH = ("Dropout", "Flatten")


def spatial_grid(net: Any, index: int) -> Grid:
    """The grid of layer ``index``, which must have channels over positions like the input's.

    Raises
    ------
    StrataError
        When the layer has no positions (a vector) or a different number of
        position axes than the input.
    """
    grid, inputs = layer_grid(net, index), input_grid(net)
    name = net[index].name
    if grid.channel_axis is None or not grid.positions:
        raise StrataError(f"layer {name!r} has no positions (output {grid.shape}); choose a "
                          f"convolution-like layer")
    if len(grid.positions) != len(inputs.positions):
        raise StrataError(f"layer {name!r} has {len(grid.positions)} position axes, the input "
                          f"{len(inputs.positions)}")
    return grid


def default_layer(net: Any) -> int:
    """The last layer with positions of more than one cell: where CAM methods look by default."""
    inputs = input_grid(net)
    for index in range(len(net) - 1, 0, -1):
        try:
            grid = spatial_grid(net, index)
        except StrataError:
            continue
        if np.prod(grid.positions) > 1 and len(grid.positions) == len(inputs.positions):
            return index
    raise StrataError(f"{net.name}: no layer has channels over positions, so CAM methods do not "
                      f"apply (use occlusion or RISE)")


def cam_head(net: Any) -> tuple[int, Any]:
    """For a net ending in global average pooling + dense: (the pooled layer's index, the dense layer).

    Raises
    ------
    StrataError
        Naming the layer where the net does not end that way.
    """
    layer = net[-1]
    while layer.kind == "Activation" or layer.kind in _PASS_THROUGH:
        layer = layer.prev
    if layer.kind != "Dense":
        raise StrataError(f"CAM needs a net ending in global average pooling + dense; "
                          f"{net.name} ends in {net[-1].name!r} after {layer.name!r} ({layer.kind})")
    dense = layer
    layer = dense.prev
    while layer.kind in _PASS_THROUGH:
        layer = layer.prev
    if layer.kind != "GlobalAvgPool2D":
        raise StrataError(f"CAM needs global average pooling before the dense layer "
                          f"{dense.name!r}; it reads {layer.name!r} ({layer.kind})")
    return net.index(layer.prev.name), dense


def _channels(net: Any, index: int, out: np.ndarray) -> np.ndarray:
    """Layer ``index``'s output for one sample, (1, ...), as channels over positions (K, *positions)."""
    return spatial_grid(net, index).canonical(out)[0].astype(np.float64)


def finish_cam(method: str, net: Any, index: int, layer_map: np.ndarray, target: str, score: float,
               signed: bool, params: dict) -> Attribution:
    """A CAM's result: the map at layer ``index``'s positions, resized to the input's."""
    grid = input_grid(net)
    values = resize_linear(layer_map, grid.positions)
    return Attribution(method, values, grid, target, score, signed, layer=net[index].name,
                       layer_values=layer_map, params=params)


def cam(net: Any, x: np.ndarray, target: Target = Target(), *, layer: Any = None,
        class_names: list | None = None) -> Attribution:
    """The class activation map (CAM) of a class of a net ending in global pooling + dense.

    ``layer``, if given, must be the layer the global pooling reads.
    """
    x = one_sample(net, x)
    index, dense = cam_head(net)
    if layer is not None and net.resolve(layer) != index:
        raise StrataError(f"CAM works on the layer the global pooling reads, {net[index].name!r}, "
                          f"not {net[net.resolve(layer)].name!r}")
    if target.layer is not None and net.resolve(target.layer) != len(net) - 1 or target.position:
        raise StrataError("CAM explains a class of the last layer; use Score-CAM or Ablation-CAM "
                          "for other units")
    resolved = resolve_target(net, target, x, class_names, also=(index,))
    A = _channels(net, index, resolved.outputs[index])
    weights = np.asarray(dense.W, dtype=np.float64)[:, resolved.unit]  # (K,)
    layer_map = np.tensordot(weights, A, axes=(0, 0))
    return finish_cam("cam", net, index, layer_map, resolved.label, resolved.original, True, {})


def eigen_cam(net: Any, x: np.ndarray, *, layer: Any = None) -> Attribution:
    """EigenCAM: the layer's activations projected on their first principal direction."""
    x = one_sample(net, x)
    index = default_layer(net) if layer is None else net.resolve(layer)
    try:
        out = net[index](x)
    except LayerFailed as exc:
        raise LayerError(str(exc)) from None
    A = _channels(net, index, out)
    matrix = A.reshape(len(A), -1).T  # (positions, K)
    _, _, vt = np.linalg.svd(matrix, full_matrices=False)
    projection = matrix @ vt[0]
    if projection.sum() < 0:
        projection = -projection
    return finish_cam("eigen-cam", net, index, projection.reshape(A.shape[1:]), "", float("nan"),
                   True, {})


def score_cam(net: Any, x: np.ndarray, target: Target = Target(), *, layer: Any = None,
              baseline: Any = 0.0, rows: int | None = None, class_names: list | None = None,
              progress: Progress | None = None,
              cancel: threading.Event | None = None) -> Attribution:
    """Score-CAM: each channel, as a mask on the input, weighted by the score it keeps."""
    x = one_sample(net, x)
    index = default_layer(net) if layer is None else net.resolve(layer)
    spatial_grid(net, index)
    grid = input_grid(net)
    resolved = resolve_target(net, target, x, class_names, also=(index,))
    A = _channels(net, index, resolved.outputs[index])
    up = resize_linear(A, grid.positions, np.float32)  # (K, *input positions); float32: the masks
    # are net input, and resizing 64 maps to 224 x 224 in float64 costs a tenth of the forwards
    flat = up.reshape(len(up), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)
    span = np.where(high > low, high - low, 1.0)
    masks = ((flat - low[:, None]) / span[:, None] * (high > low)[:, None]).reshape(up.shape)
    # Row 0 is the baseline itself (an all-zero mask), so f(b) rides in the first batch.
    masks = np.concatenate([np.zeros((1,) + masks.shape[1:]), masks]).astype(np.float32)
    fill = baseline_array(baseline, x)[None]
    score = np.empty(len(masks))

    def work(start: int, stop: int) -> None:
        shaped = grid.mask(masks[start:stop])
        batch = (x * shaped + fill * (1.0 - shaped)).astype(np.float32, copy=False)
        score[start:stop] = scores(net, resolved, batch)

    run_batches(len(masks), batch_rows([net[resolved.layer]], rows), work, progress, cancel)
    alpha = score[1:] - score[0]
    layer_map = np.maximum(np.tensordot(alpha, A, axes=(0, 0)), 0.0)
    return finish_cam("score-cam", net, index, layer_map, resolved.label, resolved.original, False,
                   {"baseline": "array" if np.ndim(baseline) else float(baseline)})


def ablation_cam(net: Any, x: np.ndarray, target: Target = Target(), *, layer: Any = None,
                 rows: int | None = None, class_names: list | None = None,
                 progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> Attribution:
    """Ablation-CAM: each channel weighted by the relative drop of the score when it is zeroed."""
    x = one_sample(net, x)
    index = default_layer(net) if layer is None else net.resolve(layer)
    grid = spatial_grid(net, index)
    resolved = resolve_target(net, target, x, class_names)
    tail = Tail(net, index, resolved.layer, x)
    A = _channels(net, index, tail.original)
    y = resolved.original
    if y == 0.0:
        raise StrataError(f"the score of {resolved.label} is 0 for this sample; Ablation-CAM "
                          f"divides by it")
    ablated = np.empty(len(A))
    channel_axis = grid.channel_axis + 1

    def work(start: int, stop: int) -> None:
        batch = np.repeat(tail.original, stop - start, axis=0)
        for j, k in enumerate(range(start, stop)):
            index_k = [j] + [slice(None)] * (batch.ndim - 1)
            index_k[channel_axis] = k
            batch[tuple(index_k)] = 0.0
        ablated[start:stop] = resolved.score(tail.run(batch))

    run_batches(len(A), batch_rows([net[resolved.layer]], rows), work, progress, cancel)
    weights = (y - ablated) / y
    layer_map = np.maximum(np.tensordot(weights, A, axes=(0, 0)), 0.0)
    return finish_cam("ablation-cam", net, index, layer_map, resolved.label, y, False, {})

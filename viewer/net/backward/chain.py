"""The chain rule over a net: d(score of a target unit) / d(net input), one forward and one backward.

    result = gradient(net, X, Target(unit=3))
    result.input_grad    # d score / d X, shaped like X
    result.score         # (N,) the target's score in each sample
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from viewer.analysis.attribution.target import ResolvedTarget, Target, resolve_target
from viewer.errors import StrataError
from viewer.net.backward.registry import RULES, check_backward, reads, vjp
from viewer.net.layers.base import Layer, LayerFailed, _input_for, ancestors


@dataclass
class GradientResult:
    """What :func:`gradient` returns.

    Attributes
    ----------
    input_grad : ndarray or list of ndarray
        d score / d net input, shaped like X (batch first); for a net with
        several Input layers a list in ``net.inputs`` order.
    score : ndarray (N,)
        The target's score in each sample (float64), as
        :meth:`ResolvedTarget.score` computes it.
    activations : dict
        Layer index -> output (N, ...) of each layer asked for with ``wrt``.
    grads : dict
        Layer index -> d score / d that layer's output, same shapes.
    units : ndarray (N,) of int
        The unit explained in each sample (the predicted class of each sample
        when the target gives none).
    target : ResolvedTarget
        The target checked against the net (and resolved on the first sample).
    """

    input_grad: Any
    score: np.ndarray
    activations: dict = field(default_factory=dict)
    grads: dict = field(default_factory=dict)
    units: Optional[np.ndarray] = None
    target: Optional[ResolvedTarget] = None


def gradient(net: Any, X: Any, target: Target = Target(), *, rule: str = "standard",
             wrt: Optional[Sequence[Any]] = None,
             resolved: Optional[ResolvedTarget] = None) -> GradientResult:
    """d (target unit's score) / d (net input) for a batch, by one forward and one backward pass.

    Parameters
    ----------
    net : Net
    X : ndarray (N, *input_shape), or dict of them by Input name
        The net input, after preprocessing.
    target : Target
        The unit to explain; with ``unit=None`` each sample's own predicted class.
    rule : str
        "standard", "guided" or "deconvnet" (see
        :data:`~viewer.net.backward.registry.RULES`).
    wrt : sequence of int or str, optional
        Layers (indices or names) whose activations and gradients to return
        too, e.g. Grad-CAM's conv layer; each must feed the target layer.
    resolved : ResolvedTarget, optional
        ``target`` as an earlier call on this net resolved it (its
        ``result.target``), so that repeated calls (feature visualisation,
        SmoothGrad batches) skip checking it on a sample, a forward pass of
        its own. Each sample's unit still follows X when ``target.unit`` is None.

    Returns
    -------
    GradientResult

    Raises
    ------
    NoBackward
        Before any computing, naming every layer on the way without a backward.
    StrataError
        For a bad target, rule or ``wrt`` layer.

    Notes
    -----
    Memory: the forward pass computes only the target layer and what it
    depends on, unfused, and keeps a layer's output only when a backward
    step reads it (max pooling its input and output, ReLU its input,
    softmax its output; a convolution or dense layer reads neither, only
    the shape). Every other output is freed after its last forward reader,
    as :func:`~viewer.net.layers.base.evaluate` does. The backward pass
    then frees each kept output, and each gradient, as soon as the layer
    that reads it is done, so at most the kept outputs plus the gradients
    of one "frontier" of layers are alive at once.
    """
    if rule not in RULES:
        raise StrataError(f"unknown gradient rule {rule!r}; use one of {', '.join(RULES)}")
    if resolved is None:
        resolved = resolve_target(net, target, _first_sample(X))
    head = net[resolved.layer]
    order = ancestors(head)
    check_backward(order)
    wanted = _wrt_layers(net, wrt, order, head)
    keep = kept_for_backward(order, [head] + [net[i] for i in wanted])
    values, meta = forward_pass(order, X, keep)

    out = values[id(head)]
    units = _units(resolved, target, out)
    score, seed = _score_and_seed(resolved, units, out)
    activations = {i: values[id(net[i])] for i in wanted}
    grads_at, input_grads = backward_pass(order, values, meta, seed, rule,
                                          {id(net[i]): i for i in wanted})
    return GradientResult(_input_grad(net, X, input_grads), score, activations, grads_at,
                          units, resolved)


def backward_pass(order: list, values: dict, meta: dict, seed: np.ndarray, rule: str,
                  wanted: dict) -> tuple[dict, dict]:
    """The chain rule from the last layer of ``order`` down to its Input layers.

    Parameters
    ----------
    order : list of Layer
        The target layer and what it depends on, inputs first.
    values : dict
        id(layer) -> output kept by the forward pass (emptied as it goes).
    meta : dict
        id(layer) -> (shape, dtype) of every layer's output.
    seed : ndarray
        d score / d output of the last layer of ``order``.
    wanted : dict
        id(layer) -> index, of the layers whose gradients to return.

    Returns
    -------
    (dict, dict)
        Index -> gradient at each wanted layer; id(Input layer) -> gradient there.
    """
    grads = {id(order[-1]): seed}
    grads_at: dict[int, np.ndarray] = {}
    input_grads: dict[int, np.ndarray] = {}
    for layer in reversed(order):
        g = grads.pop(id(layer))
        if id(layer) in wanted:
            grads_at[wanted[id(layer)]] = g
        if not layer.inputs:
            input_grads[id(layer)] = g
            continue
        inputs = [_value(p, values, meta) for p in layer.inputs]
        in_grads = vjp(layer, inputs, _value(layer, values, meta), g, rule)
        values.pop(id(layer), None)
        for p, gp in zip(layer.inputs, in_grads):
            gp = np.asarray(gp)
            grads[id(p)] = gp if id(p) not in grads else grads[id(p)] + gp
    return grads_at, input_grads


def _first_sample(X: Any) -> Any:
    if isinstance(X, Mapping):
        return {k: np.asarray(v)[:1] for k, v in X.items()}
    return np.asarray(X)[:1]


def _wrt_layers(net: Any, wrt: Optional[Sequence[Any]], order: list, head: Layer) -> list[int]:
    """Indices of the ``wrt`` layers, each checked to feed the target layer."""
    if wrt is None:
        return []
    feeding = {id(layer) for layer in order}
    indices = []
    for key in wrt:
        i = net.resolve(key)
        if id(net[i]) not in feeding:
            raise StrataError(f"layer {net[i].name!r} does not feed the target layer "
                              f"{head.name!r}, so the target has no gradient there")
        indices.append(i)
    return sorted(set(indices))


def kept_for_backward(order: list, asked: list) -> set[int]:
    """id() of the layers whose outputs the backward pass reads, or that are ``asked`` for."""
    keep = {id(layer) for layer in asked}
    for layer in order:
        read_inputs, read_output = reads(layer)
        if read_inputs:
            keep.update(id(p) for p in layer.inputs)
        if read_output:
            keep.add(id(layer))
    return keep


def forward_pass(order: list, X: Any, keep: set[int]) -> tuple[dict, dict]:
    """Outputs of the kept layers, and (shape, dtype) of every layer's output.

    Unkept outputs are dropped after their last reader in ``order``.
    """
    remaining: dict[int, int] = {}
    for layer in order:
        for p in layer.inputs:
            remaining[id(p)] = remaining.get(id(p), 0) + 1
    live: dict[int, np.ndarray] = {}
    kept: dict[int, np.ndarray] = {}
    meta: dict[int, tuple] = {}
    for layer in order:
        try:
            if not layer.inputs:
                out = layer.forward(_input_for(layer, X))
            elif isinstance(layer.prev, Layer):
                out = layer.forward(live[id(layer.prev)])
            else:
                out = layer.forward(tuple(live[id(p)] for p in layer.inputs))
        except StrataError:
            raise
        except Exception as exc:  # numpy raising on odd input is the layer's failure, named
            raise LayerFailed(layer, exc, {}) from exc
        out = np.asarray(out)
        meta[id(layer)] = (out.shape, out.dtype)
        live[id(layer)] = out
        if id(layer) in keep:
            kept[id(layer)] = out
        for p in layer.inputs:
            remaining[id(p)] -= 1
            if remaining[id(p)] == 0:
                del live[id(p)]
    return kept, meta


def _value(layer: Layer, values: dict, meta: dict) -> np.ndarray:
    """A layer's kept output, or a read-only stand-in of its shape and dtype (no memory)."""
    value = values.get(id(layer))
    if value is not None:
        return value
    shape, dtype = meta[id(layer)]
    return np.broadcast_to(np.zeros((), dtype), shape)


def _units(resolved: ResolvedTarget, target: Target, out: np.ndarray) -> np.ndarray:
    """The unit explained in each sample: the target's, or each sample's predicted class
    (largest mean over positions, the rule of :func:`resolve_target`)."""
    n = len(out)
    if target.unit is not None:
        return np.full(n, resolved.unit, dtype=np.int64)
    means = resolved.grid.canonical(out).reshape(n, resolved.grid.channels, -1).mean(axis=2)
    return np.argmax(means, axis=1).astype(np.int64)


def _score_and_seed(resolved: ResolvedTarget, units: np.ndarray,
                    out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's score (N,) and d score / d output, shaped like ``out``."""
    dtype = out.dtype if out.dtype.kind == "f" else np.dtype(np.float64)
    seed = np.zeros(out.shape, dtype)
    rows = np.arange(len(out))
    picked = resolved.grid.canonical(out)[rows, units]        # (N, *positions)
    seed_picked = resolved.grid.canonical(seed)                 # a view of seed
    if resolved.position is not None:
        where = (rows, units) + tuple(np.full(len(out), p) for p in resolved.position)
        seed_picked[where] = 1
        score = picked[(slice(None),) + resolved.position]
    else:
        cells = int(np.prod(picked.shape[1:], dtype=np.int64))
        seed_picked[rows, units] = 1.0 / cells
        score = picked.reshape(len(out), -1).mean(axis=1, dtype=np.float64)
    return np.asarray(score, dtype=np.float64), seed


def _input_grad(net: Any, X: Any, input_grads: dict) -> Any:
    """d score / d input per Input layer, zeros for inputs that do not feed the target."""
    grads = []
    for layer in net.inputs:
        g = input_grads.get(id(layer))
        if g is None:
            x = np.asarray(X[layer.name] if isinstance(X, Mapping) else X)
            g = np.zeros(x.shape, x.dtype if x.dtype.kind == "f" else np.float64)
        grads.append(g)
    return grads[0] if len(grads) == 1 else grads

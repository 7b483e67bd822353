"""The registry of vector-Jacobian products, by layer kind.

Each layer kind's backward lives in the module of its family (mirroring
:mod:`viewer.net.layers`) and registers itself here with :func:`backward`;
kinds that deliberately have none are listed in :data:`REFUSED` with the
reason. :func:`vjp` is the one entry point: it never treats an unknown kind
as the identity.

A backward function has the signature ``fn(layer, inputs, output, grad_out,
rule) -> list of ndarray`` (one gradient per input, shaped like it). Weights
stay fixed: only gradients with respect to the inputs are computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from viewer.errors import StrataError
from viewer.net.layers.base import Layer

#: The ReLU rules: "standard" is the true gradient; "guided" (guided backprop)
#: lets a ReLU pass the gradient only where its input is positive and the
#: gradient is positive; "deconvnet" passes the positive gradient whatever the
#: forward sign. Kinds other than ReLU-like activations ignore the rule.
RULES = ("standard", "guided", "deconvnet")

BackwardFn = Callable[[Layer, list, np.ndarray, np.ndarray, str], list]


class NoBackward(StrataError):
    """A layer kind (or one option of it) has no backward pass; the message names it."""


@dataclass(frozen=True)
class Backward:
    """How to take one kind's vector-Jacobian product, and what it reads.

    Attributes
    ----------
    fn : callable
        ``fn(layer, inputs, output, grad_out, rule) -> list of ndarray``.
    reads : callable
        ``reads(layer) -> (inputs, output)``: whether ``fn`` reads the values
        of its inputs and of its output. What it does not read is not kept
        through the forward pass: ``fn`` then gets read-only stand-ins of the
        right shape and dtype whose values are meaningless (zeros).
    refusal : callable
        ``refusal(layer) -> str or None``: why this particular layer (an
        option of the kind) has no backward, or None when it has one.
    """

    fn: BackwardFn
    reads: Callable[[Layer], tuple[bool, bool]]
    refusal: Callable[[Layer], str | None]


BACKWARDS: dict[str, Backward] = {}

#: Kinds with no backward, and why; :func:`vjp` refuses them by name.
REFUSED: dict[str, str] = {}


def backward(*kinds: str, inputs: bool | Callable[[Layer], bool] = True,
             output: bool | Callable[[Layer], bool] = False,
             refusal: Callable[[Layer], str | None] | None = None) -> Callable[[BackwardFn], BackwardFn]:
    """Decorator registering a backward function for ``kinds``.

    Parameters
    ----------
    kinds : str
        Layer kinds (registry keys of :mod:`viewer.net.layers`).
    inputs, output : bool or callable of the layer
        Whether the function reads its inputs' values and its output's value.
    refusal : callable, optional
        Why one layer of the kind has no backward (None when it has one).
    """
    def as_reader(flag: bool | Callable[[Layer], bool]) -> Callable[[Layer], bool]:
        return flag if callable(flag) else (lambda layer: flag)

    read_inputs, read_output = as_reader(inputs), as_reader(output)

    def register(fn: BackwardFn) -> BackwardFn:
        entry = Backward(fn, lambda layer: (read_inputs(layer), read_output(layer)),
                         refusal or (lambda layer: None))
        for kind in kinds:
            if kind in BACKWARDS or kind in REFUSED:
                raise TypeError(f"backward of layer kind {kind!r} is registered twice")
            BACKWARDS[kind] = entry
        return fn
    return register


def refuse(kind: str, why: str) -> None:
    """Record that ``kind`` has no backward, and why."""
    if kind in BACKWARDS or kind in REFUSED:
        raise TypeError(f"backward of layer kind {kind!r} is registered twice")
    REFUSED[kind] = why


def refusal_of(layer: Layer) -> str | None:
    """Why ``layer`` has no backward pass, or None when it has one."""
    entry = BACKWARDS.get(layer.kind)
    if entry is None:
        return REFUSED.get(layer.kind, "no backward is registered for this kind")
    return entry.refusal(layer)


def check_backward(layers: Sequence[Layer]) -> None:
    """Raise :class:`NoBackward` naming every layer among ``layers`` that has no backward."""
    missing = {}
    for layer in layers:
        why = refusal_of(layer)
        if why is not None:
            missing.setdefault(f"{layer.kind} ({why})", []).append(layer.name)
    if missing:
        parts = [f"{what}: {', '.join(repr(n) for n in names)}" for what, names in missing.items()]
        raise NoBackward("no backward pass for layer kind " + "; ".join(parts))


def reads(layer: Layer) -> tuple[bool, bool]:
    """Whether the backward of ``layer`` reads its inputs' values and its output's value."""
    entry = BACKWARDS.get(layer.kind)
    return (True, True) if entry is None else entry.reads(layer)


def vjp(layer: Layer, inputs: list[np.ndarray], output: np.ndarray, grad_out: np.ndarray,
        rule: str = "standard") -> list[np.ndarray]:
    """Gradient of a scalar with respect to each input of ``layer``, from its gradient at the output.

    Parameters
    ----------
    layer : Layer
    inputs : list of ndarray
        The layer's inputs for the batch, each (N, ...), in ``layer.inputs`` order.
    output : ndarray (N, ...)
        The layer's output for those inputs.
    grad_out : ndarray, shape of ``output``
        d scalar / d output.
    rule : str
        One of :data:`RULES`; only ReLU-like activations look at it.

    Returns
    -------
    list of ndarray
        d scalar / d input, one per input, each shaped like that input.

    Raises
    ------
    NoBackward
        When the kind (or this layer's option of it) has no backward.
    """
    if rule not in RULES:
        raise StrataError(f"unknown gradient rule {rule!r}; use one of {', '.join(RULES)}")
    check_backward([layer])
    grads = BACKWARDS[layer.kind].fn(layer, list(inputs), output, grad_out, rule)
    return list(grads)

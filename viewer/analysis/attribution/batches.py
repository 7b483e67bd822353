"""Running many altered copies of one sample through a net, in bounded batches.

Every attribution method scores a set of altered inputs (occluded, masked) or
altered layer outputs (an ablated channel). The copies go through the net
``rows`` at a time, where ``rows`` keeps one batch's layer outputs within
:data:`ACTIVATION_BUDGET` bytes, as the dataset sweep does; progress is
reported and cancel honoured between batches.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional, Sequence

import numpy as np

from viewer.analysis.attribution.target import ResolvedTarget
from viewer.data.batches import ACTIVATION_BUDGET
from viewer.errors import LayerError, StrataError
from viewer.net.layers.base import Layer, LayerFailed, Plan, evaluate, output_bytes

#: Most copies in one batch, however small the net.
MAX_ROWS = 256

#: ``progress(done, total)`` after each batch; returning False cancels.
Progress = Callable[[int, int], Optional[bool]]


class AttributionCancelled(StrataError):
    """The computation was cancelled (by ``cancel`` or by ``progress`` returning False)."""


def batch_rows(layers: Sequence[Any], limit: int | None = None) -> int:
    """How many copies one batch may hold for a pass computing ``layers``."""
    rows = max(1, ACTIVATION_BUDGET // output_bytes(layers))
    return max(1, min(rows, MAX_ROWS if limit is None else int(limit)))


def run_batches(total: int, rows: int, work: Callable[[int, int], None],
                progress: Progress | None = None, cancel: threading.Event | None = None) -> None:
    """Call ``work(start, stop)`` for consecutive ranges of at most ``rows`` of ``total`` items.

    Raises
    ------
    AttributionCancelled
        When ``cancel`` is set before a batch or ``progress`` returns False.
    """
    done = 0
    while done < total:
        if cancel is not None and cancel.is_set():
            raise AttributionCancelled("cancelled")
        stop = min(total, done + rows)
        work(done, stop)
        done = stop
        if progress is not None and progress(done, total) is False:
            raise AttributionCancelled("cancelled")


def scores(net: Any, target: ResolvedTarget, batch: np.ndarray) -> np.ndarray:
    """The target's score for each input of ``batch`` (B, *input_shape): (B,) float64."""
    try:
        out = net.outputs(batch, [target.layer])[target.layer]
    except LayerFailed as exc:
        raise LayerError(str(exc)) from None
    return target.score(out)


class Tail:
    """The net from one layer on: outputs of ``end`` when ``start``'s output is replaced.

    Layers that do not depend on ``start`` (a skip connection from before it)
    keep their values for the original sample, computed once.

    Parameters
    ----------
    net : Net
    start, end : int
        Layer indices; ``end`` must depend on ``start``.
    x : np.ndarray, shape (1, *input_shape)
        The original sample.

    Attributes
    ----------
    original : np.ndarray
        ``start``'s output for ``x``, shape (1, ...).
    """

    def __init__(self, net: Any, start: int, end: int, x: np.ndarray) -> None:
        self.start, self.end = net[start], net[end]
        self.plan = Plan([self.end])
        self.affected: set[int] = set()
        for layer in self.plan.order:
            if layer is self.start or any(id(p) in self.affected for p in layer.inputs):
                self.affected.add(id(layer))
        if id(self.end) not in self.affected:
            raise StrataError(f"layer {self.end.name!r} does not depend on layer {self.start.name!r}")
        try:
            self.base = evaluate(self.end, x, keep=lambda layer: id(layer) not in self.affected
                                 or layer is self.start, plan=self.plan)
        except LayerFailed as exc:
            raise LayerError(str(exc)) from None
        self.original = self.base[self.start]

    def run(self, replaced: np.ndarray) -> np.ndarray:
        """``end``'s outputs (B, ...) for ``start``'s outputs ``replaced`` (B, ...)."""
        n = len(replaced)
        values: dict[int, np.ndarray] = {id(self.start): replaced}
        for layer in self.plan.order:
            if id(layer) not in self.affected or layer is self.start:
                continue
            ins = []
            for p in layer.inputs:
                if id(p) in self.affected:
                    ins.append(values[id(p)])
                else:  # unaltered branch: the original sample's value, once per copy
                    ins.append(np.repeat(self.base[p], n, axis=0))
            try:
                values[id(layer)] = layer.forward(ins[0] if isinstance(layer.prev, Layer) else tuple(ins))
            except Exception as exc:  # a layer failing on the altered values is named
                raise LayerError(str(LayerFailed(layer, exc, {}))) from None
        return values[id(self.end)]

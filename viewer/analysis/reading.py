"""How a net's layers are read for display: picture layout, class outputs (pure numpy).

Shared by the window, the command line and the sweeps, so that all of them
lay out a layer and recognise a classifier the same way.
"""

from __future__ import annotations

from typing import Any

from viewer.analysis.classifier import classifier_of


def picture_layout(net: Any, index: int, ndim: int) -> str:
    """How to show layer ``index``'s per-sample output of ``ndim`` axes as a picture.

    Vectors and sequences go by rank; image-like outputs use the data format
    of the layer or, for layers without one (activations, merges), of the
    nearest layer before it that has one.
    """
    if ndim <= 1:
        return "vector"
    if ndim == 2:
        return "sequence"
    todo = [net[index]]
    seen: set[int] = set()
    while todo:
        layer = todo.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        fmt = getattr(layer, "data_format", None)
        if fmt in ("channels_first", "channels_last"):
            return fmt
        todo.extend(layer.inputs)
    return "auto"


def is_softmax_output(net: Any) -> bool:
    """True when the net's last layer is a softmax, so its output reads as probabilities."""
    from viewer.net.quantization import dequantized_source

    last = dequantized_source(net[-1])
    return last.kind in ("Activation", "QSoftmax") and getattr(last, "function", None) == "softmax"


def predicts_classes(net: Any) -> bool:
    """True when the net is a classifier (one output per class, see viewer.analysis.classifier):
    its output's argmax is a predicted class, whether it ends in a softmax or in logits."""
    return classifier_of(net) is not None

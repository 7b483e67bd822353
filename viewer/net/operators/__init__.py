"""ONNX operators computed in numpy on whole tensors, exactly as the ONNX spec defines them.

``OPERATORS[op](inputs, attrs, opset)`` returns the op's outputs (a list of
arrays) for its inputs (arrays, None for omitted optional ones), its
attributes (ONNX names, plain Python values) and the model's opset (some ops
changed meaning between opsets). Nothing here knows about batches or
layouts: the :class:`~viewer.net.layers.operator.Operator` layer kind runs an
operator on each sample, and the ONNX converter folds constants with it.

One module per family: elementwise (arithmetic, comparisons, activations),
tensor (shapes, indexing), reduction (reductions, softmax-like ops), nn
(convolution, pooling, normalisation, Gemm), resize, sampling (GridSample),
detection (NonMaxSuppression, RoiAlign), spectral (DFT, STFT), recurrent (RNN,
GRU, LSTM), quantized (the integer arithmetic of the quantized ops), control
(If, its branches run at run time) and contrib (onnxruntime's com.microsoft
ops, registered as ``com.microsoft.<op>``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Operator = Callable[[list, dict, int], list]

OPERATORS: dict[str, Operator] = {}


def operator(*names: str) -> Callable[[Operator], Operator]:
    """Decorator: register a function under one or more ONNX op names."""
    def register(fn: Operator) -> Operator:
        for name in names:
            OPERATORS[name] = fn
        return fn
    return register


def compute(op: str, inputs: list, attrs: dict, opset: int) -> list:
    """Run ``op``; raises KeyError for an op not implemented here."""
    return [None if out is None else np.asarray(out) for out in OPERATORS[op](inputs, attrs, opset)]


from viewer.net.operators import (attention, contrib, control, elementwise, nn, quantized,  # noqa: E402,F401
                                  detection, recurrent, reduction, resize, sampling, spectral, tensor)

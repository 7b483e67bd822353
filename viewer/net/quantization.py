"""What a layer's quantisation is, for the layer list, ``info`` and the classifier reading.

Plain Python over the layers' own ``quantization()`` methods, so describing a
net does not import the quantized kinds (:mod:`viewer.net.layers.quantized`)
when it has none.
"""

from __future__ import annotations

from typing import Any

VALUE_PRESERVING = frozenset({"Reshape", "Flatten", "Permute", "Slice", "Take", "Pad", "ZeroPadding2D",
                              "MaxPool2D", "GlobalMaxPool2D", "Concatenate", "Upsample", "Dropout",
                              "Tile", "Resize2D"})


def quantization_of(layer: Any) -> dict | None:
    """The quantisation of ``layer``'s output, or None for float outputs.

    A quantized kind says it itself; a kind that only moves values (reshape,
    padding, max pooling, ...) carries its input's.
    """
    start = layer
    for _ in range(10000):
        own = getattr(layer, "quantization", None)
        if callable(own):
            info = own()
            if info is not None and layer is not start:
                info = {k: v for k, v in info.items() if k != "weight_scales"}
            return info
        if layer.kind not in VALUE_PRESERVING or not layer.inputs:
            return None
        layer = layer.inputs[0]
    return None


def dequantized_source(layer: Any) -> Any:
    """The layer whose values a final DEQUANTIZE passes on (so a net ending in an int8
    softmax reads as one), or ``layer`` itself."""
    return layer.inputs[0] if layer.kind == "Dequantize" and layer.inputs else layer


def quantization_text(layer: Any) -> str:
    """What the layer list and ``info`` say of a layer's quantisation ("" for float layers):
    its output's (:func:`describe_quantization`), or a hybrid layer's weights and input."""
    hybrid = getattr(layer, "hybrid_quantization", None)
    if callable(hybrid):
        return hybrid()
    info = quantization_of(layer)
    return describe_quantization(info) if info else ""


def describe_quantization(info: dict) -> str:
    """One line for a quantisation: ``int8, scale 0.0176, zero point -128``."""
    text = f"{info['dtype']}, scale {info['scale']:.6g}, zero point {info['zero_point']}"
    w = info.get("weight_scales")
    if w is not None:
        text += (f"; weights per channel ({w.size} scales {w.min():.3g}..{w.max():.3g})" if w.size > 1
                 else f"; weights scale {float(w[0]):.3g}")
    return text

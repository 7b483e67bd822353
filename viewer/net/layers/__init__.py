"""Every layer kind, registered by name in :data:`KINDS`.

Importing this package registers the kinds of plain Keras-style nets (core,
activation, spatial, norm, merge); the kinds the converters add register when
their module is imported, which :func:`layer_class` does on the first kind it
does not know, so a net of plain kinds opens without loading them.
:func:`load_every_kind` completes the registry for whoever needs all of it.
"""

import importlib

from viewer.net.layers.base import KINDS, Layer, evaluate, layer_class, register
from viewer.net.layers.core import Dense, Dropout, Flatten, Input, Permute, Reshape
from viewer.net.layers.activation import FUNCTIONS, Activation
from viewer.net.layers.spatial import (AvgPool2D, Conv2D, GlobalAvgPool2D, GlobalMaxPool2D,
                                       MaxPool2D, ZeroPadding2D)
from viewer.net.layers.norm import BatchNorm
from viewer.net.layers.merge import Add, Concatenate, Multiply

# The modules of the kinds the converters add.
CONVERTER_KIND_MODULES = ("conv_extra", "expression", "indexing", "operator", "recurrent", "tensor",
                          "quantized", "quantized_hybrid", "quantized_ops", "resampling")


def load_every_kind() -> dict[str, type[Layer]]:
    """Import every module that defines kinds; returns the complete :data:`KINDS`."""
    for name in CONVERTER_KIND_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return KINDS


__all__ = [
    "KINDS", "Layer", "evaluate", "layer_class", "load_every_kind", "register", "FUNCTIONS",
    "Input", "Dense", "Dropout", "Flatten", "Reshape", "Permute", "Activation",
    "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "ZeroPadding2D",
    "BatchNorm", "Add", "Multiply", "Concatenate",
]

"""Every layer kind, registered by name in :data:`KINDS`.

Importing this package imports each module that defines kinds, so the
registry is complete before a net file is read.
"""

from viewer.net.layers.base import KINDS, Layer, evaluate, layer_class, register
from viewer.net.layers.core import Dense, Dropout, Flatten, Input, Permute, Reshape
from viewer.net.layers.activation import FUNCTIONS, Activation
from viewer.net.layers.spatial import (AvgPool2D, Conv2D, GlobalAvgPool2D, GlobalMaxPool2D,
                                       MaxPool2D, ZeroPadding2D)
from viewer.net.layers.norm import BatchNorm
from viewer.net.layers.merge import Add, Concatenate, Multiply

# Kinds added by the converters are imported below this line.
from viewer.net.layers import conv_extra, expression, indexing, operator, recurrent, tensor  # noqa: E402,F401  (registers their kinds)
from viewer.net.layers import quantized, quantized_hybrid, quantized_ops, resampling  # noqa: E402,F401  (registers their kinds)

__all__ = [
    "KINDS", "Layer", "evaluate", "layer_class", "register", "FUNCTIONS",
    "Input", "Dense", "Dropout", "Flatten", "Reshape", "Permute", "Activation",
    "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "ZeroPadding2D",
    "BatchNorm", "Add", "Multiply", "Concatenate",
]

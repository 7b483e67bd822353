"""What every Keras layer converter shares: the conversion context, config
look-ups across Keras versions, activations, and the backend's arithmetic rules.

Backends differ in two ways that change numbers, not just names:

- Theano (Keras 1 and 2) *convolves*: it flips the kernel in space before
  sliding it, where TensorFlow, CNTK and PyTorch cross-correlate. A Theano
  kernel is therefore flipped once here so Strata's correlation gives the
  same result.
- Theano's "same" padding centres the window (``kernel // 2`` cells before)
  and then cuts the output to ``ceil(n / stride)`` cells, where TensorFlow
  puts the odd cell after; with a stride or an even kernel these differ.
  Pooling "same" on Theano pads ``pool - 1`` (``pool - 2`` for odd pools
  above 2) on both sides, then cuts likewise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from viewer.convert.keras_file import KerasFile
from viewer.convert.keras_graph import Node
from viewer.errors import ConversionError
from viewer.net import ops
from viewer.net.layers import Activation, Layer
from viewer.net.layers.tensor import Unary

# Keras activation name -> (Strata Activation function, options); None = identity.
_ACTIVATIONS: dict[str, tuple[str, dict] | None] = {
    "linear": None, "relu": ("relu", {}), "relu6": ("relu", {"max_value": 6.0}),
    "sigmoid": ("sigmoid", {}), "tanh": ("tanh", {}), "softplus": ("softplus", {}),
    "softsign": ("softsign", {}), "selu": ("selu", {}), "elu": ("elu", {"alpha": 1.0}),
    "swish": ("swish", {}), "silu": ("swish", {}), "gelu": ("gelu", {}),
    "softmax": ("softmax", {"axis": -1}), "log_softmax": ("log_softmax", {"axis": -1}),
    "leaky_relu": ("leaky_relu", {"alpha": 0.2}),
}


class Unsupported(Exception):
    """Raised by a converter's check: the reason one layer cannot be converted."""


@dataclass
class Context:
    """State of one conversion.

    Attributes
    ----------
    file : KerasFile
    backend : str
        The backend the model ran on ("theano", "tensorflow", "torch", ...).
    keys : dict of str -> str
        Layer name -> its group in a .keras weights file that does not
        record layer names (see keras_graph.saved_keys).
    used : set of str
        Strata layer names given out so far.
    """

    file: KerasFile
    backend: str
    keys: dict = field(default_factory=dict)
    used: set = field(default_factory=set)

    @property
    def major(self) -> int:
        return self.file.major

    @property
    def theano(self) -> bool:
        """True where Theano's convolution and padding rules apply."""
        return self.backend == "theano" and self.major <= 2

    def name(self, wanted: str) -> str:
        """A layer name not used yet: ``wanted``, else ``wanted_2``, ``wanted_3``..."""
        name, i = wanted, 2
        while name in self.used:
            name, i = f"{wanted}_{i}", i + 1
        self.used.add(name)
        return name

    def weights(self, node: Node, count: tuple[int, ...] | None = None) -> list[np.ndarray]:
        """The weight arrays of ``node``'s layer, checking how many there are."""
        arrays = self.file.weights.get(node.layer)
        if arrays is None:
            arrays = self.file.weights_by_key.get(self.keys.get(node.layer, ""), [])
        if count is not None and len(arrays) not in count:
            raise ConversionError(f"layer {node.layer!r} ({node.class_name}) has {len(arrays)} "
                                  f"weight arrays in the file, expected {' or '.join(map(str, count))}")
        return [np.asarray(a, dtype=np.float32) if a.dtype.kind == "f" else a for a in arrays]

    def hard_sigmoid(self) -> dict:
        """Keras 1/2 hard_sigmoid is clip(0.2 x + 0.5); Keras 3's is clip(x / 6 + 0.5)."""
        slope = 0.2 if self.major <= 2 else 1.0 / 6.0
        return {"function": "hard_sigmoid", "slope": slope, "offset": 0.5}


def get(config: dict, *keys: str, default: Any = None) -> Any:
    """The first of ``keys`` present in ``config`` (Keras renamed options across versions)."""
    for key in keys:
        if key in config and config[key] is not None:
            return config[key]
    return default


def pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return int(value[0]), int(value[0])
        return int(value[0]), int(value[1])
    return int(value), int(value)


def single(value: Any) -> int:
    return int(value[0]) if isinstance(value, (list, tuple)) else int(value)


def data_format(ctx: Context, node: Node, prev: Any) -> str:
    """A layer's layout: Keras 2/3 ``data_format``, Keras 1 ``dim_ordering``.

    Keras 1 leaves it out of some configs (ZeroPadding2D, UpSampling2D), which
    then follow the keras.json of whoever loads the file; the layout of the
    nearest layer before that has one is the faithful guess, then the
    backend's Keras 1 default. One-dimensional layers are channels last
    unless they say otherwise.
    """
    config = node.config
    fmt = config.get("data_format")
    if fmt in ("channels_first", "channels_last"):
        return fmt
    ordering = config.get("dim_ordering")
    if ordering in ("th", "tf"):
        return "channels_first" if ordering == "th" else "channels_last"
    if ctx.major == 1 and not node.class_name.endswith("1D"):
        while prev is not None and not isinstance(prev, tuple):
            if getattr(prev, "data_format", None):
                return prev.data_format
            prev = prev.prev
        return "channels_first" if ctx.backend == "theano" else "channels_last"
    return "channels_last"


def activation_name(spec: Any) -> str:
    """An activation as saved: a name, or Keras 3's serialised-function dict."""
    if spec is None:
        return "linear"
    if isinstance(spec, dict):
        spec = spec.get("config", spec.get("class_name"))
    if not isinstance(spec, str):
        raise Unsupported(f"activation {spec!r} is not a built-in one")
    return spec


def check_activation(spec: Any) -> None:
    name = activation_name(spec)
    if name not in _ACTIVATIONS and name not in ("hard_sigmoid", "exponential"):
        raise Unsupported(f"activation {name!r} is not supported")


def activation_spec(ctx: Context, spec: Any) -> Any:
    """A Keras activation as the recurrent kinds take it (a name or {"function": ...})."""
    name = activation_name(spec)
    if name == "hard_sigmoid":
        return ctx.hard_sigmoid()
    mapped = _ACTIVATIONS.get(name)
    if mapped is None:
        if name == "linear":
            return "linear"
        raise ConversionError(f"activation {name!r} cannot be used inside a recurrent layer")
    function, options = mapped
    return {"function": function, **options} if options else function


def activation_layer(ctx: Context, prev: Layer, name: str, spec: Any) -> Layer:
    """The Strata layer computing Keras activation ``spec``."""
    act = activation_name(spec)
    if act == "exponential":
        return Unary(prev, name=name, function="exp")
    if act == "hard_sigmoid":
        options = ctx.hard_sigmoid()
        del options["function"]
        return Activation(prev, name=name, function="hard_sigmoid", **options)
    if act not in _ACTIVATIONS:
        raise ConversionError(f"layer {name!r}: activation {act!r} is not supported")
    mapped = _ACTIVATIONS[act]
    if mapped is None:
        return Activation(prev, name=name, function="linear")
    return Activation(prev, name=name, function=mapped[0], **mapped[1])


def with_activation(ctx: Context, node: Node, build: Callable[[str], Layer],
                    spec: Any) -> list[Layer]:
    """A layer plus its built-in activation, the Keras name on the layer that ends it.

    With an activation other than linear, the linear part is its own layer,
    named ``<name>_linear``, so the pre-activation values can be looked at too.
    """
    if activation_name(spec) == "linear":
        return [build(ctx.name(node.key))]
    core = build(ctx.name(f"{node.key}_linear"))
    return [core, activation_layer(ctx, core, ctx.name(node.key), spec)]


def flip(kernel: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Reverse ``kernel`` along its spatial ``axes`` (Theano convolves)."""
    index = [slice(None)] * kernel.ndim
    for a in axes:
        index[a] = slice(None, None, -1)
    return np.ascontiguousarray(kernel[tuple(index)])


def theano_conv_pads(size: int | None, kernel: int, stride: int, dilation: int,
                     layer: str) -> tuple[int, int]:
    """(before, after) padding reproducing Theano "same" (centred, cut to ceil(n/s))."""
    if size is None:
        raise ConversionError(f"layer {layer!r}: Theano's 'same' padding needs a known input size")
    effective = dilation * (kernel - 1) + 1
    before = effective // 2
    out = -(-size // stride)
    return before, max(0, (out - 1) * stride + effective - size - before)


def theano_pool_pads(size: int | None, pool: int, stride: int, layer: str) -> tuple[int, int]:
    """(before, after) padding reproducing Keras-on-Theano pooling "same"."""
    if size is None:
        raise ConversionError(f"layer {layer!r}: Theano's 'same' pooling needs a known input size")
    before = pool - 2 if pool > 2 and pool % 2 == 1 else pool - 1
    out = -(-size // stride)
    return before, max(0, (out - 1) * stride + pool - size - before)


def same_or_explicit(pads: list[tuple[int, int]], sizes: list[int], kernels: list[int],
                     strides: list[int], dilations: list[int]) -> Any:
    """"same" when explicit pads equal TensorFlow's rule, else the pads themselves."""
    tf = [ops.same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernels, strides, dilations)]
    return "same" if list(map(tuple, pads)) == tf else tuple(map(tuple, pads))

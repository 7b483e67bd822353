"""The layer graph of a Keras model config, the same for Keras 1, 2 and 3.

Keras has written its model configs in several shapes over the years:

- Sequential: a list of layer configs (Keras 1, early 2), or
  ``{"name", "layers": [...]}`` (later 2 and 3); the input shape sits in the
  first layer's ``batch_input_shape``, in ``build_input_shape``, or in an
  explicit ``InputLayer`` (``batch_shape`` in Keras 3).
- Functional (``Model`` / ``Functional``): layers with ``inbound_nodes``,
  either ``[[[name, node, tensor(, kwargs)], ...], ...]`` (Keras 1, 2) or
  ``[{"args": [...], "kwargs": {...}}, ...]`` with ``keras_history`` triples
  (Keras 3).

:func:`model_nodes` turns any of them into one list of :class:`Node`: one
per layer call, in topological order, each naming the nodes it reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from viewer.errors import ConversionError, FileFormatError

MODEL_CLASSES = ("Sequential", "Model", "Functional")
# Keras layer classes that never hold weights. Keras' load_weights pairs the
# layers of a save_weights file with the model's layers that hold weights, in
# order; this is how the architecture's side of that pairing is found.
WEIGHTLESS = frozenset((
    "InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Activation",
    "Flatten", "Reshape", "Permute", "RepeatVector", "Masking", "Lambda",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPool1D", "GlobalMaxPool2D",
    "GlobalAvgPool1D", "GlobalAvgPool2D",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "Merge",
    "LeakyReLU", "ELU", "ReLU", "ThresholdedReLU", "Softmax",
))


def holds_weights(class_name: str, config: dict) -> bool:
    """Whether a layer of this class and config holds weights (wrappers: their inner layer)."""
    if class_name in ("TimeDistributed", "Bidirectional"):
        inner = config.get("layer") if isinstance(config, dict) else None
        if isinstance(inner, dict):
            return holds_weights(str(inner.get("class_name")), inner.get("config") or {})
    return class_name not in WEIGHTLESS


@dataclass
class Node:
    """One call of a Keras layer.

    Attributes
    ----------
    key : str
        Unique id of this call: the layer name, plus ``#k`` for the k-th
        call of a shared layer (k >= 1).
    layer : str
        The Keras layer's name.
    class_name : str
    config : dict
    inbound : list of str
        Keys of the nodes this call reads, in order.
    call_index : int
        Which call of the layer this is (0 for all unshared layers).
    registered_name : str or None
        Keras 3's registered name (set for custom classes).
    module : str or None
        Keras 3's module of the class ("keras.layers" for built-in ones).
    """

    key: str
    layer: str
    class_name: str
    config: dict
    inbound: list = field(default_factory=list)
    call_index: int = 0
    registered_name: str | None = None
    module: str | None = None


@dataclass
class Graph:
    """A model as nodes in topological order, with its input and output node keys.

    ``saved`` lists (layer name, class name) in the order Keras 3 saves
    layers' variables (the model's ``layers``: a Sequential's without its
    InputLayer), which names their groups in a .keras file; ``configs``
    holds each layer's config by name.
    """

    name: str
    nodes: list
    inputs: list
    outputs: list
    saved: list = field(default_factory=list)
    configs: dict = field(default_factory=dict)  # layer name -> its config


def saved_keys(saved: list) -> dict:
    """Layer name -> its group in a .keras weights file (snake-cased class, numbered).

    Keras 3 names each layer's group after its class: ``dense``, ``dense_1``,
    ... in the order of the model's layers.
    """
    counts: dict[str, int] = {}
    keys = {}
    for name, class_name in saved:
        key = re.sub(r"\W+", "", class_name)
        key = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", key)
        key = re.sub("([a-z])([A-Z])", r"\1_\2", key).lower()
        if key in counts:
            counts[key] += 1
            key = f"{key}_{counts[key]}"
        else:
            counts[key] = 0
        keys[name] = key
    return keys


def _node_key(layer: str, index: int) -> str:
    return layer if index == 0 else f"{layer}#{index}"


def _layer_name(entry: dict) -> str:
    name = entry.get("name") or entry.get("config", {}).get("name")
    if not isinstance(name, str) or not name:
        raise FileFormatError("a layer in the model config has no name")
    return name


def _input_shape(first: dict) -> list | None:
    conf = first.get("config", {})
    for key in ("batch_input_shape", "batch_shape"):
        if conf.get(key) is not None:
            return list(conf[key])
    return None


def model_nodes(config: dict) -> Graph:
    """Normalise a Keras model config (the file's top-level ``model_config``).

    Raises
    ------
    ConversionError
        For a model kind that is not Sequential or functional.
    FileFormatError
        For a config that is not shaped like any Keras version's.
    """
    class_name = config.get("class_name")
    body = config.get("config")
    if class_name == "Sequential":
        return _sequential(body)
    if class_name in ("Model", "Functional"):
        return _functional(body)
    raise ConversionError(f"the model is a {class_name!r}; only Sequential and functional "
                          "models can be converted")


def _sequential(body: Any) -> Graph:
    if isinstance(body, list):
        name, layers, build_shape = "sequential", body, None
    elif isinstance(body, dict) and isinstance(body.get("layers"), list):
        name, layers = body.get("name", "sequential"), body["layers"]
        build_shape = body.get("build_input_shape")
    else:
        raise FileFormatError("the Sequential model config has no layer list")
    if not layers:
        raise ConversionError("the Sequential model has no layers")
    nodes: list[Node] = []
    if layers[0].get("class_name") == "InputLayer":
        first = layers[0]
        nodes.append(_plain_node(first, []))
        layers = layers[1:]
    else:
        shape = _input_shape(layers[0]) or build_shape
        if shape is None:
            raise ConversionError("the Sequential model does not record its input shape")
        dtype = layers[0].get("config", {}).get("input_dtype") or layers[0].get("config", {}).get("dtype")
        names = {_layer_name(l) for l in layers}
        in_name = "input"
        while in_name in names:
            in_name += "_"
        nodes.append(Node(in_name, in_name, "InputLayer",
                          {"batch_input_shape": shape, "dtype": dtype if isinstance(dtype, str) else None}))
    for entry in layers:
        nodes.append(_plain_node(entry, [nodes[-1].key]))
    saved = [(_layer_name(e), str(e.get("class_name"))) for e in layers]
    configs = {_layer_name(e): dict(e.get("config") or {}) for e in layers}
    return Graph(name, nodes, [nodes[0].key], [nodes[-1].key], saved, configs)


def _plain_node(entry: dict, inbound: list) -> Node:
    name = _layer_name(entry)
    return Node(name, name, str(entry.get("class_name")), dict(entry.get("config") or {}),
                list(inbound), 0, entry.get("registered_name"), entry.get("module"))


def _refs(node: Any) -> list[tuple[str, int, int]]:
    """(layer, node index, tensor index) triples one inbound node reads."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        found: list[tuple[str, int, int]] = []
        _keras3_tensors(node.get("args", []), found)
        extra: list[tuple[str, int, int]] = []
        _keras3_tensors(node.get("kwargs", {}), extra)
        if extra:
            raise ConversionError("a layer call passes tensors as keyword arguments "
                                  "(e.g. an RNN's initial_state), which is not supported")
        return found
    refs = []
    for ref in node:
        if not isinstance(ref, (list, tuple)) or len(ref) < 3:
            raise FileFormatError(f"bad inbound node entry {ref!r}")
        if len(ref) > 3 and isinstance(ref[3], dict) and any(
                isinstance(v, (list, dict)) for v in ref[3].values()):
            raise ConversionError("a layer call passes tensors as keyword arguments "
                                  "(e.g. an RNN's initial_state), which is not supported")
        refs.append((str(ref[0]), int(ref[1]), int(ref[2])))
    return refs


def _keras3_tensors(value: Any, out: list) -> None:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = value.get("config", {}).get("keras_history")
            if not isinstance(history, list) or len(history) != 3:
                raise FileFormatError(f"bad keras_history {history!r}")
            out.append((str(history[0]), int(history[1]), int(history[2])))
            return
        for v in value.values():
            _keras3_tensors(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _keras3_tensors(v, out)


def _functional(body: Any) -> Graph:
    if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
        raise FileFormatError("the functional model config has no layer list")
    nodes: list[Node] = []
    for entry in body["layers"]:
        name = _layer_name(entry)
        calls = entry.get("inbound_nodes") or []
        if entry.get("class_name") == "InputLayer" or not calls:
            nodes.append(_plain_node(entry, []))
            continue
        for index, call in enumerate(calls):
            refs = _refs(call)
            if any(t != 0 for _, _, t in refs):
                raise ConversionError(f"layer {name!r} reads a second output of a layer; "
                                      "multi-output layers are not supported")
            node = _plain_node(entry, [_node_key(l, n) for l, n, _ in refs])
            node.key, node.call_index = _node_key(name, index), index
            nodes.append(node)
    keys = {n.key for n in nodes}
    for n in nodes:
        missing = [k for k in n.inbound if k not in keys]
        if missing:
            raise FileFormatError(f"layer {n.layer!r} reads {missing}, which the model does not have")

    def ends(key: str) -> list[str]:
        refs = body.get(key) or []
        if refs and isinstance(refs[0], str):  # a single [name, node, tensor]
            refs = [refs]
        return [_node_key(str(r[0]), int(r[1])) for r in refs]

    saved = [(_layer_name(e), str(e.get("class_name"))) for e in body["layers"]]
    configs = {_layer_name(e): dict(e.get("config") or {}) for e in body["layers"]}
    return Graph(str(body.get("name", "model")), _topological(nodes), ends("input_layers"),
                 ends("output_layers"), saved, configs)


def _topological(nodes: list[Node]) -> list[Node]:
    """Order nodes so each follows the nodes it reads (Keras lists are usually sorted)."""
    by_key = {n.key: n for n in nodes}
    done: set[str] = set()
    order: list[Node] = []
    for root in nodes:
        if root.key in done:
            continue
        on_path = {root.key}
        stack = [(root, iter(root.inbound))]
        while stack:
            node, pending = stack[-1]
            key = next(pending, None)
            if key is None:
                stack.pop()
                on_path.discard(node.key)
                done.add(node.key)
                order.append(node)
            elif key in on_path:
                raise FileFormatError(f"layers {node.layer!r} and {by_key[key].layer!r} form a cycle")
            elif key not in done:
                on_path.add(key)
                stack.append((by_key[key], iter(by_key[key].inbound)))
    return order

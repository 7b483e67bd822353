"""Convert a Keras model file (.h5 from Keras 1, 2 or 3, or Keras 3's .keras) to a Net.

The file is read with h5py alone: no Keras, no TensorFlow, and nothing in the
file is executed. Each Keras layer call becomes one Strata layer of the same
name (a layer with a built-in activation also gets its linear part as
``<name>_linear``), computing the same numbers in the same layout.

Layers that cannot be converted are all found before anything is built and
reported together in one :class:`~viewer.errors.ConversionError`.
"""

from __future__ import annotations

import os
import re
from typing import Any

from viewer.convert import keras_conv, keras_core, keras_recurrent
from viewer.convert.keras_common import Context, Unsupported
from viewer.convert.keras_file import KerasFile, read_keras
from viewer.convert.keras_graph import MODEL_CLASSES, Graph, Node, holds_weights, model_nodes, saved_keys
from viewer.errors import ConversionError, FileFormatError, LayerError, StrataError
from viewer.net import Net
from viewer.net.layers import Input, Layer

CONVERTERS = {**keras_core.CONVERTERS, **keras_conv.CONVERTERS, **keras_recurrent.CONVERTERS}
CHECKS = {**keras_core.CHECKS, **keras_conv.CHECKS, **keras_recurrent.CHECKS}
BACKENDS = ("theano", "tensorflow", "cntk", "torch", "jax")


def convert_keras(path: str | os.PathLike, *, keras_backend: str | None = None,
                  architecture: str | os.PathLike | None = None) -> Net:
    """Convert a Keras model file, or a weights file with its architecture.

    Parameters
    ----------
    path : str or PathLike
        A file written by ``model.save``: HDF5 (.h5/.hdf5) or a .keras zip;
        with ``architecture``, one written by ``model.save_weights``.
    keras_backend : str, optional
        The backend the model was trained with, for Keras 1 files, which do
        not record it ("theano" or "tensorflow"). It decides whether kernels
        are flipped (Theano convolves) and how "same" padding is placed.
        Without it, the backend is inferred from the weight names Keras 1
        saved (TensorFlow's end in ":0", Theano's do not); ``net.source`` says
        so.
    architecture : str or PathLike, optional
        The model's ``model.to_json()`` file, for a weights-only ``path``.
        Weights of a legacy HDF5 weights file go to the architecture's layers
        in order, as Keras' ``load_weights`` pairs them (layer names need not
        agree); those of a Keras 3 ``.weights.h5`` by their layer keys.

    Returns
    -------
    Net

    Raises
    ------
    FileFormatError
        The file is not a readable Keras model.
    ConversionError
        The model uses layers Strata cannot compute; the message lists every one.
    """
    path = os.fspath(path)
    kfile = read_keras(path, architecture)
    try:
        graph = model_nodes(kfile.config)
        if architecture is not None and kfile.weights and not kfile.weights_by_key:
            _pair_in_order(kfile, graph)
        backend, note = _backend(kfile, keras_backend)
        ctx = Context(kfile, backend, saved_keys(graph.saved))
        _refuse_unsupported(graph.nodes, ctx)
        # The model's inputs first, in its own order: net.inputs then lists them that way.
        first = [n for key in graph.inputs for n in graph.nodes if n.key == key]
        layers = _build(first + [n for n in graph.nodes if n not in first], ctx)
        for layer in layers:
            layer.output_shape  # noqa: B018 - checks every shape now, not in the viewer
        _input_formats(layers)
        stem = os.path.splitext(os.path.basename(path))[0]
        version = kfile.version or "1"
        # Keras 3 computes the same on every backend; only older files say which one they used.
        detail = "" if backend == "keras3" else f" ({backend} backend{note})"
        return Net(layers, name=stem, source=f"Keras {version}{detail}: {path}")
    except StrataError as exc:
        text = str(exc)
        kind = type(exc) if isinstance(exc, (FileFormatError, ConversionError)) else ConversionError
        raise (exc if text.startswith(path) else kind(f"{path}: {text}")) from None
    except (Unsupported, TypeError, AttributeError, KeyError, IndexError, ValueError,
            OverflowError, RecursionError) as exc:  # a config of the wrong shape or types
        raise ConversionError(f"{path}: the model config is not what Keras writes "
                              f"({type(exc).__name__}: {exc})") from None


def _backend(kfile: KerasFile, wanted: str | None) -> tuple[str, str]:
    """(backend, note for net.source)."""
    if wanted is not None:
        if wanted not in BACKENDS:
            raise ConversionError(f"unknown Keras backend {wanted!r} (known: {', '.join(BACKENDS)})")
        return wanted, ", as given"
    if kfile.backend:
        return kfile.backend, ""
    if kfile.major >= 3:
        return "keras3", ""
    # Keras 1 saved each variable's own name: TensorFlow's end in ":0", Theano's don't.
    names = [n for names in kfile.weight_names.values() for n in names]
    if names:
        tensorflow = any(re.search(r":\d+$", n) for n in names)
        return ("tensorflow" if tensorflow else "theano"), ", inferred from its weight names"
    return "tensorflow", ", assumed: Keras 1 files do not record it"


def _pair_in_order(kfile: KerasFile, graph: Graph) -> None:
    """Give a save_weights file's arrays to the architecture's layers, as Keras does.

    Keras' ``load_weights`` (HDF5, not by name) pairs the file's layers that
    hold weights, in the file's order, with the model's layers that hold
    weights, in the model's order; names may differ (``conv1d_1`` saved by
    one Keras is ``conv1d`` when another builds the same code).
    """
    held = [name for name, arrays in kfile.weights.items() if arrays]
    takers = [name for name, cls in graph.saved if holds_weights(cls, graph.configs.get(name, {}))]
    if len(held) != len(takers):
        raise ConversionError(f"the weights file has {len(held)} layers with weights, the "
                              f"architecture {len(takers)}: they are not the same model")
    kfile.weights = {new: kfile.weights[old] for old, new in zip(held, takers)}
    kfile.weight_names = {new: kfile.weight_names.get(old, []) for old, new in zip(held, takers)}


def _reason(node: Node, ctx: Context) -> str | None:
    """Why ``node`` cannot be converted, or None if it can."""
    cls = node.class_name
    if cls == "Lambda":
        return "a Lambda layer is Python code stored in the file; it is never run"
    if cls in MODEL_CLASSES:
        return "a model nested inside the model is not supported"
    custom = node.registered_name or (node.module and not node.module.startswith("keras"))
    if cls not in CONVERTERS:
        return ("a custom layer class" if custom
                else "not a layer type Strata converts (custom, or not supported)")
    try:
        if cls in CHECKS:
            CHECKS[cls](node, ctx)
    except Unsupported as exc:
        return str(exc)
    return None


def _refuse_unsupported(nodes: list[Node], ctx: Context) -> None:
    problems = []
    for node in nodes:
        reason = _reason(node, ctx)
        if reason:
            problems.append(f"{node.layer!r} ({node.class_name}: {reason})")
    if problems:
        count = "1 layer" if len(problems) == 1 else f"{len(problems)} layers"
        raise ConversionError(f"cannot convert {count}: " + "; ".join(problems))


def _build(nodes: list[Node], ctx: Context) -> list[Layer]:
    built: dict[str, Layer] = {}
    layers: list[Layer] = []
    for node in nodes:
        prev: Any
        if not node.inbound:
            prev = None
        elif len(node.inbound) == 1:
            prev = built[node.inbound[0]]
        else:
            prev = tuple(built[k] for k in node.inbound)
        if node.class_name != "InputLayer" and prev is None:
            raise ConversionError(f"layer {node.layer!r} has no input")
        try:
            new = CONVERTERS[node.class_name](ctx, node, prev)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ConversionError(f"layer {node.layer!r} ({node.class_name}): unexpected config "
                                  f"or weights ({type(exc).__name__}: {exc})") from None
        layers += new
        built[node.key] = new[-1]
    return layers


def _input_formats(layers: list[Layer]) -> None:
    """Give image inputs the data format of the first layer that has one, for display."""
    for layer in layers:
        if not isinstance(layer, Input) or len(layer.shape) != 3 or layer.data_format:
            continue
        for other in layers:
            fmt = getattr(other, "data_format", None)
            if fmt and _reads_from(other, layer):
                layer.data_format = fmt
                break


def _reads_from(layer: Layer, source: Layer) -> bool:
    seen, todo = set(), list(layer.inputs)
    while todo:
        item = todo.pop()
        if item is source:
            return True
        if id(item) not in seen:
            seen.add(id(item))
            todo += item.inputs
    return False

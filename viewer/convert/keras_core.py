"""Keras core, normalisation, activation and merge layers -> Strata layers."""

from __future__ import annotations

from typing import Any

from viewer.convert.keras_common import (Context, Unsupported, activation_layer, check_activation, get,
                                         with_activation)
from viewer.convert.keras_graph import Node
from viewer.errors import ConversionError
from viewer.net.layers import (Activation, Add, BatchNorm, Concatenate, Dense, Dropout, Flatten, Input,
                               Layer, Multiply, Permute, Reshape)
from viewer.net.layers.tensor import Arithmetic, Embedding, LayerNorm, PReLU

DROPOUTS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
            "GaussianDropout", "AlphaDropout", "ActivityRegularization")


def input_layer(ctx: Context, node: Node, prev: None) -> list[Layer]:
    shape = get(node.config, "batch_input_shape", "batch_shape")
    if not isinstance(shape, list) or len(shape) < 2:
        raise ConversionError(f"input {node.layer!r} does not record its shape")
    return [Input(name=ctx.name(node.key), shape=shape[1:])]


def dense(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    w = ctx.weights(node, (1, 2))
    return with_activation(ctx, node, lambda name: Dense(
        prev, name=name, W=w[0], b=w[1] if len(w) > 1 else None), node.config.get("activation"))


def activation(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    return [activation_layer(ctx, prev, ctx.name(node.key), node.config.get("activation"))]


def dropout(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    rate = get(node.config, "rate", "p", "stddev", default=0.0)
    return [Dropout(prev, name=ctx.name(node.key), rate=float(rate))]


def _input_format(prev: Layer) -> str:
    """The data format of the layer feeding a Flatten, where it has one."""
    return getattr(prev, "data_format", None) or "channels_last"


def flatten(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    # Keras 2.1.6 and later move channels last before flattening channels-first
    # maps; older files have no data_format here and flatten as stored.
    fmt = node.config.get("data_format")
    rank = len(prev.output_shape)
    if fmt == "channels_first" and rank >= 2:
        return [Flatten(prev, name=ctx.name(node.key), data_format="channels_first",
                        order="channels_last")]
    own = _input_format(prev)
    return [Flatten(prev, name=ctx.name(node.key), data_format=own, order=own)]


def reshape(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    return [Reshape(prev, name=ctx.name(node.key), target_shape=node.config["target_shape"])]


def permute(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    return [Permute(prev, name=ctx.name(node.key), dims=[d - 1 for d in node.config["dims"]])]


def batch_norm(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    axis = c.get("axis", -1)
    if isinstance(axis, list):
        axis = axis[0]
    if ctx.major == 1:  # gamma, beta, running_mean, running_std (which holds the variance)
        gamma, beta, mean, var = ctx.weights(node, (4,))
    else:
        w = ctx.weights(node)
        center, scale = c.get("center", True), c.get("scale", True)
        expect = 2 + int(bool(center)) + int(bool(scale))
        if len(w) != expect:
            raise ConversionError(f"layer {node.layer!r}: {len(w)} weight arrays, expected {expect}")
        gamma = w.pop(0) if scale else None
        beta = w.pop(0) if center else None
        mean, var = w
    return [BatchNorm(prev, name=ctx.name(node.key), mean=mean, var=var, gamma=gamma, beta=beta,
                      eps=float(c.get("epsilon", 1e-3)), axis=int(axis))]


def check_batch_norm(node: Node, ctx: Context) -> None:
    mode = node.config.get("mode", 0)
    if mode != 0:
        raise Unsupported(f"mode {mode} normalises with each batch's own statistics")
    axis = node.config.get("axis", -1)
    if isinstance(axis, list) and len(axis) != 1:
        raise Unsupported("normalisation over several axes")


def layer_norm(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c = node.config
    axes = c.get("axis", -1)
    axes = axes if isinstance(axes, list) else [axes]
    w = ctx.weights(node)
    gamma = w.pop(0) if c.get("scale", True) else None
    beta = w.pop(0) if c.get("center", True) else None
    if w:
        raise ConversionError(f"layer {node.layer!r}: unexpected extra weights")
    return [LayerNorm(prev, name=ctx.name(node.key), gamma=gamma, beta=beta,
                      eps=float(c.get("epsilon", 1e-3)), axes=axes)]


def check_layer_norm(node: Node, ctx: Context) -> None:
    if node.config.get("rms_scaling"):
        raise Unsupported("rms_scaling is not supported")


def embedding(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    (table,) = ctx.weights(node, (1,))
    return [Embedding(prev, name=ctx.name(node.key), W=table)]


def check_embedding(node: Node, ctx: Context) -> None:
    if node.config.get("mask_zero"):
        raise Unsupported("mask_zero: masked steps change what later layers compute")


def advanced_activation(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    c, name, cls = node.config, ctx.name(node.key), node.class_name
    if cls == "LeakyReLU":
        alpha = get(c, "negative_slope", "alpha", default=0.3)
        return [Activation(prev, name=name, function="leaky_relu", alpha=float(alpha))]
    if cls == "ELU":
        return [Activation(prev, name=name, function="elu", alpha=float(c.get("alpha", 1.0)))]
    if cls == "ThresholdedReLU":
        return [Activation(prev, name=name, function="relu", threshold=float(c.get("theta", 1.0)))]
    if cls == "ReLU":
        max_value = c.get("max_value")
        return [Activation(prev, name=name, function="relu",
                           max_value=None if max_value is None else float(max_value),
                           alpha=float(c.get("negative_slope", 0.0) or 0.0),
                           threshold=float(c.get("threshold", 0.0) or 0.0))]
    if cls == "Softmax":
        axis = c.get("axis", -1)
        if isinstance(axis, list):
            axis = axis[0]
        return [Activation(prev, name=name, function="softmax", axis=int(axis))]
    (alpha,) = ctx.weights(node, (1,))  # PReLU
    return [PReLU(prev, name=name, alpha=alpha)]


MERGE_MODES = {"sum": "add", "mul": "mul", "ave": "mean", "max": "max", "concat": "concat"}


def merge(ctx: Context, node: Node, prev: Any) -> list[Layer]:
    cls, name = node.class_name, ctx.name(node.key)
    prev = tuple(prev) if isinstance(prev, (list, tuple)) else (prev,)
    if cls == "Merge":  # Keras 1: one class, a mode
        op = MERGE_MODES[node.config.get("mode", "sum")]
        axis = int(node.config.get("concat_axis", -1))
    else:
        op = {"Add": "add", "Multiply": "mul", "Subtract": "sub", "Average": "mean",
              "Maximum": "max", "Minimum": "min", "Concatenate": "concat"}[cls]
        axis = int(node.config.get("axis", -1))
    if op == "concat":
        return [Concatenate(prev, name=name, axis=axis)]
    shapes = {p.output_shape for p in prev}
    if op == "add" and len(shapes) == 1:
        return [Add(prev, name=name)]
    if op == "mul" and len(shapes) == 1:
        return [Multiply(prev, name=name)]
    return [Arithmetic(prev, name=name, op=op)]


def check_merge(node: Node, ctx: Context) -> None:
    if node.class_name != "Merge":
        return
    mode = node.config.get("mode", "sum")
    if node.config.get("mode_type", "raw") != "raw" or not isinstance(mode, str):
        raise Unsupported("a merge by a Python function stored in the file (never run)")
    if mode not in MERGE_MODES:
        raise Unsupported(f"merge mode {mode!r} is not supported")


def time_distributed(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    inner = node.config["layer"]
    cls, conf = inner.get("class_name"), inner.get("config", {})
    if cls == "Dense":
        w = ctx.weights(node, (1, 2))
        return with_activation(ctx, node, lambda name: Dense(
            prev, name=name, W=w[0], b=w[1] if len(w) > 1 else None), conf.get("activation"))
    if cls == "Activation":
        return [activation_layer(ctx, prev, ctx.name(node.key), conf.get("activation"))]
    return [Dropout(prev, name=ctx.name(node.key), rate=float(conf.get("rate", 0.0)))]


def check_time_distributed(node: Node, ctx: Context) -> None:
    inner = node.config.get("layer") or {}
    cls = inner.get("class_name")
    if cls not in ("Dense", "Activation") + DROPOUTS:
        raise Unsupported(f"TimeDistributed({cls}) is not supported, only TimeDistributed(Dense)")
    check_activation(inner.get("config", {}).get("activation"))


def check_own_activation(node: Node, ctx: Context) -> None:
    check_activation(node.config.get("activation"))


CONVERTERS = {
    "InputLayer": input_layer, "Dense": dense, "Activation": activation,
    **{k: dropout for k in DROPOUTS},
    "Flatten": flatten, "Reshape": reshape, "Permute": permute,
    "BatchNormalization": batch_norm, "LayerNormalization": layer_norm, "Embedding": embedding,
    **{k: advanced_activation for k in ("LeakyReLU", "ELU", "ThresholdedReLU", "ReLU", "Softmax",
                                        "PReLU")},
    **{k: merge for k in ("Merge", "Add", "Multiply", "Subtract", "Average", "Maximum", "Minimum",
                          "Concatenate")},
    "TimeDistributed": time_distributed,
}

CHECKS = {
    "Dense": check_own_activation, "Activation": check_own_activation,
    "BatchNormalization": check_batch_norm, "LayerNormalization": check_layer_norm,
    "Embedding": check_embedding, "Merge": check_merge, "TimeDistributed": check_time_distributed,
}

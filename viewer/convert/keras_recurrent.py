"""Keras recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional) -> Strata layers.

Weights arrive in three shapes:

- Keras 2/3: kernel (features, gates*units), recurrent_kernel, bias; a GRU
  with reset_after stores its bias as (2, 3*units): input and recurrent rows.
- Keras 1 with ``consume_less="gpu"``: W, U, b in the same layout.
- Keras 1 otherwise: one array per gate, W_x, U_x, b_x for each gate x, in
  the order (i, c, f, o) for LSTM (12 arrays) and (z, r, h) for GRU (9).

All become the recurrent kinds' form, gates in Keras 2's order.
"""

from __future__ import annotations

import numpy as np

from viewer.convert.keras_common import Context, Unsupported, activation_spec, check_activation, get
from viewer.convert.keras_graph import Node
from viewer.errors import ConversionError
from viewer.net.layers import Layer
from viewer.net.layers.recurrent import GRU, LSTM, SimpleRNN

RNN_CLASSES = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
# Keras 1 per-gate arrays: position of each of Keras 2's gates in the list of triples.
PER_GATE = {"LSTM": (0, 2, 1, 3), "GRU": (0, 1, 2)}


def _params(cls: str, conf: dict, arrays: list[np.ndarray], layer: str) -> dict:
    """W, U, b (and GRU's b_rec) of one direction from its saved arrays."""
    gates = GATES[cls]
    if len(arrays) == 3 * gates and gates > 1:  # Keras 1, one (W, U, b) triple per gate
        triples = [arrays[3 * i:3 * i + 3] for i in range(gates)]
        ordered = [triples[i] for i in PER_GATE[cls]]
        return {"W": np.concatenate([t[0] for t in ordered], axis=1),
                "U": np.concatenate([t[1] for t in ordered], axis=1),
                "b": np.concatenate([t[2] for t in ordered])}
    if len(arrays) not in (2, 3):
        raise ConversionError(f"layer {layer!r} ({cls}): {len(arrays)} weight arrays, "
                              "expected kernel, recurrent kernel and bias")
    params = {"W": arrays[0], "U": arrays[1]}
    if len(arrays) == 3:
        bias = arrays[2]
        if cls == "GRU" and bias.ndim == 2:
            params["b"], params["b_rec"] = bias[0], bias[1]
        else:
            params["b"] = bias
    if cls == "GRU" and conf.get("reset_after") and "b_rec" not in params:
        params["b_rec"] = np.zeros_like(params["W"][0])
    return params


def _options(ctx: Context, cls: str, conf: dict) -> dict:
    options = {"activation": activation_spec(ctx, conf.get("activation", "tanh"))}
    if cls != "SimpleRNN":
        options["recurrent_activation"] = activation_spec(
            ctx, get(conf, "recurrent_activation", "inner_activation", default="hard_sigmoid"))
    if cls == "GRU":
        options["reset_after"] = bool(conf.get("reset_after", False))
    options["output"] = "sequences" if conf.get("return_sequences") else "last"
    return options


def recurrent(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    cls, conf = node.class_name, node.config
    params = _params(cls, conf, ctx.weights(node), node.layer)
    return [RNN_CLASSES[cls](prev, name=ctx.name(node.key), go_backwards=bool(conf.get("go_backwards")),
                       **_options(ctx, cls, conf), **params)]


def bidirectional(ctx: Context, node: Node, prev: Layer) -> list[Layer]:
    inner = node.config["layer"]
    cls, conf = inner["class_name"], inner.get("config", {})
    arrays = ctx.weights(node)
    half = len(arrays) // 2
    forward = _params(cls, conf, arrays[:half], node.layer)
    backward = _params(cls, conf, arrays[half:], node.layer)
    params = {**forward, **{f"{k}_back": v for k, v in backward.items()}}
    return [RNN_CLASSES[cls](prev, name=ctx.name(node.key), go_backwards=bool(conf.get("go_backwards")),
                       merge_mode=node.config.get("merge_mode", "concat"),
                       **_options(ctx, cls, conf), **params)]


def check_recurrent(node: Node, ctx: Context) -> None:
    _check_rnn(node.class_name, node.config)


def check_bidirectional(node: Node, ctx: Context) -> None:
    inner = node.config.get("layer") or {}
    if inner.get("class_name") not in RNN_CLASSES:
        raise Unsupported(f"Bidirectional({inner.get('class_name')}) is not supported")
    if node.config.get("merge_mode", "concat") not in ("concat", "sum", "mul", "ave"):
        raise Unsupported(f"merge_mode {node.config.get('merge_mode')!r} (two outputs) "
                          "is not supported")
    back = node.config.get("backward_layer")
    if back and back.get("config", {}).get("go_backwards") == inner.get("config", {}).get("go_backwards"):
        raise Unsupported("a backward layer that reads in the same direction as the forward one")
    _check_rnn(inner["class_name"], inner.get("config", {}))


def _check_rnn(cls: str, conf: dict) -> None:
    if conf.get("return_state"):
        raise Unsupported("return_state (several outputs) is not supported")
    if conf.get("time_major"):
        raise Unsupported("time_major input is not supported")
    if conf.get("consume_less") not in (None, "cpu", "mem", "gpu"):
        raise Unsupported(f"consume_less {conf.get('consume_less')!r}")
    check_activation(conf.get("activation", "tanh"))
    check_activation(get(conf, "recurrent_activation", "inner_activation", default="sigmoid"))


CONVERTERS = {"SimpleRNN": recurrent, "LSTM": recurrent, "GRU": recurrent,
              "Bidirectional": bidirectional}
CHECKS = {"SimpleRNN": check_recurrent, "LSTM": check_recurrent, "GRU": check_recurrent,
          "Bidirectional": check_bidirectional}

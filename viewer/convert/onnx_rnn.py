"""ONNX's LSTM, GRU and RNN operators -> Strata's recurrent kinds.

ONNX stores per direction ``W`` (gates*hidden, features), ``R`` (gates*hidden,
hidden) and ``B`` (2*gates*hidden: input then recurrent biases), gates in the
order LSTM (i, o, f, c), GRU (z, r, h). Strata takes Keras' form: transposed
kernels, LSTM gates (i, f, c, o). With the default layout 0, ONNX data is
(time, batch, features) and Y is (time, directions, batch, hidden); Strata's
batch-first output (batch, time, directions, hidden) is the same tensor with
the batch axis moved to the front.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viewer.convert.onnx_ops import Ops
from viewer.convert.onnx_values import BatchConst, Refused, Tensor, is_const
from viewer.net.layers.recurrent import GRU, LSTM, SimpleRNN

RNN_OPS = {"LSTM": LSTM, "GRU": GRU, "RNN": SimpleRNN}
GATE_ORDER = {"LSTM": [0, 2, 3, 1], "GRU": [0, 1, 2], "RNN": [0]}  # ONNX gate for each Keras gate
DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def _activation(name: str, alpha: float | None, beta: float | None) -> Any:
    if name == "Sigmoid":
        return "sigmoid"
    if name == "Tanh":
        return "tanh"
    if name == "Relu":
        return "relu"
    if name == "HardSigmoid":
        return {"function": "hard_sigmoid", "slope": 0.2 if alpha is None else alpha,
                "offset": 0.5 if beta is None else beta}
    raise Refused(f"recurrent activation {name!r} is not supported")


def _activations(op: str, attrs: dict, directions: int) -> tuple[Any, Any]:
    """(activation, recurrent_activation) for the kinds; one set for all directions."""
    names = list(attrs.get("activations") or DEFAULT_ACTS[op] * directions)
    alphas = list(attrs.get("activation_alpha") or [])
    betas = list(attrs.get("activation_beta") or [])
    per = len(DEFAULT_ACTS[op])
    specs = [_activation(n, alphas[i] if i < len(alphas) else None,
                         betas[i] if i < len(betas) else None) for i, n in enumerate(names)]
    if directions == 2 and specs[:per] != specs[per:]:
        raise Refused("different activations per direction")
    if op == "LSTM" and specs[1] != specs[2]:
        raise Refused("an LSTM whose cell and output activations differ")
    if op == "RNN":
        return specs[0], "sigmoid"
    return specs[1], specs[0]


def _gates(matrix: np.ndarray, op: str) -> np.ndarray:
    """(gates*hidden, n) in ONNX's gate order -> (n, gates*hidden) in Keras' order."""
    parts = np.split(matrix, len(GATE_ORDER[op]), axis=0)
    return np.concatenate([parts[g] for g in GATE_ORDER[op]], axis=0).T


def _bias(bias: np.ndarray, op: str) -> np.ndarray:
    parts = np.split(bias, len(GATE_ORDER[op]))
    return np.concatenate([parts[g] for g in GATE_ORDER[op]])


def _zero_state(value: Any, what: str) -> None:
    if value is None:
        return
    data = value.value if isinstance(value, BatchConst) else value
    if not is_const(data) or np.any(data):
        raise Refused(f"a non-zero or data-dependent {what}")


def recurrent(ops: Ops, used: set, node: Any, inputs: list, attrs: dict) -> list:
    op = node.op_type
    x = ops.tensor(inputs)
    layout = int(attrs.get("layout", 0))
    if x.batch_axis != (1 if layout == 0 else 0) or x.rank != 3:
        raise Refused("input data not laid out as (time, batch, features)")
    W, R = ops.const(inputs, 1, "W"), ops.const(inputs, 2, "R")
    B = ops.const(inputs, 3, "B") if len(inputs) > 3 else None
    if len(inputs) > 4 and inputs[4] is not None:
        lengths = ops.const(inputs, 4, "sequence lengths")
        if np.any(lengths != x.shape()[0 if layout == 0 else 1]):
            raise Refused("sequences of different lengths")
    _zero_state(inputs[5] if len(inputs) > 5 else None, "initial state")
    _zero_state(inputs[6] if op == "LSTM" and len(inputs) > 6 else None, "initial cell state")
    if op == "LSTM" and len(inputs) > 7 and inputs[7] is not None:
        raise Refused("peephole connections")
    if attrs.get("clip") is not None or attrs.get("input_forget", 0):
        raise Refused("clip or input_forget")
    direction = attrs.get("direction", "forward")
    directions = 2 if direction == "bidirectional" else 1
    gates = len(GATE_ORDER[op])
    hidden = W.shape[1] // gates
    if B is None:
        B = np.zeros((directions, 2 * gates * hidden), W.dtype)
    activation, recurrent_activation = _activations(op, attrs, directions)
    params: dict = {}
    for d, suffix in enumerate(["", "_back"][:directions]):
        Wb, Rb = np.split(B[d], 2)
        params["W" + suffix] = _gates(W[d], op)
        params["U" + suffix] = _gates(R[d], op)
        if op == "GRU" and attrs.get("linear_before_reset", 0):
            params["b" + suffix], params["b_rec" + suffix] = _bias(Wb, op), _bias(Rb, op)
        else:
            with np.errstate(invalid="ignore", over="ignore"):  # a hostile file's inf + -inf: NaN
                params["b" + suffix] = _bias(Wb + Rb, op)
    options: dict = {"activation": activation, "merge_mode": "stack",
                     "go_backwards": direction == "reverse", "restore_order": True}
    if op != "RNN":
        options["recurrent_activation"] = recurrent_activation
    if op == "GRU":
        options["reset_after"] = bool(attrs.get("linear_before_reset", 0))
    outs: list = []
    for i, (output, axis) in enumerate(zip(("sequences", "last", "cell"), (2, 1, 1))):
        if i >= len(node.output) or not node.output[i] or node.output[i] not in used:
            outs.append(None)
            continue
        layer = RNN_OPS[op](x.layer, name=ops.name(node, i), output=output, **options, **params)
        outs.append(Tensor(layer, axis if layout == 0 else 0))
    return outs

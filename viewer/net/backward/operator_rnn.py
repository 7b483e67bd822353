"""Backprop through time of ONNX's LSTM kept as an Operator (its initial states computed).

The converter turns an LSTM whose initial states are constants into the LSTM
kind; one that reads them from other layers (a zero state shaped by the batch,
a state fed in) stays an ONNX operator, and this is its backward: the input
sequence's and the initial states' gradients, weights fixed. ONNX's default
activations (sigmoid, tanh, tanh) in either layout and every direction; peepholes,
sequence lengths, clipping, input_forget and other activations are refused
(:func:`lstm_refusal`).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

#: ``grad(inputs, attrs, opset, output, g)`` of ops with several outputs: which one the
#: layer is matters (``output``: its index), the other outputs get no gradient.
OutputGrad = Callable[[list, dict, int, int, np.ndarray], list]

_DEFAULT_ACTIVATIONS = ["Sigmoid", "Tanh", "Tanh"]


def lstm_refusal(attrs: dict, present: Sequence[bool]) -> Optional[str]:
    """Why this LSTM has no backward here (None when it has one); ``present[k]``: input k is given."""
    names = [str(a).lower() for a in attrs.get("activations") or []]
    if names and names not in ([a.lower() for a in _DEFAULT_ACTIVATIONS] * k for k in (1, 2)):
        return "ONNX operator LSTM with activations other than sigmoid, tanh, tanh has no backward"
    if attrs.get("clip") is not None or attrs.get("input_forget", 0):
        return "ONNX operator LSTM with clip or input_forget has no backward"
    for k, what in ((4, "sequence lengths"), (7, "peepholes")):
        if len(present) > k and present[k]:
            return f"ONNX operator LSTM with {what} has no backward"
    return None


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def lstm_grads(inputs: list, attrs: dict, opset: int, output: int, g: np.ndarray) -> list:
    """d / d (X, initial_h, initial_c) of output ``output`` (Y, Y_h or Y_c) given its gradient ``g``.

    Shapes as ONNX has them: X (T, N, I), Y (T, D, N, H), Y_h and Y_c (D, N, H), or
    batch first with ``layout`` 1. Gates in ONNX's order i, o, f, c.
    """
    layout = int(attrs.get("layout", 0))
    x = np.asarray(inputs[0], np.float64)
    get = lambda k: inputs[k] if len(inputs) > k and inputs[k] is not None else None  # noqa: E731
    W, R, B, h0, c0 = (np.asarray(v, np.float64) if v is not None else None
                       for v in (get(1), get(2), get(3), get(5), get(6)))
    g = np.asarray(g, np.float64)
    if layout:
        x = x.transpose(1, 0, 2)
        h0 = None if h0 is None else h0.transpose(1, 0, 2)
        c0 = None if c0 is None else c0.transpose(1, 0, 2)
        g = g.transpose(1, 2, 0, 3) if output == 0 else g.transpose(1, 0, 2)   # to (T, D, N, H)
    steps, batch, _ = x.shape
    direction = attrs.get("direction", "forward")
    directions = 2 if direction == "bidirectional" else 1
    hidden = int(attrs.get("hidden_size", R.shape[-1]))
    dx = np.zeros_like(x)
    dh0 = np.zeros((directions, batch, hidden))
    dc0 = np.zeros((directions, batch, hidden))
    for d in range(directions):
        order = range(steps - 1, -1, -1) if direction == "reverse" or d == 1 else range(steps)
        w, r = W[d], R[d]
        b = np.zeros(8 * hidden) if B is None else B[d]
        bias = b[:4 * hidden] + b[4 * hidden:]
        h = np.zeros((batch, hidden)) if h0 is None else h0[d]
        c = np.zeros((batch, hidden)) if c0 is None else c0[d]
        kept = []                            # per step: c before, gates, c after
        for t in order:
            z = x[t] @ w.T + h @ r.T + bias
            i_t, o_t, f_t = (_sigmoid(z[:, k * hidden:(k + 1) * hidden]) for k in range(3))
            u_t = np.tanh(z[:, 3 * hidden:])
            c_new = f_t * c + i_t * u_t
            kept.append((t, c, i_t, o_t, f_t, u_t, c_new))
            h, c = o_t * np.tanh(c_new), c_new
        dh = g[d] if output == 1 else np.zeros((batch, hidden))
        dc = g[d] if output == 2 else np.zeros((batch, hidden))
        for t, c_prev, i_t, o_t, f_t, u_t, c_new in reversed(kept):
            if output == 0:
                dh = dh + g[t, d]
            tanh_c = np.tanh(c_new)
            dc = dc + dh * o_t * (1.0 - tanh_c ** 2)
            dz = np.concatenate([dc * u_t * i_t * (1.0 - i_t),            # i
                                 dh * tanh_c * o_t * (1.0 - o_t),         # o
                                 dc * c_prev * f_t * (1.0 - f_t),         # f
                                 dc * i_t * (1.0 - u_t ** 2)], axis=1)    # c
            dx[t] += dz @ w
            dh, dc = dz @ r, dc * f_t
        dh0[d], dc0[d] = dh, dc
    if layout:
        dx, dh0, dc0 = dx.transpose(1, 0, 2), dh0.transpose(1, 0, 2), dc0.transpose(1, 0, 2)
    grads = [dx, None, None, None, None, dh0, dc0, None]
    return grads[:len(inputs)]


#: The ops with an :data:`OutputGrad`.
OUTPUT_GRADS: dict[str, OutputGrad] = {"LSTM": lstm_grads}
#: Their refusals, from the layer's attributes and arguments.
OUTPUT_REFUSALS: dict[str, Callable[[dict, Sequence[bool]], Optional[str]]] = {"LSTM": lstm_refusal}

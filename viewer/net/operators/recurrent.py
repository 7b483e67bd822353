"""ONNX RNN, GRU and LSTM with every option: layouts, initial states, sequence
lengths, peepholes, clipping, input_forget, linear_before_reset, any activations."""

from __future__ import annotations

from typing import Callable

import numpy as np

from viewer.net.operators import operator

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
DEFAULTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}


def _function(name: str, alpha: float | None, beta: float | None) -> Callable[[np.ndarray], np.ndarray]:
    a = alpha
    b = beta
    table: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "Tanh": np.tanh,
        "Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
        "Relu": lambda x: np.maximum(x, 0),
        "Affine": lambda x: (1.0 if a is None else a) * x + (0.0 if b is None else b),
        "LeakyRelu": lambda x: np.where(x >= 0, x, (0.01 if a is None else a) * x),
        "ThresholdedRelu": lambda x: np.where(x > (1.0 if a is None else a), x, 0),
        "ScaledTanh": lambda x: (1.0 if a is None else a) * np.tanh((1.0 if b is None else b) * x),
        "HardSigmoid": lambda x: np.clip((0.2 if a is None else a) * x + (0.5 if b is None else b), 0, 1),
        "Elu": lambda x: np.where(x >= 0, x, (1.0 if a is None else a) * np.expm1(np.minimum(x, 0))),
        "Softsign": lambda x: x / (1 + np.abs(x)),
        "Softplus": lambda x: np.logaddexp(0, x),
    }
    key = next((k for k in table if k.lower() == name.lower()), None)
    if key is None:
        raise ValueError(f"unknown recurrent activation {name!r}")
    return table[key]


def _activations(op: str, attrs: dict, directions: int) -> list[list]:
    names = list(attrs.get("activations") or DEFAULTS[op] * directions)
    if len(names) == len(DEFAULTS[op]) and directions == 2:
        names = names * 2
    alphas = list(attrs.get("activation_alpha") or [])
    betas = list(attrs.get("activation_beta") or [])
    fns = [_function(n, alphas[i] if i < len(alphas) else None, betas[i] if i < len(betas) else None)
           for i, n in enumerate(names)]
    per = len(DEFAULTS[op])
    return [fns[d * per:(d + 1) * per] for d in range(directions)]


def recurrent(op: str, inputs: list, attrs: dict) -> list:
    x = inputs[0].astype(np.float64)
    get = lambda i: inputs[i] if len(inputs) > i and inputs[i] is not None else None  # noqa: E731
    W, R, B, lengths, h0 = get(1), get(2), get(3), get(4), get(5)
    c0, P = (get(6), get(7)) if op == "LSTM" else (None, None)
    layout = int(attrs.get("layout", 0))
    if layout:
        x = x.transpose(1, 0, 2)
        h0 = None if h0 is None else h0.transpose(1, 0, 2)
        c0 = None if c0 is None else c0.transpose(1, 0, 2)
    steps, batch, _ = x.shape
    direction = attrs.get("direction", "forward")
    directions = 2 if direction == "bidirectional" else 1
    gates = GATES[op]
    hidden = int(attrs.get("hidden_size", R.shape[-1]))
    clip = attrs.get("clip")
    acts = _activations(op, attrs, directions)
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths).astype(np.int64).reshape(-1)
    Y = np.zeros((steps, directions, batch, hidden))
    Yh = np.zeros((directions, batch, hidden))
    Yc = np.zeros((directions, batch, hidden))
    for d in range(directions):
        backwards = direction == "reverse" or d == 1
        w, r = W[d].astype(np.float64), R[d].astype(np.float64)
        b = np.zeros(2 * gates * hidden) if B is None else B[d].astype(np.float64)
        wb, rb = b[:gates * hidden], b[gates * hidden:]
        p = np.zeros(3 * hidden) if P is None else P[d].astype(np.float64)
        h = np.zeros((batch, hidden)) if h0 is None else h0[d].astype(np.float64).copy()
        c = np.zeros((batch, hidden)) if c0 is None else c0[d].astype(np.float64).copy()
        f = acts[d]
        for t in range(steps):
            # Each sequence runs over its own length; a reverse one starts at its own end.
            index = np.where(lengths > t, (lengths - 1 - t) if backwards else t, 0)
            live = (lengths > t)[:, None]
            xt = x[index, np.arange(batch)]
            gx = xt @ w.T + wb
            if op == "RNN":
                z = gx + h @ r.T + rb
                if clip is not None:
                    z = np.clip(z, -clip, clip)
                h_new, c_new = f[0](z), c
            elif op == "GRU":
                gr = h @ r.T
                zt = gx[:, :hidden] + gr[:, :hidden] + rb[:hidden]
                rt = gx[:, hidden:2 * hidden] + gr[:, hidden:2 * hidden] + rb[hidden:2 * hidden]
                if clip is not None:
                    zt, rt = np.clip(zt, -clip, clip), np.clip(rt, -clip, clip)
                zt, rt = f[0](zt), f[0](rt)
                rh = r[2 * hidden:]
                if attrs.get("linear_before_reset", 0):
                    ht = gx[:, 2 * hidden:] + rt * (h @ rh.T + rb[2 * hidden:])
                else:
                    ht = gx[:, 2 * hidden:] + (rt * h) @ rh.T + rb[2 * hidden:]
                if clip is not None:
                    ht = np.clip(ht, -clip, clip)
                ht = f[1](ht)
                h_new, c_new = (1 - zt) * ht + zt * h, c
            else:
                z = gx + h @ r.T + rb
                if clip is not None:
                    z = np.clip(z, -clip, clip)
                zi, zo, zf, zc = (z[:, k * hidden:(k + 1) * hidden] for k in range(4))
                i_t = f[0](zi + p[:hidden] * c)
                f_t = f[0](zf + p[2 * hidden:] * c)
                if attrs.get("input_forget", 0):
                    f_t = 1 - i_t
                c_new = f_t * c + i_t * f[1](zc)
                o_t = f[0](zo + p[hidden:2 * hidden] * c_new)
                h_new = o_t * f[2](c_new)
            h = np.where(live, h_new, h)
            c = np.where(live, c_new, c)
            rows = np.arange(batch)[live[:, 0]]
            Y[index[live[:, 0]], d, rows] = h_new[live[:, 0]]
        Yh[d], Yc[d] = h, c
    dtype = inputs[0].dtype
    if layout:
        return [Y.transpose(2, 0, 1, 3).astype(dtype), Yh.transpose(1, 0, 2).astype(dtype),
                Yc.transpose(1, 0, 2).astype(dtype)]
    return [Y.astype(dtype), Yh.astype(dtype), Yc.astype(dtype)]


for _op in GATES:
    operator(_op)(lambda inputs, attrs, opset, _op=_op: recurrent(_op, inputs, attrs))

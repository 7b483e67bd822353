"""Ops of onnxruntime's ``com.microsoft`` domain that shipped models use.

They are registered under ``com.microsoft.<op>`` and follow onnxruntime's
contrib-op definitions (its docs/ContribOperators.md) and the arithmetic its
CPU kernels do, so that a quantized model computes what onnxruntime computes.
"""

from __future__ import annotations

import numpy as np

from viewer.net.operators import operator
from viewer.net.operators.quantized import dynamic_quantize
from viewer.net.operators.recurrent import _activations

DOMAIN = "com.microsoft"


def _per_column(scale: np.ndarray, zero: np.ndarray, d: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Direction ``d``'s scale and zero point as (columns,) rows: per tensor or per output column."""
    scale, zero = np.asarray(scale, np.float32), np.asarray(zero).astype(np.int32)
    pick = (lambda v: np.broadcast_to(v[d], (columns,))) if scale.ndim == 1 else (lambda v: v[d])
    return pick(scale).astype(np.float32), pick(zero).astype(np.int32)


def _quantized_product(x: np.ndarray, weights: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """``x`` (rows, K) float32 times ``weights`` (K, columns) int8/uint8, as onnxruntime's dynamic
    quantized GEMM: x quantized to uint8 with one scale for the whole matrix, an int32
    product of the zero-point-free integers, rescaled by x's scale times each column's."""
    q, x_scale, x_zero = dynamic_quantize(x)
    acc = (q.astype(np.int32) - np.int32(x_zero)) @ (weights.astype(np.int32) - zero)
    return acc.astype(np.float32) * (np.float32(x_scale) * scale)


@operator(f"{DOMAIN}.DynamicQuantizeLSTM")
def _dynamic_quantize_lstm(inputs: list, attrs: dict, opset: int) -> list:
    """X (T, B, I); W (D, I, 4H), R (D, H, 4H) int8 or uint8, gates i, o, f, c;
    B (D, 8H); initial_h/c (D, B, H); P (D, 3H); W/R scale and zero point (D,) or (D, 4H).
    Returns Y (T, D, B, H), Y_h and Y_c (D, B, H), float32."""
    get = lambda i: inputs[i] if len(inputs) > i and inputs[i] is not None else None  # noqa: E731
    x = get(0).astype(np.float32)
    W, R, B, lengths, h0, c0, P = get(1), get(2), get(3), get(4), get(5), get(6), get(7)
    steps, batch, _ = x.shape
    if lengths is not None and np.any(np.asarray(lengths) != steps):
        raise ValueError("DynamicQuantizeLSTM with sequences shorter than the input is not supported")
    direction = attrs.get("direction", "forward")
    directions = 2 if direction == "bidirectional" else 1
    hidden = int(attrs.get("hidden_size", R.shape[1]))
    clip = attrs.get("clip")
    acts = _activations("LSTM", attrs, directions)
    Y = np.zeros((steps, directions, batch, hidden), np.float32)
    Yh = np.zeros((directions, batch, hidden), np.float32)
    Yc = np.zeros((directions, batch, hidden), np.float32)
    for d in range(directions):
        backwards = direction == "reverse" or d == 1
        order = np.arange(steps)[::-1] if backwards else np.arange(steps)
        w_scale, w_zero = _per_column(get(8), get(9), d, 4 * hidden)
        r_scale, r_zero = _per_column(get(10), get(11), d, 4 * hidden)
        # The input's share of every step at once: one quantisation of the whole sequence.
        gx = _quantized_product(x[order].reshape(steps * batch, -1), W[d], w_scale, w_zero)
        gx = gx.reshape(steps, batch, 4 * hidden)
        bias = None if B is None else (B[d, :4 * hidden] + B[d, 4 * hidden:]).astype(np.float32)
        p = np.zeros(3 * hidden, np.float32) if P is None else P[d].astype(np.float32)
        h = np.zeros((batch, hidden), np.float32) if h0 is None else h0[d].astype(np.float32)
        c = np.zeros((batch, hidden), np.float32) if c0 is None else c0[d].astype(np.float32)
        f = acts[d]
        for t, step in enumerate(order):
            z = gx[t] + _quantized_product(h, R[d], r_scale, r_zero)
            if bias is not None:
                z = z + bias
            if clip is not None:
                z = np.clip(z, -clip, clip)
            zi, zo, zf, zc = (z[:, k * hidden:(k + 1) * hidden] for k in range(4))
            i_t = f[0](zi + p[:hidden] * c)
            f_t = 1 - i_t if attrs.get("input_forget", 0) else f[0](zf + p[2 * hidden:] * c)
            c = (c * f_t + i_t * f[1](zc)).astype(np.float32)
            o_t = f[0](zo + p[hidden:2 * hidden] * c)
            h = (f[2](c) * o_t).astype(np.float32)
            Y[step, d] = h
        Yh[d], Yc[d] = h, c
    return [Y, Yh, Yc]

"""ONNX Attention (opset 23 on): scaled dot-product attention with masks, causal and
sliding-window limits, a key/value cache, grouped heads, soft capping.

Computed in the inputs' own float type, in the spec's order: Q and K each
scaled by sqrt(scale), QK^T, soft cap, then the additive bias (mask, causal
frontier, window, padding), softmax (a fully masked row gives zeros), times V.
"""

from __future__ import annotations

import numpy as np

from viewer.net.operators import operator
from viewer.net.operators.elementwise import onnx_dtype


def _heads(x: np.ndarray, heads: int) -> np.ndarray:
    """(B, S, heads * E) -> (B, heads, S, E)."""
    b, s, _ = x.shape
    return x.reshape(b, s, heads, -1).transpose(0, 2, 1, 3)


def _allowed(q: int, kv: int, offset, left: int, right: int, causal: bool) -> np.ndarray:
    """Which (query, key) pairs may attend: (q, kv), or (B, 1, q, kv) for per-batch offsets."""
    i = np.arange(q).reshape(q, 1)
    j = np.arange(kv).reshape(1, kv)
    offset = np.asarray(offset)
    pos = i + (offset.reshape(-1, 1, 1) if offset.ndim else int(offset))
    ok = np.ones(np.broadcast_shapes(np.shape(pos), j.shape), bool)
    if causal:
        ok &= j <= pos
    if left >= 0:
        ok &= pos - j <= left
    if right >= 0:
        ok &= j - pos <= right
    return ok[:, None] if offset.ndim else ok


@operator("Attention")
def _attention(inputs: list, attrs: dict, opset: int) -> list:
    get = lambda i: inputs[i] if len(inputs) > i else None  # noqa: E731
    Q, K, V = inputs[:3]
    mask, past_k, past_v, nonpad = get(3), get(4), get(5), get(6)
    dtype = Q.dtype
    three_d = Q.ndim == 3
    if three_d:
        Q = _heads(Q, int(attrs["q_num_heads"]))
        K = _heads(K, int(attrs["kv_num_heads"]))
        V = _heads(V, int(attrs["kv_num_heads"]))
    scale = attrs.get("scale")
    root = dtype.type(np.sqrt(1 / np.sqrt(Q.shape[3]) if scale is None else scale))
    if past_k is not None:
        K = np.concatenate((past_k, K), axis=2)
        V = np.concatenate((past_v, V), axis=2)
    present_k, present_v = K, V
    q_len, kv_len = Q.shape[2], K.shape[2]
    left, right = int(attrs.get("left_window_size", -1)), int(attrs.get("right_window_size", -1))
    causal = bool(attrs.get("is_causal", 0))
    bias = np.zeros((q_len, kv_len), dtype)
    if mask is not None:
        short = kv_len - mask.shape[-1]
        if short > 0:  # a mask for the new keys only: the rest is masked out
            mask = np.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, short)],
                          constant_values=False if mask.dtype == np.bool_ else -np.inf)
        bias = bias + (np.where(mask, dtype.type(0), dtype.type(-np.inf)) if mask.dtype == np.bool_
                       else mask.astype(dtype))
    if causal or left >= 0 or right >= 0:
        offset = (nonpad.reshape(-1) - q_len if past_k is None and nonpad is not None
                  else past_k.shape[2] if past_k is not None else 0)
        ok = _allowed(q_len, kv_len, offset, left, right, causal)
        bias = bias + np.where(ok, dtype.type(0), dtype.type(-np.inf))
    if nonpad is not None:
        pad = np.arange(kv_len) < nonpad.reshape(-1, 1)
        bias = bias + np.where(pad, 0, -np.inf).astype(dtype).reshape(-1, 1, 1, kv_len)
    groups = Q.shape[1] // K.shape[1]
    if groups > 1:
        K, V = np.repeat(K, groups, axis=1), np.repeat(V, groups, axis=1)
    qk = np.matmul(Q * root, np.transpose(K, (0, 1, 3, 2)) * root)
    softcap = attrs.get("softcap")
    if softcap:
        qk = np.tanh(qk / dtype.type(softcap)) * dtype.type(softcap)
    mode = int(attrs.get("qk_matmul_output_mode", 0))
    scores = qk + bias
    qk_out = scores.copy() if mode == 2 else qk
    precision = attrs.get("softmax_precision")
    if precision:
        scores = scores.astype(onnx_dtype(precision))
    top = np.max(scores, axis=-1, keepdims=True)
    e = np.exp(scores - np.where(np.isneginf(top), 0, top))
    total = e.sum(axis=-1, keepdims=True)
    weights = e / np.where(total == 0, 1, total)
    weights = np.where(np.isneginf(np.max(bias, axis=-1, keepdims=True)), 0, weights)
    if mode == 3:
        qk_out = weights
    Y = np.matmul(weights.astype(dtype), V)
    if three_d:
        Y = Y.transpose(0, 2, 1, 3).reshape(Y.shape[0], Y.shape[2], -1)
    return [Y, present_k, present_v, qk_out.astype(dtype)]

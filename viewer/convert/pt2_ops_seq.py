"""ATen ops of sequence and attention models -> Strata layers; and the whole op table.

Adds to :mod:`viewer.convert.pt2_ops`: 1-d convolution (``conv1d`` and
``convolution`` on 3-d weights), ``chunk``/``split`` along a sample axis,
``arange`` on stored sizes (folded), embedding of stored indices (folded),
and ``scaled_dot_product_attention``, which becomes its steps as layers -
scores ``q @ k^T * scale`` (plus a causal mask), softmax over the keys, the
weighted sum ``@ v`` - so each step can be looked at. :data:`OPS` is the
table the converter uses.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from viewer.convert import pt2_ops
from viewer.convert.pt2_model import BATCH, Builder, Refused, Value, as_array
from viewer.convert.pt2_ops import Args, _axis, _const, _data, _is_data, _rank, _sizes
from viewer.net.layers import Activation, Permute
from viewer.net.layers.conv_extra import Conv1D
from viewer.net.layers.indexing import Slice
from viewer.net.layers.tensor import ConstArithmetic, MatMul


def _one(value: Any, default: int) -> int:
    if value is None or value == []:
        return default
    values = [value] if isinstance(value, int) else [int(v) for v in value]
    if len(values) != 1:
        raise Refused(f"{len(values)} values where a 1-d convolution takes one")
    return values[0]


def conv1d(b: Builder, a: Args) -> Value:
    x, w, bias = _data(a, "input"), _const(a, "weight"), _const(a, "bias", optional=True)
    padding = a.get("padding", 0)
    pads: Any = padding if isinstance(padding, str) else _one(padding, 0)
    return b.emit(lambda name: Conv1D(x, name=name, W=w, b=bias, stride=_one(a.get("stride"), 1),
                                      padding=pads, dilation=_one(a.get("dilation"), 1),
                                      groups=int(a.get("groups", 1)), data_format="channels_first"))


def convolution(b: Builder, a: Args) -> Value:
    weight = a.get("weight")
    if isinstance(weight, Value) and weight.const is not None and np.ndim(weight.const) == 3:
        if a.get("transposed"):
            raise Refused("a 1-d transposed convolution")
        return conv1d(b, a)
    return pt2_ops.convolution(b, a)


def embedding(b: Builder, a: Args) -> Any:
    indices = a.get("indices")
    if _is_data(indices):
        return pt2_ops.embedding(b, a)
    idx = np.asarray(as_array(indices))
    w = _const(a, "weight")
    if idx.dtype.kind not in "iu" or (idx.size and (idx.min() < 0 or idx.max() >= len(w))):
        raise Refused(f"stored indices outside the table's {len(w)} rows")
    return w[idx]


def arange(b: Builder, a: Args) -> np.ndarray:
    start, end, step = a.get("start", 0), a.get("end"), a.get("step", 1)
    bounds = [start, end, step]
    if not all(isinstance(v, (int, float)) for v in bounds):
        raise Refused("bounds computed at run time")
    if BATCH in bounds:
        raise Refused("a range as long as the batch")
    if step == 0 or abs((end - start) / step) > 1 << 24:
        raise Refused(f"range({start}, {end}, {step})")
    floating = any(isinstance(v, float) for v in bounds) or a.get("dtype") in (6, 7, 8)
    return np.arange(start, end, step, dtype=np.float32 if floating else np.int64)


def _split_sizes(total: int, a: Args, chunks: bool) -> list[int]:
    if chunks:
        n = int(a.get("chunks"))
        if n < 1:
            raise Refused(f"{n} chunks")
        size = -(-total // n)
        return [min(size, total - start) for start in range(0, total, size)]
    sizes = a.get("split_size", a.get("split_sizes"))
    if isinstance(sizes, int):
        return [min(sizes, total - start) for start in range(0, total, sizes)]
    return [int(s) for s in sizes]


def _split(chunks: bool):
    def handler(b: Builder, a: Args) -> tuple:
        x = _data(a, "self")
        shape = _sizes(x)
        axis = _axis(int(a.get("dim", 0)), _rank(x))
        sizes = _split_sizes(shape[axis - 1], a, chunks)
        if sum(sizes) != shape[axis - 1] or min(sizes, default=0) < 1:
            raise Refused(f"parts {sizes} of an axis of {shape[axis - 1]}")
        outs, start = [], 0
        for k, size in enumerate(sizes):
            lo = start
            outs.append(b.emit_part(k, lambda name: Slice(x, name=name, axes=[axis], starts=[lo],
                                                          stops=[lo + size])))
            start += size
        return tuple(outs)
    return handler


def scaled_dot_product_attention(b: Builder, a: Args) -> Value:
    q, k, v = _data(a, "query"), _data(a, "key"), _data(a, "value")
    if a.get("attn_mask") is not None:
        raise Refused("an attention mask (only is_causal is supported)")
    if a.get("dropout_p", 0.0):
        raise Refused("attention dropout")
    if a.get("enable_gqa"):
        raise Refused("grouped-query attention")
    q_shape, k_shape = _sizes(q), _sizes(k)
    rank = len(k_shape)
    scale = a.get("scale")
    scale = 1.0 / math.sqrt(q_shape[-1]) if scale is None else float(scale)
    dims = list(range(rank - 2)) + [rank - 1, rank - 2]
    keys_t = b.helper(Permute(k, name=b.helper_name("keys_t"), dims=dims))
    scores = b.helper(MatMul((q, keys_t), name=b.helper_name("scores")))
    scores = b.helper(ConstArithmetic(scores, name=b.helper_name("scaled"), c=np.full((1,), scale, np.float32),
                                      op="mul"))
    if a.get("is_causal"):
        L, S = q_shape[-2], k_shape[-2]
        mask = np.where(np.tril(np.ones((L, S), bool)), 0.0, -np.inf).astype(np.float32)
        scores = b.helper(ConstArithmetic(scores, name=b.helper_name("causal"), c=mask[None], op="add"))
    weights = b.helper(Activation(scores, name=b.helper_name("weights"), function="softmax", axis=-1))
    return b.emit(lambda name: MatMul((weights, v), name=name))


OPS = {**pt2_ops.OPS, "conv1d": conv1d, "convolution": convolution, "embedding": embedding, "arange": arange,
       "chunk": _split(True), "split": _split(False), "split_with_sizes": _split(False),
       "scaled_dot_product_attention": scaled_dot_product_attention}
